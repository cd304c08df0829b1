-- Every moderator change of a server's settings, with who and when (PostgreSQL).
CREATE TABLE config_audit (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    member_id  BIGINT NOT NULL,
    setting    TEXT NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    changed_at BIGINT NOT NULL
);

CREATE INDEX config_audit_guild ON config_audit (guild_id, id);
