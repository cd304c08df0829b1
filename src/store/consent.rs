//! Consent (`consents`) and erasure: the member's answer, what consent off deletes, and
//! `forget`, which erases every row about a member in a server in one transaction.
//!
//! **Consent is the store's rule, not each caller's.** Every insert of member data — interaction
//! edges, render embeddings, compare picks, feedback, added images, inferred persona versions —
//! carries [`consented_sql`] in its own statement: it lands only if the member consents *now*
//! and the server's persona inference is on. On PostgreSQL the inserting transaction first
//! takes the member's consent row `FOR SHARE` ([`lock_consent`]); withdrawal and `forget` change
//! that row first, so the two serialize: an insert either commits before the withdrawal, whose
//! deletes then see and remove it, or runs after it and inserts nothing. SQLite serializes
//! writers, which gives the same guarantee. So no batch in flight can land after a withdrawal.

use sqlx::Row;

use super::{db_err, now_ms, Backend, Store, StoreError};
use crate::domain::SOURCE_INFERRED;
use crate::ids::{GuildId, MemberId};

/// SQL condition: member `m` of server `g` (SQL expressions, e.g. `$1`, `$2`) has consent now
/// and the server's persona inference is on.
pub(super) fn consented_sql(g: &str, m: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM consents c WHERE c.guild_id = {g} AND c.member_id = {m} \
         AND c.granted = 1) \
         AND NOT EXISTS (SELECT 1 FROM guild_settings s WHERE s.guild_id = {g} \
         AND s.persona_inference = 'off')"
    )
}

/// On PostgreSQL, locks the member's consent row for the rest of `tx` (see the module docs);
/// SQLite needs nothing (one writer at a time).
pub(super) async fn lock_consent(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    guild: GuildId,
    member: MemberId,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query(
            "SELECT granted FROM consents WHERE guild_id = $1 AND member_id = $2 FOR SHARE",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err("lock consent"))?;
    }
    Ok(())
}

