-- Consent and the interaction graph (SQLite). Keep in step with migrations/postgres/0004_consent_graph.sql.

-- Moderators can turn persona inference off for the whole server: 'off', or NULL (on).
ALTER TABLE guild_settings ADD COLUMN persona_inference TEXT;

-- A member's answer to the consent prompt or /persona consent (1 granted, 0 declined). No row:
-- never asked. Nothing about a member is recorded unless granted = 1.
CREATE TABLE consents (
    guild_id   INTEGER NOT NULL,
    member_id  INTEGER NOT NULL,
    granted    INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, member_id)
);

-- Typed, weighted edges from a consenting member: posted / reacted (target: a channel),
-- replied / mentioned (target: another consenting member), has_role (target: a role).
-- Aggregates only: counts and the time of the latest event; never message text.
CREATE TABLE member_edges (
    guild_id  INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    edge_type TEXT NOT NULL,
    target_id INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    last_at   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, member_id, edge_type, target_id)
);

CREATE INDEX member_edges_target ON member_edges (guild_id, target_id);
CREATE INDEX member_edges_age ON member_edges (last_at);

-- Channels and roles (server structure, not personal data): names and topics are node features.
CREATE TABLE graph_nodes (
    guild_id   INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    node_id    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    topic      TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, kind, node_id)
);
