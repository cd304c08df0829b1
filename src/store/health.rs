//! What the health and metrics endpoints read: a round trip to the database, the jobs on their
//! way by state and model, and the connection pool's use.

use sqlx::Row;

use super::{db_err, Store, StoreError};

/// How many connections the pool holds, and how many of them are idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// Open connections.
    pub open: u32,
    /// Open connections not running a query.
    pub idle: u32,
}

impl Store {
    /// One round trip to the database (`SELECT 1`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(self.pool())
            .await
            .map_err(db_err("ping"))?;
        Ok(())
    }

    /// The jobs not finished yet, by state (`rewriting`, `queued`, `running`) and model.
    pub async fn active_jobs(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let op = "count active jobs";
        sqlx::query(
            "SELECT status, model, COUNT(*) AS n FROM render_jobs \
             WHERE status IN ('rewriting', 'queued', 'running') GROUP BY status, model",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db_err(op))?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("status")?,
                row.try_get("model")?,
                row.try_get::<i64, _>("n")? as u64,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_err(op))
    }

    /// The connection pool's use now.
    pub fn pool_use(&self) -> PoolUse {
        PoolUse {
            open: self.pool().size(),
            idle: self.pool().num_idle() as u32,
        }
    }
}
