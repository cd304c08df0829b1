//! The interaction graph's rows (`member_edges`, `graph_nodes`) and their retention. Edges are
//! aggregates — counts and the latest time per (member, type, target) —
//! written in batches by the ingestor; never message text.

use sqlx::Row;

use super::consent::{consented_sql, lock_consent};
use super::{db_err, now_ms, Store, StoreError};
use crate::domain::{Edge, EdgeDelta, EdgeKind, GraphNode};
use crate::ids::{GuildId, MemberId};

impl Store {
    /// Adds a batch of edge deltas in one transaction (counts add up, removed reactions count
    /// down; `has_role` stays 1). Each lands only if its member — and, for a reply or mention,
    /// the other member too — consents at that moment in a server with inference on (see
    /// `store/consent.rs`): a batch taken before a withdrawal and written after it adds nothing.
    /// Returns how many deltas were stored.
    pub async fn add_edges(&self, batch: &[EdgeDelta]) -> Result<u64, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let op = "add edges";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        let mut members: Vec<(GuildId, MemberId)> = batch
            .iter()
            .flat_map(|d| {
                let target = d
                    .kind
                    .targets_member()
                    .then_some((d.guild_id, MemberId(d.target_id)));
                std::iter::once((d.guild_id, d.member_id)).chain(target)
            })
            .collect();
        // A fixed order, so two batches lock the same rows in the same order.
        members.sort_by_key(|(g, m)| (g.0, m.0));
        members.dedup();
        for (guild, member) in members {
            lock_consent(&mut tx, self.backend(), guild, member).await?;
        }
        let author = consented_sql("$1", "$2");
        let target = consented_sql("$1", "$4");
        let mut stored = 0;
        for delta in batch {
            let condition = if delta.kind.targets_member() {
                format!("{author} AND {target}")
            } else {
                author.clone()
            };
            let done = sqlx::query(&format!(
                "INSERT INTO member_edges (guild_id, member_id, edge_type, target_id, count, last_at) \
                 SELECT $1, $2, $3, $4, $5, $6 WHERE {condition} \
                 ON CONFLICT (guild_id, member_id, edge_type, target_id) DO UPDATE SET \
                 count = CASE WHEN member_edges.edge_type = 'has_role' THEN 1 \
                              ELSE member_edges.count + excluded.count END, \
                 last_at = CASE WHEN excluded.last_at > member_edges.last_at \
                                THEN excluded.last_at ELSE member_edges.last_at END"
            ))
            .bind(delta.guild_id.to_db())
            .bind(delta.member_id.to_db())
            .bind(delta.kind.as_str())
            .bind(delta.target_id as i64)
            .bind(delta.count)
            .bind(delta.last_at)
            .execute(&mut *tx)
            .await
            .map_err(db_err(op))?;
            stored += done.rows_affected();
        }
        // Removed reactions can bring a count to zero: nothing is left to record then.
        if batch.iter().any(|d| d.count < 0) {
            sqlx::query("DELETE FROM member_edges WHERE count <= 0")
                .execute(&mut *tx)
                .await
                .map_err(db_err(op))?;
        }
        tx.commit().await.map_err(db_err(op))?;
        Ok(stored)
    }

    /// How many interaction aggregates are stored in all servers (scheduled training watches it).
    pub async fn edge_total(&self) -> Result<i64, StoreError> {
        sqlx::query("SELECT COUNT(*) AS n FROM member_edges")
            .fetch_one(self.pool())
            .await
            .and_then(|row| row.try_get::<i64, _>("n"))
            .map_err(db_err("count edges"))
    }

    /// Every edge of a server (for snapshots), ordered for reproducibility.
    pub async fn guild_edges(&self, guild: GuildId) -> Result<Vec<Edge>, StoreError> {
        let op = "read edges";
        let rows = sqlx::query(
            "SELECT member_id, edge_type, target_id, count, last_at FROM member_edges \
             WHERE guild_id = $1 ORDER BY member_id, edge_type, target_id",
        )
        .bind(guild.to_db())
        .fetch_all(self.pool())
        .await
        .map_err(db_err(op))?;
        rows.iter()
            .map(edge_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err(op))
    }

    /// Creates or renames a channel or role node.
    pub async fn upsert_node(&self, guild: GuildId, node: &GraphNode) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO graph_nodes (guild_id, kind, node_id, name, topic, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (guild_id, kind, node_id) DO UPDATE SET \
             name = excluded.name, topic = excluded.topic, updated_at = excluded.updated_at",
        )
        .bind(guild.to_db())
        .bind(&node.kind)
        .bind(node.node_id as i64)
        .bind(&node.name)
        .bind(node.topic.as_deref())
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(db_err("upsert node"))?;
        Ok(())
    }

    /// Removes a deleted channel or role and the edges pointing at it.
    pub async fn delete_node(
        &self,
        guild: GuildId,
        kind: &str,
        node_id: u64,
    ) -> Result<(), StoreError> {
        let op = "delete node";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        sqlx::query("DELETE FROM graph_nodes WHERE guild_id = $1 AND kind = $2 AND node_id = $3")
            .bind(guild.to_db())
            .bind(kind)
            .bind(node_id as i64)
            .execute(&mut *tx)
            .await
            .map_err(db_err(op))?;
        let types = if kind == "role" {
            "('has_role')"
        } else {
            "('posted', 'reacted')"
        };
        sqlx::query(&format!(
            "DELETE FROM member_edges WHERE guild_id = $1 AND target_id = $2 AND edge_type IN {types}"
        ))
        .bind(guild.to_db())
        .bind(node_id as i64)
        .execute(&mut *tx)
        .await
        .map_err(db_err(op))?;
        tx.commit().await.map_err(db_err(op))?;
        Ok(())
    }

    /// A server's channels and roles.
    pub async fn guild_nodes(&self, guild: GuildId) -> Result<Vec<GraphNode>, StoreError> {
        let op = "read nodes";
        let rows = sqlx::query(
            "SELECT kind, node_id, name, topic FROM graph_nodes WHERE guild_id = $1 \
             ORDER BY kind, node_id",
        )
        .bind(guild.to_db())
        .fetch_all(self.pool())
        .await
        .map_err(db_err(op))?;
        rows.iter()
            .map(node_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err(op))
    }

    /// Drops edges whose latest event is older than `max_age_ms` (the retention period).
    pub async fn expire_edges(&self, max_age_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM member_edges WHERE last_at < $1")
            .bind(now_ms() - max_age_ms)
            .execute(self.pool())
            .await
            .map_err(db_err("expire edges"))?;
        Ok(done.rows_affected())
    }
}

/// An edge from a `member_id, edge_type, target_id, count, last_at` row.
pub(super) fn edge_from_row(row: &sqlx::any::AnyRow) -> Result<Edge, sqlx::Error> {
    let kind: String = row.try_get("edge_type")?;
    Ok(Edge {
        member_id: MemberId::from_db(row.try_get("member_id")?),
        kind: EdgeKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown edge type {kind:?}").into()))?,
        target_id: row.try_get::<i64, _>("target_id")? as u64,
        count: row.try_get("count")?,
        last_at: row.try_get("last_at")?,
    })
}

/// A node from a `kind, node_id, name, topic` row.
pub(super) fn node_from_row(row: &sqlx::any::AnyRow) -> Result<GraphNode, sqlx::Error> {
    Ok(GraphNode {
        kind: row.try_get("kind")?,
        node_id: row.try_get::<i64, _>("node_id")? as u64,
        name: row.try_get("name")?,
        topic: row.try_get("topic")?,
    })
}
