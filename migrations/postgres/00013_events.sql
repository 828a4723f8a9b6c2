-- +goose Up
-- The event log (EVENTS.md): every change a client cares about, written in the
-- transaction of the change. id is strictly increasing in COMMIT order, so
-- "every event after id X" is well defined for a reader that polls by id: a
-- plain sequence is not (a transaction that took id 7 may commit after one
-- that took id 8, and a reader that saw 8 would skip 7 for ever). Ids are
-- therefore taken from event_counter, a single row every event-writing
-- transaction updates as its last statement: its row lock serializes the
-- writers of events from that update to their commit, so ids are handed out
-- in commit order. The cost is that event-writing commits queue one behind
-- the other for that short tail (docs/events.md).
-- data is a thin JSON object: ids and the few fields that changed, never a
-- secret, a token or an account number. No foreign key to users: an event
-- outlives nothing, it is purged by age (EVENT_RETENTION).
CREATE TABLE events (
    id          BIGINT      PRIMARY KEY,
    user_id     UUID        NOT NULL,
    type        TEXT        NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    data        TEXT        NOT NULL
);
-- A user's events by id (GET /events, the streams' resume).
CREATE INDEX events_user_id_id_idx ON events (user_id, id);
-- The retention purge (EVENT_RETENTION) deletes by age.
CREATE INDEX events_occurred_at_idx ON events (occurred_at);

CREATE TABLE event_counter (
    one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    last_id BIGINT  NOT NULL
);
INSERT INTO event_counter (one, last_id) VALUES (TRUE, 0);

-- +goose Down
DROP TABLE event_counter;
DROP TABLE events;
