//! What persona inference reads and writes, for many members at once (issue 17): a scheduled
//! pass over a 10,000-member server reads every member's prompts, liked renders, compare picks
//! and newest inferred version in four queries per batch, and writes the batch's new versions in
//! one transaction — each insert still carrying the consent condition in its own statement
//! (`store/consent.rs`), so a member who withdrew while the batch was verbalized gets nothing.
//! The one-member reads elsewhere (`recent_prompts`, `preferred_rewrites`, …) are these queries
//! with one member.

use std::collections::HashMap;

use sqlx::Row;

use super::consent::{consented_sql, lock_consent};
use super::personas::{persona_from_row, version_insert_sql, PERSONA_COLUMNS};
use super::{db_err, now_ms, Store, StoreError};
use crate::domain::{InferredWrite, NewInferred, Persona, PersonaInputs, SOURCE_INFERRED};
use crate::ids::{GuildId, MemberId};

/// Ids per query: bounds the placeholders of one `IN (…)` list (SQLite allows 32,766,
/// PostgreSQL 65,535).
const IDS_PER_QUERY: usize = 500;

/// `$first, $first+1, …` for `n` parameters.
pub(super) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The binds that come before an `IN (…)` list.
pub(super) type Binds<'a> = &'a (dyn for<'q> Fn(
    sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>
         + Sync);

/// Runs `query` for `ids` in chunks: its `{ids}` becomes the chunk's placeholders, from
/// `$first` on, bound after `bind`'s. Every chunk's rows, in order.
pub(super) async fn rows_in(
    store: &Store,
    op: &'static str,
    query: &str,
    ids: &[i64],
    bind: Binds<'_>,
    first: usize,
) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let sql = query.replace("{ids}", &placeholders(first, chunk.len()));
        let mut q = bind(sqlx::query(&sql));
        for &id in chunk {
            q = q.bind(id);
        }
        out.extend(q.fetch_all(store.pool()).await.map_err(db_err(op))?);
    }
    Ok(out)
}

/// [`rows_in`] over members, each row read by `read` and grouped by its `member_id`.
async fn per_member<T>(
    store: &Store,
    op: &'static str,
    query: &str,
    members: &[MemberId],
    bind: Binds<'_>,
    first: usize,
    read: impl Fn(&sqlx::any::AnyRow) -> Result<T, sqlx::Error>,
) -> Result<HashMap<MemberId, Vec<T>>, StoreError> {
    let ids: Vec<i64> = members.iter().map(|m| m.to_db()).collect();
    let mut out: HashMap<MemberId, Vec<T>> = HashMap::new();
    for row in rows_in(store, op, query, &ids, bind, first).await? {
        let member = MemberId::from_db(row.try_get("member_id").map_err(db_err(op))?);
        out.entry(member)
            .or_default()
            .push(read(&row).map_err(db_err(op))?);
    }
    Ok(out)
}

impl Store {
    /// Each member's [`PersonaInputs`]: at most `limit` prompts, liked renders and preferred
    /// rewrites, newest first, and the newest inferred version (members with none of these
    /// are missing from the map). Prompts count as for [`Store::recent_prompts`].
    pub async fn persona_inputs(
        &self,
        guild: GuildId,
        members: &[MemberId],
        limit: usize,
        backfill_ms: i64,
    ) -> Result<HashMap<MemberId, PersonaInputs>, StoreError> {
        let mut out: HashMap<MemberId, PersonaInputs> = HashMap::new();
        for (member, prompts) in self.prompts_of(guild, members, limit, backfill_ms).await? {
            out.entry(member).or_default().prompts = prompts;
        }
        for (member, liked) in self
            .liked_of(guild, members, super::FEEDBACK_REACTED, limit)
            .await?
        {
            out.entry(member).or_default().liked = liked;
        }
        for (member, picks) in self.picks_of(guild, members, limit).await? {
            out.entry(member).or_default().preferred =
                picks.into_iter().map(|(_, preferred)| preferred).collect();
        }
        let op = "read latest inferred personas";
        let latest = per_member(
            self,
            op,
            &format!(
                "SELECT {PERSONA_COLUMNS} FROM (SELECT q.*, ROW_NUMBER() OVER \
                 (PARTITION BY q.member_id ORDER BY q.version DESC) AS rn FROM personas q \
                 WHERE q.guild_id = $1 AND q.source = $2 AND q.member_id IN ({{ids}})) p \
                 WHERE p.rn = 1"
            ),
            members,
            &|q| q.bind(guild.to_db()).bind(SOURCE_INFERRED),
            3,
            persona_from_row,
        )
        .await?;
        for (member, mut versions) in latest {
            out.entry(member).or_default().latest_inferred = versions.pop();
        }
        Ok(out)
    }

    /// The members' most recent `/imagine` prompts typed while they consent (see
    /// [`Store::recent_prompts`]), newest first, at most `limit` each.
    pub(super) async fn prompts_of(
        &self,
        guild: GuildId,
        members: &[MemberId],
        limit: usize,
        backfill_ms: i64,
    ) -> Result<HashMap<MemberId, Vec<String>>, StoreError> {
        per_member(
            self,
            "read recent prompts",
            "SELECT member_id, prompt FROM (SELECT j.member_id, j.prompt, ROW_NUMBER() OVER \
             (PARTITION BY j.member_id ORDER BY j.id DESC) AS rn \
             FROM render_jobs j JOIN consents c \
             ON c.guild_id = j.guild_id AND c.member_id = j.member_id AND c.granted = 1 \
             WHERE j.guild_id = $1 AND j.member_id IN ({ids}) \
             AND j.created_at >= c.changed_at - CASE WHEN EXISTS (SELECT 1 FROM guild_settings s \
                 WHERE s.guild_id = $1 AND s.history_backfill = 'on') THEN $3 ELSE 0 END) t \
             WHERE t.rn <= $2 ORDER BY member_id, rn",
            members,
            &|q| q.bind(guild.to_db()).bind(limit as i64).bind(backfill_ms),
            4,
            |row| row.try_get("prompt"),
        )
        .await
    }

