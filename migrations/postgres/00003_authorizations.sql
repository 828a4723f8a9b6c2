-- +goose Up
-- One row per provider: the authorization attempt in flight, the credentials the
-- institution granted, and who holds the refresh lease.
--
-- Credentials (the *_ct columns) hold AES-256-GCM ciphertext only, made by the
-- application's keyring (adapters/vault) with associated data that binds each
-- value to this row's user and provider and to its column: a value copied into
-- another row or column does not decrypt. The institution's connection id
-- (Plaid's item_id) identifies the user's bank link, so it is encrypted too.
-- Scopes are not secret: space-separated OAuth scope tokens.
CREATE TABLE authorizations (
    provider_id        UUID PRIMARY KEY REFERENCES providers (id) ON DELETE CASCADE,
    user_id            UUID        NOT NULL,
    status             TEXT        NOT NULL,
    -- The attempt in flight: all three are NULL when there is none.
    attempt_id         UUID,
    state_hash         BYTEA,
    state_expires_at   TIMESTAMPTZ,
    access_token_ct    BYTEA,
    refresh_token_ct   BYTEA,
    token_expires_at   TIMESTAMPTZ,
    refresh_expires_at TIMESTAMPTZ,
    scopes             TEXT        NOT NULL DEFAULT '',
    external_id_ct     BYTEA,
    authorized_at      TIMESTAMPTZ,
    refreshed_at       TIMESTAMPTZ,
    lease_owner        UUID,
    lease_until        TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
-- The OAuth callback finds the attempt by the SHA-256 of its state; a state
-- belongs to one attempt.
CREATE UNIQUE INDEX authorizations_state_hash_key ON authorizations (state_hash) WHERE state_hash IS NOT NULL;
-- Serves the background refresh's claim: active, refreshable authorizations in
-- order of access-token expiry. The predicate is the claim's own, literally, so
-- the planner can use the index whatever the parameters.
CREATE INDEX authorizations_refresh_due_idx ON authorizations (token_expires_at, provider_id)
    WHERE status = 'active' AND refresh_token_ct IS NOT NULL;

-- +goose Down
DROP TABLE authorizations;
