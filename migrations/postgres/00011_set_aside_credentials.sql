-- +goose Up
-- Credentials revoked here whose revocation at the institution is still to be
-- done (the institution was down, or its provider type is no longer
-- configured): an institution_revoke job names the row, revokes the
-- credentials there and deletes it. credentials_ct is AES-256-GCM ciphertext of
-- the credentials, bound to this row's id; the provider may be gone by then, so
-- nothing refers to it.
CREATE TABLE set_aside_credentials (
    id             UUID PRIMARY KEY,
    provider_key   TEXT        NOT NULL,
    provider_id    UUID NOT NULL,
    user_id        UUID NOT NULL,
    credentials_ct BYTEA NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE set_aside_credentials;
