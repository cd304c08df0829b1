//! The render queue (`render_jobs`): a job's life is `rewriting → queued → running → done |
//! failed`, then delivered. Accepting stores the job before the member's interaction is
//! acknowledged (`rewriting`, leased by the accepting bot process); the rewrite stage, the render
//! lease (expiry, heartbeat, progress, bounded retries) and delivery (`store/delivery.rs`) each
//! hand the job over only through their own lease.
//!
//! **Invariant:** a job's state changes only through a conditional `UPDATE` that names the
//! lease owner, so a process whose lease expired (crashed, paused, partitioned) can neither
//! finish a rewrite nor complete or fail a job another process has taken over; exactly one
//! completion is stored. Delivery is claimed the same way, so exactly one bot posts it.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{db_err, now_ms, Backend, Store, StoreError};
use crate::domain::{
    Aspect, Compare, Derive, FailOutcome, JobStatus, LeasedJob, NewJob, PersonaMode, QueuedJob,
    RenderJob, Side, MAX_IMAGES,
};
use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, JobId, MemberId};

pub(super) const JOB_COLUMNS: &str = "id, guild_id, channel_id, member_id, interaction_id, application_id, \
    interaction_token, locale, prompt, rendered_prompt, rewrite_kind, negative_prompt, model, seed, \
    width, height, steps, attachment_size_limit, status, attempts, max_attempts, progress_step, \
    progress_total, notified_step, error_message_id, last_error, created_at, started_at, \
    finished_at, delivered_at, generic_prompt, persona_side, persona_id, rewrite_attempts, \
    persona_mode, channel_nsfw, nsfw, aspect, parent_id, derive, source_cell, image_count, model_choice";

/// An hour, in milliseconds (the window of the hourly limits).
pub(super) const HOUR_MS: i64 = 3_600_000;

impl Store {
    /// The lock clause of a lease's `SELECT … FROM render_jobs j`: on PostgreSQL the rows another
    /// worker is leasing at that instant are skipped, not waited for; SQLite serializes writers.
    pub(super) fn skip_locked_jobs(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE OF j SKIP LOCKED",
        }
    }
}

