-- Retention and server departures (PostgreSQL). Keep in step with migrations/sqlite/0007_retention.sql.

-- Servers the bot was removed from (GUILD_DELETE without `unavailable`: not an outage), and when.
-- The retention sweep erases such a server's data after retention.guild_grace_days; being added
-- back within the grace period cancels it.
CREATE TABLE guild_departures (
    guild_id BIGINT PRIMARY KEY,
    left_at  BIGINT NOT NULL
);

-- The sweep's lookups by age.
CREATE INDEX rendered_images_created ON rendered_images (created_at);
CREATE INDEX render_jobs_finished ON render_jobs (finished_at);
CREATE INDEX personas_created ON personas (created_at);
CREATE INDEX member_images_created ON member_images (created_at);
