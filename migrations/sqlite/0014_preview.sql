-- Live previews (sqlite). Keep in step with migrations/postgres/0014_preview.sql.

-- The latest preview of a running job (a small PNG: one pixel per latent pixel, projected from
-- the latents without the VAE) and the step it shows; the bot attaches it to its progress edits.
-- Cleared when the job finishes.
ALTER TABLE render_jobs ADD COLUMN preview_png BLOB;
ALTER TABLE render_jobs ADD COLUMN preview_step BIGINT;