pub(super) fn job_from_row(row: &AnyRow) -> Result<RenderJob, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let status = JobStatus::parse(&status).ok_or_else(|| {
        sqlx::Error::Decode(
            StoreError::Corrupt {
                table: "render_jobs",
                reason: format!("unknown status {status:?}"),
            }
            .to_string()
            .into(),
        )
    })?;
    Ok(RenderJob {
        id: JobId(row.try_get("id")?),
        guild_id: row
            .try_get::<Option<i64>, _>("guild_id")?
            .map(GuildId::from_db),
        channel_id: ChannelId::from_db(row.try_get("channel_id")?),
        member_id: MemberId::from_db(row.try_get("member_id")?),
        interaction_id: InteractionId::from_db(row.try_get("interaction_id")?),
        application_id: ApplicationId::from_db(row.try_get("application_id")?),
        interaction_token: row.try_get("interaction_token")?,
        locale: row.try_get("locale")?,
        prompt: row.try_get("prompt")?,
        rendered_prompt: row.try_get("rendered_prompt")?,
        rewrite_kind: row.try_get("rewrite_kind")?,
        negative_prompt: row.try_get("negative_prompt")?,
        model: row.try_get("model")?,
        seed: row.try_get::<i64, _>("seed")? as u64,
        width: row.try_get::<i64, _>("width")? as u32,
        height: row.try_get::<i64, _>("height")? as u32,
        steps: row.try_get::<i64, _>("steps")? as u32,
        attachment_size_limit: row.try_get::<i64, _>("attachment_size_limit")? as u64,
        status,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        rewrite_attempts: row.try_get::<i64, _>("rewrite_attempts")? as u32,
        max_attempts: row.try_get::<i64, _>("max_attempts")? as u32,
        progress_step: row.try_get::<i64, _>("progress_step")? as u32,
        progress_total: row.try_get::<i64, _>("progress_total")? as u32,
        notified_step: row.try_get("notified_step")?,
        error_message_id: row.try_get("error_message_id")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        delivered_at: row.try_get("delivered_at")?,
        compare: match (
            row.try_get::<Option<String>, _>("generic_prompt")?,
            row.try_get::<Option<String>, _>("persona_side")?,
        ) {
            (Some(generic_prompt), Some(side)) => Some(Compare {
                generic_prompt,
                persona_side: Side::parse(&side)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown side {side:?}").into()))?,
            }),
            _ => None,
        },
        persona_id: row.try_get("persona_id")?,
        channel_nsfw: row.try_get::<i64, _>("channel_nsfw")? != 0,
        nsfw: row.try_get::<Option<i64>, _>("nsfw")?.map(|n| n != 0),
        parent_id: row.try_get::<Option<i64>, _>("parent_id")?.map(JobId),
        // A derivation a newer version wrote: read as a new image rather than a failed read.
        derive: row
            .try_get::<Option<String>, _>("derive")?
            .and_then(|name| {
                let derive = Derive::parse(&name);
                if derive.is_none() {
                    tracing::warn!(derive = %name, "unknown derivation; rendering a new image");
                }
                derive
            }),
        // A shape a newer version wrote: the model's default size rather than a failed read.
        aspect: row
            .try_get::<Option<String>, _>("aspect")?
            .and_then(|name| {
                let aspect = Aspect::parse(&name);
                if aspect.is_none() {
                    tracing::warn!(aspect = %name, "unknown aspect; using the model's default size");
                }
                aspect
            }),
        source_cell: row
            .try_get::<Option<i64>, _>("source_cell")?
            .map(|cell| cell as u32),
        image_count: (row.try_get::<i64, _>("image_count")?).clamp(1, i64::from(MAX_IMAGES))
            as u32,
        model_choice: row.try_get("model_choice")?,
        persona_mode: {
            let mode: String = row.try_get("persona_mode")?;
            PersonaMode::parse(&mode).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown persona mode {mode:?}").into())
            })?
        },
    })
}

/// What the rewrite stage settled for a job ([`Store::finish_rewrite`]).
#[derive(Debug, Clone, Copy)]
pub struct FinishedRewrite<'a> {
    /// The prompt to render.
    pub rendered_prompt: &'a str,
    /// Which rewrite produced it.
    pub rewrite_kind: &'a str,
    /// The diffusion model (the server's choice at this moment).
    pub model: &'a str,
    /// Whether the persona conditioned it (resolved: never `Default`).
    pub persona_mode: PersonaMode,
    /// The persona version the rewrite used.
    pub persona_id: Option<i64>,
    /// The member's default shape, for a job that asked for none.
    pub default_aspect: Option<Aspect>,
}

