//! One process of each duty: the work that must run once for the whole deployment, not once
//! per bot process — the scheduled persona passes and training ([`Duty::PERSONAS`]), the
//! retention sweep and the erasure of servers the bot left ([`Duty::RETENTION`]).
//!
//! On PostgreSQL a process leads a duty while it holds a session-level advisory lock on a
//! connection of its own, taken out of the pool: if the process dies, the connection closes and
//! the lock with it, and another process takes the duty over at its next try. The locks use
//! PostgreSQL's two-key form, a key space apart from the one-key locks of [`Store::accept`].
//! A SQLite database is one machine's: every process on it leads (their statements are
//! idempotent, as the sweep's are).

use std::sync::{Arc, Mutex, PoisonError};

use sqlx::{Acquire as _, AnyConnection, Connection as _, Row};

use super::{db_err, Backend, Store, StoreError};

/// The first key of every duty lock (`zipp` in ASCII).
const LOCK_SPACE: i32 = 0x7a69_7070;

/// The duties processes share out, each named for logs and [`Store::leading`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DutyName {
    name: &'static str,
    key: i32,
}

impl DutyName {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        self.name
    }
}

/// Whether this process leads each duty it tried, as last found (shared by the clones of a
/// [`Store`]).
pub(super) type Leading = Arc<Mutex<std::collections::BTreeMap<&'static str, bool>>>;

/// A duty this process tries to lead: [`Duty::lead`] before each run of its work.
pub struct Duty {
    store: Store,
    name: DutyName,
    /// The connection holding the lock, while this process leads (None on SQLite).
    held: Option<AnyConnection>,
    leads: bool,
}

impl Duty {
    /// Scheduled persona inference and training.
    pub const PERSONAS: DutyName = DutyName {
        name: "personas",
        key: 1,
    };
    /// The retention sweep and the erasure of servers the bot left.
    pub const RETENTION: DutyName = DutyName {
        name: "retention",
        key: 2,
    };

    /// Tries to lead `name` on `store`'s database (nothing taken yet).
    pub fn new(store: &Store, name: DutyName) -> Duty {
        Duty {
            store: store.clone(),
            name,
            held: None,
            leads: false,
        }
    }

    /// Whether this process leads the duty now: it still holds the lock (its connection
    /// answers), or it just took it. A database error counts as not leading (logged).
    pub async fn lead(&mut self) -> bool {
        let leads = match self.store.backend() {
            Backend::Sqlite => true,
            Backend::Postgres => match self.try_lead().await {
                Ok(leads) => leads,
                Err(error) => {
                    tracing::warn!(duty = self.name.name, %error, "cannot tell whether this process leads");
                    self.held = None;
                    false
                }
            },
        };
        if leads != self.leads {
            tracing::info!(duty = self.name.name, leads, "duty leadership changed");
            self.leads = leads;
        }
        self.store
            .leading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.name.name, leads);
        leads
    }

    async fn try_lead(&mut self) -> Result<bool, StoreError> {
        let op = "lead a duty";
        if let Some(held) = self.held.as_mut() {
            if sqlx::query("SELECT 1").execute(&mut *held).await.is_ok() {
                return Ok(true);
            }
            // The connection (and the lock with it) is gone.
            self.held = None;
        }
        // A connection of its own, never returned to the pool with the lock on it.
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(db_err(op))?
            .detach();
        let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1, $2) AS got")
            .bind(LOCK_SPACE)
            .bind(self.name.key)
            .fetch_one(conn.acquire().await.map_err(db_err(op))?)
            .await
            .map_err(db_err(op))?
            .try_get("got")
            .map_err(db_err(op))?;
        if got {
            self.held = Some(conn);
        } else if let Err(error) = conn.close().await {
            tracing::debug!(%error, "closing a duty connection");
        }
        Ok(got)
    }
}

impl Store {
    /// The duties this process leads now (as [`Duty::lead`] last found).
    pub fn leading(&self) -> Vec<&'static str> {
        self.duties()
            .into_iter()
            .filter_map(|(duty, leads)| leads.then_some(duty))
            .collect()
    }

    /// Every duty this process has tried to lead, and whether it leads it now.
    pub fn duties(&self) -> Vec<(&'static str, bool)> {
        self.leading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(duty, leads)| (*duty, *leads))
            .collect()
    }
}
