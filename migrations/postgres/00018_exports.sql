-- +goose Up
-- Self-service data exports (docs/exports.md). An export is one job
-- writing everything Dashtam holds about its user as one JSON document,
-- gzip-compressed, in chunks of about 1 MiB (export_chunks), so that any
-- instance serves the download and nothing holds the whole document in
-- memory. status: queued, running, succeeded or failed; stage and
-- records_written are the running job's progress; error is a reason word
-- (never an error's text). attempts counts the job's runs: a job past its
-- last attempt marks the export failed. expires_at is set when it succeeds:
-- the document can be downloaded once (downloaded_at) until then. size is
-- the stored (compressed) document's bytes, chunks how many chunks hold it.
CREATE TABLE exports (
    id              UUID PRIMARY KEY,
    user_id         UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status          TEXT        NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    stage           TEXT        NOT NULL DEFAULT '',
    records_written BIGINT      NOT NULL DEFAULT 0,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    error           TEXT        NOT NULL DEFAULT '',
    size            BIGINT      NOT NULL DEFAULT 0,
    chunks          INTEGER     NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ,
    downloaded_at   TIMESTAMPTZ
);
-- One export in flight per user: the index, not a check in code, decides
-- between two concurrent requests.
CREATE UNIQUE INDEX exports_user_id_in_flight_key ON exports (user_id) WHERE status IN ('queued', 'running');
CREATE INDEX exports_user_id_created_at_idx ON exports (user_id, created_at, id);
CREATE INDEX exports_finished_at_idx ON exports (finished_at);

CREATE TABLE export_chunks (
    export_id UUID    NOT NULL REFERENCES exports (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    data      BYTEA   NOT NULL,
    PRIMARY KEY (export_id, seq)
);

-- +goose Down
DROP TABLE export_chunks;
DROP TABLE exports;
