-- +goose Up
-- Two-field sorts group by institution: provider_key, then alias, created_at or
-- updated_at, in either direction each. A cursor page reads the rest of its group
-- and then the groups after it, each an index range scan: the first index serves
-- equal directions (forwards or backwards), the DESC one mixed directions.
CREATE INDEX providers_user_key_alias_idx ON providers (user_id, provider_key, alias, id);
CREATE INDEX providers_user_key_alias_desc_idx ON providers (user_id, provider_key, alias DESC, id DESC);
CREATE INDEX providers_user_key_created_idx ON providers (user_id, provider_key, created_at, id);
CREATE INDEX providers_user_key_created_desc_idx ON providers (user_id, provider_key, created_at DESC, id DESC);
CREATE INDEX providers_user_key_updated_idx ON providers (user_id, provider_key, updated_at, id);
CREATE INDEX providers_user_key_updated_desc_idx ON providers (user_id, provider_key, updated_at DESC, id DESC);

-- +goose Down
DROP INDEX providers_user_key_updated_desc_idx;
DROP INDEX providers_user_key_updated_idx;
DROP INDEX providers_user_key_created_desc_idx;
DROP INDEX providers_user_key_created_idx;
DROP INDEX providers_user_key_alias_desc_idx;
DROP INDEX providers_user_key_alias_idx;