/// What a consent answer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentChange {
    /// The answer differs from the one stored (or none was stored).
    pub changed: bool,
    /// What the withdrawal deleted.
    pub erased: Erased,
}

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

    /// Records the member's answer. Turning consent off deletes, in the same transaction,
    /// everything recorded under it: interactions (from and to them), feedback, render
    /// embeddings, added images, compare picks and inferred persona versions (an inferred active
    /// persona is deactivated; personas they wrote stay). Returns what was deleted.
    pub async fn set_consent(
        &self,
        guild: GuildId,
        member: MemberId,
        granted: bool,
    ) -> Result<Erased, StoreError> {
        Ok(self.change_consent(guild, member, granted).await?.erased)
    }

    /// [`Store::set_consent`], telling whether the answer changed anything. Giving the answer
    /// the member already gave is a no-op: `changed_at` (the start of what counts as evidence)
    /// does not move, so consenting twice neither drops the prompts typed since the first
    /// consent nor starts anything new. Withdrawing again still deletes (there is nothing left
    /// to delete unless a write raced the first withdrawal).
    pub async fn change_consent(
        &self,
        guild: GuildId,
        member: MemberId,
        granted: bool,
    ) -> Result<ConsentChange, StoreError> {
        let op = "set consent";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        // First: this write locks the consent row (PostgreSQL locks a conflicting row even when
        // the update's WHERE leaves it as it is), so inserts in flight serialize with it.
        let changed = sqlx::query(
            "INSERT INTO consents (guild_id, member_id, granted, changed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (guild_id, member_id) DO UPDATE SET granted = excluded.granted, \
             changed_at = excluded.changed_at WHERE consents.granted <> excluded.granted",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(i64::from(granted))
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db_err(op))?
        .rows_affected()
            > 0;
        let mut erased = Erased::default();
        if !granted {
            erased = delete_recorded(&mut tx, guild, member).await?;
        }
        tx.commit().await.map_err(db_err(op))?;
        Ok(ConsentChange { changed, erased })
    }

    /// When the member's history backfill in this server was claimed (None: never, or
    /// forgotten since).
    pub async fn backfill_claimed_at(
        &self,
        guild: GuildId,
        member: MemberId,
    ) -> Result<Option<i64>, StoreError> {
        let row =
            sqlx::query("SELECT backfill_at FROM consents WHERE guild_id = $1 AND member_id = $2")
                .bind(guild.to_db())
                .bind(member.to_db())
                .fetch_optional(self.pool())
                .await
                .map_err(db_err("read backfill marker"))?;
        Ok(row
            .map(|r| r.try_get::<Option<i64>, _>("backfill_at"))
            .transpose()
            .map_err(db_err("read backfill marker"))?
            .flatten())
    }

    /// Claims the member's one history backfill in this server: true only for the first claim
    /// while they consent. The marker outlives a withdrawal (toggling consent does not start
    /// another backfill) and goes with `forget`, like the rest of the consent row.
    pub async fn claim_backfill(
        &self,
        guild: GuildId,
        member: MemberId,
    ) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE consents SET backfill_at = $3 WHERE guild_id = $1 AND member_id = $2 \
             AND granted = 1 AND backfill_at IS NULL",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(db_err("claim backfill"))?
        .rows_affected();
        Ok(claimed > 0)
    }

    /// Erases every row about the member in this server, and their DM renders, in one
    /// transaction: consent, edges from and to them, personas, compare picks, feedback, renders and
    /// their images and embeddings (queued renders are cancelled: a worker's completion then finds
    /// no row and is discarded); their id is removed from the audit log, the settings and the blocklist, and their turn in the
    /// queue is forgotten.
    pub async fn forget_member(
        &self,
        guild: GuildId,
        member: MemberId,
    ) -> Result<Erased, StoreError> {
        let op = "forget member";
        let (g, m) = (guild.to_db(), member.to_db());
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        let mut erased = Erased::default();
        // The consent row goes first: deleting it locks it, so inserts in flight serialize
        // with the erasure (see the module docs). DM renders (no server) are the member's too.
        let statements: [(&'static str, &str); 15] = [
            (
                "consents",
                "DELETE FROM consents WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "member_images",
                "DELETE FROM member_images WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "image_embeddings",
                "DELETE FROM image_embeddings WHERE (guild_id = $1 OR guild_id IS NULL) \
                 AND member_id = $2",
            ),
            (
                "render_feedback",
                "DELETE FROM render_feedback WHERE (guild_id = $1 OR guild_id IS NULL) \
                 AND member_id = $2",
            ),
            (
                "member_edges",
                "DELETE FROM member_edges WHERE guild_id = $1 AND (member_id = $2 \
              OR (target_id = $2 AND edge_type IN ('replied', 'mentioned')))",
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
                "DELETE FROM compare_picks WHERE (guild_id = $1 OR guild_id IS NULL) \
                 AND member_id = $2",
            ),
            (
                "rendered_images",
                "DELETE FROM rendered_images WHERE (guild_id = $1 OR guild_id IS NULL) \
                 AND member_id = $2",
            ),
            (
                "render_jobs",
                "DELETE FROM render_jobs WHERE (guild_id = $1 OR guild_id IS NULL) \
                 AND member_id = $2",
            ),
            (
                "config_audit",
                "UPDATE config_audit SET member_id = 0 WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "guild_settings",
                "UPDATE guild_settings SET updated_by = NULL WHERE guild_id = $1 AND updated_by = $2",
            ),
            (
                "member_turns",
                "DELETE FROM member_turns WHERE (guild_id = $1 OR guild_id = 0) AND member_id = $2",
            ),
            (
                "member_settings",
                "DELETE FROM member_settings WHERE guild_id = $1 AND member_id = $2",
            ),
            (
                "guild_blocklist",
                "UPDATE guild_blocklist SET added_by = 0 WHERE guild_id = $1 AND added_by = $2",
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

/// Deletes what was recorded under the member's consent (see [`Store::set_consent`]).
async fn delete_recorded(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    guild: GuildId,
    member: MemberId,
) -> Result<Erased, StoreError> {
    let inferred = format!(
        "DELETE FROM persona_active WHERE guild_id = $1 AND member_id = $2 AND persona_id IN \
         (SELECT id FROM personas WHERE guild_id = $1 AND member_id = $2 AND source = '{SOURCE_INFERRED}')"
    );
    let inferred_versions = format!(
        "DELETE FROM personas WHERE guild_id = $1 AND member_id = $2 AND source = '{SOURCE_INFERRED}'"
    );
    let statements: [(&'static str, &str); 7] = [
        (
            "member_edges",
            "DELETE FROM member_edges WHERE guild_id = $1 AND (member_id = $2 \
             OR (target_id = $2 AND edge_type IN ('replied', 'mentioned')))",
        ),
        (
            "render_feedback",
            "DELETE FROM render_feedback WHERE guild_id = $1 AND member_id = $2",
        ),
        (
            "image_embeddings",
            "DELETE FROM image_embeddings WHERE guild_id = $1 AND member_id = $2",
        ),
        (
            "member_images",
            "DELETE FROM member_images WHERE guild_id = $1 AND member_id = $2",
        ),
        (
            "compare_picks",
            "DELETE FROM compare_picks WHERE guild_id = $1 AND member_id = $2",
        ),
        ("persona_active", &inferred),
        ("personas", &inferred_versions),
    ];
    let mut erased = Erased::default();
    for (table, sql) in statements {
        let done = sqlx::query(sql)
            .bind(guild.to_db())
            .bind(member.to_db())
            .execute(&mut **tx)
            .await
            .map_err(db_err("delete what consent recorded"))?;
        erased.rows.push((table, done.rows_affected()));
    }
    Ok(erased)
}
