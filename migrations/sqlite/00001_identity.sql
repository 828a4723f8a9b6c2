-- +goose Up
CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT        NOT NULL,
    name              TEXT        NOT NULL,
    password_hash     TEXT        NOT NULL,
    email_verified_at DATETIME,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL
);
-- Emails are stored normalised (trimmed, lower-cased), so a plain unique index is enough.
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent    TEXT        NOT NULL DEFAULT '',
    ip_address    TEXT        NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL,
    last_used_at  DATETIME NOT NULL,
    expires_at    DATETIME NOT NULL,
    revoked_at    DATETIME,
    revoke_reason TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at, id);

-- Refresh tokens are stored as SHA-256 digests. A row with used_at set has been
-- rotated; presenting it again is treated as theft and revokes the session.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    session_id TEXT        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

-- Email-verification and password-reset tokens, stored as SHA-256 digests.
CREATE TABLE one_time_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT        NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME
);
CREATE INDEX one_time_tokens_user_id_purpose_idx ON one_time_tokens (user_id, purpose);

-- +goose Down
DROP TABLE one_time_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
