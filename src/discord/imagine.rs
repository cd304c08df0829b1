//! `/imagine prompt [seed] [negative] [persona]`: validate, defer, rewrite for the member's
//! persona with the server's LLM, enqueue, show the queue position. The worker renders;
//! [`super::delivery`] edits progress and posts the image.
//!
//! `persona:compare` renders the generic prompt and the persona prompt with the same seed, side
//! by side in one image; the side of the persona image is random and recorded, and the member's
//! pick (see [`super::compare`]) feeds the server's win rate and their few-shot examples.

use poise::serenity_prelude as serenity;
use serenity::Builder as _;

use super::errors::locale;
use super::{BotError, Context};
use crate::error::UserError;
use crate::fluent_args;
use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, MemberId};
use crate::imagine::{validate, InputLimits};
use crate::rewrite::prompt::Example;
use crate::rewrite::RewriteRequest;
use crate::store::{Compare, NewJob, Side};

/// Whether the member's persona conditions the render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poise::ChoiceParameter)]
pub enum PersonaMode {
    /// Rewrite the prompt for the persona (the default).
    #[name = "on"]
    On,
    /// Render the prompt as typed.
    #[name = "off"]
    Off,
    /// Render both, side by side, and let the member pick.
    #[name = "compare"]
    Compare,
}

/// Render an image from your prompt (texts come from commands/*.ftl).
#[poise::command(slash_command)]
pub async fn imagine(
    ctx: Context<'_>,
    prompt: String,
    #[min = 0]
    #[max = 4294967295.0]
    seed: Option<i64>,
    negative: Option<String>,
    persona: Option<PersonaMode>,
) -> Result<(), BotError> {
    let poise::Context::Application(app) = ctx else {
        return Ok(());
    };
    let interaction = app.interaction;
    let data = ctx.data();
    let config = &data.config;
    let limits = InputLimits {
        max_prompt_chars: config.render.max_prompt_chars,
        max_negative_chars: config.render.max_negative_chars,
    };
    let mode = persona.unwrap_or(PersonaMode::On);
    // Validation comes before deferring, so a refusal is an ephemeral reply and nothing is queued.
    let input = validate(&prompt, negative.as_deref(), seed, limits, rand::random())?;
    let guild_id = interaction.guild_id.map(|g| GuildId(g.get()));
    let member_id = MemberId(interaction.user.id.get());
    // Personas belong to a member *in a server*; DMs render the prompt as typed.
    let persona = match (guild_id, mode) {
        (Some(guild), PersonaMode::On | PersonaMode::Compare) => {
            data.store.active_persona(guild, member_id).await?
        }
        _ => None,
    };
    if mode == PersonaMode::Compare && persona.is_none() {
        return Err(UserError::new("error-compare-needs-persona").into());
    }
    ctx.defer().await?;

    let settings = match guild_id {
        Some(guild) => data.store.guild_settings(guild).await?,
        None => Default::default(),
    };
    let settings_inference_on = settings.inference_on();
    let settings_backfill = settings.backfill_on() && config.ingest.backfill_days > 0;
    let model = settings
        .diffusion_model
        .unwrap_or_else(|| config.render.default_model.clone());
    let examples = match (guild_id, &persona) {
        (Some(guild), Some(_)) if config.rewrite.few_shot > 0 => data
            .store
            .preferred_rewrites(guild, member_id, config.rewrite.few_shot)
            .await?
            .into_iter()
            .map(|(prompt, rewrite)| Example::new(prompt, rewrite))
            .collect(),
        _ => Vec::new(),
    };
    let rewriter = data.rewriters.get(settings.llm.as_deref());
    let rewritten = rewriter
        .rewrite(RewriteRequest {
            prompt: input.prompt.clone(),
            persona: persona.as_ref().map(|p| p.text.clone()),
            examples,
        })
        .await;
    let compare = (mode == PersonaMode::Compare).then(|| Compare {
        generic_prompt: input.prompt.clone(),
        persona_side: if rand::random() {
            Side::Left
        } else {
            Side::Right
        },
    });
    let job = NewJob {
        guild_id,
        channel_id: ChannelId(interaction.channel_id.get()),
        member_id,
        interaction_id: InteractionId(interaction.id.get()),
        application_id: ApplicationId(interaction.application_id.get()),
        interaction_token: interaction.token.clone(),
        locale: locale(ctx).to_owned(),
        prompt: input.prompt,
        rendered_prompt: rewritten.prompt,
        rewrite_kind: rewritten.kind,
        negative_prompt: input.negative_prompt,
        model,
        seed: input.seed,
        width: 0,
        height: 0,
        steps: 0,
        attachment_size_limit: u64::from(interaction.attachment_size_limit),
        max_attempts: config.render.max_attempts,
        compare,
        persona_id: persona.as_ref().map(|p| p.id),
    };
    let queued = data.store.enqueue(&job).await?;
    if !queued.newly_created {
        tracing::info!(job = %queued.id, "interaction delivered twice; already queued");
        return Ok(());
    }
    tracing::info!(job = %queued.id, position = queued.position, kind = %job.rewrite_kind, compare = job.compare.is_some(), "job queued");
    let text = data.i18n.tr(
        locale(ctx),
        "imagine-queued",
        Some(&fluent_args!["position" => queued.position]),
    );
    serenity::EditInteractionResponse::new()
        .content(text)
        .allowed_mentions(serenity::CreateAllowedMentions::new())
        .execute(ctx.http(), &interaction.token)
        .await?;
    data.wake_workers.notify_one();

    // First /imagine in this server: ask (once) whether zipp may learn from their activity.
    if let Some(guild) = guild_id {
        if settings_inference_on && data.store.consent(guild, member_id).await?.is_none() {
            let backfill_days = settings_backfill.then_some(config.ingest.backfill_days);
            let (text, row) =
                super::persona::consent_prompt(&data.i18n, locale(ctx), backfill_days);
            serenity::CreateInteractionResponseFollowup::new()
                .content(text)
                .components(vec![row])
                .ephemeral(true)
                .allowed_mentions(serenity::CreateAllowedMentions::new())
                .execute(ctx.http(), (None, &interaction.token))
                .await?;
        }
    }
    Ok(())
}
