-- +goose Up
-- One row per connection a user makes to an institution.
--
-- Text columns use SQLite's default BINARY collation: ORDER BY compares bytes,
-- like Postgres' "C" collation (see the Postgres migration) and Go's string
-- comparison. Times are stored as UTC text of one format, so they sort
-- chronologically.
CREATE TABLE providers (
    id                TEXT PRIMARY KEY,
    user_id           TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_key      TEXT     NOT NULL,
    alias             TEXT     NOT NULL,
    -- The alias lower-cased by the application (provider.AliasKey): SQLite's
    -- lower() only folds ASCII.
    alias_key         TEXT     NOT NULL,
    connection_status TEXT     NOT NULL,
    version           INTEGER  NOT NULL,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL
);
-- The uniqueness rule: a user has one provider per alias, whatever its case. The
-- index, not a check in code, decides two concurrent creates.
CREATE UNIQUE INDEX providers_user_id_alias_key_key ON providers (user_id, alias_key);
-- One index per sort order the API offers, each ending in id, the tie-breaker.
CREATE INDEX providers_user_id_created_at_idx ON providers (user_id, created_at, id);
CREATE INDEX providers_user_id_updated_at_idx ON providers (user_id, updated_at, id);
CREATE INDEX providers_user_id_alias_idx ON providers (user_id, alias, id);
CREATE INDEX providers_user_id_provider_key_idx ON providers (user_id, provider_key, id);

-- +goose Down
DROP TABLE providers;
