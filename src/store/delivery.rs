//! The bot's delivery bookkeeping on `render_jobs`: which jobs have news for their member,
//! which progress step was shown, and the claim that makes exactly one bot deliver a result.

use super::jobs::{job_from_row, JOB_COLUMNS};
use super::{db_err, now_ms, Store, StoreError};
use crate::domain::RenderJob;
use crate::ids::JobId;

impl Store {
    /// Jobs the bot has something to tell the member about: finished and undelivered, or with
    /// progress not yet shown. Oldest first, at most `limit`.
    pub async fn jobs_to_notify(&self, limit: i64) -> Result<Vec<RenderJob>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM render_jobs WHERE delivered_at IS NULL \
             AND (status IN ('done', 'failed') OR (status = 'running' AND progress_step > notified_step)) \
             ORDER BY id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(db_err("jobs to notify"))?;
        rows.iter()
            .map(job_from_row)
            .collect::<Result<_, _>>()
            .map_err(db_err("jobs to notify"))
    }

    /// Remembers which progress step the member has been shown.
    pub async fn mark_notified(&self, id: JobId, step: u32) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE render_jobs SET notified_step = $1 WHERE id = $2 AND notified_step < $1",
        )
        .bind(i64::from(step))
        .bind(id.0)
        .execute(self.pool())
        .await
        .map_err(db_err("mark notified"))?;
        Ok(())
    }

    /// Claims the delivery of a finished job. True for exactly one caller.
    pub async fn claim_delivery(&self, id: JobId, via: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE render_jobs SET delivered_at = $1, delivered_via = $2 \
             WHERE id = $3 AND delivered_at IS NULL AND status IN ('done', 'failed')",
        )
        .bind(now_ms())
        .bind(via)
        .bind(id.0)
        .execute(self.pool())
        .await
        .map_err(db_err("claim delivery"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives a claimed delivery back after sending failed, so it is tried again.
    pub async fn release_delivery(&self, id: JobId) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE render_jobs SET delivered_at = NULL, delivered_via = NULL WHERE id = $1",
        )
        .bind(id.0)
        .execute(self.pool())
        .await
        .map_err(db_err("release delivery"))?;
        Ok(())
    }
}
