//! Waking workers in other processes: on PostgreSQL, queuing a job sends a `NOTIFY` on
//! [`CHANNEL`], and every worker process `LISTEN`s ([`Store::relay_queued`]) — a job waits for
//! no poll interval. SQLite has no notifications: its workers (one machine's) are woken in
//! process, and other processes poll.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::{db_err, Backend, Store, StoreError};

/// The notification channel of queued jobs.
pub const CHANNEL: &str = "zipp_jobs";

/// A database URL; its `Debug` hides the credentials.
#[derive(Clone)]
pub(super) struct DbUrl(pub(super) Arc<str>);

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::http_client::redact_url(&self.0))
    }
}

impl Store {
    /// Tells the worker processes that a job is queued (PostgreSQL; nothing on SQLite). A lost
    /// notification costs only a poll interval, so a failure is logged, not returned.
    pub(super) async fn notify_queued(&self) {
        if self.backend() != Backend::Postgres {
            return;
        }
        if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(self.pool())
            .await
        {
            tracing::warn!(%error, "notifying the workers of a queued job failed");
        }
    }

    /// Until `shutdown`, wakes `wake`'s waiters whenever any process queues a job (PostgreSQL's
    /// `LISTEN`; returns at once on SQLite). The listener reconnects by itself after a lost
    /// connection; workers poll meanwhile.
    pub async fn relay_queued(
        &self,
        wake: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url.0)
            .await
            .map_err(db_err("listen for queued jobs"))?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(db_err("listen for queued jobs"))?;
        tracing::debug!("listening for queued jobs");
        loop {
            tokio::select! {
                received = listener.recv() => match received {
                    Ok(_) => wake.notify_waiters(),
                    Err(error) => {
                        tracing::warn!(%error, "listening for queued jobs failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        return Ok(());
                    }
                }
            }
        }
    }
}
