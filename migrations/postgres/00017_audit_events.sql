-- +goose Up
-- The audit log (docs/operations.md, "Audit log"): who did what
-- security-relevant thing to what, when, from where, and how it ended. It is
-- not the event log (00013): other readers, another retention. No foreign
-- keys: an entry outlives the user and whatever it is about. No secret is
-- ever written here (a failed login of an unknown address keeps a hash of
-- the address, not the address).
CREATE TABLE audit_events (
    id           UUID        PRIMARY KEY,
    occurred_at  TIMESTAMPTZ NOT NULL,
    actor_id     UUID,
    subject_type TEXT        NOT NULL,
    subject_id   TEXT        NOT NULL,
    action       TEXT        NOT NULL,
    outcome      TEXT        NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason       TEXT        NOT NULL DEFAULT '',
    request_id   TEXT        NOT NULL DEFAULT '',
    client_ip    TEXT        NOT NULL DEFAULT '',
    user_agent   TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_type, subject_id, id);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);

-- Append-only: no UPDATE, no TRUNCATE, and a DELETE only of a row older than
-- the retention the deleting transaction declares with
-- SET LOCAL dashtam.audit_retention = '<interval>' (the retention job does),
-- and never of a row younger than 30 days whatever it declares. A superuser
-- (or the table's owner) can still drop this trigger: the guarantee holds
-- against the application and its bugs, not against the database's owner.
-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keep interval;
BEGIN
    IF TG_OP = 'DELETE' THEN
        keep := NULLIF(current_setting('dashtam.audit_retention', true), '')::interval;
        IF keep IS NOT NULL AND keep >= interval '30 days' AND OLD.occurred_at < now() - keep THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: only the retention job deletes, and only rows older than the retention'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- +goose Down
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
