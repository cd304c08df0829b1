//! Ingestion: gateway events become typed, weighted edges of the server's interaction graph —
//! only for members who consented, in servers where persona inference is on.
//!
//! Events are aggregated in memory (a [`DashMap`] keyed by member, edge kind and target) and
//! flushed to the store in one transaction when `flush_max` distinct edges are pending or every
//! `flush_ms`, and on shutdown. **The most a crash can lose is what arrived since the last flush**
//! (at most `flush_ms` of events, default 2 s). No message text is ever read or stored: the bot
//! runs without the MESSAGE_CONTENT intent and an [`Event`] has no field for it.
//!
//! Consent is checked per event against a cache filled from the store;
//! [`Ingestor::consent_changed`] and [`Ingestor::forget`] (called by `consent::ConsentService`)
//! update the cache and drop pending counts at once, so turning consent off stops recording
//! immediately. The cache is an optimization, not the rule: the store writes an edge only if its
//! member consents at that moment, so a batch taken from memory before a withdrawal and written
//! after it — or re-queued after a failed write — adds nothing. A reply or mention is recorded only when *both* members
//! consented; otherwise nothing about the other member is kept, not even their id.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::{watch, Notify};

use crate::domain::Pause;
use crate::ids::{GuildId, MemberId};
use crate::store::{EdgeDelta, EdgeKind, Store, StoreError};

/// An interaction seen on the gateway, reduced to metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message: who, where (a thread counts for its parent channel), whom it replies to,
    /// whom it mentions, and the author's roles.
    Message {
        /// The server.
        guild: GuildId,
        /// The author.
        author: MemberId,
        /// The channel (parent channel for threads).
        channel: u64,
        /// Author of the message replied to.
        reply_to: Option<MemberId>,
        /// Members mentioned.
        mentions: Vec<MemberId>,
        /// The author's roles.
        roles: Vec<u64>,
        /// When (Unix ms).
        at: i64,
    },
    /// A reaction removed from a message in a channel: one reaction fewer (an aggregate that
    /// reaches zero is deleted).
    ReactionRemoved {
        /// The server.
        guild: GuildId,
        /// Who removed it.
        member: MemberId,
        /// Where.
        channel: u64,
    },
    /// A reaction added to a message in a channel.
    Reaction {
        /// The server.
        guild: GuildId,
        /// Who reacted.
        member: MemberId,
        /// Where.
        channel: u64,
        /// When (Unix ms).
        at: i64,
    },
}

type Key = (GuildId, MemberId, EdgeKind, u64);

/// Flush policy.
#[derive(Debug, Clone, Copy)]
pub struct IngestConfig {
    /// Flush when this many distinct edges are pending.
    pub flush_max: usize,
    /// Flush at least this often.
    pub flush_every: Duration,
    /// Aggregates older than this are deleted (checked hourly).
    pub retention: Duration,
}

/// The most members whose consent is cached; past it the cache starts over (it refills from
/// the store), so a bot in many large servers does not grow without bound.
pub const MAX_CACHED_CONSENTS: usize = 200_000;

/// How often the retention sweep runs.
pub const RETENTION_SWEEP: Duration = Duration::from_secs(3600);

/// The aggregator; cheap to share (`Arc`).
pub struct Ingestor {
    store: Store,
    config: IngestConfig,
    pending: DashMap<Key, (i64, i64)>,
    consent: DashMap<(GuildId, MemberId), bool>,
    inference_on: DashMap<GuildId, bool>,
    full: Notify,
    /// Events handled so far (recorded or dropped): a fence for tests and a rate for operators.
    handled: watch::Sender<u64>,
    /// Awaited by [`Ingestor::flush`] after the batch left memory, before it is written (tests).
    before_write: std::sync::Mutex<Option<Pause>>,
    /// Held for a whole flush: a flush that starts while another is writing waits for it, so
    /// when `flush` returns, everything pending at its call is in the store.
    flushing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestor")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Ingestor {
    /// An ingestor writing to `store`.
    pub fn new(store: Store, config: IngestConfig) -> Arc<Self> {
        Arc::new(Self {
            store,
            config,
            pending: DashMap::new(),
            consent: DashMap::new(),
            inference_on: DashMap::new(),
            full: Notify::new(),
            flushing: tokio::sync::Mutex::new(()),
            handled: watch::Sender::new(0),
            before_write: std::sync::Mutex::new(None),
        })
    }

