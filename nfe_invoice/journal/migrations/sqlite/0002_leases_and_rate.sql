-- Schema version 2: leases for claims, the payload actually sent, shared rate buckets.
-- A lease is (lease_owner, lease_expires), set exactly while a record is 'sending'.
ALTER TABLE records ADD COLUMN sent_payload TEXT;
ALTER TABLE records ADD COLUMN sent_at REAL;
ALTER TABLE records ADD COLUMN lease_owner TEXT;
ALTER TABLE records ADD COLUMN lease_expires REAL;
-- Version 1 sent the stored payload as it was: that is what VTEX holds.
UPDATE records SET sent_payload = payload, sent_at = updated_at WHERE state = 'sent';
UPDATE records SET sent_at = updated_at WHERE state = 'delivered-already';
-- Version 1 had no leases: what it left in 'sending' was abandoned by a crash; an expired lease lets
-- the next claim take it over (as recovered).
UPDATE records SET lease_expires = 0 WHERE state = 'sending';
CREATE INDEX records_order ON records (order_id);
CREATE INDEX records_access_key ON records (access_key);
CREATE INDEX records_updated ON records (updated_at);
-- claims look for expired or orphaned leases among the records being sent, from this index alone
CREATE INDEX records_lease ON records (state, lease_expires, lease_owner);
CREATE TABLE rate_buckets (
    bucket     TEXT PRIMARY KEY,
    tokens     REAL NOT NULL,
    updated_at REAL NOT NULL
);
