-- +goose Up
-- Each instance caches session validity for a moment (SESSION_CACHE_TTL) and
-- LISTENs on dashtam_session_changed; this trigger tells every instance, when
-- the change commits, which session was revoked, re-dated, moved or deleted,
-- whatever code or person changed it. Updates that leave validity alone
-- (last_used_at on every refresh) notify nobody.
-- +goose StatementBegin
CREATE FUNCTION dashtam_notify_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dashtam_session_changed', OLD.id::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER sessions_validity_changed
    AFTER UPDATE OF user_id, expires_at, revoked_at ON sessions
    FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id
       OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
       OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION dashtam_notify_session_changed();
CREATE TRIGGER sessions_deleted
    AFTER DELETE ON sessions
    FOR EACH ROW
    EXECUTE FUNCTION dashtam_notify_session_changed();

-- +goose Down
DROP TRIGGER sessions_deleted ON sessions;
DROP TRIGGER sessions_validity_changed ON sessions;
DROP FUNCTION dashtam_notify_session_changed();
