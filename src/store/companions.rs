//! Leasing a job's batch companions: queued jobs a worker can render in the same batch as the
//! one it just leased — the same model, size, step count and aspect, one image each, no
//! comparison and no source image — taken in one statement under the same lease rules as any
//! job (`store/jobs.rs`), so each is still completed, failed or taken over on its own.

use super::jobs::{job_from_row, JOB_COLUMNS};
use super::{db_err, now_ms, Store, StoreError};
use crate::domain::{LeasedJob, RenderJob};

impl Store {
    /// Leases up to `max` queued jobs that render like `first` (see the module docs), oldest
    /// first, for `owner`; none when `first` itself is not one of a kind that batches.
    pub async fn lease_companions(
        &self,
        owner: &str,
        lease_ms: i64,
        first: &RenderJob,
        max: usize,
    ) -> Result<Vec<LeasedJob>, StoreError> {
        let batchable = first.compare.is_none()
            && first.parent_id.is_none()
            && first.derive.is_none()
            && first.image_count <= 1;
        if max == 0 || !batchable {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let lock = self.skip_locked_jobs();
        let sql = format!(
            "UPDATE render_jobs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
             attempts = attempts + 1, started_at = COALESCE(started_at, $3), progress_step = 0, \
             progress_total = 0, preview_png = NULL \
             WHERE id IN (SELECT j.id FROM render_jobs j \
                 WHERE j.status = 'queued' AND j.not_before <= $3 AND j.id <> $4 \
                 AND j.model = $5 AND j.width = $6 AND j.height = $7 AND j.steps = $8 \
                 AND COALESCE(j.aspect, '') = $9 AND j.generic_prompt IS NULL \
                 AND j.parent_id IS NULL AND j.derive IS NULL AND j.image_count <= 1 \
                 ORDER BY j.id LIMIT $10 {lock}) \
             RETURNING {JOB_COLUMNS}"
        );
        let rows = sqlx::query(&sql)
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .bind(first.id.0)
            .bind(first.model.as_str())
            .bind(i64::from(first.width))
            .bind(i64::from(first.height))
            .bind(i64::from(first.steps))
            .bind(first.aspect.map_or("", crate::domain::Aspect::as_str))
            .bind(i64::try_from(max).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await
            .map_err(db_err("lease companions"))?;
        let mut leased = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err("lease companions"))?;
        leased.sort_by_key(|j| j.id.0);
        Ok(leased
            .into_iter()
            .map(|job| LeasedJob {
                job,
                owner: owner.to_owned(),
            })
            .collect())
    }
}
