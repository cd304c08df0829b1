//! What `/queue` shows and does: a member's unfinished jobs, the render times an ETA is computed
//! from, a server's queue length, and cancelling a job (only by its owner).

use sqlx::Row;

use super::jobs::{job_from_row, JOB_COLUMNS};
use super::{db_err, now_ms, Store, StoreError};
use crate::domain::RenderJob;
use crate::ids::{GuildId, JobId, MemberId};

/// The message id a cancelled job's reply shows.
pub const CANCELLED: &str = "render-cancelled";

impl Store {
    /// The member's unfinished jobs (being rewritten, queued or rendering) in `guild` (None:
    /// direct messages), oldest first, at most `limit`.
    pub async fn member_queue(
        &self,
        guild: Option<GuildId>,
        member: MemberId,
        limit: i64,
    ) -> Result<Vec<RenderJob>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM render_jobs WHERE member_id = $1 \
             AND ((guild_id IS NULL AND $2 IS NULL) OR guild_id = $2) \
             AND status IN ('rewriting', 'queued', 'running') ORDER BY id LIMIT $3"
        ))
        .bind(member.to_db())
        .bind(guild.map(GuildId::to_db))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(db_err("read member queue"))?;
        rows.iter()
            .map(job_from_row)
            .collect::<Result<_, _>>()
            .map_err(db_err("read member queue"))
    }

    /// Unfinished jobs in `guild`, and in the whole queue.
    pub async fn queue_lengths(&self, guild: GuildId) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM render_jobs WHERE guild_id = $1 \
                 AND status IN ('rewriting', 'queued', 'running')) AS here, \
             (SELECT COUNT(*) FROM render_jobs \
                 WHERE status IN ('rewriting', 'queued', 'running')) AS everywhere",
        )
        .bind(guild.to_db())
        .fetch_one(self.pool())
        .await
        .map_err(db_err("queue lengths"))?;
        let here: i64 = row.try_get("here").map_err(db_err("queue lengths"))?;
        let everywhere: i64 = row.try_get("everywhere").map_err(db_err("queue lengths"))?;
        Ok((here as u64, everywhere as u64))
    }

    /// The mean render time of `model`'s last (at most 20) renders (ms), and how many jobs are
    /// rendering now (the workers busy): what an ETA is computed from. None: no render yet.
    pub async fn render_pace(&self, model: &str) -> Result<(Option<i64>, u64), StoreError> {
        let op = "render pace";
        let row = sqlx::query(
            "SELECT CAST(AVG(render_ms) AS BIGINT) AS mean FROM (SELECT i.render_ms \
             FROM rendered_images i JOIN render_jobs j ON j.id = i.job_id \
             WHERE j.model = $1 ORDER BY i.job_id DESC LIMIT 20) recent",
        )
        .bind(model)
        .fetch_one(self.pool())
        .await
        .map_err(db_err(op))?;
        let mean: Option<i64> = row.try_get("mean").map_err(db_err(op))?;
        let running: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM render_jobs WHERE status = 'running'")
                .fetch_one(self.pool())
                .await
                .map_err(db_err(op))?
                .try_get("n")
                .map_err(db_err(op))?;
        Ok((mean, running as u64))
    }

    /// Cancels `member`'s unfinished job: it fails with [`CANCELLED`] (delivery tells the
    /// member), a running render loses its lease and stops at its next step, a rewrite in flight
    /// cannot queue it. False when the job is not the member's or already finished.
    pub async fn cancel_job(&self, id: JobId, member: MemberId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE render_jobs SET status = 'failed', error_message_id = $1, \
             last_error = 'cancelled by its owner', finished_at = $2, lease_owner = NULL, \
             lease_expires_at = NULL \
             WHERE id = $3 AND member_id = $4 AND status IN ('rewriting', 'queued', 'running')",
        )
        .bind(CANCELLED)
        .bind(now_ms())
        .bind(id.0)
        .bind(member.to_db())
        .execute(self.pool())
        .await
        .map_err(db_err("cancel job"))?;
        Ok(done.rows_affected() == 1)
    }
}
