//! The persona lifecycle (issue 6): the trained encoder embeds a server's snapshot, the
//! attention-ranked evidence is verbalized, and the result is stored as a new persona version.
//!
//! - **When.** On a schedule (`persona.infer_every_s`), on `/persona refresh` (at most once per
//!   `persona.refresh_cooldown_s` per member), and when a member consents.
//! - **Which encoder.** The checkpoint in `persona.checkpoint`, loaded at start and reloaded
//!   when a newer one is written there (checked every `persona.reload_check_s`). Without one,
//!   inference reports [`Refresh::Unavailable`] and everything else keeps working.
//! - **Who.** Only members who consented, in servers whose moderators left inference on.
//! - **Edits win.** A new inferred version becomes the active persona only when the member's
//!   active persona is itself inferred (or there is none). Otherwise it is stored, unused, and
//!   `/persona reset` switches to it. An inference from the same sources (channels, roles,
//!   prompts, liked images) with the same verbalizer as the latest inferred version, or giving
//!   the same text, adds no version (and calls no LLM).
//! - **Verbalizer.** The server's LLM when it has one and `persona.verbalizer = "auto"`, with a
//!   time limit; the offline verbalizer otherwise, or when the LLM fails or refuses.
//!
//! Encoder inference runs on the blocking pool; one snapshot + encoder run per server at a time.
//! A member's refresh embeds their sampled neighbourhood; a scheduled pass reads and writes in
//! batches (`pass.rs`).

mod pass;
mod schedule;
pub mod seed;
pub mod snapshot;
mod train;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use candle_core::Device;
use dashmap::DashMap;
use tokio::sync::watch;

use crate::config::PersonaSettings;
use crate::ids::{GuildId, MemberId};
use crate::rewrite::registry::Rewriters;
use crate::store::{Persona, Store, StoreError};
use crate::verbalize::{self, Vocabulary};
use zipp_gat::checkpoint::{self, CheckpointMeta, META_FILE};
use zipp_gat::encoder::PersonaEncoder;

use crate::domain::Pause;
pub use crate::domain::{SOURCE_EDITED, SOURCE_INFERRED, SOURCE_QUESTIONNAIRE};

/// The most channel/role name embeddings cached.
pub(super) const MAX_CACHED_NODE_TEXTS: usize = 50_000;
/// Past this many members with a refresh cooldown, the expired ones are dropped.
const MAX_COOLDOWNS: usize = 10_000;

/// A loaded encoder checkpoint.
pub struct LoadedEncoder {
    /// The model.
    pub model: PersonaEncoder,
    /// Its metadata.
    pub meta: CheckpointMeta,
    /// Where it was read from.
    pub path: PathBuf,
}

/// What a refresh of one member did.
#[derive(Debug, Clone, PartialEq)]
pub enum Refresh {
    /// A new inferred version is the member's active persona.
    Activated(Persona),
    /// A new inferred version is stored, but the member's own version stays active.
    Kept(Persona),
    /// Inference gave the same text as the latest inferred version; nothing new.
    Unchanged(Persona),
    /// Nothing recorded about the member yet (no edges, no prompts).
    NoActivity,
    /// The member has not consented.
    NoConsent,
    /// The server's moderators turned inference off.
    Disabled,
    /// No encoder checkpoint is loaded.
    Unavailable,
    /// The member refreshed too recently; try again after this long.
    Cooldown(Duration),
}

/// Why inference failed (logged; members see a generic message).
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The encoder failed on this server's graph.
    #[error("persona inference for server {guild}: {reason}")]
    Infer {
        /// The server.
        guild: GuildId,
        /// What failed.
        reason: String,
    },
}

/// Counts of one server-wide inference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuildRun {
    /// Members in the snapshot.
    pub members: usize,
    /// New versions made active.
    pub activated: usize,
    /// New versions stored behind a member's own version.
    pub kept: usize,
    /// Same text as before.
    pub unchanged: usize,
    /// Members without any evidence (or who withdrew during the pass).
    pub no_activity: usize,
    /// Milliseconds spent awaiting the store (snapshot, inputs, writes).
    pub store_ms: u64,
    /// Milliseconds the encoder ran.
    pub encoder_ms: u64,
}

