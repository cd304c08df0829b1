//! Accepting a job: the one insert every `/imagine` passes, with the limits checked inside it
//! (see [`Store::accept`]).

use sqlx::Row;

use super::jobs::HOUR_MS;
use super::{db_err, now_ms, Backend, Store, StoreError};
use crate::domain::{Acceptance, JobLimits, JobStatus, NewJob};
use crate::ids::{GuildId, JobId};

/// Requests of one server that may be accepted at the same instant without its lock: the
/// unlocked check keeps this much below the server's limits. Each bot process accepts at most
/// `database.max_connections` (default 8) at once, so this covers two processes at the default;
/// near the limits every request takes the server's lock and the check is exact.
pub(super) const SERVER_MARGIN: i64 = 16;

/// The images a job renders, settled in the insert itself: the request's count ($35), else the
/// member's default from `/settings`, else one. The hourly limits count these, not jobs.
pub(super) const IMAGE_COUNT: &str = "COALESCE($35, (SELECT image_count FROM member_settings \
     WHERE guild_id = $1 AND member_id = $3), 1)";

/// Which advisory locks an accepting transaction takes on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Locks {
    /// The member's only (the server's limits checked with [`SERVER_MARGIN`] to spare).
    Member,
    /// The member's, then the server's (exact).
    MemberAndServer,
}

impl Store {
    /// Stores a job whose prompt is still to be rewritten (`rewriting`), leased by `owner` for
    /// `lease_ms`: the durable record of an interaction about to be acknowledged — unless a
    /// limit refuses it. The owner finishes the rewrite with [`Store::finish_rewrite`]; if it
    /// dies, the lease expires and [`Store::lease_rewrite`] hands the job to another bot process.
    /// Accepting the same interaction twice returns the first job, with `newly_created` false.
    ///
    /// `limits` (the operator's) are tightened by the server's own and checked in the insert
    /// itself, so no path can skip them: one statement on SQLite (writers are serialised); on
    /// PostgreSQL one statement after an advisory lock on the member, and — near the server's
    /// limits ([`SERVER_MARGIN`]) or after a refusal — on the server too, so concurrent requests
    /// are counted one after the other. The acknowledgement waits for it.
    #[tracing::instrument(skip_all, fields(interaction = %job.interaction_id))]
    pub async fn accept(
        &self,
        job: &NewJob,
        owner: &str,
        lease_ms: i64,
        limits: &JobLimits,
    ) -> Result<Acceptance, StoreError> {
        // A job finished between a refusal and its explanation: the insert is tried again.
        for _ in 0..3 {
            let lease = Some((owner, lease_ms));
            // PostgreSQL: while the server is far from its limits, only the member is locked
            // (a server's requests do not wait for each other's commits); near them (or when
            // refused), exactly, under the server's lock too.
            let fast = match self.backend() {
                Backend::Postgres => {
                    self.insert_job(job, lease, Some((limits, Locks::Member)))
                        .await?
                }
                Backend::Sqlite => None,
            };
            let inserted = match fast {
                Some(found) => Some(found),
                None => {
                    self.insert_job(job, lease, Some((limits, Locks::MemberAndServer)))
                        .await?
                }
            };
            if let Some((id, newly_created)) = inserted {
                return Ok(Acceptance::Accepted { id, newly_created });
            }
            if let Some(refusal) = self.limit_refusal(job, limits).await? {
                return Ok(Acceptance::Refused(refusal));
            }
        }
        Err(StoreError::Corrupt {
            table: "render_jobs",
            reason: "a job refused by the limits fits them when explained".to_owned(),
        })
    }

