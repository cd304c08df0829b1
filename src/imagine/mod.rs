//! `/imagine` as the product does it, independent of Discord: [`ImagineService::prepare`]
//! validates the input and finds the member's persona (a refusal here comes before the
//! deferral, so it is ephemeral and nothing is stored); after the deferral,
//! [`ImagineService::submit`] is the one call that rewrites the prompt for the persona with the
//! server's LLM and stores the job. The Discord layer only converts ids, defers and replies.

mod validate;

use std::sync::Arc;

pub use validate::{validate, ImagineInput, InputLimits, MAX_SEED};

use crate::config::Config;
use crate::error::UserError;
use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, JobId, MemberId};
use crate::rewrite::prompt::Example;
use crate::rewrite::registry::Rewriters;
use crate::rewrite::RewriteRequest;
use crate::store::{Compare, NewJob, Persona, Side, Store, StoreError};

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

/// A request that passed validation, with the persona it will use.
pub struct Prepared {
    request: ImagineRequest,
    input: ImagineInput,
    persona: Option<Persona>,
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

/// The stored job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    /// The job.
    pub job: JobId,
    /// 1-based place in the queue.
    pub position: u64,
    /// False when this interaction was already stored (Discord delivered it twice).
    pub newly_created: bool,
    /// `Some` when the member should be asked for consent (their first `/imagine` in a server
    /// with inference on): how many days of history consenting would backfill, if any.
    pub ask_consent: Option<Option<u64>>,
}

/// `/imagine`'s core: settings, persona, rewrite and the durable job.
pub struct ImagineService {
    store: Store,
    rewriters: Arc<Rewriters>,
    config: Arc<Config>,
}

impl ImagineService {
    /// A service over the bot's store, rewriters and configuration.
    pub fn new(store: Store, rewriters: Arc<Rewriters>, config: Arc<Config>) -> Self {
        Self {
            store,
            rewriters,
            config,
        }
    }

    /// Validates the input and looks up the persona. Everything that can refuse the request
    /// happens here, before the interaction is deferred.
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
        Ok(Prepared {
            request,
            input,
            persona,
        })
    }

    /// Rewrites the prompt for the persona (within the rewrite budget) and stores the job.
    pub async fn submit(&self, prepared: Prepared) -> Result<Submitted, StoreError> {
        let Prepared {
            request,
            input,
            persona,
        } = prepared;
        let config = &self.config;
        let settings = match request.guild {
            Some(guild) => self.store.guild_settings(guild).await?,
            None => Default::default(),
        };
        let inference_on = settings.inference_on();
        let backfill = settings.backfill_on() && config.ingest.backfill_days > 0;
        let model = settings
            .diffusion_model
            .unwrap_or_else(|| config.render.default_model.clone());
        let examples = match (request.guild, &persona) {
            (Some(guild), Some(_)) if config.rewrite.few_shot > 0 => self
                .store
                .preferred_rewrites(guild, request.member, config.rewrite.few_shot)
                .await?
                .into_iter()
                .map(|(prompt, rewrite)| Example::new(prompt, rewrite))
                .collect(),
            _ => Vec::new(),
        };
        let rewriter = self.rewriters.get(settings.llm.as_deref());
        let rewritten = rewriter
            .rewrite(RewriteRequest {
                prompt: input.prompt.clone(),
                persona: persona.as_ref().map(|p| p.text.clone()),
                examples,
            })
            .await;
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
            prompt: input.prompt,
            rendered_prompt: rewritten.prompt,
            rewrite_kind: rewritten.kind,
            negative_prompt: input.negative_prompt,
            model,
            seed: input.seed,
            width: 0,
            height: 0,
            steps: 0,
            attachment_size_limit: request.attachment_size_limit,
            max_attempts: config.render.max_attempts,
            compare,
            persona_id: persona.as_ref().map(|p| p.id),
        };
        let queued = self.store.enqueue(&job).await?;
        if queued.newly_created {
            tracing::info!(job = %queued.id, position = queued.position, kind = %job.rewrite_kind, compare = job.compare.is_some(), "job queued");
        }
        // First /imagine in this server: the member is asked (once) whether zipp may learn
        // from their activity.
        let ask_consent = match request.guild {
            Some(guild)
                if queued.newly_created
                    && inference_on
                    && self.store.consent(guild, request.member).await?.is_none() =>
            {
                Some(backfill.then_some(config.ingest.backfill_days))
            }
            _ => None,
        };
        Ok(Submitted {
            job: queued.id,
            position: queued.position,
            newly_created: queued.newly_created,
            ask_consent,
        })
    }
}
