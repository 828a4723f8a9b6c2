-- +goose Up
-- Accounts and transactions, as the sync engine stores them (DATA.md,
-- docs/financial-data.md). Both belong to a provider and go with it (ON DELETE
-- CASCADE). user_id is the provider's owner, copied in at insert (a provider
-- never changes owner), so that a user's lists and changes feed are index
-- range scans with no join.
--
-- Text uses SQLite's BINARY collation, byte order, as the Postgres migration's
-- "C" collation and Go's strings. Times are UTC text of one format.
CREATE TABLE accounts (
    id                     TEXT PRIMARY KEY,
    provider_id            TEXT     NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    user_id                TEXT     NOT NULL,
    -- Never exposed: for matching on later syncs only.
    institution_account_id TEXT     NOT NULL,
    name                   TEXT     NOT NULL,
    -- The name lower-cased by the application for search: SQLite's lower()
    -- only folds ASCII.
    name_key               TEXT     NOT NULL,
    official_name          TEXT     NOT NULL,
    mask                   TEXT     NOT NULL,
    type                   TEXT     NOT NULL,
    subtype                TEXT     NOT NULL,
    currency               TEXT     NOT NULL,
    status                 TEXT     NOT NULL,
    version                INTEGER  NOT NULL,
    created_at             DATETIME NOT NULL,
    updated_at             DATETIME NOT NULL
);
-- Account.Key: every write upserts on it, and this index, not a check in code,
-- has the last word on two concurrent syncs.
CREATE UNIQUE INDEX accounts_provider_id_institution_account_id_key ON accounts (provider_id, institution_account_id);
-- A user's accounts in order of id, the list's order.
CREATE INDEX accounts_user_id_id_idx ON accounts (user_id, id);

-- The last position handed out in each user's changes feed. SQLite has one
-- writer at a time (transactions begin IMMEDIATE), so positions taken here
-- grow in commit order, as on Postgres.
CREATE TABLE finance_feed_positions (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_position INTEGER NOT NULL
);

-- SQLite has no decimal type. amount holds the exact text of the amount, as
-- written (-42.50 stays -42.50), for reading; amount_key is the same amount in
-- a fixed-width form whose byte order is numeric order (see
-- persistence/money.go), for the exact amount filters. No REAL column: a
-- float would round. Quantities and prices are exact text too.
CREATE TABLE transactions (
    id                         TEXT PRIMARY KEY,
    account_id                 TEXT     NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider_id                TEXT     NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    user_id                    TEXT     NOT NULL,
    institution_transaction_id TEXT     NOT NULL,
    status                     TEXT     NOT NULL,
    amount                     TEXT     NOT NULL,
    amount_key                 TEXT     NOT NULL,
    currency                   TEXT     NOT NULL,
    -- Ledger dates: YYYY-MM-DD text, which sorts as the calendar does.
    date                       TEXT     NOT NULL,
    authorized_date            TEXT,
    posted_date                TEXT,
    description                TEXT     NOT NULL,
    merchant_name              TEXT     NOT NULL,
    -- Lower-cased by the application, for search (as accounts.name_key).
    description_key            TEXT     NOT NULL,
    merchant_key               TEXT     NOT NULL,
    category_primary           TEXT     NOT NULL,
    category_detailed          TEXT     NOT NULL,
    kind                       TEXT     NOT NULL,
    -- Investment activity only; NULL otherwise. Price and fees are in the
    -- transaction's currency.
    security_id                TEXT,
    quantity                   TEXT,
    price                      TEXT,
    fees                       TEXT,
    -- Set on a tombstone: gone from lists, kept for the changes feed.
    removed_at                 DATETIME,
    version                    INTEGER  NOT NULL,
    created_at                 DATETIME NOT NULL,
    updated_at                 DATETIME NOT NULL,
    -- Feed positions (finance_feed_positions): of the insert, which tells an
    -- added transaction from a modified one, and of the latest write.
    created_position           INTEGER  NOT NULL,
    position                   INTEGER  NOT NULL
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
-- Amounts as for transactions: the exact decimal text.
-- available and credit_limit are NULL when the institution does not say.
CREATE TABLE balances (
    account_id   TEXT        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    as_of        DATETIME    NOT NULL,
    current      TEXT        NOT NULL,
    available    TEXT,
    credit_limit TEXT,
    currency     TEXT        NOT NULL,
    PRIMARY KEY (account_id, as_of)
);

-- +goose Down
DROP TABLE balances;
DROP TABLE transactions;
DROP TABLE finance_feed_positions;
DROP TABLE accounts;
