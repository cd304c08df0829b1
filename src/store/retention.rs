//! Retention: how long each kind of member data is kept, the periodic sweep that enforces it,
//! and the erasure of a server the bot was removed from (`guild_departures`).
//!
//! Interaction aggregates have their own expiry (`ingest.retention_days`, `store/edges.rs`);
//! consents are kept while they hold (they are the member's answer); everything else that holds a
//! member id is covered here.

use sqlx::Row;

use super::consent::Erased;
use super::{db_err, now_ms, Store, StoreError};
use crate::ids::GuildId;

/// How long each kind of data is kept, in milliseconds; 0 keeps it for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPolicy {
    /// A render's PNG, after it was delivered (or after the job finished, if it never was).
    pub images_ms: i64,
    /// A finished job — its prompts and rewrite — and with it its image, the owner's reactions
    /// to it, its CLIP embedding and its compare pick.
    pub jobs_ms: i64,
    /// A job's interaction token (useless once Discord's 15 minutes are over).
    pub tokens_ms: i64,
    /// Persona versions other than the active one.
    pub persona_history_ms: i64,
    /// Images members handed over (`/persona add-image`).
    pub added_images_ms: i64,
    /// A server the bot was removed from, before all of its data is erased.
    pub guild_grace_ms: i64,
}

/// Tables holding a `guild_id`, in deletion order (dependents first): what erasing a server
/// deletes.
const GUILD_TABLES: [&str; 20] = [
    "render_feedback",
    "image_embeddings",
    "compare_picks",
    "rendered_images",
    "render_jobs",
    "persona_active",
    "personas",
    "member_images",
    "member_edges",
    "graph_nodes",
    "consents",
    "config_audit",
    "guild_settings",
    "guild_diffusion_models",
    "guild_blocklist",
    "guild_refusals",
    "member_turns",
    "member_settings",
    "guild_turns",
    "guild_departures",
];

/// How long a member's turn in the fair queue (`member_turns`) is kept: a day.
const TURN_KEPT_MS: i64 = 24 * 3_600_000;

/// The jobs a sweep retires: finished before `$1`.
const OLD_JOBS: &str =
    "SELECT id FROM render_jobs WHERE status IN ('done', 'failed') AND finished_at < $1";

impl Store {
    /// Deletes what `policy` no longer keeps, and erases the servers whose grace period ended.
    /// Returns the rows deleted (or scrubbed) per table.
    pub async fn sweep_retention(
        &self,
        policy: &RetentionPolicy,
    ) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let now = now_ms();
        let cut = |ms: i64| (ms > 0).then(|| now - ms);
        let mut done = Vec::new();
        let mut run = async |table: &'static str, sql: String, before: i64| {
            let rows = sqlx::query(&sql)
                .bind(before)
                .execute(self.pool())
                .await
                .map_err(db_err("retention sweep"))?
                .rows_affected();
            done.push((table, rows));
            Ok::<_, StoreError>(())
        };
        if let Some(before) = cut(policy.tokens_ms) {
            run(
                "render_jobs.interaction_token",
                "UPDATE render_jobs SET interaction_token = '' \
                 WHERE interaction_token <> '' AND created_at < $1"
                    .to_owned(),
                before,
            )
            .await?;
        }
        if let Some(before) = cut(policy.images_ms) {
            run(
                "rendered_images",
                "DELETE FROM rendered_images WHERE job_id IN (SELECT id FROM render_jobs \
                 WHERE (delivered_at IS NOT NULL AND delivered_at < $1) \
                    OR (delivered_at IS NULL AND finished_at < $1))"
                    .to_owned(),
                before,
            )
            .await?;
        }
        if let Some(before) = cut(policy.jobs_ms) {
            for table in [
                "render_feedback",
                "image_embeddings",
                "compare_picks",
                "rendered_images",
            ] {
                run(
                    table,
                    format!("DELETE FROM {table} WHERE job_id IN ({OLD_JOBS})"),
                    before,
                )
                .await?;
            }
            run(
                "render_jobs",
                "DELETE FROM render_jobs WHERE status IN ('done', 'failed') AND finished_at < $1"
                    .to_owned(),
                before,
            )
            .await?;
        }
        if let Some(before) = cut(policy.persona_history_ms) {
            run(
                "personas",
                "DELETE FROM personas WHERE created_at < $1 \
                 AND id NOT IN (SELECT persona_id FROM persona_active)"
                    .to_owned(),
                before,
            )
            .await?;
        }
        if let Some(before) = cut(policy.added_images_ms) {
            run(
                "member_images",
                "DELETE FROM member_images WHERE created_at < $1".to_owned(),
                before,
            )
            .await?;
        }
        // A turn in the queue only orders what comes next: after a day it orders nothing a
        // forgotten turn would not (never served goes first either way).
        run(
            "member_turns",
            "DELETE FROM member_turns WHERE served_at < $1".to_owned(),
            now - TURN_KEPT_MS,
        )
        .await?;
        if let Some(before) = cut(policy.guild_grace_ms) {
            let left = sqlx::query("SELECT guild_id FROM guild_departures WHERE left_at < $1")
                .bind(before)
                .fetch_all(self.pool())
                .await
                .map_err(db_err("retention sweep"))?;
            for row in left {
                let guild =
                    GuildId::from_db(row.try_get("guild_id").map_err(db_err("retention sweep"))?);
                let erased = self.erase_guild(guild).await?;
                tracing::info!(%guild, rows = ?erased.rows, "server erased after the bot was removed");
                done.extend(erased.rows);
            }
        }
        Ok(done)
    }

    /// The bot was removed from `guild` (not an outage): its data is erased after the grace
    /// period unless the bot is added back. The first departure's time stands.
    pub async fn guild_left(&self, guild: GuildId) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO guild_departures (guild_id, left_at) VALUES ($1, $2) \
             ON CONFLICT (guild_id) DO NOTHING",
        )
        .bind(guild.to_db())
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(db_err("record a departure"))?;
        Ok(())
    }

    /// The bot is (back) in `guild`: a pending erasure is cancelled.
    pub async fn guild_joined(&self, guild: GuildId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM guild_departures WHERE guild_id = $1")
            .bind(guild.to_db())
            .execute(self.pool())
            .await
            .map_err(db_err("cancel a departure"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Erases every row of `guild`, in one transaction.
    pub async fn erase_guild(&self, guild: GuildId) -> Result<Erased, StoreError> {
        let op = "erase server";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        let mut erased = Erased::default();
        for table in GUILD_TABLES {
            let done = sqlx::query(&format!("DELETE FROM {table} WHERE guild_id = $1"))
                .bind(guild.to_db())
                .execute(&mut *tx)
                .await
                .map_err(db_err(op))?;
            erased.rows.push((table, done.rows_affected()));
        }
        tx.commit().await.map_err(db_err(op))?;
        Ok(erased)
    }
}
