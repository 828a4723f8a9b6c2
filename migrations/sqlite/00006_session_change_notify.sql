-- +goose Up
-- Nothing to do on SQLite. On Postgres this version adds the trigger that tells
-- other instances about session changes; an embedded SQLite database belongs to
-- one process, whose store drops its cached sessions itself.
SELECT 1;

-- +goose Down
SELECT 1;
