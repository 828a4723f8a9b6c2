-- +goose Up
-- The audit log; see the Postgres migration of the same number. Times are
-- UTC text of one format, as in 00008, so they compare as text with
-- datetime('now', ...).
CREATE TABLE audit_events (
    id           TEXT     PRIMARY KEY,
    occurred_at  DATETIME NOT NULL,
    actor_id     TEXT,
    subject_type TEXT     NOT NULL,
    subject_id   TEXT     NOT NULL,
    action       TEXT     NOT NULL,
    outcome      TEXT     NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason       TEXT     NOT NULL DEFAULT '',
    request_id   TEXT     NOT NULL DEFAULT '',
    client_ip    TEXT     NOT NULL DEFAULT '',
    user_agent   TEXT     NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_type, subject_id, id);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);

-- Append-only: no UPDATE, and no DELETE of a row younger than 30 days (the
-- shortest AUDIT_RETENTION; SQLite has no session setting to declare the
-- retention with, so the retention job's own cutoff does the rest).
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_recent_delete BEFORE DELETE ON audit_events
WHEN OLD.occurred_at >= datetime('now', '-30 days')
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: only rows older than the retention are deleted');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_events;
