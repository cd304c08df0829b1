-- Durable before acknowledged (SQLite). Keep in step with migrations/postgres/0006_durable_ack.sql.

-- A job is stored before Discord receives the deferral, in state 'rewriting', leased
-- (lease_owner, lease_expires_at) by the bot process that rewrites its prompt; a restarted or
-- another bot process takes an expired rewrite lease over. rewrite_attempts counts the leases; a job
-- whose rewrite never finishes (one that kills the process) is rendered as typed after three.
-- Persona conditioning as asked (`on`, `off`, `compare`): the rewrite after the acknowledgement,
-- in whichever bot process finishes it, looks the persona and the server's settings up then, so
-- nothing but this insert stands between the interaction and its acknowledgement.
ALTER TABLE render_jobs ADD COLUMN persona_mode TEXT NOT NULL DEFAULT 'on';
ALTER TABLE render_jobs ADD COLUMN rewrite_attempts INTEGER NOT NULL DEFAULT 0;

-- Delivery is claimed with a lease: a bot killed between claiming and sending leaves a claim
-- that expires and is taken over; delivered_at is set only once Discord has the result.
ALTER TABLE render_jobs ADD COLUMN delivery_owner TEXT;
ALTER TABLE render_jobs ADD COLUMN delivery_expires_at INTEGER;

CREATE INDEX render_jobs_rewriting ON render_jobs (status, lease_expires_at);
