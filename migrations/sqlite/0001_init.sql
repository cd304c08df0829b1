-- zipp schema v1 (SQLite). Keep in step with migrations/postgres/0001_init.sql.
-- Times are Unix milliseconds; Discord snowflakes are stored as signed 64-bit integers.

CREATE TABLE guild_settings (
    guild_id        INTEGER PRIMARY KEY,
    diffusion_model TEXT,
    llm             TEXT,
    updated_at      INTEGER NOT NULL,
    updated_by      INTEGER
);

CREATE TABLE render_jobs (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id              INTEGER,
    channel_id            INTEGER NOT NULL,
    member_id             INTEGER NOT NULL,
    interaction_id        INTEGER NOT NULL UNIQUE,
    application_id        INTEGER NOT NULL,
    interaction_token     TEXT NOT NULL,
    locale                TEXT NOT NULL,
    prompt                TEXT NOT NULL,
    rendered_prompt       TEXT NOT NULL,
    rewrite_kind          TEXT NOT NULL,
    negative_prompt       TEXT NOT NULL,
    model                 TEXT NOT NULL,
    seed                  INTEGER NOT NULL,
    width                 INTEGER NOT NULL,
    height                INTEGER NOT NULL,
    steps                 INTEGER NOT NULL,
    attachment_size_limit INTEGER NOT NULL,
    status                TEXT NOT NULL,
    attempts              INTEGER NOT NULL DEFAULT 0,
    max_attempts          INTEGER NOT NULL,
    not_before            INTEGER NOT NULL,
    lease_owner           TEXT,
    lease_expires_at      INTEGER,
    progress_step         INTEGER NOT NULL DEFAULT 0,
    progress_total        INTEGER NOT NULL DEFAULT 0,
    notified_step         INTEGER NOT NULL DEFAULT -1,
    error_message_id      TEXT,
    last_error            TEXT,
    created_at            INTEGER NOT NULL,
    started_at            INTEGER,
    finished_at           INTEGER,
    delivered_at          INTEGER,
    delivered_via         TEXT
);

CREATE INDEX render_jobs_ready ON render_jobs (status, not_before, id);
CREATE INDEX render_jobs_undelivered ON render_jobs (delivered_at, status);

CREATE TABLE rendered_images (
    job_id     INTEGER PRIMARY KEY REFERENCES render_jobs (id) ON DELETE CASCADE,
    guild_id   INTEGER,
    member_id  INTEGER NOT NULL,
    png        BLOB NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    render_ms  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX rendered_images_member ON rendered_images (guild_id, member_id);
