//! A server's prompt blocklist (`guild_blocklist`): phrases stored folded (see
//! `imagine::blocklist`), each change written with its audit entry in one transaction.

use sqlx::Row;

use super::{db_err, now_ms, Store, StoreError};
use crate::ids::{GuildId, MemberId};

/// The `setting` of a blocklist change in the audit log.
pub const AUDIT_BLOCKLIST: &str = "blocklist";

impl Store {
    /// The server's blocklist, in order of the phrases.
    pub async fn blocklist(&self, guild: GuildId) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT phrase FROM guild_blocklist WHERE guild_id = $1 ORDER BY phrase")
                .bind(guild.to_db())
                .fetch_all(self.pool())
                .await
                .map_err(db_err("read blocklist"))?;
        rows.iter()
            .map(|row| row.try_get("phrase"))
            .collect::<Result<_, _>>()
            .map_err(db_err("read blocklist"))
    }

    /// Adds a (folded) phrase unless the list already holds it or holds `max` phrases. Returns
    /// whether it was added and the list's length after.
    pub async fn add_blocked(
        &self,
        guild: GuildId,
        phrase: &str,
        by: MemberId,
        max: usize,
    ) -> Result<(bool, usize), StoreError> {
        let op = "add to blocklist";
        let now = now_ms();
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        // The insert comes first (SQLite then holds the write lock for the whole transaction),
        // bounded by the count, so two moderators adding at once cannot pass `max`.
        let added = sqlx::query(
            "INSERT INTO guild_blocklist (guild_id, phrase, added_by, added_at) \
             SELECT $1, $2, $3, $4 \
             WHERE (SELECT COUNT(*) FROM guild_blocklist WHERE guild_id = $1) < $5 \
             ON CONFLICT (guild_id, phrase) DO NOTHING",
        )
        .bind(guild.to_db())
        .bind(phrase)
        .bind(by.to_db())
        .bind(now)
        .bind(max as i64)
        .execute(&mut *tx)
        .await
        .map_err(db_err(op))?
        .rows_affected()
            == 1;
        if added {
            audit(&mut tx, guild, by, None, Some(phrase), now, op).await?;
        }
        let count: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM guild_blocklist WHERE guild_id = $1")
                .bind(guild.to_db())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err(op))?
                .try_get("n")
                .map_err(db_err(op))?;
        tx.commit().await.map_err(db_err(op))?;
        Ok((added, count as usize))
    }

    /// Removes a (folded) phrase; false when the list did not hold it.
    pub async fn remove_blocked(
        &self,
        guild: GuildId,
        phrase: &str,
        by: MemberId,
    ) -> Result<bool, StoreError> {
        let op = "remove from blocklist";
        let now = now_ms();
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        let removed =
            sqlx::query("DELETE FROM guild_blocklist WHERE guild_id = $1 AND phrase = $2")
                .bind(guild.to_db())
                .bind(phrase)
                .execute(&mut *tx)
                .await
                .map_err(db_err(op))?
                .rows_affected()
                == 1;
        if removed {
            audit(&mut tx, guild, by, Some(phrase), None, now, op).await?;
        }
        tx.commit().await.map_err(db_err(op))?;
        Ok(removed)
    }
}

async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    guild: GuildId,
    by: MemberId,
    old: Option<&str>,
    new: Option<&str>,
    now: i64,
    op: &'static str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO config_audit (guild_id, member_id, setting, old_value, new_value, changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(guild.to_db())
    .bind(by.to_db())
    .bind(AUDIT_BLOCKLIST)
    .bind(old)
    .bind(new)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_err(op))?;
    Ok(())
}
