//! One inference pass: snapshot → encoder → evidence → verbalizer → store, for one member or a
//! whole server.
//!
//! - **One member** (`/persona refresh`, consent): the encoder runs on the member's sampled
//!   neighbourhood ([`snapshot::neighbourhood`], `persona.refresh_fanout`), not on the server.
//! - **A server** (the schedule): one snapshot and one encoder run, then members in batches of
//!   [`PASS_BATCH`]: each batch's prompts, liked renders, picks and latest versions are read in
//!   a few queries, and its new versions written in one transaction
//!   ([`Store::add_inferred_personas`], which re-checks consent in every insert). Verbalized
//!   personas never wait more than [`FLUSH_AFTER`] for their write (an LLM takes seconds per
//!   member), and a pass stopped at shutdown writes what it verbalized.

use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::Device;

use super::snapshot::{self, Snapshot};
use super::{LifecycleError, LoadedEncoder, PersonaService, Refresh, MAX_CACHED_NODE_TEXTS};
use crate::ids::{GuildId, MemberId};
use crate::rewrite::Rewriter;
use crate::store::{InferredWrite, NewInferred, PersonaInputs, StoreError};
use crate::verbalize::{
    self, check_llm_persona, image_taste, llm_messages, EvidenceEntry, PersonaEvidence,
};
use zipp_gat::infer::MemberEvidence;

/// Members of a server pass whose inputs are read together and whose new versions are written
/// in one transaction.
pub const PASS_BATCH: usize = 256;
/// The longest a verbalized persona waits for its batch's write.
pub const FLUSH_AFTER: Duration = Duration::from_secs(2);

/// Where a pass spent its time.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PassTimes {
    /// Awaiting the store: snapshot, inputs, writes.
    pub store: Duration,
    /// Running the encoder (text embeddings included).
    pub encoder: Duration,
}

/// A verbalized persona waiting for its batch's write.
struct Pending {
    /// Its place in the pass's results.
    slot: usize,
    item: NewInferred,
    verbalizer: String,
}

/// What preparing one member gave.
enum Prepared {
    /// Nothing to write.
    Done(Refresh),
    /// A new version to write.
    Write(NewInferred, String),
    /// The bot is shutting down.
    Stopped,
}

