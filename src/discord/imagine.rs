//! `/imagine prompt [seed] [negative]`: validate, defer, rewrite, enqueue, show the queue
//! position. The worker renders; [`super::delivery`] edits progress and posts the image.

use poise::serenity_prelude as serenity;
use serenity::Builder as _;

use super::errors::locale;
use super::{BotError, Context};
use crate::fluent_args;
use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, MemberId};
use crate::imagine::{validate, InputLimits};
use crate::rewrite::RewriteRequest;
use crate::store::NewJob;

/// Render an image from your prompt (texts come from commands/*.ftl).
#[poise::command(slash_command)]
pub async fn imagine(
    ctx: Context<'_>,
    prompt: String,
    #[min = 0]
    #[max = 4294967295.0]
    seed: Option<i64>,
    negative: Option<String>,
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
    // Validation comes before deferring, so a refusal is an ephemeral reply and nothing is queued.
    let input = validate(&prompt, negative.as_deref(), seed, limits, rand::random())?;
    ctx.defer().await?;

    let guild_id = interaction.guild_id.map(|g| GuildId(g.get()));
    let settings = match guild_id {
        Some(guild) => data.store.guild_settings(guild).await?,
        None => Default::default(),
    };
    let model = settings
        .diffusion_model
        .unwrap_or_else(|| config.render.default_model.clone());
    let rewritten = data
        .rewriter
        .rewrite(RewriteRequest {
            prompt: input.prompt.clone(),
            persona: None,
        })
        .await;
    let job = NewJob {
        guild_id,
        channel_id: ChannelId(interaction.channel_id.get()),
        member_id: MemberId(interaction.user.id.get()),
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
    };
    let queued = data.store.enqueue(&job).await?;
    if !queued.newly_created {
        tracing::info!(job = %queued.id, "interaction delivered twice; already queued");
        return Ok(());
    }
    tracing::info!(job = %queued.id, position = queued.position, "job queued");
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
    Ok(())
}