    /// Makes [`Ingestor::flush`] await `pause` after it took its batch out of memory and before
    /// it writes it: the worst instant for a withdrawal (tests).
    pub fn pause_before_write(&self, pause: Pause) {
        *self
            .before_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(pause);
    }

    /// How many events [`Ingestor::record`] has handled (recorded or dropped) since start.
    pub fn handled(&self) -> u64 {
        *self.handled.borrow()
    }

    /// Waits until [`Ingestor::handled`] reaches `count`: after it, every one of those events
    /// is either pending or dropped, so a [`Ingestor::flush`] then stores all that will ever
    /// be stored of them.
    pub async fn handled_at_least(&self, count: u64) {
        let mut handled = self.handled.subscribe();
        // The sender lives as long as `self`, so this only ends when the count is reached.
        let _ = handled.wait_for(|n| *n >= count).await;
    }

    /// Distinct edges waiting for the next flush.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether anything about `member` may be recorded in `guild` now: they consented and the
    /// server's inference is on (cached).
    pub async fn recording(&self, guild: GuildId, member: MemberId) -> Result<bool, StoreError> {
        let on = match self.inference_on.get(&guild).map(|v| *v) {
            Some(on) => on,
            None => {
                let on = self.store.guild_settings(guild).await?.inference_on();
                self.inference_on.insert(guild, on);
                on
            }
        };
        if !on {
            return Ok(false);
        }
        if let Some(granted) = self.consent.get(&(guild, member)).map(|v| *v) {
            return Ok(granted);
        }
        let granted = self.store.consent(guild, member).await?.unwrap_or(false);
        self.cache_consent(guild, member, granted);
        Ok(granted)
    }

    fn add(&self, guild: GuildId, member: MemberId, kind: EdgeKind, target: u64, at: i64) {
        let mut entry = self
            .pending
            .entry((guild, member, kind, target))
            .or_insert((0, at));
        entry.0 = if kind == EdgeKind::HasRole {
            1
        } else {
            entry.0 + 1
        };
        entry.1 = entry.1.max(at);
    }

    /// Records one event (nothing when the member has not consented).
    pub async fn record(&self, event: Event) -> Result<(), StoreError> {
        let result = self.record_event(event).await;
        self.handled.send_modify(|n| *n += 1);
        metrics::counter!(crate::observe::name::INGESTED).increment(1);
        result
    }

    async fn record_event(&self, event: Event) -> Result<(), StoreError> {
        match event {
            Event::Message {
                guild,
                author,
                channel,
                reply_to,
                mentions,
                roles,
                at,
            } => {
                if !self.recording(guild, author).await? {
                    return Ok(());
                }
                self.add(guild, author, EdgeKind::Posted, channel, at);
                for role in roles {
                    self.add(guild, author, EdgeKind::HasRole, role, at);
                }
                if let Some(other) = reply_to.filter(|o| *o != author) {
                    if self.recording(guild, other).await? {
                        self.add(guild, author, EdgeKind::Replied, other.0, at);
                    }
                }
                let mut seen = Vec::new();
                for other in mentions {
                    if other == author || seen.contains(&other) {
                        continue;
                    }
                    seen.push(other);
                    if self.recording(guild, other).await? {
                        self.add(guild, author, EdgeKind::Mentioned, other.0, at);
                    }
                }
            }
            Event::Reaction {
                guild,
                member,
                channel,
                at,
            } => {
                if !self.recording(guild, member).await? {
                    return Ok(());
                }
                self.add(guild, member, EdgeKind::Reacted, channel, at);
            }
            Event::ReactionRemoved {
                guild,
                member,
                channel,
            } => {
                if !self.recording(guild, member).await? {
                    return Ok(());
                }
                // A removal does not make the edge more recent (time 0 never wins the max).
                let mut entry = self
                    .pending
                    .entry((guild, member, EdgeKind::Reacted, channel))
                    .or_insert((0, 0));
                entry.0 -= 1;
            }
        }
        if self.pending.len() >= self.config.flush_max {
            self.full.notify_one();
        }
        Ok(())
    }

