-- Schema version 1: one record per invoice, keyed by (account, order id, invoice number).
-- Times are seconds since the epoch (UTC, REAL); findings and decision are JSON text;
-- document is the XML as received, zlib-compressed.
CREATE TABLE records (
    id             INTEGER PRIMARY KEY,
    account        TEXT    NOT NULL,
    order_id       TEXT    NOT NULL,
    invoice_number TEXT    NOT NULL,
    access_key     TEXT    NOT NULL,
    xml_sha256     TEXT    NOT NULL,
    document       BLOB    NOT NULL,
    payload        TEXT,
    payload_sha256 TEXT    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN
                   ('queued', 'refused', 'sending', 'sent', 'delivered-already', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    source         TEXT,
    receipt        TEXT,
    reason         TEXT,
    findings       TEXT    NOT NULL DEFAULT '[]',
    decision       TEXT,
    created_at     REAL    NOT NULL,
    updated_at     REAL    NOT NULL,
    UNIQUE (account, order_id, invoice_number)
);
CREATE INDEX records_state ON records (state);
