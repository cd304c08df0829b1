//! Rendered images (`rendered_images`): the PNG of every finished job, kept for delivery (also
//! after a restart) and for the member's later feedback.

use sqlx::Row;

use super::{db_err, Store, StoreError};
use crate::ids::JobId;

/// A stored render.
#[derive(Debug, Clone)]
pub struct RenderedImage {
    /// The job it belongs to.
    pub job_id: JobId,
    /// PNG bytes.
    pub png: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Time spent rendering, in milliseconds.
    pub render_ms: i64,
}

impl Store {
    /// The latest live preview of job `id` and the step it shows, while it renders, unless it
    /// shows step `shown` (the one already on Discord: its bytes are not read again).
    pub async fn preview(
        &self,
        id: JobId,
        shown: u32,
    ) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        let row = sqlx::query(
            "SELECT preview_png, preview_step FROM render_jobs \
             WHERE id = $1 AND status = 'running' AND preview_png IS NOT NULL \
             AND preview_step <> $2",
        )
        .bind(id.0)
        .bind(i64::from(shown))
        .fetch_optional(self.pool())
        .await
        .map_err(db_err("read preview"))?;
        let Some(row) = row else { return Ok(None) };
        let get = |e| db_err("read preview")(e);
        let png: Vec<u8> = row.try_get("preview_png").map_err(get)?;
        let step: i64 = row.try_get("preview_step").map_err(get)?;
        Ok(Some((png, u32::try_from(step).unwrap_or(0))))
    }

    /// Whether the image of job `job` is still kept (the Vary and Upscale buttons start from
    /// it), without reading it.
    pub async fn has_rendered_image(&self, job: JobId) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS one FROM rendered_images WHERE job_id = $1")
            .bind(job.0)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err("check image"))?;
        Ok(row.is_some())
    }

    /// The image of a finished job.
    pub async fn rendered_image(&self, job: JobId) -> Result<Option<RenderedImage>, StoreError> {
        let row = sqlx::query(
            "SELECT png, width, height, render_ms FROM rendered_images WHERE job_id = $1",
        )
        .bind(job.0)
        .fetch_optional(self.pool())
        .await
        .map_err(db_err("read image"))?;
        let Some(row) = row else { return Ok(None) };
        let get = |e| db_err("read image")(e);
        Ok(Some(RenderedImage {
            job_id: job,
            png: row.try_get("png").map_err(get)?,
            width: row.try_get::<i64, _>("width").map_err(get)? as u32,
            height: row.try_get::<i64, _>("height").map_err(get)? as u32,
            render_ms: row.try_get("render_ms").map_err(get)?,
        }))
    }
}