/// One unit-norm embedding per vocabulary phrase, in vocabulary order.
type PhraseEmbeddings = Vec<Vec<f32>>;

/// Persona inference for the bot.
pub struct PersonaService {
    store: Store,
    settings: PersonaSettings,
    /// `ingest.backfill_days`: how far before a consent the member's prompts count, in servers
    /// with history backfill on.
    backfill_days: u64,
    /// Awaited after the persona was verbalized, before it is stored (tests).
    before_write: Mutex<Option<Pause>>,
    /// Members erased (forgotten or withdrawn) since the last scheduled training: the next
    /// scheduled training runs even without new data, so the encoder stops reflecting them.
    erasures: std::sync::atomic::AtomicU64,
    rewriters: Arc<Rewriters>,
    vocab: Arc<Vocabulary>,
    clip: Option<Arc<zipp_clip::ClipEmbedder>>,
    /// Embeddings of the vocabulary's phrases: CLIP's text tower (computed on first use), or
    /// given ([`Self::set_phrase_embeddings`]).
    phrase_embeddings: Arc<std::sync::OnceLock<Option<Arc<PhraseEmbeddings>>>>,
    /// CLIP text embeddings of channel and role texts, by text.
    node_texts: Arc<DashMap<String, Vec<f32>>>,
    encoder: RwLock<Option<Arc<LoadedEncoder>>>,
    loaded_stamp: Mutex<Option<SystemTime>>,
    /// Held while a checkpoint is looked at and loaded: a second look waits for the load in
    /// flight instead of finding its stamp recorded and the encoder not there yet.
    reloading: tokio::sync::Mutex<()>,
    cooldowns: DashMap<(GuildId, MemberId), Instant>,
    /// When each member's consent last started an inference ([`Self::on_consent`]).
    consent_cooldowns: DashMap<(GuildId, MemberId), Instant>,
    guild_locks: DashMap<GuildId, Arc<tokio::sync::Mutex<()>>>,
    /// True once the bot shuts down: scheduled passes stop between members (see [`Self::stop`]).
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for PersonaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonaService")
            .field("checkpoint", &self.settings.checkpoint)
            .field("loaded", &self.encoder_loaded())
            .finish_non_exhaustive()
    }
}

impl PersonaService {
    /// The service; fails only on an unreadable descriptor vocabulary. Call
    /// [`PersonaService::reload_if_newer`] (or [`PersonaService::run`]) to load the encoder.
    /// With `clip`, the offline verbalizer also matches the evidence to the vocabulary with
    /// CLIP text embeddings.
    pub fn new(
        store: Store,
        settings: PersonaSettings,
        rewriters: Arc<Rewriters>,
        clip: Option<Arc<zipp_clip::ClipEmbedder>>,
        backfill_days: u64,
    ) -> Result<Arc<Self>, verbalize::VocabularyError> {
        let path = settings.descriptors.clone();
        let vocab = Vocabulary::load((!path.as_os_str().is_empty()).then_some(path.as_path()))?;
        Ok(Arc::new(Self {
            store,
            settings,
            backfill_days,
            before_write: Mutex::new(None),
            erasures: std::sync::atomic::AtomicU64::new(0),
            rewriters,
            vocab: Arc::new(vocab),
            clip,
            phrase_embeddings: Arc::new(std::sync::OnceLock::new()),
            node_texts: Arc::new(DashMap::new()),
            encoder: RwLock::new(None),
            loaded_stamp: Mutex::new(None),
            reloading: tokio::sync::Mutex::new(()),
            cooldowns: DashMap::new(),
            consent_cooldowns: DashMap::new(),
            guild_locks: DashMap::new(),
            stop: watch::Sender::new(false),
        }))
    }

    /// Makes inference await `pause` after the persona was verbalized (an LLM call of up to a
    /// minute) and before it is stored: the worst instant for a withdrawal (tests).
    pub fn pause_before_write(&self, pause: Pause) {
        *self
            .before_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(pause);
    }

