-- Images made from another image (the Vary and Upscale buttons) (postgres). Keep in step with migrations/sqlite/0013_derive.sql.

-- 'vary-subtle', 'vary-strong' or 'upscale': the worker starts from the PNG of the job's parent
-- (img2img) at that strength, at the parent's size (twice it for 'upscale'). NULL: a new image.
ALTER TABLE render_jobs ADD COLUMN derive TEXT;
