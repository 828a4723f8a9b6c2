-- +goose Up
-- Webhooks to the client's own server (EVENTS.md; docs/webhooks.md).
--
-- An endpoint is a user's URL and the event types it wants. Its signing
-- secret is stored encrypted (secret_ct, under TOKEN_ENCRYPTION_KEYS like the
-- provider tokens); after a rotation the previous one stays valid until
-- previous_secret_expires_at, and both sign meanwhile. after_event_id is the
-- newest event id when the endpoint was created: it receives only later
-- events. event_types is a comma-separated list of event type names.
-- failing_since is the first failed attempt since the last delivery that
-- succeeded (NULL while none has failed since): an endpoint failing for
-- three days is disabled (docs/webhooks.md).
CREATE TABLE webhook_endpoints (
    id                         UUID PRIMARY KEY,
    user_id                    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                        TEXT        NOT NULL,
    event_types                TEXT        NOT NULL,
    description                TEXT        NOT NULL,
    enabled                    BOOLEAN     NOT NULL,
    disabled_reason            TEXT        NOT NULL,
    secret_ct                  BYTEA       NOT NULL,
    previous_secret_ct         BYTEA,
    previous_secret_expires_at TIMESTAMPTZ,
    after_event_id             BIGINT      NOT NULL,
    failing_since              TIMESTAMPTZ,
    version                    BIGINT      NOT NULL,
    created_at                 TIMESTAMPTZ NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_user_id_idx ON webhook_endpoints (user_id, id);

-- One delivery per (endpoint, event): the unique key is what makes the
-- dispatcher's fan-out exactly once. payload is the body sent ({type,
-- timestamp, data}), fixed when the delivery is created so that every
-- attempt sends the same bytes, whatever the event log's retention does.
-- status: pending, delivered or failed. next_attempt_at is set while
-- pending; last_* describe the newest attempt.
CREATE TABLE webhook_deliveries (
    id               UUID PRIMARY KEY,
    endpoint_id      UUID        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         BIGINT      NOT NULL,
    event_type       TEXT        NOT NULL,
    payload          TEXT        NOT NULL,
    status           TEXT        NOT NULL,
    attempts         INTEGER     NOT NULL,
    max_attempts     INTEGER     NOT NULL,
    next_attempt_at  TIMESTAMPTZ,
    last_attempt_at  TIMESTAMPTZ,
    last_status_code INTEGER,
    last_error       TEXT        NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_created_at_idx ON webhook_deliveries (created_at);

-- The dispatcher's high-water mark: every event up to last_event_id has its
-- deliveries. Locked by the dispatch transaction (one instance at a time);
-- event ids are handed out in commit order (00013), so "after the mark"
-- misses nothing. It starts at the newest event: earlier ones predate every
-- endpoint.
CREATE TABLE webhook_dispatch (
    one           INTEGER PRIMARY KEY CHECK (one = 1),
    last_event_id BIGINT NOT NULL
);
INSERT INTO webhook_dispatch (one, last_event_id) SELECT 1, last_id FROM event_counter;

-- +goose Down
DROP TABLE webhook_dispatch;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
