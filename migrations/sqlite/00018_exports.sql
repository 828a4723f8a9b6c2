-- +goose Up
-- Self-service data exports (docs/exports.md); see the Postgres migration of
-- the same number. Ids are text, times UTC text.
CREATE TABLE exports (
    id              TEXT PRIMARY KEY,
    user_id         TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status          TEXT     NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    stage           TEXT     NOT NULL DEFAULT '',
    records_written INTEGER  NOT NULL DEFAULT 0,
    attempts        INTEGER  NOT NULL DEFAULT 0,
    error           TEXT     NOT NULL DEFAULT '',
    size            INTEGER  NOT NULL DEFAULT 0,
    chunks          INTEGER  NOT NULL DEFAULT 0,
    created_at      DATETIME NOT NULL,
    started_at      DATETIME,
    finished_at     DATETIME,
    expires_at      DATETIME,
    downloaded_at   DATETIME
);
CREATE UNIQUE INDEX exports_user_id_in_flight_key ON exports (user_id) WHERE status IN ('queued', 'running');
CREATE INDEX exports_user_id_created_at_idx ON exports (user_id, created_at, id);
CREATE INDEX exports_finished_at_idx ON exports (finished_at);

CREATE TABLE export_chunks (
    export_id TEXT    NOT NULL REFERENCES exports (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (export_id, seq)
);

-- +goose Down
DROP TABLE export_chunks;
DROP TABLE exports;
