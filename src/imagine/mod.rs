//! `/imagine` as the product does it, independent of Discord:
//!
//! 1. [`ImagineService::prepare`] validates the input and finds the member's persona and the
//!    server's settings. A refusal here comes before the deferral, so it is ephemeral and
//!    nothing is stored.
//! 2. [`ImagineService::accept`] stores the job (`rewriting`, leased by this process): one
//!    statement, before the interaction is acknowledged. **Once Discord has the deferral, the
//!    job exists durably.**
//! 3. After the deferral, [`ImagineService::rewrite`] rewrites the prompt for the persona with
//!    the server's LLM and queues the job for a worker. If this process dies first, its rewrite
//!    lease expires and [`ImagineService::run_rewrite_stage`] — in this process after a restart,
//!    or in any other bot process on the same database — finishes the job.
//!
//! The Discord layer only converts ids, defers and replies.

mod validate;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use validate::{validate, ImagineInput, InputLimits, MAX_SEED};

use crate::config::Config;
use crate::error::UserError;
use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, JobId, MemberId};
use crate::rewrite::prompt::Example;
use crate::rewrite::registry::Rewriters;
use crate::rewrite::{RewriteRequest, Rewritten};
use crate::store::{Compare, GuildSettings, NewJob, Persona, RenderJob, Side, Store, StoreError};

/// A rewrite lease taken this many times without finishing (a rewrite that kills its process)
/// is not tried again: the prompt is rendered as typed.
pub const MAX_REWRITE_ATTEMPTS: u32 = 3;
/// The `rewrite_kind` of a job whose rewrite has not finished yet.
pub const PENDING_REWRITE: &str = "pending";

/// Whether the member's persona conditions the render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PersonaMode {
    /// Rewrite the prompt for the persona (the default).
    #[default]
    On,
    /// Render the prompt as typed.
    Off,
    /// Render both, side by side, and let the member pick.
    Compare,
}

/// One `/imagine` as the member sent it, with Discord's ids already converted.
#[derive(Clone)]
pub struct ImagineRequest {
    /// The server (None in DMs).
    pub guild: Option<GuildId>,
    /// Where the command was used.
    pub channel: ChannelId,
    /// Who asked.
    pub member: MemberId,
    /// The interaction (a redelivered interaction is stored once).
    pub interaction: InteractionId,
    /// The application that received it.
    pub application: ApplicationId,
    /// The interaction token, for edits and followups.
    pub token: String,
    /// The member's locale, for every text they will see.
    pub locale: String,
    /// The largest file Discord accepts in this interaction.
    pub attachment_size_limit: u64,
    /// The prompt as typed.
    pub prompt: String,
    /// The negative prompt, if any.
    pub negative: Option<String>,
    /// The seed, if any.
    pub seed: Option<i64>,
    /// Persona conditioning.
    pub mode: PersonaMode,
}

impl std::fmt::Debug for ImagineRequest {
    // The token is a credential and the prompt is the member's text: neither is logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImagineRequest")
            .field("guild", &self.guild)
            .field("member", &self.member)
            .field("interaction", &self.interaction)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// A request that passed validation, with the persona and settings it will use.
pub struct Prepared {
    request: ImagineRequest,
    input: ImagineInput,
    persona: Option<Persona>,
    settings: GuildSettings,
}

/// Why `/imagine` did not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum ImagineError {
    /// The member's input or situation: shown to them.
    #[error(transparent)]
    User(#[from] UserError),
    /// The database failed: logged, never shown.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A job stored before the acknowledgement, with what the rewrite after it needs.
pub struct Accepted {
    /// The job.
    pub job: JobId,
    /// False when this interaction was already stored (Discord delivered it twice): it was
    /// acknowledged and is being handled already.
    pub newly_created: bool,
    guild: Option<GuildId>,
    member: MemberId,
    prompt: String,
    persona: Option<Persona>,
    settings: GuildSettings,
}

impl std::fmt::Debug for Accepted {
    // The prompt and the persona are the member's text: never logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("job", &self.job)
            .field("newly_created", &self.newly_created)
            .finish_non_exhaustive()
    }
}

/// `/imagine`'s core: settings, persona, the durable job and its rewrite stage.
pub struct ImagineService {
    store: Store,
    rewriters: Arc<Rewriters>,
    config: Arc<Config>,
    /// This process's name on rewrite leases.
    owner: String,
}

impl ImagineService {
    /// A service over the bot's store, rewriters and configuration; `owner` names this process
    /// on the rewrite leases it takes (unique per process).
    pub fn new(
        store: Store,
        rewriters: Arc<Rewriters>,
        config: Arc<Config>,
        owner: impl Into<String>,
    ) -> Self {
        Self {
            store,
            rewriters,
            config,
            owner: owner.into(),
        }
    }

