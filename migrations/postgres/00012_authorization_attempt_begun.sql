-- +goose Up
-- What beginning the attempt in flight at the institution made of it, gone
-- when the attempt ends: attempt_repair is 'repair' when the attempt repairs
-- the credentials held (Plaid Link update mode; NULL: a new consent), and
-- link_token_ct (AES-256-GCM ciphertext, like the other *_ct columns) with
-- link_expires_at is the institution's link token, which a new attempt reuses
-- while it is valid instead of asking the institution for another.
ALTER TABLE authorizations ADD COLUMN attempt_repair TEXT;
ALTER TABLE authorizations ADD COLUMN link_token_ct BYTEA;
ALTER TABLE authorizations ADD COLUMN link_expires_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE authorizations DROP COLUMN link_expires_at;
ALTER TABLE authorizations DROP COLUMN link_token_ct;
ALTER TABLE authorizations DROP COLUMN attempt_repair;
