-- +goose Up
-- Idempotency-Key records: the first answer to a POST or PATCH, replayed when the
-- same caller retries with the same key (adapters/httpapi/idempotency.go). A row
-- with completed_at NULL is a claim: its request is still running.
CREATE TABLE idempotency_records (
    scope        TEXT        NOT NULL, -- user:<id>, or ip:<address> for anonymous callers
    method       TEXT        NOT NULL,
    route        TEXT        NOT NULL, -- the route template, /api/v1/providers/:provider_id
    idem_key     TEXT        NOT NULL, -- the client's Idempotency-Key
    fingerprint  BYTEA       NOT NULL, -- HMAC-SHA-256 (server key) of the request's path, query and body
    claim_token  TEXT        NOT NULL, -- random token of the request holding the claim
    locked_at    TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    status       INTEGER     NOT NULL DEFAULT 0,
    headers      TEXT        NOT NULL DEFAULT '{}', -- JSON object of the replayed headers
    body         BYTEA,
    -- The key, not a check in code, decides between two concurrent first requests.
    CONSTRAINT idempotency_records_pkey PRIMARY KEY (scope, method, route, idem_key)
);
CREATE INDEX idempotency_records_expires_at_idx ON idempotency_records (expires_at);

-- +goose Down
DROP TABLE idempotency_records;