    /// How long a rewrite lease lasts: the rewrite budget (a hard timeout, after which the
    /// template answers) with 5 s for the fallback and the database. A process that holds it
    /// longer has died or hung; another takes over.
    fn rewrite_lease_ms(&self) -> i64 {
        self.config.rewrite.budget_ms as i64 + 5_000
    }

    /// Validates the input and looks up the persona and the server's settings. Everything that
    /// can refuse the request happens here, before the interaction is deferred.
    pub async fn prepare(&self, request: ImagineRequest) -> Result<Prepared, ImagineError> {
        let limits = InputLimits {
            max_prompt_chars: self.config.render.max_prompt_chars,
            max_negative_chars: self.config.render.max_negative_chars,
        };
        let input = validate(
            &request.prompt,
            request.negative.as_deref(),
            request.seed,
            limits,
            rand::random(),
        )?;
        // Personas belong to a member *in a server*; DMs render the prompt as typed.
        let persona = match (request.guild, request.mode) {
            (Some(guild), PersonaMode::On | PersonaMode::Compare) => {
                self.store.active_persona(guild, request.member).await?
            }
            _ => None,
        };
        if request.mode == PersonaMode::Compare && persona.is_none() {
            return Err(UserError::new("error-compare-needs-persona").into());
        }
        let settings = match request.guild {
            Some(guild) => self.store.guild_settings(guild).await?,
            None => GuildSettings::default(),
        };
        Ok(Prepared {
            request,
            input,
            persona,
            settings,
        })
    }

    /// Stores the job, to be rewritten by this process (one statement). Call it before the
    /// interaction is acknowledged; a job that could not be acknowledged is dropped with
    /// [`ImagineService::discard`].
    pub async fn accept(&self, prepared: Prepared) -> Result<Accepted, StoreError> {
        let Prepared {
            request,
            input,
            persona,
            settings,
        } = prepared;
        let model = settings
            .diffusion_model
            .clone()
            .unwrap_or_else(|| self.config.render.default_model.clone());
        let compare = (request.mode == PersonaMode::Compare).then(|| Compare {
            generic_prompt: input.prompt.clone(),
            persona_side: if rand::random() {
                Side::Left
            } else {
                Side::Right
            },
        });
        let job = NewJob {
            guild_id: request.guild,
            channel_id: request.channel,
            member_id: request.member,
            interaction_id: request.interaction,
            application_id: request.application,
            interaction_token: request.token,
            locale: request.locale,
            prompt: input.prompt.clone(),
            rendered_prompt: input.prompt.clone(),
            rewrite_kind: PENDING_REWRITE.to_owned(),
            negative_prompt: input.negative_prompt,
            model,
            seed: input.seed,
            width: 0,
            height: 0,
            steps: 0,
            attachment_size_limit: request.attachment_size_limit,
            max_attempts: self.config.render.max_attempts,
            compare,
            persona_id: persona.as_ref().map(|p| p.id),
        };
        let (id, newly_created) = self
            .store
            .accept(&job, &self.owner, self.rewrite_lease_ms())
            .await?;
        if newly_created {
            tracing::info!(job = %id, compare = job.compare.is_some(), "job accepted");
        }
        Ok(Accepted {
            job: id,
            newly_created,
            guild: request.guild,
            member: request.member,
            prompt: input.prompt,
            persona,
            settings,
        })
    }

    /// Drops an accepted job whose interaction could not be acknowledged (Discord told the
    /// member the command failed): nothing is rendered for it.
    pub async fn discard(&self, accepted: &Accepted) -> Result<(), StoreError> {
        self.store.discard_job(accepted.job, &self.owner).await
    }

    /// The job's 1-based place in the queue.
    pub async fn position(&self, accepted: &Accepted) -> Result<u64, StoreError> {
        self.store.queue_position(accepted.job).await
    }

