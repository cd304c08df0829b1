-- Every moderator change of a server's settings, with who and when (SQLite).
CREATE TABLE config_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    member_id  INTEGER NOT NULL,
    setting    TEXT NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    changed_at INTEGER NOT NULL
);

CREATE INDEX config_audit_guild ON config_audit (guild_id, id);
