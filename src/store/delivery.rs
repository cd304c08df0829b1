//! The bot's delivery bookkeeping on `render_jobs`: which jobs have news for their member,
//! which progress step was shown, and the claim that makes exactly one bot deliver a result.
//!
//! A claim is a lease (`delivery_owner`, `delivery_expires_at`); `delivered_at` is set only after
//! Discord has the result. A bot killed between the claim and the send leaves a claim that
//! expires and is taken over, so the result is still delivered; the send itself is idempotent
//! (the interaction's original response is edited, a channel message carries a nonce), so a bot
//! killed after the send but before recording it delivers nothing twice.

use super::jobs::{job_from_row, JOB_COLUMNS};
use super::{db_err, now_ms, Store, StoreError};
use crate::domain::RenderJob;
use crate::ids::JobId;

impl Store {
    /// Jobs the bot has something to tell the member about: finished and undelivered, with
    /// progress not yet shown, or waiting and not yet shown their place in the queue. Oldest
    /// first, at most `limit`.
    pub async fn jobs_to_notify(&self, limit: i64) -> Result<Vec<RenderJob>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM render_jobs WHERE delivered_at IS NULL \
             AND ((status IN ('done', 'failed') \
                   AND (delivery_owner IS NULL OR delivery_expires_at < $2)) \
                  OR (status = 'running' AND progress_step > notified_step) \
                  OR (status IN ('rewriting', 'queued') AND notified_step < 0)) \
             ORDER BY id LIMIT $1"
        ))
        .bind(limit)
        .bind(now_ms())
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

    /// Claims the delivery of a finished job for `owner` for `lease_ms`: true for exactly one
    /// caller at a time. A claim whose holder died expires and can be claimed again.
    pub async fn claim_delivery(
        &self,
        id: JobId,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let result = sqlx::query(
            "UPDATE render_jobs SET delivery_owner = $1, delivery_expires_at = $2 \
             WHERE id = $3 AND delivered_at IS NULL AND status IN ('done', 'failed') \
             AND (delivery_owner IS NULL OR delivery_expires_at < $4)",
        )
        .bind(owner)
        .bind(now + lease_ms)
        .bind(id.0)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(db_err("claim delivery"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Records that Discord has the result (sent `via` the interaction or the channel). False when
    /// `owner` no longer held the claim (it expired and another bot took it over; both sends
    /// were idempotent, so the member still sees one result).
    pub async fn mark_delivered(
        &self,
        id: JobId,
        owner: &str,
        via: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE render_jobs SET delivered_at = $1, delivered_via = $2, delivery_owner = NULL, \
             delivery_expires_at = NULL \
             WHERE id = $3 AND delivery_owner = $4 AND delivered_at IS NULL",
        )
        .bind(now_ms())
        .bind(via)
        .bind(id.0)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(db_err("mark delivered"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives a claimed delivery back after sending failed, so it is tried again.
    pub async fn release_delivery(&self, id: JobId, owner: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE render_jobs SET delivery_owner = NULL, delivery_expires_at = NULL \
             WHERE id = $1 AND delivery_owner = $2 AND delivered_at IS NULL",
        )
        .bind(id.0)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(db_err("release delivery"))?;
        Ok(())
    }
}