    /// Rewrites the accepted job's prompt (within the rewrite budget) and queues it for a
    /// worker. Nothing happens when this process lost the rewrite lease meanwhile (another bot
    /// process took the job over).
    pub async fn rewrite(&self, accepted: &Accepted) -> Result<(), StoreError> {
        let rewritten = self
            .rewrite_prompt(
                accepted.guild,
                accepted.member,
                &accepted.prompt,
                accepted.persona.as_ref(),
                &accepted.settings,
            )
            .await?;
        self.finish(accepted.job, &rewritten).await
    }

    async fn finish(&self, job: JobId, rewritten: &Rewritten) -> Result<(), StoreError> {
        if self
            .store
            .finish_rewrite(job, &self.owner, &rewritten.prompt, &rewritten.kind)
            .await?
        {
            tracing::info!(job = %job, kind = %rewritten.kind, "job queued");
        } else {
            tracing::warn!(job = %job, "rewrite lease lost; another bot process finishes the job");
        }
        Ok(())
    }

    async fn rewrite_prompt(
        &self,
        guild: Option<GuildId>,
        member: MemberId,
        prompt: &str,
        persona: Option<&Persona>,
        settings: &GuildSettings,
    ) -> Result<Rewritten, StoreError> {
        let examples = match (guild, persona) {
            (Some(guild), Some(_)) if self.config.rewrite.few_shot > 0 => self
                .store
                .preferred_rewrites(guild, member, self.config.rewrite.few_shot)
                .await?
                .into_iter()
                .map(|(prompt, rewrite)| Example::new(prompt, rewrite))
                .collect(),
            _ => Vec::new(),
        };
        let rewriter = self.rewriters.get(settings.llm.as_deref());
        Ok(rewriter
            .rewrite(RewriteRequest {
                prompt: prompt.to_owned(),
                persona: persona.map(|p| p.text.clone()),
                examples,
            })
            .await)
    }

    /// `Some` when the member should be asked for consent (their first `/imagine` in a server
    /// with inference on): how many days of history consenting would backfill, if any.
    pub async fn consent_question(
        &self,
        accepted: &Accepted,
    ) -> Result<Option<Option<u64>>, StoreError> {
        let Some(guild) = accepted.guild else {
            return Ok(None);
        };
        if !accepted.newly_created
            || !accepted.settings.inference_on()
            || self.store.consent(guild, accepted.member).await?.is_some()
        {
            return Ok(None);
        }
        let days = self.config.ingest.backfill_days;
        Ok(Some(
            (accepted.settings.backfill_on() && days > 0).then_some(days),
        ))
    }

    /// Finishes the jobs whose rewrite lease expired — their bot process died after accepting
    /// them — until `shutdown` becomes true; `wake` is notified when a job is queued.
    pub async fn run_rewrite_stage(
        self: Arc<Self>,
        wake: Arc<tokio::sync::Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let poll = Duration::from_millis(self.config.render.poll_ms.max(50));
        while !*shutdown.borrow() {
            loop {
                match self.recover_one().await {
                    Ok(true) => wake.notify_one(),
                    Ok(false) => break,
                    Err(error) => {
                        tracing::error!(%error, "rewrite stage: recovering a job failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Takes one job with an expired rewrite lease and finishes it. False when there was none.
    pub async fn recover_one(&self) -> Result<bool, StoreError> {
        let Some(job) = self
            .store
            .lease_rewrite(&self.owner, self.rewrite_lease_ms())
            .await?
        else {
            return Ok(false);
        };
        tracing::warn!(job = %job.id, attempt = job.rewrite_attempts, "taking over a job whose rewrite was interrupted");
        let rewritten = if job.rewrite_attempts > MAX_REWRITE_ATTEMPTS {
            tracing::error!(job = %job.id, "rewrite interrupted too often; rendering the prompt as typed");
            Rewritten::unchanged(RewriteRequest {
                prompt: job.prompt.clone(),
                persona: None,
                examples: Vec::new(),
            })
        } else {
            self.recovered_rewrite(&job).await?
        };
        self.finish(job.id, &rewritten).await?;
        Ok(true)
    }

    async fn recovered_rewrite(&self, job: &RenderJob) -> Result<Rewritten, StoreError> {
        let persona = match job.persona_id {
            Some(id) => self.store.persona(id).await?,
            None => None,
        };
        let settings = match job.guild_id {
            Some(guild) => self.store.guild_settings(guild).await?,
            None => GuildSettings::default(),
        };
        self.rewrite_prompt(
            job.guild_id,
            job.member_id,
            &job.prompt,
            persona.as_ref(),
            &settings,
        )
        .await
    }
}