    /// Gives the vocabulary's phrases embedded elsewhere, one per entry in vocabulary order, in
    /// the image space of the server's images (CLIP's text tower computed offline, or a
    /// benchmark's synthetic one); otherwise CLIP's text tower embeds them on first use.
    /// Returns false when embeddings were already in use or the count does not match.
    pub fn set_phrase_embeddings(&self, phrases: Vec<Vec<f32>>) -> bool {
        phrases.len() == self.vocab.entries.len()
            && self.phrase_embeddings.set(Some(Arc::new(phrases))).is_ok()
    }

    /// The vocabulary's phrase embeddings: the given ones, or CLIP's (computed once, on the
    /// blocking pool); `None` without CLIP or when embedding failed.
    async fn phrase_embeddings(&self) -> Option<Arc<PhraseEmbeddings>> {
        if let Some(done) = self.phrase_embeddings.get() {
            return done.clone();
        }
        let clip = self.clip.clone()?;
        let vocab = Arc::clone(&self.vocab);
        let cache = Arc::clone(&self.phrase_embeddings);
        tokio::task::spawn_blocking(move || {
            cache
                .get_or_init(|| {
                    let phrases: Vec<&str> =
                        vocab.entries.iter().map(|d| d.phrase.as_str()).collect();
                    clip.embed_texts(&phrases)
                        .inspect_err(|error| tracing::warn!(%error, "CLIP text embedding of the vocabulary failed"))
                        .ok()
                        .map(Arc::new)
                })
                .clone()
        })
        .await
        .ok()
        .flatten()
    }

    /// The settings in use.
    pub fn settings(&self) -> &PersonaSettings {
        &self.settings
    }

    /// Whether an encoder is loaded.
    pub fn encoder_loaded(&self) -> bool {
        self.encoder().is_some()
    }

    fn encoder(&self) -> Option<Arc<LoadedEncoder>> {
        self.encoder.read().ok().and_then(|e| e.clone())
    }

    /// Loads the checkpoint when its metadata file changed since the last look (or was never
    /// loaded). A checkpoint that fails to load is logged and the previous one stays in use.
    /// Returns whether a new encoder was loaded.
    pub async fn reload_if_newer(&self) -> bool {
        let dir = self.settings.checkpoint.clone();
        if dir.as_os_str().is_empty() {
            return false;
        }
        let _reloading = self.reloading.lock().await;
        let stamp = match std::fs::metadata(dir.join(META_FILE)).and_then(|m| m.modified()) {
            Ok(stamp) => stamp,
            Err(error) => {
                let mut last = self
                    .loaded_stamp
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if last.is_some() || !self.encoder_loaded() {
                    tracing::warn!(path = %dir.display(), %error, "no persona encoder checkpoint yet; inference is unavailable");
                }
                *last = None;
                return false;
            }
        };
        {
            let mut last = self
                .loaded_stamp
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *last == Some(stamp) {
                return false;
            }
            *last = Some(stamp);
        }
        let load_dir = dir.clone();
        let loaded =
            tokio::task::spawn_blocking(move || checkpoint::load(&load_dir, &Device::Cpu)).await;
        match loaded {
            Ok(Ok((model, meta))) => {
                tracing::info!(path = %dir.display(), trained_at_unix_ms = meta.trained_at_unix_ms, val_auc = meta.report.val_auc, "persona encoder loaded");
                *self
                    .encoder
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(Arc::new(LoadedEncoder {
                        model,
                        meta,
                        path: dir,
                    }));
                true
            }
            Ok(Err(error)) => {
                tracing::error!(path = %dir.display(), %error, "persona encoder checkpoint refused; keeping the previous one");
                false
            }
            Err(error) => {
                tracing::error!(path = %dir.display(), %error, "persona encoder load panicked");
                false
            }
        }
    }