impl PersonaService {
    /// Adds CLIP text embeddings to the snapshot's channels and roles (on the blocking pool).
    pub(super) async fn with_text_embeddings(
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

    /// Snapshot → encoder → evidence → verbalizer → store, for one member or all; the results
    /// in member order, and where the time went.
    pub(super) async fn infer_guild_with(
        &self,
        guild: GuildId,
        only: Option<MemberId>,
        encoder: &Arc<LoadedEncoder>,
        llm: Arc<dyn Rewriter>,
    ) -> Result<(Vec<(MemberId, Refresh)>, PassTimes), LifecycleError> {
        let mut times = PassTimes::default();
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
        let started = Instant::now();
        let now = crate::store::now_ms();
        let fanout = self.settings.refresh_fanout;
        let snap = match only {
            Some(member) if fanout > 0 => {
                snapshot::neighbourhood(&self.store, guild, member, fanout, now).await?
            }
            _ => snapshot::snapshot(&self.store, guild, now).await?,
        };
        times.store += started.elapsed();
        let targets: Vec<usize> = match only {
            Some(member) => match snap.index_of(member) {
                Some(i) => vec![i],
                None => return Ok((vec![(member, Refresh::NoActivity)], times)),
            },
            None => (0..snap.members.len()).collect(),
        };
        if targets.is_empty() {
            return Ok((Vec::new(), times));
        }
        let started = Instant::now();
        // Images embedded by another CLIP than the one the encoder was trained with cannot be
        // used; the graph alone still gives the evidence.
        let mut snap = snap;
        let image_dim = encoder.meta.encoder.image_dim;
        let images_fit = snap.graph.image_dim().is_none_or(|d| d == image_dim);
        if !images_fit {
            tracing::warn!(%guild, found = ?snap.graph.image_dim(), expected = image_dim, "image embeddings do not fit the encoder; inferring from the graph alone");
            snap.graph.images.clear();
        }
        // The channels' and roles' text features, as the encoder was trained with them.
        if encoder.meta.encoder.text_features == zipp_gat::encoder::TextFeatures::Clip {
            snap = self.with_text_embeddings(guild, snap).await?;
        }
        // Where the encoder places each member in image space, read against the vocabulary
        // (`verbalize::image_taste`): only from an encoder trained to place members among
        // images (ImageAlign, with images) of the space the phrases are embedded in.
        let phrases = if images_fit && encoder.meta.places_members_among_images() {
            self.phrase_embeddings()
                .await
                .filter(|p| p.first().is_some_and(|p| p.len() == image_dim))
        } else {
            None
        };
        let want_points = phrases.is_some();
        let top_k = self.settings.top_k;
        let model = Arc::clone(encoder);
        let (snap, inference, points) = tokio::task::spawn_blocking(move || {
            let result = zipp_gat::infer::infer(&model.model, &snap.graph, top_k, &Device::Cpu);
            let points = match &result {
                Ok(inference) if want_points => inference
                    .aligned
                    .to_vec2::<f32>()
                    .inspect_err(
                        |error| tracing::warn!(%error, "reading the image-space projection failed"),
                    )
                    .ok(),
                _ => None,
            };
            (snap, result, points)
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
        times.encoder = started.elapsed();
        tracing::debug!(%guild, members = snap.members.len(), elapsed_ms = times.encoder.as_millis() as u64, "persona encoder ran");
        let label = encoder.path.display().to_string();
        // A scheduled pass (all members) stops at shutdown; a member's own refresh does not.
        let interruptible = only.is_none();
        let total = targets.len();
        let mut out: Vec<(MemberId, Refresh)> = Vec::with_capacity(total);
        'batches: for batch in targets.chunks(PASS_BATCH) {
            let members: Vec<MemberId> = batch.iter().map(|&i| snap.members[i]).collect();
            let started = Instant::now();
            let mut inputs = self
                .store
                .persona_inputs(
                    guild,
                    &members,
                    self.settings.recent_prompts,
                    self.backfill_days as i64 * 86_400_000,
                )
                .await?;
            times.store += started.elapsed();
            let mut pending: Vec<Pending> = Vec::new();
            let mut oldest = Instant::now();
            for (&i, &member) in batch.iter().zip(&members) {
                if interruptible && self.stopping() {
                    self.flush(guild, &mut pending, &mut out, &mut times)
                        .await?;
                    break 'batches;
                }
                let taste = match (&points, &phrases) {
                    (Some(points), Some(phrases)) => points
                        .get(i)
                        .map(|point| image_taste::image_taste(point, phrases, &self.vocab))
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                let evidence = evidence_from(
                    &snap,
                    &inference.evidence[i],
                    &label,
                    self.settings.recent_prompts,
                    inputs.remove(&member).unwrap_or_default(),
                    taste,
                );
                match self
                    .prepare(member, evidence, llm.as_ref(), interruptible)
                    .await
                {
                    Prepared::Done(outcome) => out.push((member, outcome)),
                    Prepared::Write(item, verbalizer) => {
                        if pending.is_empty() {
                            oldest = Instant::now();
                        }
                        pending.push(Pending {
                            slot: out.len(),
                            item,
                            verbalizer,
                        });
                        // Replaced by what the write does.
                        out.push((member, Refresh::NoConsent));
                    }
                    Prepared::Stopped => {
                        self.flush(guild, &mut pending, &mut out, &mut times)
                            .await?;
                        break 'batches;
                    }
                }
                if !pending.is_empty() && oldest.elapsed() >= FLUSH_AFTER {
                    self.flush(guild, &mut pending, &mut out, &mut times)
                        .await?;
                }
            }
            self.flush(guild, &mut pending, &mut out, &mut times)
                .await?;
        }
        if out.len() < total {
            tracing::info!(%guild, done = out.len(), left = total - out.len(), "persona pass stopped between members: shutting down");
        }
        Ok((out, times))
    }

    /// Decides what to do for one member: nothing (no evidence, or the same sources or text as
    /// the latest inferred version), or a new version to write.
    async fn prepare(
        &self,
        member: MemberId,
        evidence: Option<(PersonaEvidence, Option<crate::store::Persona>)>,
        llm: &dyn Rewriter,
        interruptible: bool,
    ) -> Prepared {
        let Some((mut evidence, latest)) = evidence else {
            return Prepared::Done(Refresh::NoActivity);
        };
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
                return Prepared::Done(Refresh::Unchanged(latest.clone()));
            }
        }
        let text = if interruptible {
            tokio::select! {
                text = self.verbalize(&mut evidence, llm) => text,
                () = self.stopped() => return Prepared::Stopped,
            }
        } else {
            self.verbalize(&mut evidence, llm).await
        };
        let Some(text) = text else {
            return Prepared::Done(Refresh::NoActivity);
        };
        if let Some(latest) = latest.filter(|l| l.text == text) {
            return Prepared::Done(Refresh::Unchanged(latest));
        }
        let json = serde_json::to_string(&evidence).unwrap_or_default();
        Prepared::Write(
            NewInferred {
                member,
                text,
                evidence: Some(json),
            },
            evidence.verbalizer,
        )
    }

    /// Writes the pending versions in one transaction and puts the outcomes in their slots.
    async fn flush(
        &self,
        guild: GuildId,
        pending: &mut Vec<Pending>,
        out: &mut [(MemberId, Refresh)],
        times: &mut PassTimes,
    ) -> Result<(), StoreError> {
        if pending.is_empty() {
            return Ok(());
        }
        let pause = self
            .before_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(pause) = pause {
            pause().await;
        }
        let items: Vec<NewInferred> = pending.iter().map(|p| p.item.clone()).collect();
        let started = Instant::now();
        let written = self.store.add_inferred_personas(guild, &items).await?;
        times.store += started.elapsed();
        for (p, write) in pending.drain(..).zip(written) {
            let member = p.item.member;
            out[p.slot].1 = match write {
                InferredWrite::Activated(persona) => {
                    tracing::debug!(%guild, %member, version = persona.version, verbalizer = %p.verbalizer, "persona inferred and activated");
                    Refresh::Activated(persona)
                }
                InferredWrite::Kept(persona) => {
                    tracing::debug!(%guild, %member, version = persona.version, verbalizer = %p.verbalizer, "persona inferred; the member's own stays active");
                    Refresh::Kept(persona)
                }
                InferredWrite::NoConsent => {
                    tracing::info!(%guild, %member, "consent withdrawn during inference; nothing stored");
                    Refresh::NoConsent
                }
            };
        }
        Ok(())
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
        let phrases = self.phrase_embeddings().await;
        let vocab = Arc::clone(&self.vocab);
        let mut owned = evidence.clone();
        let done = tokio::task::spawn_blocking(move || {
            let embed = |texts: &[&str]| -> Option<Vec<Vec<f32>>> {
                clip.embed_texts(texts)
                    .inspect_err(|error| tracing::warn!(%error, "CLIP text embedding failed"))
                    .ok()
            };
            let text = match &phrases {
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
}

/// The member's evidence: heaviest channels and roles (named ones only), recent prompts, the
/// images they liked (renders they reacted to, and the pictures they picked in compare mode,
/// each described by the prompt it was rendered from) and their image taste, with their
/// latest inferred version. `None` when there is no evidence at all.
fn evidence_from(
    snap: &Snapshot,
    ranked: &MemberEvidence,
    checkpoint: &str,
    n: usize,
    inputs: PersonaInputs,
    image_taste: Vec<String>,
) -> Option<(PersonaEvidence, Option<crate::store::Persona>)> {
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
    let mut liked = inputs.liked;
    for preferred in inputs.preferred {
        if !liked.contains(&preferred) {
            liked.push(preferred);
        }
    }
    liked.truncate(n);
    let evidence = PersonaEvidence {
        channels,
        roles,
        prompts: inputs.prompts,
        liked,
        image_taste,
        checkpoint: Some(checkpoint.to_owned()),
        ..PersonaEvidence::default()
    };
    (!evidence.is_empty()).then_some((evidence, inputs.latest_inferred))
}
