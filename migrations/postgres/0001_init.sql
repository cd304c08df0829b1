-- zipp schema v1 (PostgreSQL). Keep in step with migrations/sqlite/0001_init.sql.
-- Times are Unix milliseconds; Discord snowflakes are stored as signed 64-bit integers.

CREATE TABLE guild_settings (
    guild_id        BIGINT PRIMARY KEY,
    diffusion_model TEXT,
    llm             TEXT,
    updated_at      BIGINT NOT NULL,
    updated_by      BIGINT
);

CREATE TABLE render_jobs (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id              BIGINT,
    channel_id            BIGINT NOT NULL,
    member_id             BIGINT NOT NULL,
    interaction_id        BIGINT NOT NULL UNIQUE,
    application_id        BIGINT NOT NULL,
    interaction_token     TEXT NOT NULL,
    locale                TEXT NOT NULL,
    prompt                TEXT NOT NULL,
    rendered_prompt       TEXT NOT NULL,
    rewrite_kind          TEXT NOT NULL,
    negative_prompt       TEXT NOT NULL,
    model                 TEXT NOT NULL,
    seed                  BIGINT NOT NULL,
    width                 BIGINT NOT NULL,
    height                BIGINT NOT NULL,
    steps                 BIGINT NOT NULL,
    attachment_size_limit BIGINT NOT NULL,
    status                TEXT NOT NULL,
    attempts              BIGINT NOT NULL DEFAULT 0,
    max_attempts          BIGINT NOT NULL,
    not_before            BIGINT NOT NULL,
    lease_owner           TEXT,
    lease_expires_at      BIGINT,
    progress_step         BIGINT NOT NULL DEFAULT 0,
    progress_total        BIGINT NOT NULL DEFAULT 0,
    notified_step         BIGINT NOT NULL DEFAULT -1,
    error_message_id      TEXT,
    last_error            TEXT,
    created_at            BIGINT NOT NULL,
    started_at            BIGINT,
    finished_at           BIGINT,
    delivered_at          BIGINT,
    delivered_via         TEXT
);

CREATE INDEX render_jobs_ready ON render_jobs (status, not_before, id);
CREATE INDEX render_jobs_undelivered ON render_jobs (delivered_at, status);

CREATE TABLE rendered_images (
    job_id     BIGINT PRIMARY KEY REFERENCES render_jobs (id) ON DELETE CASCADE,
    guild_id   BIGINT,
    member_id  BIGINT NOT NULL,
    png        BYTEA NOT NULL,
    width      BIGINT NOT NULL,
    height     BIGINT NOT NULL,
    render_ms  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX rendered_images_member ON rendered_images (guild_id, member_id);
