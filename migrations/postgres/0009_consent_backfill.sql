-- The history backfill marker (postgres). Keep in step with migrations/sqlite/0009_consent_backfill.sql.

-- When the member's one history backfill in the server started (ms since the epoch); NULL: not
-- yet. Kept when consent is withdrawn (toggling consent starts no second backfill); deleted with
-- the rest of the consent row by /persona forget.
ALTER TABLE consents ADD COLUMN backfill_at BIGINT;
