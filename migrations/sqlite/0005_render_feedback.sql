-- Feedback on delivered renders (SQLite). Keep in step with migrations/postgres/0005_render_feedback.sql.

-- The message that carried the image (followup or channel message), so reactions to it can be
-- traced back to the render.
ALTER TABLE render_jobs ADD COLUMN message_id INTEGER;
CREATE INDEX render_jobs_message ON render_jobs (message_id);

-- A member's feedback on their own render: `reacted` (any reaction they added). Only consenting
-- members' feedback is kept; it is evidence of the images they like.
CREATE TABLE render_feedback (
    job_id     INTEGER NOT NULL REFERENCES render_jobs (id) ON DELETE CASCADE,
    guild_id   INTEGER,
    member_id  INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, member_id, kind)
);
CREATE INDEX render_feedback_member ON render_feedback (guild_id, member_id, created_at);

-- Moderators can let a member's consent also cover their recent past activity: 'on', or NULL (off).
ALTER TABLE guild_settings ADD COLUMN history_backfill TEXT;

-- The CLIP image embedding of each render (little-endian f32), computed by the worker when a CLIP
-- model is configured: the images members engage with, for the persona encoder's ImageAlign.
CREATE TABLE image_embeddings (
    job_id     INTEGER PRIMARY KEY REFERENCES render_jobs (id) ON DELETE CASCADE,
    guild_id   INTEGER,
    member_id  INTEGER NOT NULL,
    embedding  BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX image_embeddings_member ON image_embeddings (guild_id, member_id);

-- Images a member handed over with /persona add-image, as CLIP embeddings only (the image itself is
-- not kept).
CREATE TABLE member_images (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    member_id  INTEGER NOT NULL,
    embedding  BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX member_images_member ON member_images (guild_id, member_id);
