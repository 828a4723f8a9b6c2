-- +goose Up
-- One row per provider: the authorization attempt in flight, the credentials the
-- institution granted, and who holds the refresh lease.
--
-- Credentials (the *_ct columns) hold AES-256-GCM ciphertext only, made by the
-- application's keyring (adapters/vault) with associated data that binds each
-- value to this row's user and provider and to its column: a value copied into
-- another row or column does not decrypt. The institution's connection id
-- (Plaid's item_id) identifies the user's bank link, so it is encrypted too.
-- Scopes are not secret: space-separated OAuth scope tokens. Times are UTC text
-- of one format, so they compare chronologically.
CREATE TABLE authorizations (
    provider_id        TEXT PRIMARY KEY REFERENCES providers (id) ON DELETE CASCADE,
    user_id            TEXT     NOT NULL,
    status             TEXT     NOT NULL,
    -- The attempt in flight: all three are NULL when there is none.
    attempt_id         TEXT,
    state_hash         BLOB,
    state_expires_at   DATETIME,
    access_token_ct    BLOB,
    refresh_token_ct   BLOB,
    token_expires_at   DATETIME,
    refresh_expires_at DATETIME,
    scopes             TEXT     NOT NULL DEFAULT '',
    external_id_ct     BLOB,
    authorized_at      DATETIME,
    refreshed_at       DATETIME,
    lease_owner        TEXT,
    lease_until        DATETIME,
    created_at         DATETIME NOT NULL,
    updated_at         DATETIME NOT NULL
);
-- The OAuth callback finds the attempt by the SHA-256 of its state; a state
-- belongs to one attempt. NULLs (no attempt in flight) never collide.
CREATE UNIQUE INDEX authorizations_state_hash_key ON authorizations (state_hash);
-- Serves the background refresh's claim: active, refreshable authorizations in
-- order of access-token expiry.
CREATE INDEX authorizations_refresh_due_idx ON authorizations (token_expires_at, provider_id)
    WHERE status = 'active' AND refresh_token_ct IS NOT NULL;

-- +goose Down
DROP TABLE authorizations;
