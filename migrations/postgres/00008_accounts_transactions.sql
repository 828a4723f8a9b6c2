-- +goose Up
-- Accounts and transactions, as the sync engine stores them (DATA.md,
-- docs/financial-data.md). Both belong to a provider and go with it (ON DELETE
-- CASCADE). user_id is the provider's owner, copied in at insert (a provider
-- never changes owner), so that a user's lists and changes feed are index
-- range scans with no join.
--
-- Text that is sorted or compared uses the "C" collation, so it orders by
-- bytes as SQLite's BINARY collation and Go's strings do.
CREATE TABLE accounts (
    id                     UUID PRIMARY KEY,
    provider_id            UUID        NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    user_id                UUID        NOT NULL,
    -- Never exposed: for matching on later syncs only.
    institution_account_id TEXT COLLATE "C" NOT NULL,
    name                   TEXT        NOT NULL,
    -- The name lower-cased by the application for search: lower() follows the
    -- database's locale, Go's strings.ToLower does not.
    name_key               TEXT        NOT NULL,
    official_name          TEXT        NOT NULL,
    mask                   TEXT        NOT NULL,
    type                   TEXT        NOT NULL,
    subtype                TEXT        NOT NULL,
    currency               TEXT        NOT NULL,
    status                 TEXT        NOT NULL,
    version                BIGINT      NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL
);
-- Account.Key: every write upserts on it, and this index, not a check in code,
-- has the last word on two concurrent syncs.
CREATE UNIQUE INDEX accounts_provider_id_institution_account_id_key ON accounts (provider_id, institution_account_id);
-- A user's accounts in order of id, the list's order.
CREATE INDEX accounts_user_id_id_idx ON accounts (user_id, id);

-- The last position handed out in each user's changes feed. A batch of
-- transaction writes takes its positions by incrementing its user's row,
-- which locks that row until the batch commits: the user's next batch waits
-- for it, so positions grow in commit order and a client resuming after the
-- last position it read never skips a row committed later with a lower one.
-- Batches of different users do not wait for each other.
CREATE TABLE finance_feed_positions (
    user_id       UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_position BIGINT NOT NULL
);

-- Money is NUMERIC with no precision given, so it keeps the scale it was
-- written with: -42.50 reads back as -42.50 (docs/financial-data.md bounds
-- the values: 15 digits before the point, 4 after for amounts, 8 for
-- quantities and prices). amount_key is the same amount in a fixed-width
-- form whose byte order is numeric order (see persistence/money.go), so the
-- amount filters are one exact comparison on both dialects.
CREATE TABLE transactions (
    id                         UUID PRIMARY KEY,
    account_id                 UUID        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider_id                UUID        NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    user_id                    UUID        NOT NULL,
    institution_transaction_id TEXT COLLATE "C" NOT NULL,
    status                     TEXT        NOT NULL,
    amount                     NUMERIC     NOT NULL,
    amount_key                 TEXT COLLATE "C" NOT NULL,
    currency                   TEXT        NOT NULL,
    -- Ledger dates: calendar days, never timestamps.
    date                       DATE        NOT NULL,
    authorized_date            DATE,
    posted_date                DATE,
    description                TEXT        NOT NULL,
    merchant_name              TEXT        NOT NULL,
    -- Lower-cased by the application, for search (as accounts.name_key).
    description_key            TEXT        NOT NULL,
    merchant_key               TEXT        NOT NULL,
    category_primary           TEXT        NOT NULL,
    category_detailed          TEXT        NOT NULL,
    kind                       TEXT        NOT NULL,
    -- Investment activity only; NULL otherwise. Price and fees are in the
    -- transaction's currency.
    security_id                UUID,
    quantity                   NUMERIC,
    price                      NUMERIC,
    fees                       NUMERIC,
    -- Set on a tombstone: gone from lists, kept for the changes feed.
    removed_at                 TIMESTAMPTZ,
    version                    BIGINT      NOT NULL,
    created_at                 TIMESTAMPTZ NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL,
    -- Feed positions (finance_feed_positions): of the insert, which tells an
    -- added transaction from a modified one, and of the latest write.
    created_position           BIGINT      NOT NULL,
    position                   BIGINT      NOT NULL
);
-- Transaction.Key, tombstones included: an institution id names one row of an
-- account for good.
CREATE UNIQUE INDEX transactions_account_id_institution_transaction_id_key
    ON transactions (account_id, institution_transaction_id);
-- The list's order, -date,-id, over live rows; scanned backwards.
CREATE INDEX transactions_user_id_date_id_idx ON transactions (user_id, date, id) WHERE removed_at IS NULL;
-- The changes feed: a user's rows after a position. Unique, as positions are.
CREATE UNIQUE INDEX transactions_user_id_position_key ON transactions (user_id, position);

-- Each account's balance history: a snapshot whenever the balance changed and
-- at least once a day (finance.SnapshotDue); the newest is the current
-- balance. The key orders it, newest first when scanned backwards, and makes
-- two snapshots of one instant impossible.
-- Amounts as for transactions: NUMERIC keeping the scale written.
-- available and credit_limit are NULL when the institution does not say.
CREATE TABLE balances (
    account_id   UUID        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    as_of        TIMESTAMPTZ NOT NULL,
    current      NUMERIC     NOT NULL,
    available    NUMERIC,
    credit_limit NUMERIC,
    currency     TEXT        NOT NULL,
    PRIMARY KEY (account_id, as_of)
);

-- +goose Down
DROP TABLE balances;
DROP TABLE transactions;
DROP TABLE finance_feed_positions;
DROP TABLE accounts;
