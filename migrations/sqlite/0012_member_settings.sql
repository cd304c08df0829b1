-- A member's defaults for /imagine in one server (/settings) (sqlite). Keep in step with
-- migrations/postgres/0012_member_settings.sql.

-- NULL: no default (the model's size; the persona on). Erased by /persona forget and with the
-- server.
CREATE TABLE member_settings (
    guild_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    aspect TEXT,
    persona_mode TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (guild_id, member_id)
);