    /// The rendered prompts of the members' renders they gave `kind` feedback, newest first,
    /// at most `limit` each.
    pub(super) async fn liked_of(
        &self,
        guild: GuildId,
        members: &[MemberId],
        kind: &str,
        limit: usize,
    ) -> Result<HashMap<MemberId, Vec<String>>, StoreError> {
        let kind = kind.to_owned();
        per_member(
            self,
            "read liked renders",
            "SELECT member_id, rendered_prompt FROM (SELECT f.member_id, j.rendered_prompt, \
             ROW_NUMBER() OVER (PARTITION BY f.member_id ORDER BY f.created_at DESC, \
             f.job_id DESC) AS rn \
             FROM render_feedback f JOIN render_jobs j ON j.id = f.job_id \
             WHERE f.guild_id = $1 AND f.kind = $3 AND f.member_id IN ({ids})) t \
             WHERE t.rn <= $2 ORDER BY member_id, rn",
            members,
            &|q| q.bind(guild.to_db()).bind(limit as i64).bind(kind.clone()),
            4,
            |row| row.try_get("rendered_prompt"),
        )
        .await
    }

    /// The members' most recent (prompt → preferred rewrite) pairs, newest first, at most
    /// `limit` each: the persona rewrite when it won, the generic prompt when it lost.
    pub(super) async fn picks_of(
        &self,
        guild: GuildId,
        members: &[MemberId],
        limit: usize,
    ) -> Result<HashMap<MemberId, Vec<(String, String)>>, StoreError> {
        per_member(
            self,
            "read preferred rewrites",
            "SELECT member_id, prompt, persona_prompt, generic_prompt, persona_won FROM \
             (SELECT p.*, ROW_NUMBER() OVER (PARTITION BY p.member_id ORDER BY p.created_at DESC, \
             p.job_id DESC) AS rn FROM compare_picks p \
             WHERE p.guild_id = $1 AND p.member_id IN ({ids})) t \
             WHERE t.rn <= $2 ORDER BY member_id, rn",
            members,
            &|q| q.bind(guild.to_db()).bind(limit as i64),
            3,
            |row| {
                let won: i64 = row.try_get("persona_won")?;
                let preferred: String = if won != 0 {
                    row.try_get("persona_prompt")?
                } else {
                    row.try_get("generic_prompt")?
                };
                Ok((row.try_get("prompt")?, preferred))
            },
        )
        .await
    }

    /// Stores inferred personas as new versions, in one transaction: each only if its member
    /// consents *now* and the server's inference is on, and each made active only when the
    /// member's active persona is itself inferred (or they have none) — decided in the same
    /// statement, so an edit made while the persona was verbalized is never replaced. One
    /// outcome per item, in order. Callers batch (a few hundred members per call): one SQLite
    /// transaction holds the writer lock for its whole length.
    pub async fn add_inferred_personas(
        &self,
        guild: GuildId,
        items: &[NewInferred],
    ) -> Result<Vec<InferredWrite>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let op = "add inferred personas";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        let mut members: Vec<MemberId> = items.iter().map(|i| i.member).collect();
        // A fixed order, so two batches lock the same rows in the same order.
        members.sort_unstable();
        members.dedup();
        for &member in &members {
            lock_consent(&mut tx, self.backend(), guild, member).await?;
        }
        let insert = version_insert_sql(&consented_sql("$1", "$2"));
        let now = now_ms();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let row = sqlx::query(&insert)
                .bind(guild.to_db())
                .bind(item.member.to_db())
                .bind(SOURCE_INFERRED)
                .bind(item.text.as_str())
                .bind(item.evidence.as_deref())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err(op))?;
            let Some(row) = row else {
                out.push(InferredWrite::NoConsent);
                continue;
            };
            let id: i64 = row.try_get("id").map_err(db_err(op))?;
            let version: i64 = row.try_get("version").map_err(db_err(op))?;
            let activated = sqlx::query(
                "INSERT INTO persona_active (guild_id, member_id, persona_id) \
                 SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM persona_active a \
                     JOIN personas p ON p.id = a.persona_id \
                     WHERE a.guild_id = $1 AND a.member_id = $2 AND p.source <> $4) \
                 ON CONFLICT (guild_id, member_id) DO UPDATE SET persona_id = excluded.persona_id",
            )
            .bind(guild.to_db())
            .bind(item.member.to_db())
            .bind(id)
            .bind(SOURCE_INFERRED)
            .execute(&mut *tx)
            .await
            .map_err(db_err(op))?
            .rows_affected()
                == 1;
            let persona = Persona {
                id,
                guild_id: guild,
                member_id: item.member,
                version,
                source: SOURCE_INFERRED.to_owned(),
                text: item.text.clone(),
                evidence: item.evidence.clone(),
                created_at: now,
            };
            out.push(if activated {
                InferredWrite::Activated(persona)
            } else {
                InferredWrite::Kept(persona)
            });
        }
        tx.commit().await.map_err(db_err(op))?;
        Ok(out)
    }
}