    /// Inserts the job (`None` when `limits` refused it). With [`Locks::Member`] the server's
    /// limits are checked with [`SERVER_MARGIN`] to spare: concurrent requests of other members
    /// cannot pass them then.
    pub(super) async fn insert_job(
        &self,
        job: &NewJob,
        rewrite_lease: Option<(&str, i64)>,
        limits: Option<(&JobLimits, Locks)>,
    ) -> Result<Option<(JobId, bool)>, StoreError> {
        let (limits, locks) = match limits {
            Some((limits, locks)) => (Some(limits), Some(locks)),
            None => (None, None),
        };
        let margin = if locks == Some(Locks::Member) {
            SERVER_MARGIN
        } else {
            0
        };
        let now = now_ms();
        let (status, owner, expires, rewrite_attempts) = match rewrite_lease {
            Some((owner, lease_ms)) => (
                JobStatus::Rewriting,
                Some(owner.to_owned()),
                Some(now + lease_ms),
                1_i64,
            ),
            None => (JobStatus::Queued, None, None, 0_i64),
        };
        let checked = limits.is_some();
        let limits = limits.copied().unwrap_or(JobLimits::UNLIMITED);
        let least = self.least();
        // The server's tightening of one limit ($n the operator's): the smaller of the two.
        let limit = |column: &str, n: u32| {
            format!(
                "{least}(COALESCE((SELECT CAST({column} AS BIGINT) FROM guild_settings \
                 WHERE guild_id = $1), ${n}), ${n})"
            )
        };
        let sql = format!(
            "INSERT INTO render_jobs (guild_id, channel_id, member_id, interaction_id, \
             application_id, interaction_token, locale, prompt, rendered_prompt, rewrite_kind, \
             negative_prompt, model, seed, width, height, steps, attachment_size_limit, status, \
             max_attempts, not_before, created_at, generic_prompt, persona_side, persona_id, \
             lease_owner, lease_expires_at, rewrite_attempts, persona_mode, channel_nsfw, aspect, parent_id, derive, \
             source_cell, model_choice, image_count) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $24, $18, $19, $20, $21, $22, $23, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, \
             {count} {condition} ON CONFLICT (interaction_id) DO NOTHING RETURNING id",
            count = IMAGE_COUNT,
            condition = if checked {
                format!(
                    "WHERE (SELECT COUNT(*) FROM render_jobs WHERE member_id = $3 \
                        AND status IN ('rewriting', 'queued', 'running')) < {member_active} \
                     AND (SELECT COALESCE(SUM(image_count), 0) FROM render_jobs \
                        WHERE member_id = $3 AND created_at > $36) + {count} <= {member_hourly} \
                     AND ($1 IS NULL OR ((SELECT COUNT(*) FROM render_jobs WHERE guild_id = $1 \
                        AND status IN ('rewriting', 'queued', 'running')) + {margin} \
                        < {server_active} \
                     AND (SELECT COALESCE(SUM(image_count), 0) FROM render_jobs \
                        WHERE guild_id = $1 AND created_at > $36) + {margin} + {count} \
                        <= {server_hourly}))",
                    member_active = limit("member_active_limit", 37),
                    member_hourly = limit("member_hourly_limit", 38),
                    server_active = limit("server_active_limit", 39),
                    server_hourly = limit("server_hourly_limit", 40),
                    count = IMAGE_COUNT,
                )
            } else {
                // SQLite needs a WHERE between an INSERT's SELECT and its ON CONFLICT.
                "WHERE TRUE".to_owned()
            },
        );
        let query = sqlx::query(&sql)
            .bind(job.guild_id.map(GuildId::to_db))
            .bind(job.channel_id.to_db())
            .bind(job.member_id.to_db())
            .bind(job.interaction_id.to_db())
            .bind(job.application_id.to_db())
            .bind(&job.interaction_token)
            .bind(&job.locale)
            .bind(&job.prompt)
            .bind(&job.rendered_prompt)
            .bind(&job.rewrite_kind)
            .bind(&job.negative_prompt)
            .bind(&job.model)
            .bind(job.seed as i64)
            .bind(i64::from(job.width))
            .bind(i64::from(job.height))
            .bind(i64::from(job.steps))
            .bind(job.attachment_size_limit as i64)
            .bind(i64::from(job.max_attempts))
            .bind(now)
            .bind(now)
            .bind(job.compare.as_ref().map(|c| c.generic_prompt.clone()))
            .bind(job.compare.as_ref().map(|c| c.persona_side.as_str()))
            .bind(job.persona_id)
            .bind(status.as_str())
            .bind(owner)
            .bind(expires)
            .bind(rewrite_attempts)
            .bind(job.persona_mode.as_str())
            .bind(i64::from(job.channel_nsfw))
            .bind(job.aspect.map(crate::domain::Aspect::as_str))
            .bind(job.parent_id.map(|id| id.0))
            .bind(job.derive.map(crate::domain::Derive::as_str))
            .bind(job.source_cell.map(i64::from))
            .bind(job.model_choice.as_deref())
            .bind(job.image_count.map(i64::from));
        let query = if checked {
            query
                .bind(now - HOUR_MS)
                .bind(i64::from(limits.member_active))
                .bind(i64::from(limits.member_hourly))
                .bind(i64::from(limits.server_active))
                .bind(i64::from(limits.server_hourly))
        } else {
            query
        };
        let locked = checked && self.backend() == Backend::Postgres;
        let server_key = match locks {
            Some(Locks::MemberAndServer) => job.guild_id.map_or(0, GuildId::to_db),
            // The member's own key again: a no-op second lock.
            _ => job.member_id.to_db(),
        };
        let inserted = if locked {
            // Member first, then server, in every transaction: no lock cycle. Discord ids
            // (snowflakes) never collide between members and servers. The insert that follows
            // sees every job committed by a transaction that held these locks before.
            let mut tx = self.pool().begin().await.map_err(db_err("enqueue"))?;
            sqlx::query("SELECT pg_advisory_xact_lock($1), pg_advisory_xact_lock($2)")
                .bind(job.member_id.to_db())
                .bind(server_key)
                .execute(&mut *tx)
                .await
                .map_err(db_err("enqueue"))?;
            let inserted = query
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err("enqueue"))?;
            tx.commit().await.map_err(db_err("enqueue"))?;
            inserted
        } else {
            // One statement: SQLite runs it under its write lock, counts included.
            query
                .fetch_optional(self.pool())
                .await
                .map_err(db_err("enqueue"))?
        };
        match inserted {
            Some(row) => Ok(Some((
                JobId(row.try_get("id").map_err(db_err("enqueue"))?),
                true,
            ))),
            // Discord sent the interaction twice (the first job is returned), or a limit refused.
            None => sqlx::query("SELECT id FROM render_jobs WHERE interaction_id = $1")
                .bind(job.interaction_id.to_db())
                .fetch_optional(self.pool())
                .await
                .map_err(db_err("enqueue"))?
                .map(|row| row.try_get("id").map(|id| (JobId(id), false)))
                .transpose()
                .map_err(db_err("enqueue")),
        }
    }

    /// The smaller of two numbers: `LEAST` on PostgreSQL, the scalar `MIN` on SQLite.
    pub(super) fn least(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "MIN",
            Backend::Postgres => "LEAST",
        }
    }
}
