//! Storage: the only module that contains SQL. One [`Store`] over an sqlx `AnyPool`, so the same
//! queries run on SQLite (the default; a file created on first start) and PostgreSQL (for
//! scale-out: several bots and GPU workers sharing one queue).
//!
//! Queries use `$N` placeholders, which both drivers accept. Where the dialects differ (row
//! locking for the job queue) the query is chosen by [`Backend`]. Database errors are mapped to
//! [`StoreError`] at the query site; nothing above this module sees sqlx types.
//!
//! One file per table: `guilds.rs`, `jobs.rs` (the queue; `delivery.rs` holds the bot's delivery
//! bookkeeping on the same table), `images.rs`, `personas.rs`, `compare.rs`; and per use where
//! one reads several: `persona_pass.rs` (what persona inference reads and writes for many
//! members at once), `neighbourhood.rs` (a member's sampled neighbourhood in the graph).

mod accept;
mod blocklist;
mod companions;
mod compare;
mod consent;
mod delivery;
mod edges;
mod feedback;
mod guilds;
mod health;
mod images;
mod jobs;
mod lead;
mod limits;
mod member_settings;
mod neighbourhood;
mod persona_pass;
mod personas;
mod queue_view;
mod retention;
mod wake;

pub use crate::domain::{
    Acceptance, Aspect, Compare, FailOutcome, JobLimits, JobStatus, LeasedJob, LimitKind,
    LimitRefusal, NewJob, PersonaMode, QueuedJob, RenderJob, Side,
};
pub use crate::domain::{Edge, EdgeDelta, EdgeKind, GraphNode, Neighbourhood};
pub use crate::domain::{InferredWrite, NewInferred, Persona, PersonaInputs};
pub use compare::{wilson_interval, CompareStats, PickOutcome};
pub use consent::{ConsentChange, Erased};
pub use feedback::{FEEDBACK_REACTED, MAX_MEMBER_IMAGES};
pub use guilds::{AuditEntry, Disposition, GuildSetting, GuildSettings, NsfwPolicy};
pub use health::PoolUse;
pub use images::RenderedImage;
pub use jobs::FinishedRewrite;
pub use lead::{Duty, DutyName};
pub use limits::RefusalReason;
pub use member_settings::MemberSettings;
pub use queue_view::CANCELLED;
pub use retention::RetentionPolicy;

use std::str::FromStr;
use std::time::Duration;

use crate::http_client::redact_url;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one process (or a few on one machine) sharing a file.
    Sqlite,
    /// PostgreSQL: any number of bots and workers.
    Postgres,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("database error during {operation}: {source}")]
    Database {
        /// What the store was doing.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL is not usable.
    #[error("database.url: {0}")]
    Url(String),
    /// A row holds a value this version does not understand.
    #[error("corrupt row in {table}: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Maps an sqlx error to a [`StoreError`] naming the operation.
pub(crate) fn db_err(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
}

/// The handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    leading: lead::Leading,
    /// The database URL (PostgreSQL's LISTEN needs a connection of its own).
    url: wake::DbUrl,
}

impl Store {
    /// Connects (creating the SQLite file and its folder when needed) and applies migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let store = Self::connect_without_migrating(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without touching the schema.
    pub async fn connect_without_migrating(
        url: &str,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path != ":memory:" && !path.is_empty() {
                if let Some(parent) = std::path::Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent).map_err(|e| {
                            StoreError::Url(format!("cannot create {}: {e}", parent.display()))
                        })?;
                    }
                }
            }
            let url = if url.contains("mode=") {
                url.to_owned()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            // The URL may hold a password: only its redacted form is ever shown.
            return Err(StoreError::Url(format!(
                "unsupported database URL {}: use sqlite:// or postgres://",
                redact_url(url)
            )));
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|_| StoreError::Url(format!("invalid database URL {}", redact_url(&url))))?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets the bot read while a worker writes; the busy timeout makes
                        // writers wait for each other instead of failing.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(db_err("connect"))?;
        Ok(Store {
            pool,
            backend,
            leading: lead::Leading::default(),
            url: wake::DbUrl(url.into()),
        })
    }

    /// Applies pending migrations (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection (waits for running queries).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// The current time in Unix milliseconds, the unit of every stored time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
