//! `/imagine` as the product does it, independent of Discord:
//!
//! 1. [`ImagineService::prepare`] validates the input (compare mode also checks that the member
//!    has a persona). A refusal here comes before the deferral, so it is ephemeral and nothing
//!    is stored.
//! 2. [`ImagineService::accept`] stores the job (`rewriting`, leased by this process): one
//!    statement, and nothing else, before the interaction is acknowledged. **Once Discord has
//!    the deferral, the job exists durably.**
//! 3. After the deferral, [`ImagineService::hand_off`] gives the job to the rewrite stage
//!    ([`ImagineService::run_rewrite_stage`]), which looks up the server's settings and the
//!    member's persona *then*, rewrites the prompt with the server's LLM and queues the job for a
//!    worker. If this process dies first, its rewrite lease expires and the stage — in this
//!    process after a restart, or in any other bot process on the same database — finishes the
//!    job.
//!
//! The Discord layer only converts ids, defers and replies.

pub mod blocklist;
mod budget;
mod model_choice;
mod rules;
mod validate;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

pub use budget::LlmBudget;
pub use validate::{validate, ImagineInput, InputLimits, MAX_SEED};

use crate::config::Config;
pub use crate::domain::PersonaMode;
use crate::domain::MAX_IMAGES;
use crate::error::UserError;
use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, JobId, MemberId};
use crate::rewrite::prompt::Example;
use crate::rewrite::registry::{Rewriters, TEMPLATE};
use crate::rewrite::{RewriteRequest, Rewritten};
use crate::store::{
    Acceptance, Compare, FinishedRewrite, GuildSettings, JobLimits, LimitKind, LimitRefusal,
    NewJob, Persona, RefusalReason, RenderJob, Side, Store, StoreError,
};

/// A rewrite lease taken this many times without finishing (a rewrite that kills its process)
/// is not tried again: the prompt is rendered as typed.
pub const MAX_REWRITE_ATTEMPTS: u32 = 3;
/// The `rewrite_kind` of a job whose rewrite has not finished yet.
pub const PENDING_REWRITE: &str = "pending";

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
    /// Persona conditioning (None: the member's default from `/settings`, else on).
    pub mode: Option<PersonaMode>,
    /// Whether the channel is age-restricted.
    pub channel_nsfw: bool,
    /// The shape asked for (None: the member's default from `/settings`, else the model's
    /// size).
    pub aspect: Option<crate::domain::Aspect>,
    /// The result this request was made from (a Reroll, Vary or Upscale press); None for
    /// `/imagine`.
    pub parent: Option<JobId>,
    /// How it starts from the parent's image (Vary, Upscale); None for a new image.
    pub derive: Option<crate::domain::Derive>,
    /// Which image of the parent's grid a Vary or Upscale starts from (None: its whole image).
    pub source_cell: Option<u32>,
    /// How many images (None: the member's default from `/settings`, else 1).
    pub count: Option<u32>,
    /// The diffusion model the member picked (None: the server's).
    pub model: Option<String>,
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

/// A request that passed validation.
pub struct Prepared {
    request: ImagineRequest,
    input: ImagineInput,
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

/// What the rewrite of a job starts from: the request as stored.
#[derive(Clone, Copy)]
struct Pending<'a> {
    job: JobId,
    guild: Option<GuildId>,
    member: MemberId,
    prompt: &'a str,
    mode: PersonaMode,
    aspect: Option<crate::domain::Aspect>,
    model_choice: Option<&'a str>,
}

/// A job stored before the acknowledgement, with what its rewrite needs.
pub struct Accepted {
    /// The job.
    pub job: JobId,
    /// False when this interaction was already stored (Discord delivered it twice): it was
    /// acknowledged and is being handled already.
    pub newly_created: bool,
    guild: Option<GuildId>,
    member: MemberId,
    prompt: String,
    mode: PersonaMode,
    aspect: Option<crate::domain::Aspect>,
    model_choice: Option<String>,
}

