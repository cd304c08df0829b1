-- Several images per /imagine, and a model members pick (sqlite). Keep in step with
-- migrations/postgres/0015_count_model.sql.

-- How many images the job renders (1 to 4, seeds seed, seed + 1, …), shown as one grid: 4 as
-- 2 × 2, fewer in a row. Settled when the job is stored (the request's count, else the member's
-- default, else 1); the hourly limits count images, not jobs.
ALTER TABLE render_jobs ADD COLUMN image_count BIGINT NOT NULL DEFAULT 1;
-- The hourly limits sum image_count over a member's and a server's jobs of the hour (in the
-- accepting insert): the indexes they read carry it, so the sum reads no table row.
DROP INDEX render_jobs_member_created;
CREATE INDEX render_jobs_member_created ON render_jobs (member_id, created_at, image_count);
DROP INDEX render_jobs_guild_created;
CREATE INDEX render_jobs_guild_created ON render_jobs (guild_id, created_at, image_count);
-- For a Vary or Upscale of one image of its parent's grid: which one (0-based). NULL: the
-- parent's whole image.
ALTER TABLE render_jobs ADD COLUMN source_cell BIGINT;
-- The model the member picked (/imagine model): rendered if the server still allows it when the
-- rewrite settles the job, else the server's model. NULL: the server's model.
ALTER TABLE render_jobs ADD COLUMN model_choice TEXT;

-- A member's default count (/settings count). NULL: 1.
ALTER TABLE member_settings ADD COLUMN image_count BIGINT;

-- Diffusion models a server's members may pick with /imagine model, besides the server's own
-- (/config diffusion … use:allow). Erased with the server.
CREATE TABLE guild_diffusion_models (
    guild_id BIGINT NOT NULL,
    model TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (guild_id, model)
);
