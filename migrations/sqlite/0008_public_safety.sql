-- Public safety (sqlite). Keep in step with migrations/postgres/0008_public_safety.sql.

-- Moderators may tighten the operator's limits on /imagine ([limits] in the configuration):
-- jobs unfinished at once and jobs per hour, per member and per server. NULL: the operator's
-- value. Stored as text like the other settings (and their audit entries).
ALTER TABLE guild_settings ADD COLUMN member_active_limit TEXT;
ALTER TABLE guild_settings ADD COLUMN member_hourly_limit TEXT;
ALTER TABLE guild_settings ADD COLUMN server_active_limit TEXT;
ALTER TABLE guild_settings ADD COLUMN server_hourly_limit TEXT;

-- What the limits count at acceptance (one statement before the acknowledgement).
CREATE INDEX render_jobs_member_status ON render_jobs (member_id, status);
CREATE INDEX render_jobs_member_created ON render_jobs (member_id, created_at);
CREATE INDEX render_jobs_guild_status ON render_jobs (guild_id, status);
CREATE INDEX render_jobs_guild_created ON render_jobs (guild_id, created_at);

-- Fair leasing: when a server, and a member within a server, last had a job leased. A worker
-- takes the ready job of the server served longest ago, then of its member served longest ago,
-- then the oldest. Direct messages are the pseudo-server 0.
CREATE TABLE guild_turns (
    guild_id  INTEGER PRIMARY KEY,
    served_at INTEGER NOT NULL
);
CREATE TABLE member_turns (
    guild_id  INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    served_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, member_id)
);

-- A server's own prompt blocklist (/config blocklist): phrases stored normalized (NFKC, case
-- folded, invisible characters removed, words separated by single spaces).
CREATE TABLE guild_blocklist (
    guild_id INTEGER NOT NULL,
    phrase   TEXT NOT NULL,
    added_by INTEGER NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, phrase)
);

-- Refusals per server and reason (limits, blocklist, safety), for /stats.
CREATE TABLE guild_refusals (
    guild_id INTEGER NOT NULL,
    reason   TEXT NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (guild_id, reason)
);

-- The image safety check: whether the channel of the interaction is age-restricted (0/1), and
-- the worker's verdict on the render (1 flagged, 0 not, NULL not checked: no checker configured).
-- A server decides what happens to a flagged image in an age-restricted channel
-- (`/config nsfw`: block, the default, spoiler or allow); elsewhere it is never posted.
ALTER TABLE render_jobs ADD COLUMN channel_nsfw INTEGER NOT NULL DEFAULT 0;
ALTER TABLE render_jobs ADD COLUMN nsfw INTEGER;
ALTER TABLE guild_settings ADD COLUMN nsfw_policy TEXT;
