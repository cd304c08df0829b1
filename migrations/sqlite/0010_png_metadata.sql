-- Image metadata (sqlite). Keep in step with migrations/postgres/0010_png_metadata.sql.

-- 'off': delivered PNGs carry no 'parameters' text chunk (seed, model, steps, size, the prompt as
-- typed). NULL: on (/config metadata).
ALTER TABLE guild_settings ADD COLUMN png_metadata TEXT;