impl std::fmt::Debug for Accepted {
    // The prompt is the member's text: never logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("job", &self.job)
            .field("newly_created", &self.newly_created)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// How many accepted jobs are rewritten at once by the stage (LLM calls are bounded further by
/// each backend).
pub const REWRITE_CONCURRENCY: usize = 16;

/// `/imagine`'s core: validation, the durable job and its rewrite stage.
pub struct ImagineService {
    store: Store,
    rewriters: Arc<Rewriters>,
    config: Arc<Config>,
    /// This process's name on rewrite leases.
    owner: String,
    /// Accepted jobs, handed from the command handler to the rewrite stage.
    handoff: mpsc::UnboundedSender<Accepted>,
    accepted: Mutex<Option<mpsc::UnboundedReceiver<Accepted>>>,
    /// Members asked for consent recently: one prompt per [`CONSENT_ASK_EVERY`], not one per
    /// `/imagine` (bounded: cleared past [`MAX_RECENTLY_ASKED`]).
    asked: dashmap::DashMap<(GuildId, MemberId), std::time::Instant>,
    /// LLM rewrites per server per hour ([`LlmBudget`]).
    llm_budget: LlmBudget,
    /// Servers' blocklists, read at most every [`BLOCKLIST_CACHE`].
    blocklists: dashmap::DashMap<GuildId, BlocklistEntry>,
}

/// A member who leaves the consent prompt unanswered is asked again after this long.
pub const CONSENT_ASK_EVERY: Duration = Duration::from_secs(3600);
/// The most members remembered as asked recently.
const MAX_RECENTLY_ASKED: usize = 100_000;

impl ImagineService {
    /// A service over the bot's store, rewriters and configuration; `owner` names this process
    /// on the rewrite leases it takes (unique per process).
    pub fn new(
        store: Store,
        rewriters: Arc<Rewriters>,
        config: Arc<Config>,
        owner: impl Into<String>,
    ) -> Self {
        let (handoff, accepted) = mpsc::unbounded_channel();
        let llm_budget = LlmBudget::new(config.rewrite.server_llm_per_hour);
        Self {
            store,
            rewriters,
            config,
            owner: owner.into(),
            handoff,
            accepted: Mutex::new(Some(accepted)),
            asked: dashmap::DashMap::new(),
            blocklists: dashmap::DashMap::new(),
            llm_budget,
        }
    }

    /// How long a rewrite lease lasts: the rewrite budget (a hard timeout, after which the
    /// template answers) with 5 s for the fallback and the database. A process that holds it
    /// longer has died or hung; another takes over.
    fn rewrite_lease_ms(&self) -> i64 {
        self.config.rewrite.budget_ms as i64 + 5_000
    }

    /// Validates the input. Everything that can refuse the request happens here, before the
    /// interaction is deferred; only compare mode reads the store (it needs a persona). What
    /// the request leaves open (persona mode, shape) is settled from the member's `/settings`
    /// by the rewrite stage, after the acknowledgement.
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
        if let Some(blocked) = self.blocked(request.guild, &input.prompt).await? {
            crate::observe::refused(blocked.as_str());
            if let Some(guild) = request.guild {
                if let Err(error) = self.store.count_refusal(guild, blocked).await {
                    tracing::warn!(%error, guild = %guild, "counting a refusal failed");
                }
            }
            tracing::info!(guild = ?request.guild, member = %request.member, reason = blocked.as_str(), "prompt refused by a blocklist");
            return Err(UserError::new("error-prompt-blocked").into());
        }
        if let Some(count) = request.count {
            if !(1..=MAX_IMAGES).contains(&count) {
                return Err(UserError::new("error-count-range")
                    .with_number("max", i64::from(MAX_IMAGES))
                    .into());
            }
        }
        if let Some(model) = &request.model {
            self.check_model_choice(request.guild, model).await?;
        }
        if request.mode == Some(PersonaMode::Compare) {
            // A comparison is one pair of images.
            if request.count.is_some_and(|n| n > 1) {
                return Err(UserError::new("error-compare-count").into());
            }
            let persona = match request.guild {
                Some(guild) => self.store.active_persona(guild, request.member).await?,
                None => None,
            };
            if persona.is_none() {
                return Err(UserError::new("error-compare-needs-persona").into());
            }
        }
        Ok(Prepared { request, input })
    }