    /// `/persona refresh` and consent: infers one member's persona now (see [`Refresh`]).
    /// `cooldown` applies the refresh cooldown.
    pub async fn refresh(
        &self,
        guild: GuildId,
        member: MemberId,
        cooldown: bool,
    ) -> Result<Refresh, LifecycleError> {
        if self.store.consent(guild, member).await? != Some(true) {
            return Ok(Refresh::NoConsent);
        }
        let settings = self.store.guild_settings(guild).await?;
        if !settings.inference_on() {
            return Ok(Refresh::Disabled);
        }
        let Some(encoder) = self.encoder() else {
            return Ok(Refresh::Unavailable);
        };
        if cooldown {
            let limit = Duration::from_secs(self.settings.refresh_cooldown_s);
            let now = Instant::now();
            if self.cooldowns.len() > MAX_COOLDOWNS {
                self.cooldowns
                    .retain(|_, last| now.duration_since(*last) < limit);
            }
            // Taken before inferring, so two quick refreshes cannot both run.
            match self.cooldowns.entry((guild, member)) {
                dashmap::Entry::Occupied(mut last) => {
                    let since = now.duration_since(*last.get());
                    if since < limit {
                        return Ok(Refresh::Cooldown(limit - since));
                    }
                    last.insert(now);
                }
                dashmap::Entry::Vacant(slot) => {
                    slot.insert(now);
                }
            }
        }
        let llm = self.rewriters.get(settings.llm.as_deref());
        // The cooldown taken above stays taken whatever the outcome: a refresh that found no
        // activity or failed still ran the encoder (and maybe the LLM), so retrying at once
        // would let a member run inference in a loop.
        self.infer_guild_with(guild, Some(member), &encoder, llm)
            .await
            .map(|(mut results, _)| results.pop().map_or(Refresh::NoActivity, |(_, r)| r))
    }

    /// Infers every consenting member of the server (the schedule).
    pub async fn infer_guild(&self, guild: GuildId) -> Result<GuildRun, LifecycleError> {
        let settings = self.store.guild_settings(guild).await?;
        let Some(encoder) = self.encoder() else {
            return Ok(GuildRun::default());
        };
        if !settings.inference_on() {
            return Ok(GuildRun::default());
        }
        let llm = self.rewriters.get(settings.llm.as_deref());
        let (results, times) = self.infer_guild_with(guild, None, &encoder, llm).await?;
        let mut run = GuildRun {
            members: results.len(),
            store_ms: times.store.as_millis() as u64,
            encoder_ms: times.encoder.as_millis() as u64,
            ..GuildRun::default()
        };
        for (_, r) in &results {
            match r {
                Refresh::Activated(_) => run.activated += 1,
                Refresh::Kept(_) => run.kept += 1,
                Refresh::Unchanged(_) => run.unchanged += 1,
                _ => run.no_activity += 1,
            }
        }
        Ok(run)
    }

    /// A member just consented: infer them in the background. At most once per
    /// `persona.refresh_cooldown_s` per member (withdrawing and consenting again in a loop
    /// cannot run the encoder more often), on its own clock so that it does not use up the
    /// member's `/persona refresh`. Returns whether it started. Without any activity yet this
    /// stores nothing; the schedule catches up later.
    pub fn on_consent(self: &Arc<Self>, guild: GuildId, member: MemberId) -> bool {
        let limit = Duration::from_secs(self.settings.refresh_cooldown_s);
        let now = Instant::now();
        if self.consent_cooldowns.len() > MAX_COOLDOWNS {
            self.consent_cooldowns
                .retain(|_, last| now.duration_since(*last) < limit);
        }
        match self.consent_cooldowns.entry((guild, member)) {
            dashmap::Entry::Occupied(mut last) => {
                if now.duration_since(*last.get()) < limit {
                    tracing::debug!(%guild, %member, "consented again within the cooldown: no inference");
                    return false;
                }
                last.insert(now);
            }
            dashmap::Entry::Vacant(slot) => {
                slot.insert(now);
            }
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            match me.refresh(guild, member, false).await {
                Ok(outcome) => {
                    tracing::debug!(%guild, %member, ?outcome, "inference after consent")
                }
                Err(error) => {
                    tracing::error!(%guild, %member, %error, "inference after consent failed")
                }
            }
        });
        true
    }

    /// Forgets the member's cooldown (after `/persona forget`).
    pub fn forget(&self, guild: GuildId, member: MemberId) {
        self.cooldowns.remove(&(guild, member));
        self.erased();
    }

    /// A member withdrew consent: their data is gone from the store, and the next scheduled
    /// training drops them from the encoder.
    pub fn consent_withdrawn(&self, _guild: GuildId, _member: MemberId) {
        self.erased();
    }

    fn erased(&self) {
        self.erasures
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}
