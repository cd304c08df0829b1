-- The shape of an image, and where a job came from (postgres). Keep in step with migrations/sqlite/0011_aspect.sql.

-- /imagine aspect: '1:1', '4:3', '3:4', '3:2', '2:3', '16:9' or '9:16'; the worker renders that
-- shape with about the model's native pixel count. NULL: the model's default size.
ALTER TABLE render_jobs ADD COLUMN aspect TEXT;

-- A job made from another one's result (its Reroll button): the result it came from.
ALTER TABLE render_jobs ADD COLUMN parent_id BIGINT;
