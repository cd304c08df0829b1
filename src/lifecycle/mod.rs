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
use crate::rewrite::Rewriter;
use crate::store::{Persona, Store, StoreError};
use crate::verbalize::{
    self, check_llm_persona, llm_messages, EvidenceEntry, PersonaEvidence, Vocabulary,
};
use zipp_gat::checkpoint::{self, CheckpointMeta, META_FILE};
use zipp_gat::encoder::PersonaEncoder;
use zipp_gat::infer::MemberEvidence;

use self::snapshot::Snapshot;

use crate::domain::Pause;
pub use crate::domain::{SOURCE_EDITED, SOURCE_INFERRED, SOURCE_QUESTIONNAIRE};

/// The most channel/role name embeddings cached.
const MAX_CACHED_NODE_TEXTS: usize = 50_000;
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
    /// Members without any evidence.
    pub no_activity: usize,
}

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
    /// CLIP text embeddings of the vocabulary's phrases (computed on first use).
    phrase_embeddings: Arc<std::sync::OnceLock<Option<Vec<Vec<f32>>>>>,
    /// CLIP text embeddings of channel and role texts, by text.
    node_texts: Arc<DashMap<String, Vec<f32>>>,
    encoder: RwLock<Option<Arc<LoadedEncoder>>>,
    loaded_stamp: Mutex<Option<SystemTime>>,
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
            .map(|mut results| results.pop().map_or(Refresh::NoActivity, |(_, r)| r))
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
        let results = self.infer_guild_with(guild, None, &encoder, llm).await?;
        let mut run = GuildRun {
            members: results.len(),
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

    /// Adds CLIP text embeddings to the snapshot's channels and roles (on the blocking pool).
    async fn with_text_embeddings(
        &self,
        guild: GuildId,
        mut snap: Snapshot,
    ) -> Result<Snapshot, LifecycleError> {
        let Some(clip) = self.clip.clone() else {
            return Err(LifecycleError::Infer {
                guild,
                reason: "the encoder was trained with CLIP text features; set render.clip_model"
                    .to_owned(),
            });
        };
        // Channel and role names come and go: the cache of their embeddings starts over past a
        // bound instead of growing for ever.
        if self.node_texts.len() > MAX_CACHED_NODE_TEXTS {
            self.node_texts.clear();
        }
        let cache = Arc::clone(&self.node_texts);
        tokio::task::spawn_blocking(move || {
            snapshot::add_text_embeddings(&mut snap.graph, &clip, &cache).map(|()| snap)
        })
        .await
        .map_err(|e| LifecycleError::Infer {
            guild,
            reason: format!("text embedding task failed: {e}"),
        })?
        .map_err(|e| LifecycleError::Infer {
            guild,
            reason: e.to_string(),
        })
    }

    /// Snapshot → encoder → evidence → verbalizer → store, for one member or all.
    async fn infer_guild_with(
        &self,
        guild: GuildId,
        only: Option<MemberId>,
        encoder: &Arc<LoadedEncoder>,
        llm: Arc<dyn Rewriter>,
    ) -> Result<Vec<(MemberId, Refresh)>, LifecycleError> {
        let lock = Arc::clone(
            self.guild_locks
                .entry(guild)
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .value(),
        );
        // One snapshot + encoder run per server at a time; verbalizing (an LLM may take seconds
        // per member) runs outside the lock, so a member's refresh never waits for a whole
        // scheduled pass.
        let serial = lock.lock().await;
        let snap = snapshot::snapshot(&self.store, guild, crate::store::now_ms()).await?;
        let targets: Vec<usize> = match only {
            Some(member) => match snap.index_of(member) {
                Some(i) => vec![i],
                None => return Ok(vec![(member, Refresh::NoActivity)]),
            },
            None => (0..snap.members.len()).collect(),
        };
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        // Images embedded by another CLIP than the one the encoder was trained with cannot be
        // used; the graph alone still gives the evidence.
        let mut snap = snap;
        let image_dim = encoder.meta.encoder.image_dim;
        if snap.graph.image_dim().is_some_and(|d| d != image_dim) {
            tracing::warn!(%guild, found = ?snap.graph.image_dim(), expected = image_dim, "image embeddings do not fit the encoder; inferring from the graph alone");
            snap.graph.images.clear();
        }
        // The channels' and roles' text features, as the encoder was trained with them.
        if encoder.meta.encoder.text_features == zipp_gat::encoder::TextFeatures::Clip {
            snap = self.with_text_embeddings(guild, snap).await?;
        }
        let top_k = self.settings.top_k;
        let model = Arc::clone(encoder);
        let started = Instant::now();
        let (snap, inference) = tokio::task::spawn_blocking(move || {
            let result = zipp_gat::infer::infer(&model.model, &snap.graph, top_k, &Device::Cpu);
            (snap, result)
        })
        .await
        .map_err(|e| LifecycleError::Infer {
            guild,
            reason: format!("inference task failed: {e}"),
        })?;
        let inference = inference.map_err(|e| LifecycleError::Infer {
            guild,
            reason: e.to_string(),
        })?;
        drop(serial);
        tracing::debug!(%guild, members = snap.members.len(), elapsed_ms = started.elapsed().as_millis() as u64, "persona encoder ran");
        let label = encoder.path.display().to_string();
        // A scheduled pass (all members) stops at shutdown; a member's own refresh does not.
        let interruptible = only.is_none();
        let total = targets.len();
        let mut out = Vec::with_capacity(total);
        for i in targets {
            if interruptible && self.stopping() {
                break;
            }
            let member = snap.members[i];
            let evidence = self
                .evidence_of(guild, member, &snap, &inference.evidence[i], &label)
                .await?;
            let outcome = match evidence {
                None => Refresh::NoActivity,
                Some(evidence) => {
                    match self
                        .write(guild, member, evidence, llm.as_ref(), interruptible)
                        .await?
                    {
                        Some(outcome) => outcome,
                        None => break,
                    }
                }
            };
            out.push((member, outcome));
        }
        if out.len() < total {
            tracing::info!(%guild, done = out.len(), left = total - out.len(), "persona pass stopped between members: shutting down");
        }
        Ok(out)
    }

    /// The member's evidence: heaviest channels and roles (named ones only), recent prompts, and
    /// the images they liked (reacted to, or preferred in compare mode).
    async fn evidence_of(
        &self,
        guild: GuildId,
        member: MemberId,
        snap: &Snapshot,
        ranked: &MemberEvidence,
        checkpoint: &str,
    ) -> Result<Option<PersonaEvidence>, StoreError> {
        let graph = &snap.graph;
        let channels = ranked
            .channels
            .iter()
            .filter(|c| !c.name.is_empty())
            .map(|c| EvidenceEntry {
                name: c.name.clone(),
                topic: Some(graph.channels[c.index as usize].topic.clone())
                    .filter(|t| !t.trim().is_empty()),
                weight: c.weight,
            })
            .collect();
        let roles = ranked
            .roles
            .iter()
            .filter(|r| !r.name.is_empty())
            .map(|r| EvidenceEntry {
                name: r.name.clone(),
                topic: None,
                weight: r.weight,
            })
            .collect();
        let prompts = self
            .store
            .recent_prompts(
                guild,
                member,
                self.settings.recent_prompts as i64,
                self.backfill_days as i64 * 86_400_000,
            )
            .await?;
        // Images they liked: renders of theirs they reacted to, and the picture they picked in
        // compare mode (each described by the prompt it was rendered from).
        let n = self.settings.recent_prompts;
        let mut liked = self
            .store
            .liked_prompts(guild, member, crate::store::FEEDBACK_REACTED, n as i64)
            .await?;
        for (_, preferred) in self.store.preferred_rewrites(guild, member, n).await? {
            if !liked.contains(&preferred) {
                liked.push(preferred);
            }
        }
        liked.truncate(n);
        let evidence = PersonaEvidence {
            channels,
            roles,
            prompts,
            liked,
            checkpoint: Some(checkpoint.to_owned()),
            ..PersonaEvidence::default()
        };
        Ok((!evidence.is_empty()).then_some(evidence))
    }

    /// Verbalizes: the server's LLM first (when allowed), the offline verbalizer otherwise.
    async fn verbalize(
        &self,
        evidence: &mut PersonaEvidence,
        llm: &dyn Rewriter,
    ) -> Option<String> {
        let max_chars = self.settings.max_chars;
        // The offline pass also picks the vocabulary descriptors the LLM is given.
        let offline = self.offline(evidence, max_chars).await?;
        let llm = match llm.chat_model() {
            Some(model) if self.settings.verbalizer != "offline" => model,
            _ => return Some(offline),
        };
        let label = llm.label();
        let messages = llm_messages(evidence, self.settings.evidence_tokens);
        let timeout = Duration::from_millis(self.settings.verbalize_timeout_ms);
        // About four characters per token, plus room for the model to finish its sentence.
        let max_tokens = max_chars / 3 + 32;
        let answer = tokio::time::timeout(timeout, llm.complete(messages, max_tokens)).await;
        let checked = match answer {
            Ok(Ok(text)) => check_llm_persona(&text, max_chars),
            Ok(Err(reason)) => Err(reason.short()),
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        };
        match checked {
            Ok(text) => {
                evidence.verbalizer = label;
                Some(text)
            }
            Err(reason) => {
                tracing::warn!(llm = %label, %reason, "LLM verbalization failed; using the offline verbalizer");
                Some(offline)
            }
        }
    }

    /// The offline verbalizer; with CLIP, on the blocking pool (the text tower runs).
    async fn offline(&self, evidence: &mut PersonaEvidence, max_chars: usize) -> Option<String> {
        let Some(clip) = self.clip.clone() else {
            return verbalize::offline(evidence, &self.vocab, max_chars);
        };
        let vocab = Arc::clone(&self.vocab);
        let cache = Arc::clone(&self.phrase_embeddings);
        let mut owned = evidence.clone();
        let done = tokio::task::spawn_blocking(move || {
            let embed = |texts: &[&str]| -> Option<Vec<Vec<f32>>> {
                clip.embed_texts(texts)
                    .inspect_err(|error| tracing::warn!(%error, "CLIP text embedding failed"))
                    .ok()
            };
            let phrases = cache.get_or_init(|| {
                let phrases: Vec<&str> = vocab.entries.iter().map(|d| d.phrase.as_str()).collect();
                embed(&phrases)
            });
            let text = match phrases {
                Some(phrases) => {
                    let semantic = verbalize::Semantic {
                        phrases,
                        embed: &embed,
                    };
                    verbalize::offline_with(&mut owned, &vocab, max_chars, Some(&semantic))
                }
                None => verbalize::offline(&mut owned, &vocab, max_chars),
            };
            (owned, text)
        })
        .await;
        match done {
            Ok((owned, text)) => {
                *evidence = owned;
                text
            }
            Err(error) => {
                tracing::error!(%error, "offline verbalizer task failed; using words alone");
                verbalize::offline(evidence, &self.vocab, max_chars)
            }
        }
    }

    /// Stores the inferred persona as a new version (see the module docs for when it is made
    /// active).
    async fn write(
        &self,
        guild: GuildId,
        member: MemberId,
        mut evidence: PersonaEvidence,
        llm: &dyn Rewriter,
        interruptible: bool,
    ) -> Result<Option<Refresh>, StoreError> {
        let latest = self
            .store
            .latest_persona(guild, member, SOURCE_INFERRED)
            .await?;
        // The same sources for the same verbalizer: the persona would be the same (an LLM
        // would only reword it), so no call and no new version.
        let intended = match llm.chat_model() {
            Some(model) if self.settings.verbalizer != "offline" => model.label(),
            _ => "offline".to_owned(),
        };
        if let Some(latest) = &latest {
            let previous: Option<PersonaEvidence> = latest
                .evidence
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok());
            if previous.is_some_and(|p| p.verbalizer == intended && p.same_sources(&evidence)) {
                return Ok(Some(Refresh::Unchanged(latest.clone())));
            }
        }
        let text = if interruptible {
            tokio::select! {
                text = self.verbalize(&mut evidence, llm) => text,
                () = self.stopped() => return Ok(None),
            }
        } else {
            self.verbalize(&mut evidence, llm).await
        };
        let Some(text) = text else {
            return Ok(Some(Refresh::NoActivity));
        };
        if let Some(latest) = latest.filter(|l| l.text == text) {
            return Ok(Some(Refresh::Unchanged(latest)));
        }
        let pause = self
            .before_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(pause) = pause {
            pause().await;
        }
        let active = self.store.active_persona(guild, member).await?;
        let activate = active.is_none_or(|a| a.source == SOURCE_INFERRED);
        let json = serde_json::to_string(&evidence).unwrap_or_default();
        // The store writes it only if the member still consents: they may have withdrawn (or
        // been forgotten) while the verbalizer ran.
        let Some(persona) = self
            .store
            .add_inferred_persona(guild, member, &text, Some(&json), activate)
            .await?
        else {
            tracing::info!(%guild, %member, "consent withdrawn during inference; nothing stored");
            return Ok(Some(Refresh::NoConsent));
        };
        tracing::info!(%guild, %member, version = persona.version, activate, verbalizer = %evidence.verbalizer, "persona inferred");
        Ok(Some(if activate {
            Refresh::Activated(persona)
        } else {
            Refresh::Kept(persona)
        }))
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
