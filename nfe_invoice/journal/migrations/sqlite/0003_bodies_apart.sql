-- Schema version 3: the large values move out of the records row. SQLite rewrites a whole row (and its
-- overflow pages) on every UPDATE, so with the XML (~4 kB compressed) and the payload (~20 kB with the
-- embedded invoice) in it, each state change (claim, finish, renew) wrote ~30 kB; now it writes a few
-- hundred bytes. A sent payload equal to the stored payload (the usual case) is not stored twice:
-- sent_is_payload = 1 says so, and record_bodies.sent_payload holds only one that differs.
CREATE TABLE record_bodies (
    record_id    INTEGER PRIMARY KEY REFERENCES records (id),
    document     BLOB    NOT NULL,
    payload      TEXT,
    sent_payload TEXT
);
ALTER TABLE records ADD COLUMN sent_is_payload INTEGER NOT NULL DEFAULT 0;
UPDATE records SET sent_is_payload = 1 WHERE sent_payload IS NOT NULL AND sent_payload = payload;
INSERT INTO record_bodies (record_id, document, payload, sent_payload)
    SELECT id, document, payload, CASE WHEN sent_is_payload = 1 THEN NULL ELSE sent_payload END FROM records;
ALTER TABLE records DROP COLUMN document;
ALTER TABLE records DROP COLUMN payload;
ALTER TABLE records DROP COLUMN sent_payload;
