-- +goose Up
-- One row per connection a user makes to an institution.
--
-- alias and provider_key use the "C" collation, so ORDER BY compares their bytes,
-- exactly like SQLite's BINARY collation and Go's string comparison (the in-memory
-- fake): a list sorted by alias is the same list on every store, whatever the
-- database's default locale is, and a cursor taken on one page finds its place on
-- the next.
CREATE TABLE providers (
    id                UUID PRIMARY KEY,
    user_id           UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_key      TEXT COLLATE "C" NOT NULL,
    alias             TEXT COLLATE "C" NOT NULL,
    -- The alias lower-cased by the application (provider.AliasKey), not by SQL:
    -- lower() follows the database's locale and Go's strings.ToLower does not.
    alias_key         TEXT        NOT NULL,
    connection_status TEXT        NOT NULL,
    version           BIGINT      NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
-- The uniqueness rule: a user has one provider per alias, whatever its case. The
-- index, not a check in code, decides two concurrent creates.
CREATE UNIQUE INDEX providers_user_id_alias_key_key ON providers (user_id, alias_key);
-- One index per sort order the API offers, each ending in id, the tie-breaker, so
-- a keyset page ("after (value, id)") is an index range scan wherever it starts.
-- Descending orders scan the same indexes backwards.
CREATE INDEX providers_user_id_created_at_idx ON providers (user_id, created_at, id);
CREATE INDEX providers_user_id_updated_at_idx ON providers (user_id, updated_at, id);
CREATE INDEX providers_user_id_alias_idx ON providers (user_id, alias, id);
CREATE INDEX providers_user_id_provider_key_idx ON providers (user_id, provider_key, id);

-- +goose Down
DROP TABLE providers;
