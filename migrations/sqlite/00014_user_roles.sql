-- +goose Up
-- Who may use the admin routes (role) and whether the account may be used at
-- all (status: a disabled user cannot log in, refresh or use a session).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled'));
-- The admin list pages newest first by (created_at, id); the last-admin check
-- counts active admins.
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
CREATE INDEX users_role_status_idx ON users (role, status);

-- +goose Down
DROP INDEX users_role_status_idx;
DROP INDEX users_created_at_id_idx;
ALTER TABLE users DROP COLUMN status;
ALTER TABLE users DROP COLUMN role;
