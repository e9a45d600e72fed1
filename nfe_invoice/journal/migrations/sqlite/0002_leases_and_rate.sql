-- Schema version 2: leases for claims, the payload actually sent, shared rate buckets.
-- A lease is (lease_owner, lease_expires); a record in 'sending' with no lease_expires (left so by
-- version 1, which had no leases) counts as expired: the next claim takes it over as recovered.
ALTER TABLE records ADD COLUMN sent_payload TEXT;
ALTER TABLE records ADD COLUMN sent_at REAL;
ALTER TABLE records ADD COLUMN lease_owner TEXT;
ALTER TABLE records ADD COLUMN lease_expires REAL;
-- Version 1 sent the stored payload as it was: that is what VTEX holds.
UPDATE records SET sent_payload = payload, sent_at = updated_at WHERE state = 'sent';
UPDATE records SET sent_at = updated_at WHERE state = 'delivered-already';
CREATE INDEX records_order ON records (order_id);
CREATE INDEX records_access_key ON records (access_key);
CREATE INDEX records_updated ON records (updated_at);
CREATE TABLE rate_buckets (
    bucket     TEXT PRIMARY KEY,
    tokens     REAL NOT NULL,
    updated_at REAL NOT NULL
);