    /// The member's consent changed (`consent::ConsentService` calls this: after the store on a
    /// grant, before it on a withdrawal). Off also drops their pending counts.
    pub fn consent_changed(&self, guild: GuildId, member: MemberId, granted: bool) {
        self.cache_consent(guild, member, granted);
        if !granted {
            self.drop_pending(guild, member);
        }
    }

    /// Forgets cached state about the member (before the store erases them).
    pub fn forget(&self, guild: GuildId, member: MemberId) {
        self.cache_consent(guild, member, false);
        self.drop_pending(guild, member);
    }

    /// A server's inference switch changed.
    pub fn set_inference(&self, guild: GuildId, on: bool) {
        self.inference_on.insert(guild, on);
        if !on {
            self.pending.retain(|key, _| key.0 != guild);
        }
    }

    fn cache_consent(&self, guild: GuildId, member: MemberId, granted: bool) {
        if self.consent.len() >= MAX_CACHED_CONSENTS {
            self.consent.clear();
        }
        self.consent.insert((guild, member), granted);
    }

    /// Members whose consent is cached (bounded by [`MAX_CACHED_CONSENTS`]).
    pub fn cached_consents(&self) -> usize {
        self.consent.len()
    }

    fn drop_pending(&self, guild: GuildId, member: MemberId) {
        self.pending.retain(|(g, m, kind, target), _| {
            !(*g == guild && (*m == member || (kind.targets_member() && *target == member.0)))
        });
    }

    /// Writes everything pending in one transaction; on failure the counts are put back. Flushes
    /// run one at a time: one called while another writes waits for that write, then writes
    /// what is left.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let _one_at_a_time = self.flushing.lock().await;
        let keys: Vec<Key> = self.pending.iter().map(|e| *e.key()).collect();
        let batch: Vec<EdgeDelta> = keys
            .iter()
            .filter_map(|key| self.pending.remove(key))
            // A reaction added and removed within one interval leaves nothing.
            .filter(|(_, (count, _))| *count != 0)
            .map(
                |((guild_id, member_id, kind, target_id), (count, last_at))| EdgeDelta {
                    guild_id,
                    member_id,
                    kind,
                    target_id,
                    count,
                    last_at,
                },
            )
            .collect();
        let pause = self
            .before_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(pause) = pause {
            pause().await;
        }
        if let Err(error) = self.store.add_edges(&batch).await {
            for delta in &batch {
                let key = (delta.guild_id, delta.member_id, delta.kind, delta.target_id);
                let mut entry = self.pending.entry(key).or_insert((0, delta.last_at));
                entry.0 += delta.count;
                entry.1 = entry.1.max(delta.last_at);
            }
            return Err(error);
        }
        Ok(batch.len())
    }

    /// Flushes on size or interval until shutdown, then once more.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.flush_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweep = tokio::time::interval(RETENTION_SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.full.notified() => {}
                _ = sweep.tick() => {
                    let max_age = self.config.retention.as_millis() as i64;
                    match self.store.expire_edges(max_age).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(edges = n, "expired interaction aggregates deleted"),
                        Err(error) => tracing::error!(%error, "retention sweep failed"),
                    }
                }
                _ = shutdown.changed() => break,
            }
            if let Err(error) = self.flush().await {
                tracing::error!(%error, pending = self.pending(), "flushing interactions failed; will retry");
            }
        }
        match self.flush().await {
            Ok(n) => tracing::info!(edges = n, "interactions flushed on shutdown"),
            Err(error) => {
                tracing::error!(%error, "final flush failed; the pending counts are lost")
            }
        }
    }
}
