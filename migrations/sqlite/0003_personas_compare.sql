-- Personas (versioned, one active per member and server) and compare-mode picks (SQLite).
-- Keep in step with migrations/postgres/0003_personas_compare.sql.

-- Every persona version a member had in a server. `source` is inferred, edited or
-- questionnaire; `evidence` is JSON (what inference saw), NULL for typed personas.
CREATE TABLE personas (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    member_id  INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    source     TEXT NOT NULL,
    text       TEXT NOT NULL,
    evidence   TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (guild_id, member_id, version)
);

-- Which version is in use.
CREATE TABLE persona_active (
    guild_id   INTEGER NOT NULL,
    member_id  INTEGER NOT NULL,
    persona_id INTEGER NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
    PRIMARY KEY (guild_id, member_id)
);

-- Compare mode: the generic prompt rendered beside the persona prompt, and on which side the
-- persona image is (left/right, chosen at random). NULL for a normal render.
ALTER TABLE render_jobs ADD COLUMN generic_prompt TEXT;
ALTER TABLE render_jobs ADD COLUMN persona_side TEXT;
-- The persona version the rewrite used (NULL: none).
ALTER TABLE render_jobs ADD COLUMN persona_id INTEGER;

-- The member's pick on a compare render: which side, and whether the persona side won.
CREATE TABLE compare_picks (
    job_id         INTEGER PRIMARY KEY REFERENCES render_jobs (id) ON DELETE CASCADE,
    guild_id       INTEGER,
    member_id      INTEGER NOT NULL,
    prompt         TEXT NOT NULL,
    persona_prompt TEXT NOT NULL,
    generic_prompt TEXT NOT NULL,
    persona_side   TEXT NOT NULL,
    picked_side    TEXT NOT NULL,
    persona_won    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE INDEX compare_picks_member ON compare_picks (guild_id, member_id, created_at);