    /// Stores the job, to be rewritten by this process: one statement, and nothing else, stands
    /// between the interaction and its acknowledgement. The server's model and the persona are
    /// looked up by the rewrite, after it. A job that could not be acknowledged is dropped with
    /// [`ImagineService::discard`].
    ///
    /// The limits ([`Config::limits`], tightened by the server) are checked by the store in the
    /// same statement; a refusal says when to try again.
    pub async fn accept(&self, prepared: Prepared) -> Result<Accepted, ImagineError> {
        let Prepared { request, input } = prepared;
        let compare = (request.mode == Some(PersonaMode::Compare)).then(|| Compare {
            generic_prompt: input.prompt.clone(),
            persona_side: if rand::random() {
                Side::Left
            } else {
                Side::Right
            },
        });
        // DMs have no persona: their jobs render the prompt as typed.
        let mode = match request.guild {
            Some(_) => request.mode.unwrap_or(PersonaMode::Default),
            None => PersonaMode::Off,
        };
        let one_image = compare.is_some() || request.derive == Some(crate::domain::Derive::Upscale);
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
            // Settled by the rewrite (the server's choice then).
            model: self.config.render.default_model().to_owned(),
            seed: input.seed,
            width: 0,
            height: 0,
            steps: 0,
            attachment_size_limit: request.attachment_size_limit,
            max_attempts: self.config.render.max_attempts,
            channel_nsfw: request.channel_nsfw,
            aspect: request.aspect,
            parent_id: request.parent,
            derive: request.derive,
            compare,
            persona_id: None,
            persona_mode: mode,
            source_cell: request.source_cell,
            // A comparison is one pair; an upscale, one image.
            image_count: if one_image { Some(1) } else { request.count },
            model_choice: request.model.clone(),
        };
        let limits = operator_limits(&self.config);
        let (id, newly_created) = match self
            .store
            .accept(&job, &self.owner, self.rewrite_lease_ms(), &limits)
            .await?
        {
            Acceptance::Accepted { id, newly_created } => (id, newly_created),
            Acceptance::Refused(refusal) => {
                crate::observe::refused(refusal.kind.as_str());
                if let Some(guild) = request.guild {
                    let reason = RefusalReason::Limit(refusal.kind);
                    if let Err(error) = self.store.count_refusal(guild, reason).await {
                        tracing::warn!(%error, guild = %guild, "counting a refusal failed");
                    }
                }
                tracing::info!(guild = ?request.guild, member = %request.member, limit = refusal.kind.as_str(), "job refused by a limit");
                return Err(limit_error(&refusal).into());
            }
        };
        if newly_created {
            tracing::info!(job = %id, mode = mode.as_str(), "job accepted");
        }
        Ok(Accepted {
            job: id,
            newly_created,
            guild: request.guild,
            member: request.member,
            prompt: input.prompt,
            mode,
            aspect: request.aspect,
            model_choice: request.model,
        })
    }

    /// Drops an accepted job whose interaction could not be acknowledged (Discord told the
    /// member the command failed): nothing is rendered for it.
    pub async fn discard(&self, accepted: &Accepted) -> Result<(), StoreError> {
        self.store.discard_job(accepted.job, &self.owner).await
    }

    /// Hands an acknowledged job to the rewrite stage ([`ImagineService::run_rewrite_stage`]),
    /// which rewrites it off the command handler. If the stage is not running, the job's lease
    /// expires and the stage of any bot process takes it over.
    pub fn hand_off(&self, accepted: Accepted) {
        if let Err(unsent) = self.handoff.send(accepted) {
            tracing::warn!(job = %unsent.0.job, "the rewrite stage is not running; the job waits for its lease to expire");
        }
    }

    /// Rewrites an accepted job's prompt (within the rewrite budget) and queues it for a
    /// worker. Nothing happens when this process lost the rewrite lease meanwhile (another bot
    /// process took the job over).
    pub async fn rewrite(&self, accepted: &Accepted) -> Result<(), StoreError> {
        self.rewrite_job(&Pending {
            job: accepted.job,
            guild: accepted.guild,
            member: accepted.member,
            prompt: &accepted.prompt,
            mode: accepted.mode,
            aspect: accepted.aspect,
            model_choice: accepted.model_choice.as_deref(),
        })
        .await
    }

    /// Looks up what the rewrite needs *now* — the server's model and LLM, the member's persona —
    /// rewrites and queues the job.
    async fn rewrite_job(&self, pending: &Pending<'_>) -> Result<(), StoreError> {
        let Pending {
            job,
            guild,
            member,
            prompt,
            mode,
            aspect,
            model_choice,
        } = *pending;
        let settings = match guild {
            Some(guild) => self.store.guild_settings(guild).await?,
            None => GuildSettings::default(),
        };
        // What the member left open, from their `/settings` (read here, after the
        // acknowledgement, not before it).
        let mut default_aspect = None;
        let mode = match guild.filter(|_| mode == PersonaMode::Default || aspect.is_none()) {
            Some(guild) => {
                let defaults = self.store.member_settings(guild, member).await?;
                if aspect.is_none() {
                    default_aspect = defaults.aspect;
                }
                match mode {
                    PersonaMode::Default => defaults
                        .persona_mode
                        .filter(|m| matches!(m, PersonaMode::On | PersonaMode::Off))
                        .unwrap_or(PersonaMode::On),
                    chosen => chosen,
                }
            }
            None if mode == PersonaMode::Default => PersonaMode::On,
            None => mode,
        };
        let persona = match (guild, mode) {
            (Some(guild), PersonaMode::On | PersonaMode::Compare) => {
                self.store.active_persona(guild, member).await?
            }
            _ => None,
        };
        let mut rewritten = self
            .rewrite_prompt(guild, member, prompt, persona.as_ref(), &settings)
            .await?;
        // The member's prompt passed the blocklists; an LLM's rewrite must too, else the prompt
        // is rendered as typed.
        if rewritten.prompt != prompt {
            if let Some(reason) = self.blocked(guild, &rewritten.prompt).await? {
                tracing::info!(job = %job, reason = reason.as_str(), "a rewrite hit a blocklist; rendering the prompt as typed");
                rewritten = Rewritten {
                    prompt: prompt.to_owned(),
                    kind: "unchanged".to_owned(),
                };
            }
        }
        let model = self.settled_model(guild, &settings, model_choice).await?;
        self.finish(
            job,
            &rewritten,
            &model,
            persona.as_ref().map(|p| p.id),
            mode,
            default_aspect,
        )
        .await
    }

    async fn finish(
        &self,
        job: JobId,
        rewritten: &Rewritten,
        model: &str,
        persona_id: Option<i64>,
        persona_mode: PersonaMode,
        default_aspect: Option<crate::domain::Aspect>,
    ) -> Result<(), StoreError> {
        let finished = FinishedRewrite {
            rendered_prompt: &rewritten.prompt,
            rewrite_kind: &rewritten.kind,
            model,
            persona_mode,
            persona_id,
            default_aspect,
        };
        if self
            .store
            .finish_rewrite(job, &self.owner, &finished)
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
        let chosen = settings.llm.as_deref();
        let uses_llm = chosen.unwrap_or(&self.config.rewrite.default_llm) != TEMPLATE;
        let spent = match guild {
            Some(guild) if uses_llm => !self.llm_budget.take(guild, std::time::Instant::now()),
            _ => false,
        };
        let rewriter = if spent {
            self.rewriters.get(Some(TEMPLATE))
        } else {
            self.rewriters.get(chosen)
        };
        let started = std::time::Instant::now();
        let mut rewritten = rewriter
            .rewrite(RewriteRequest {
                prompt: prompt.to_owned(),
                persona: persona.map(|p| p.text.clone()),
                examples,
            })
            .await;
        if spent {
            tracing::info!(guild = ?guild, "the server's LLM budget is spent; template rewrite");
            rewritten.kind = format!("{} (llm budget of this server spent)", rewritten.kind);
        }
        // The backend asked: an operator's catalog name, never member data.
        let backend = chosen
            .unwrap_or(&self.config.rewrite.default_llm)
            .to_owned();
        metrics::histogram!(crate::observe::name::REWRITE_SECONDS, "backend" => backend.clone())
            .record(started.elapsed());
        metrics::counter!(
            crate::observe::name::REWRITES,
            "backend" => backend,
            "outcome" => crate::observe::rewrite_outcome(&rewritten.kind)
        )
        .increment(1);
        Ok(rewritten)
    }

    /// `Some` when the member should be asked for consent (they never answered, in a server
    /// with inference on, and were not asked in the last [`CONSENT_ASK_EVERY`]): how many days of
    /// history consenting would backfill, if any.
    pub async fn consent_question(
        &self,
        guild: Option<GuildId>,
        member: MemberId,
    ) -> Result<Option<Option<u64>>, StoreError> {
        let Some(guild) = guild else {
            return Ok(None);
        };
        if self
            .asked
            .get(&(guild, member))
            .is_some_and(|at| at.elapsed() < CONSENT_ASK_EVERY)
        {
            return Ok(None);
        }
        let settings = self.store.guild_settings(guild).await?;
        if !settings.inference_on() || self.store.consent(guild, member).await?.is_some() {
            return Ok(None);
        }
        if self.asked.len() >= MAX_RECENTLY_ASKED {
            self.asked.clear();
        }
        // Two /imagine at once could both get here: the entry makes the second one stop.
        if let Some(at) = self
            .asked
            .insert((guild, member), std::time::Instant::now())
        {
            if at.elapsed() < CONSENT_ASK_EVERY {
                return Ok(None);
            }
        }
        let days = self.config.ingest.backfill_days;
        Ok(Some((settings.backfill_on() && days > 0).then_some(days)))
    }

    /// The rewrite stage, until `shutdown`: rewrites the jobs handed off by this process's
    /// command handler (at most [`REWRITE_CONCURRENCY`] at once), and takes over the jobs whose
    /// rewrite lease expired — their bot process died after accepting them. `wake` is notified
    /// when a job is queued.
    pub async fn run_rewrite_stage(
        self: Arc<Self>,
        wake: Arc<tokio::sync::Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let Some(mut accepted) = self
            .accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            tracing::error!("the rewrite stage runs once per service");
            return;
        };
        let poll = Duration::from_millis(self.config.render.poll_ms.max(50));
        let mut running = tokio::task::JoinSet::new();
        let mut next_poll = tokio::time::Instant::now();
        while !*shutdown.borrow() {
            if tokio::time::Instant::now() >= next_poll {
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
                next_poll = tokio::time::Instant::now() + poll;
            }
            tokio::select! {
                job = accepted.recv(), if running.len() < REWRITE_CONCURRENCY => {
                    let Some(job) = job else { break };
                    let me = Arc::clone(&self);
                    let wake = Arc::clone(&wake);
                    running.spawn(async move {
                        // A job that waited here past its lease may have been taken over (by
                        // this very stage's recovery): the lease is renewed only if it is still
                        // the one `accept` took, so no rewrite runs twice.
                        match me.store.renew_rewrite(job.job, &me.owner, 1, me.rewrite_lease_ms()).await {
                            Ok(true) => {}
                            Ok(false) => {
                                tracing::info!(job = %job.job, "the job was taken over while it waited; not rewritten twice");
                                return;
                            }
                            Err(error) => {
                                tracing::error!(job = %job.job, %error, "renewing a rewrite lease failed");
                                return;
                            }
                        }
                        match me.rewrite(&job).await {
                            Ok(()) => wake.notify_one(),
                            // The lease expires and the stage takes the job over.
                            Err(error) => tracing::error!(job = %job.job, %error, "rewriting a job failed"),
                        }
                    });
                }
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep_until(next_poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Rewrites in flight finish (each within the rewrite budget); unstarted ones are taken
        // over from their leases by the next bot.
        while running.join_next().await.is_some() {}
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
        if job.rewrite_attempts > MAX_REWRITE_ATTEMPTS {
            tracing::error!(job = %job.id, "rewrite interrupted too often; rendering the prompt as typed");
            let rewritten = Rewritten::unchanged(RewriteRequest {
                prompt: job.prompt.clone(),
                persona: None,
                examples: Vec::new(),
            });
            self.finish(job.id, &rewritten, &job.model, None, PersonaMode::Off, None)
                .await?;
        } else {
            self.recovered(&job).await?;
        }
        Ok(true)
    }

    async fn recovered(&self, job: &RenderJob) -> Result<(), StoreError> {
        self.rewrite_job(&Pending {
            job: job.id,
            guild: job.guild_id,
            member: job.member_id,
            prompt: &job.prompt,
            mode: job.persona_mode,
            aspect: job.aspect,
            model_choice: job.model_choice.as_deref(),
        })
        .await
    }
}

/// The operator's limits (`[limits]`), as the store checks them.
pub fn operator_limits(config: &Config) -> JobLimits {
    let l = &config.limits;
    JobLimits {
        member_active: l.member_active,
        member_hourly: l.member_hourly,
        server_active: l.server_active,
        server_hourly: l.server_hourly,
    }
}

/// The member-facing refusal of a limit: which one, its value, and when to try again.
pub fn limit_error(refusal: &LimitRefusal) -> UserError {
    let id = match refusal.kind {
        LimitKind::MemberActive => "error-limit-member-active",
        LimitKind::MemberHourly => "error-limit-member-hourly",
        LimitKind::ServerActive => "error-limit-server-active",
        LimitKind::ServerHourly => "error-limit-server-hourly",
    };
    // An hourly limit below the count asked for: no wait helps.
    let id = match (refusal.kind.hourly(), refusal.retry_at_ms) {
        (true, None) => "error-limit-count",
        _ => id,
    };
    let error = UserError::new(id).with_number("limit", i64::from(refusal.limit));
    match refusal.retry_at_ms {
        // Discord shows `<t:…:R>` as "in 12 minutes" in the member's own language and clock.
        Some(at) => error.with_text("retry", format!("<t:{}:R>", (at + 999) / 1000)),
        None => error,
    }
}

/// A cached blocklist: when it was (to be) read, and the read shared by concurrent requests.
type BlocklistEntry = (
    std::time::Instant,
    Arc<tokio::sync::OnceCell<Arc<Vec<String>>>>,
);

/// How long a server's blocklist is cached (a change made through another bot process is seen
/// after at most this long; this process's own changes at once).
pub const BLOCKLIST_CACHE: Duration = Duration::from_secs(30);
