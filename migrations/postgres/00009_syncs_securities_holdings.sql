-- +goose Up
-- Syncs and what they bring besides accounts and transactions: each
-- provider's sync state (with the connector's resume state), its securities,
-- and each account's holdings (DATA.md, "How sync works"). Everything here
-- belongs to a provider, directly or through an account, and goes with it
-- (ON DELETE CASCADE): deleting a provider deletes everything synced from it.

-- One row per sync, from queued to finished. user_id is the provider's owner,
-- copied in at insert as for accounts. The counts are the sync's progress and
-- results; errors is a JSON array of {account_id, code, message, retryable},
-- whose messages are Dashtam's own words, never an institution's text or a
-- credential.
CREATE TABLE syncs (
    id                    UUID PRIMARY KEY,
    provider_id           UUID        NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    user_id               UUID        NOT NULL,
    trigger               TEXT        NOT NULL,
    status                TEXT        NOT NULL,
    accounts_total        INTEGER     NOT NULL DEFAULT 0,
    accounts_done         INTEGER     NOT NULL DEFAULT 0,
    accounts_added        INTEGER     NOT NULL DEFAULT 0,
    accounts_updated      INTEGER     NOT NULL DEFAULT 0,
    accounts_closed       INTEGER     NOT NULL DEFAULT 0,
    transactions_added    INTEGER     NOT NULL DEFAULT 0,
    transactions_modified INTEGER     NOT NULL DEFAULT 0,
    transactions_removed  INTEGER     NOT NULL DEFAULT 0,
    holdings_added        INTEGER     NOT NULL DEFAULT 0,
    holdings_updated      INTEGER     NOT NULL DEFAULT 0,
    holdings_removed      INTEGER     NOT NULL DEFAULT 0,
    errors                JSONB       NOT NULL DEFAULT '[]',
    created_at            TIMESTAMPTZ NOT NULL,
    -- NULL until the sync starts, and until it finishes.
    started_at            TIMESTAMPTZ,
    finished_at           TIMESTAMPTZ
);
-- One sync in flight (queued or running) per provider. The sync store decides
-- under the provider's row lock; this index has the last word. The predicate
-- names the in-flight statuses (datasync.Status.InFlight) literally.
CREATE UNIQUE INDEX syncs_provider_id_in_flight_key ON syncs (provider_id) WHERE status IN ('queued', 'running');
-- A provider's syncs newest first (created_at, id descending), scanned
-- backwards.
CREATE INDEX syncs_provider_id_created_at_id_idx ON syncs (provider_id, created_at, id);

-- What Dashtam knows of a provider's syncing beyond its syncs (datasync.State),
-- and the connector's resume state after the last committed page of
-- transactions, written in that page's transaction. A provider with no row
-- has never been synced and is due now; so is one whose next_sync_at is NULL.
CREATE TABLE provider_sync_states (
    provider_id        UUID PRIMARY KEY REFERENCES providers (id) ON DELETE CASCADE,
    last_synced_at     TIMESTAMPTZ,
    data_as_of         TIMESTAMPTZ,
    next_sync_at       TIMESTAMPTZ,
    transaction_resume BYTEA
);
-- The scheduler's question: which providers are due, most overdue first.
CREATE INDEX provider_sync_states_next_sync_at_idx ON provider_sync_states (next_sync_at, provider_id);

-- The instruments a provider's accounts hold or trade. A security is
-- identified within its provider by finance.SecurityKey (the institution's id,
-- else the ISIN, else the CUSIP), never by a symbol or a name.
CREATE TABLE securities (
    id                      UUID PRIMARY KEY,
    provider_id             UUID        NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    key_scheme              TEXT COLLATE "C" NOT NULL,
    key_value               TEXT COLLATE "C" NOT NULL,
    institution_security_id TEXT        NOT NULL,
    isin                    TEXT        NOT NULL,
    cusip                   TEXT        NOT NULL,
    symbol                  TEXT COLLATE "C" NOT NULL,
    name                    TEXT        NOT NULL,
    type                    TEXT        NOT NULL,
    currency                TEXT        NOT NULL,
    -- A money-market fund or sweep: part of the account's cash.
    cash_equivalent         BOOLEAN     NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL
);
-- SecurityKey: every write upserts on it.
CREATE UNIQUE INDEX securities_provider_id_key_scheme_key_value_key ON securities (provider_id, key_scheme, key_value);

-- Each account's holdings: a snapshot, replaced by each sync's complete
-- answer. Money as for transactions: NUMERIC keeping the scale written;
-- quantities and prices keep up to 8 decimals. price, price_as_of and
-- cost_basis are NULL when the institution does not say. No amount_key: no
-- list filters or sorts holdings by an amount.
CREATE TABLE holdings (
    id           UUID PRIMARY KEY,
    account_id   UUID        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The security goes with its provider, and so do the provider's accounts
    -- and their holdings, in the same delete.
    security_id  UUID        NOT NULL REFERENCES securities (id),
    quantity     NUMERIC     NOT NULL,
    price        NUMERIC,
    price_as_of  DATE,
    market_value NUMERIC     NOT NULL,
    cost_basis   NUMERIC,
    currency     TEXT        NOT NULL,
    as_of        TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
-- One holding per security per account (finance.DiffHoldings matches by
-- security).
CREATE UNIQUE INDEX holdings_account_id_security_id_key ON holdings (account_id, security_id);
-- Deleting a security checks no holding refers to it.
CREATE INDEX holdings_security_id_idx ON holdings (security_id);

-- +goose Down
DROP TABLE holdings;
DROP TABLE securities;
DROP TABLE provider_sync_states;
DROP TABLE syncs;
