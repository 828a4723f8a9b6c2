-- +goose Up
-- The event log (EVENTS.md); see the Postgres migration of the same number.
-- SQLite has one writer at a time, so ids taken from event_counter are in
-- commit order by construction; the counter keeps one mechanism on both
-- dialects. Text uses the BINARY collation and times are UTC text of one
-- format, as in 00008.
CREATE TABLE events (
    id          INTEGER  PRIMARY KEY,
    user_id     TEXT     NOT NULL,
    type        TEXT     NOT NULL,
    occurred_at DATETIME NOT NULL,
    data        TEXT     NOT NULL
);
CREATE INDEX events_user_id_id_idx ON events (user_id, id);
-- The retention purge (EVENT_RETENTION) deletes by age.
CREATE INDEX events_occurred_at_idx ON events (occurred_at);

CREATE TABLE event_counter (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    last_id INTEGER NOT NULL
);
INSERT INTO event_counter (one, last_id) VALUES (1, 0);

-- +goose Down
DROP TABLE event_counter;
DROP TABLE events;