impl Store {
    /// Adds a job to the queue, its prompt already rewritten. Enqueuing the same interaction
    /// twice returns the first job.
    #[tracing::instrument(skip_all, fields(interaction = %job.interaction_id))]
    pub async fn enqueue(&self, job: &NewJob) -> Result<QueuedJob, StoreError> {
        let (id, newly_created) =
            self.insert_job(job, None, None)
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    table: "render_jobs",
                    reason: "an unlimited enqueue was refused".to_owned(),
                })?;
        if newly_created {
            self.notify_queued().await;
        }
        let position = self.queue_position(id).await?;
        Ok(QueuedJob {
            id,
            position,
            newly_created,
        })
    }

    /// 1-based place of a job in the fair queue (0 once it is finished; 1 while it renders).
    ///
    /// Members take turns ([`Store::lease`]): the member's `r` jobs ahead of it go first, and
    /// every other member waiting gets up to `r + 1` turns before it, after the renders already
    /// running. (Servers also take turns; the estimate counts members only.)
    pub async fn queue_position(&self, id: JobId) -> Result<u64, StoreError> {
        let op = "queue position";
        let row = sqlx::query("SELECT member_id, status FROM render_jobs WHERE id = $1")
            .bind(id.0)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err(op))?;
        let Some(row) = row else { return Ok(0) };
        let status: String = row.try_get("status").map_err(db_err(op))?;
        let member: i64 = row.try_get("member_id").map_err(db_err(op))?;
        match status.as_str() {
            "running" => return Ok(1),
            "rewriting" | "queued" => {}
            _ => return Ok(0),
        }
        let least = self.least();
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM render_jobs WHERE status = 'running') AS running, \
             (SELECT COUNT(*) FROM render_jobs WHERE member_id = $1 \
                 AND status IN ('rewriting', 'queued') AND id < $2) AS mine",
        )
        .bind(member)
        .bind(id.0)
        .fetch_one(self.pool())
        .await
        .map_err(db_err(op))?;
        let running: i64 = row.try_get("running").map_err(db_err(op))?;
        let mine: i64 = row.try_get("mine").map_err(db_err(op))?;
        let others: i64 = sqlx::query(&format!(
            // PostgreSQL's SUM of BIGINT is NUMERIC: cast back.
            "SELECT CAST(COALESCE(SUM({least}(q, $2)), 0) AS BIGINT) AS n FROM (SELECT COUNT(*) AS q \
             FROM render_jobs WHERE status IN ('rewriting', 'queued') AND member_id <> $1 \
             GROUP BY member_id) t"
        ))
        .bind(member)
        .bind(mine + 1)
        .fetch_one(self.pool())
        .await
        .map_err(db_err(op))?
        .try_get("n")
        .map_err(db_err(op))?;
        Ok((running + mine + others + 1).max(1) as u64)
    }

    /// Reads one job.
    pub async fn job(&self, id: JobId) -> Result<Option<RenderJob>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM render_jobs WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(db_err("read job"))?;
        row.map(|r| job_from_row(&r))
            .transpose()
            .map_err(db_err("read job"))
    }

    /// Takes over the oldest job whose rewrite lease expired (its bot process died after
    /// accepting it), for `owner` for `lease_ms`, or nothing.
    #[tracing::instrument(skip_all, fields(owner))]
    pub async fn lease_rewrite(
        &self,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<RenderJob>, StoreError> {
        let now = now_ms();
        let lock = self.skip_locked();
        let sql = format!(
            "UPDATE render_jobs SET lease_owner = $1, lease_expires_at = $2, \
             rewrite_attempts = rewrite_attempts + 1 \
             WHERE id = (SELECT id FROM render_jobs \
                 WHERE status = 'rewriting' AND lease_expires_at < $3 \
                 ORDER BY id LIMIT 1 {lock}) \
             AND status = 'rewriting' AND lease_expires_at < $3 \
             RETURNING {JOB_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err("lease rewrite"))?;
        row.map(|r| job_from_row(&r))
            .transpose()
            .map_err(db_err("lease rewrite"))
    }

    /// Stores the rewrite — the prompt to render, which rewrite made it, the server's model and
    /// the persona version used — and queues the job for a worker, if `owner` still holds its
    /// rewrite lease. False (nothing changed) when the lease was lost.
    #[tracing::instrument(skip_all, fields(job = %id))]
    pub async fn finish_rewrite(
        &self,
        id: JobId,
        owner: &str,
        rewrite: &FinishedRewrite<'_>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let result = sqlx::query(
            "UPDATE render_jobs SET status = 'queued', rendered_prompt = $1, rewrite_kind = $2, \
             model = $3, persona_id = $4, lease_owner = NULL, lease_expires_at = NULL, \
             not_before = $5, persona_mode = $8, aspect = COALESCE(aspect, $9) \
             WHERE id = $6 AND lease_owner = $7 AND status = 'rewriting'",
        )
        .bind(rewrite.rendered_prompt)
        .bind(rewrite.rewrite_kind)
        .bind(rewrite.model)
        .bind(rewrite.persona_id)
        .bind(now)
        .bind(id.0)
        .bind(owner)
        .bind(rewrite.persona_mode.as_str())
        .bind(rewrite.default_aspect.map(Aspect::as_str))
        .execute(self.pool())
        .await
        .map_err(db_err("finish rewrite"))?;
        let queued = result.rows_affected() == 1;
        if queued {
            self.notify_queued().await;
        }
        Ok(queued)
    }

    /// The row lock of a leasing subquery: PostgreSQL skips rows another transaction is leasing
    /// right now; SQLite serialises writers, so the subquery and the update are one atomic step.
    fn skip_locked(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }

    /// Renews the rewrite lease `owner` took when it accepted the job, as its rewrite starts:
    /// false when the job is no longer that lease's — it expired while the job waited and was
    /// taken over (its `rewrite_attempts` moved past `attempt`) or it is finished — so the same
    /// rewrite never runs twice.
    pub async fn renew_rewrite(
        &self,
        id: JobId,
        owner: &str,
        attempt: u32,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE render_jobs SET lease_expires_at = $1 \
             WHERE id = $2 AND lease_owner = $3 AND status = 'rewriting' AND rewrite_attempts = $4",
        )
        .bind(now_ms() + lease_ms)
        .bind(id.0)
        .bind(owner)
        .bind(i64::from(attempt))
        .execute(self.pool())
        .await
        .map_err(db_err("renew rewrite lease"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Deletes a job still being rewritten by `owner` (its interaction could not be
    /// acknowledged, so the member was told it failed).
    pub async fn discard_job(&self, id: JobId, owner: &str) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM render_jobs WHERE id = $1 AND lease_owner = $2 AND status = 'rewriting'",
        )
        .bind(id.0)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(db_err("discard job"))?;
        Ok(())
    }

    /// Takes a ready job for `owner` for `lease_ms`, or nothing.
    ///
    /// Ready means queued (and past its retry backoff), or running with an expired lease: a
    /// crashed worker's job is taken over. Expired jobs that used up their attempts fail instead.
    ///
    /// Fair: the job of the server served longest ago (direct messages count as one server),
    /// then of the member within it served longest ago, then the oldest. So servers take turns,
    /// and members within a server: a member with 200 queued jobs delays a newcomer's by at most
    /// the render each worker is busy with.
    #[tracing::instrument(skip_all, fields(owner))]
    pub async fn lease(&self, owner: &str, lease_ms: i64) -> Result<Option<LeasedJob>, StoreError> {
        self.lease_models(owner, lease_ms, &[]).await
    }

    /// [`Store::lease`], of a job of one of `models` only (empty: any model): the routing of a
    /// worker that renders some models (`render.models`). The turns stay fair among those jobs.
    pub async fn lease_models(
        &self,
        owner: &str,
        lease_ms: i64,
        models: &[String],
    ) -> Result<Option<LeasedJob>, StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE render_jobs SET status = 'failed', error_message_id = 'render-error-crashed', \
             last_error = 'lease expired on the last attempt', finished_at = $1, lease_owner = NULL, \
             preview_png = NULL \
             WHERE status = 'running' AND lease_expires_at < $1 AND attempts >= max_attempts",
        )
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(db_err("expire jobs"))?;
        let lock = self.skip_locked_jobs();
        let sql = format!(
            "UPDATE render_jobs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
             attempts = attempts + 1, started_at = COALESCE(started_at, $3), progress_step = 0, \
             progress_total = 0, preview_png = NULL \
             WHERE id = (SELECT j.id FROM render_jobs j \
                 LEFT JOIN guild_turns g ON g.guild_id = COALESCE(j.guild_id, 0) \
                 LEFT JOIN member_turns m ON m.guild_id = COALESCE(j.guild_id, 0) \
                     AND m.member_id = j.member_id \
                 WHERE ((j.status = 'queued' AND j.not_before <= $3) \
                    OR (j.status = 'running' AND j.lease_expires_at < $3)) {routed} \
                 ORDER BY COALESCE(g.served_at, 0), COALESCE(m.served_at, 0), j.id \
                 LIMIT 1 {lock}) \
             RETURNING {JOB_COLUMNS}",
            routed = if models.is_empty() {
                String::new()
            } else {
                let places: Vec<String> =
                    (0..models.len()).map(|i| format!("${}", i + 4)).collect();
                format!("AND j.model IN ({})", places.join(", "))
            },
        );
        let mut query = sqlx::query(&sql).bind(owner).bind(now + lease_ms).bind(now);
        for model in models {
            query = query.bind(model.as_str());
        }
        let row = query
            .fetch_optional(self.pool())
            .await
            .map_err(db_err("lease"))?;
        let job = row
            .map(|r| job_from_row(&r))
            .transpose()
            .map_err(db_err("lease"))?;
        let Some(job) = job else {
            return Ok(None);
        };
        // The server's and the member's turn. Order among workers leasing at the same instant
        // is settled by the row locks above; the turns only order what comes next.
        let guild = job.guild_id.map_or(0, GuildId::to_db);
        sqlx::query(
            "INSERT INTO guild_turns (guild_id, served_at) VALUES ($1, $2) \
             ON CONFLICT (guild_id) DO UPDATE SET served_at = excluded.served_at",
        )
        .bind(guild)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(db_err("lease turn"))?;
        sqlx::query(
            "INSERT INTO member_turns (guild_id, member_id, served_at) VALUES ($1, $2, $3) \
             ON CONFLICT (guild_id, member_id) DO UPDATE SET served_at = excluded.served_at",
        )
        .bind(guild)
        .bind(job.member_id.to_db())
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(db_err("lease turn"))?;
        Ok(Some(LeasedJob {
            job,
            owner: owner.to_owned(),
        }))
    }

    /// Extends a lease. False when the lease was lost (another worker owns the job now).
    pub async fn heartbeat(
        &self,
        id: JobId,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE render_jobs SET lease_expires_at = $1 \
             WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(now_ms() + lease_ms)
        .bind(id.0)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(db_err("heartbeat"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Records progress (and extends the lease). False when the lease was lost.
    pub async fn set_progress(
        &self,
        id: JobId,
        owner: &str,
        step: u32,
        total: u32,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        self.set_progress_and_preview(id, owner, (step, total), lease_ms, None)
            .await
    }

    /// Records progress (and extends the lease) with, when given, a newer live preview (its
    /// PNG and the step it shows) in the same statement: whoever reads the progress sees the
    /// preview made by then. False when the lease was lost.
    pub async fn set_progress_and_preview(
        &self,
        id: JobId,
        owner: &str,
        (step, total): (u32, u32),
        lease_ms: i64,
        preview: Option<(&[u8], u32)>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE render_jobs SET progress_step = $1, progress_total = $2, lease_expires_at = $3, \
             preview_png = COALESCE($6, preview_png), preview_step = COALESCE($7, preview_step) \
             WHERE id = $4 AND lease_owner = $5 AND status = 'running'",
        )
        .bind(i64::from(step))
        .bind(i64::from(total))
        .bind(now_ms() + lease_ms)
        .bind(id.0)
        .bind(owner)
        .bind(preview.map(|(png, _)| png.to_vec()))
        .bind(preview.map(|(_, step)| i64::from(step)))
        .execute(self.pool())
        .await
        .map_err(db_err("progress"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Stores the image and marks the job done, if `owner` still holds the lease.
    /// False (and nothing stored) when the lease was lost. Not safety-checked: see
    /// [`Store::complete_checked`].
    pub async fn complete(
        &self,
        id: JobId,
        owner: &str,
        png: &[u8],
        width: u32,
        height: u32,
        render_ms: i64,
    ) -> Result<bool, StoreError> {
        self.complete_checked(id, owner, png, (width, height), render_ms, None)
            .await
    }

    /// [`Store::complete`] with the safety check's verdict (None: not checked).
    #[tracing::instrument(skip_all, fields(job = %id))]
    pub async fn complete_checked(
        &self,
        id: JobId,
        owner: &str,
        png: &[u8],
        (width, height): (u32, u32),
        render_ms: i64,
        nsfw: Option<bool>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.pool().begin().await.map_err(db_err("complete"))?;
        let row = sqlx::query(
            "UPDATE render_jobs SET status = 'done', finished_at = $1, lease_owner = NULL, \
             lease_expires_at = NULL, last_error = NULL, nsfw = $4, preview_png = NULL \
             WHERE id = $2 AND lease_owner = $3 AND status = 'running' \
             RETURNING guild_id, member_id",
        )
        .bind(now)
        .bind(id.0)
        .bind(owner)
        .bind(nsfw.map(i64::from))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("complete"))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(db_err("complete"))?;
            return Ok(false);
        };
        let guild_id: Option<i64> = row.try_get("guild_id").map_err(db_err("complete"))?;
        let member_id: i64 = row.try_get("member_id").map_err(db_err("complete"))?;
        sqlx::query(
            "INSERT INTO rendered_images (job_id, guild_id, member_id, png, width, height, \
             render_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.0)
        .bind(guild_id)
        .bind(member_id)
        .bind(png.to_vec())
        .bind(i64::from(width))
        .bind(i64::from(height))
        .bind(render_ms)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err("complete"))?;
        tx.commit().await.map_err(db_err("complete"))?;
        Ok(true)
    }

    /// Records a failed attempt: back to the queue after `backoff_ms` while attempts remain and
    /// the error is retryable, else failed for good with `message_id` for the member.
    #[tracing::instrument(skip_all, fields(job = %id))]
    pub async fn fail(
        &self,
        id: JobId,
        owner: &str,
        message_id: &str,
        detail: &str,
        retryable: bool,
        backoff_ms: i64,
    ) -> Result<FailOutcome, StoreError> {
        let now = now_ms();
        let retried = if retryable {
            sqlx::query(
                "UPDATE render_jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, \
                 not_before = $1, last_error = $2, progress_step = 0, progress_total = 0, \
                 preview_png = NULL \
                 WHERE id = $3 AND lease_owner = $4 AND status = 'running' AND attempts < max_attempts",
            )
            .bind(now + backoff_ms)
            .bind(detail)
            .bind(id.0)
            .bind(owner)
            .execute(self.pool())
            .await
            .map_err(db_err("fail"))?
            .rows_affected()
        } else {
            0
        };
        if retried == 1 {
            return Ok(FailOutcome::WillRetry);
        }
        let failed = sqlx::query(
            "UPDATE render_jobs SET status = 'failed', lease_owner = NULL, lease_expires_at = NULL, \
             finished_at = $1, last_error = $2, error_message_id = $3, preview_png = NULL \
             WHERE id = $4 AND lease_owner = $5 AND status = 'running'",
        )
        .bind(now)
        .bind(detail)
        .bind(message_id)
        .bind(id.0)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(db_err("fail"))?
        .rows_affected();
        Ok(if failed == 1 {
            FailOutcome::Failed
        } else {
            FailOutcome::LeaseLost
        })
    }

    /// Hands a leased job back to the queue without counting the attempt (worker shutdown).
    pub async fn release_lease(&self, id: JobId, owner: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE render_jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, \
             attempts = attempts - 1, progress_step = 0, progress_total = 0 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(id.0)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(db_err("release lease"))?;
        let queued = result.rows_affected() == 1;
        if queued {
            self.notify_queued().await;
        }
        Ok(queued)
    }

    /// The jobs in `status`, oldest first (for tests and benchmarks).
    pub async fn jobs_with_status(&self, status: JobStatus) -> Result<Vec<RenderJob>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM render_jobs WHERE status = $1 ORDER BY id"
        ))
        .bind(status.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(db_err("jobs with status"))?;
        rows.iter()
            .map(job_from_row)
            .collect::<Result<_, _>>()
            .map_err(db_err("jobs with status"))
    }

    /// Counts jobs by status (for tests, `/stats` and benchmarks).
    pub async fn count_jobs(&self, status: JobStatus) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM render_jobs WHERE status = $1")
            .bind(status.as_str())
            .fetch_one(self.pool())
            .await
            .map_err(db_err("count jobs"))?;
        Ok(row.try_get::<i64, _>("n").map_err(db_err("count jobs"))? as u64)
    }
}
