//! Consent (`consents`) and erasure: the member's answer, what consent off deletes, and
//! `forget`, which erases every row about a member in a server in one transaction.

use sqlx::Row;

use super::{db_err, now_ms, Store, StoreError};
use crate::ids::{GuildId, MemberId};

/// What `forget` removed, per table (for the log and the tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// Rows deleted per table.
    pub rows: Vec<(&'static str, u64)>,
}

impl Store {
    /// The member's consent in this server: Some(true) granted, Some(false) declined, None never asked.
    pub async fn consent(
        &self,
        guild: GuildId,
        member: MemberId,
    ) -> Result<Option<bool>, StoreError> {
        let row =
            sqlx::query("SELECT granted FROM consents WHERE guild_id = $1 AND member_id = $2")
                .bind(guild.to_db())
                .bind(member.to_db())
                .fetch_optional(self.pool())
                .await
                .map_err(db_err("read consent"))?;
        row.map(|r| r.try_get::<i64, _>("granted").map(|g| g != 0))
            .transpose()
            .map_err(db_err("read consent"))
    }

    /// Records the member's answer. Turning consent off also deletes the interactions recorded
    /// so far (personas and picks stay until `forget`).
    pub async fn set_consent(
        &self,
        guild: GuildId,
        member: MemberId,
        granted: bool,
    ) -> Result<(), StoreError> {
        let op = "set consent";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        sqlx::query(
            "INSERT INTO consents (guild_id, member_id, granted, changed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (guild_id, member_id) DO UPDATE SET granted = excluded.granted, \
             changed_at = excluded.changed_at",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(i64::from(granted))
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db_err(op))?;
        if !granted {
            delete_edges_of(&mut tx, guild, member).await?;
        }
        tx.commit().await.map_err(db_err(op))?;
        Ok(())
    }

    /// Erases every row about the member in this server, in one transaction: edges from and to
    /// them, consent, personas, compare picks, feedback, renders and their images (queued renders are
    /// cancelled: a worker's completion then finds no row and is discarded).
    pub async fn forget_member(
        &self,
        guild: GuildId,
        member: MemberId,
    ) -> Result<Erased, StoreError> {
        let op = "forget member";
        let (g, m) = (guild.to_db(), member.to_db());
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        let mut erased = Erased::default();
        let statements: [(&'static str, &str); 11] = [
            (
                "member_images",
                "DELETE FROM member_images WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "image_embeddings",
                "DELETE FROM image_embeddings WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "render_feedback",
                "DELETE FROM render_feedback WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "member_edges",
                "DELETE FROM member_edges WHERE guild_id = $1 AND (member_id = $2 \
              OR (target_id = $2 AND edge_type IN ('replied', 'mentioned')))",
            ),
            (
                "consents",
                "DELETE FROM consents WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "persona_active",
                "DELETE FROM persona_active WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "personas",
                "DELETE FROM personas WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "compare_picks",
                "DELETE FROM compare_picks WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "rendered_images",
                "DELETE FROM rendered_images WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "render_jobs",
                "DELETE FROM render_jobs WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "config_audit",
                "UPDATE config_audit SET member_id = 0 WHERE guild_id = $1 AND member_id = $2",
            ),
        ];
        for (table, sql) in statements {
            let done = sqlx::query(sql)
                .bind(g)
                .bind(m)
                .execute(&mut *tx)
                .await
                .map_err(db_err(op))?;
            erased.rows.push((table, done.rows_affected()));
        }
        tx.commit().await.map_err(db_err(op))?;
        Ok(erased)
    }
}

async fn delete_edges_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    guild: GuildId,
    member: MemberId,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM member_edges WHERE guild_id = $1 AND (member_id = $2 \
         OR (target_id = $2 AND edge_type IN ('replied', 'mentioned')))",
    )
    .bind(guild.to_db())
    .bind(member.to_db())
    .execute(&mut **tx)
    .await
    .map_err(db_err("delete edges"))?;
    for table in ["render_feedback", "image_embeddings", "member_images"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE guild_id = $1 AND member_id = $2"
        ))
        .bind(guild.to_db())
        .bind(member.to_db())
        .execute(&mut **tx)
        .await
        .map_err(db_err("delete feedback"))?;
    }
    Ok(())
}
