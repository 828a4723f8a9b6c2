-- +goose Up
-- Institution webhooks (EVENTS.md, "Institution webhooks into Dashtam").
--
-- external_id_hash is the SHA-256 of the institution's connection id (Plaid's
-- item_id, stored encrypted in external_id_ct; provider.HashExternalID), so a
-- webhook naming an item finds its provider through an index without
-- decrypting every row. Rows granted before this migration gain it on their
-- next save (a grant, a repair, a refresh) or with `dashtam tokens reencrypt`.
ALTER TABLE authorizations ADD COLUMN external_id_hash BYTEA;
CREATE INDEX authorizations_external_id_hash_idx ON authorizations (external_id_hash) WHERE external_id_hash IS NOT NULL;

-- One row per verified delivery. The body is not kept, only its SHA-256:
-- the same body delivered again within a few minutes (a copy, or a retry)
-- is recorded as a duplicate of the first (duplicate_of), which is the only
-- one acted on (institutionhooks.DuplicateWindow; later, the same body is a
-- new notice). action is what the connector read in it (sync, reauthorize,
-- repaired, expiring, ignore), signed_at when the institution signed it
-- (ordering deliveries that arrive out of order), outcome what was done:
-- received until its job acts, then sync_started, sync_joined,
-- reauthorization_required, reauthorization_cleared, pending_expiration,
-- superseded, not_connected, no_provider or ignored; duplicate for a copy.
CREATE TABLE institution_webhook_deliveries (
    id               UUID PRIMARY KEY,
    provider_type    TEXT NOT NULL,
    external_id_hash BYTEA,
    webhook_type     TEXT NOT NULL,
    webhook_code     TEXT NOT NULL,
    error_code       TEXT,
    action           TEXT NOT NULL,
    body_sha256      BYTEA NOT NULL,
    signed_at        TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ,
    received_at      TIMESTAMPTZ NOT NULL,
    duplicate_of     UUID REFERENCES institution_webhook_deliveries (id) ON DELETE CASCADE,
    outcome          TEXT NOT NULL,
    acted_at         TIMESTAMPTZ
);
CREATE INDEX institution_webhook_deliveries_body_idx ON institution_webhook_deliveries (provider_type, body_sha256, received_at)
    WHERE duplicate_of IS NULL;
-- Serves the out-of-order check: the newest state change of one item.
CREATE INDEX institution_webhook_deliveries_item_idx ON institution_webhook_deliveries (provider_type, external_id_hash, signed_at);

-- +goose Down
DROP TABLE institution_webhook_deliveries;
DROP INDEX authorizations_external_id_hash_idx;
ALTER TABLE authorizations DROP COLUMN external_id_hash;
