//! `/imagine prompt [seed] [negative] [persona]`, shaped as the product: convert the interaction
//! → [`ImagineService::prepare`] (validation, persona, settings; refusals are ephemeral) →
//! [`ImagineService::accept`] (the durable job) → defer → reply with the queue position →
//! [`ImagineService::rewrite`] (the persona rewrite; the job is queued for a worker). The worker
//! renders; [`super::delivery`] edits progress into the deferred response and then the image.
//!
//! `persona:compare` renders the generic prompt and the persona prompt with the same seed, side
//! by side in one image; the side of the persona image is random and recorded, and the member's
//! pick (see [`super::compare`]) feeds the server's win rate and their few-shot examples.

use poise::serenity_prelude as serenity;
use serenity::Builder as _;

use super::errors::locale;
use super::{BotError, Context};
use crate::fluent_args;
use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, MemberId};
use crate::imagine::ImagineRequest;

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

impl From<PersonaMode> for crate::imagine::PersonaMode {
    fn from(mode: PersonaMode) -> Self {
        match mode {
            PersonaMode::On => Self::On,
            PersonaMode::Off => Self::Off,
            PersonaMode::Compare => Self::Compare,
        }
    }
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
    let service = &data.imagine;
    let request = ImagineRequest {
        guild: interaction.guild_id.map(|g| GuildId(g.get())),
        channel: ChannelId(interaction.channel_id.get()),
        member: MemberId(interaction.user.id.get()),
        interaction: InteractionId(interaction.id.get()),
        application: ApplicationId(interaction.application_id.get()),
        token: interaction.token.clone(),
        locale: locale(ctx).to_owned(),
        attachment_size_limit: u64::from(interaction.attachment_size_limit),
        prompt,
        negative,
        seed,
        mode: persona.map(Into::into).unwrap_or_default(),
    };
    // Everything that can refuse comes before deferring: a refusal is an ephemeral reply and
    // nothing is stored.
    let prepared = service.prepare(request).await?;
    // Durable before acknowledged: once Discord has the deferral, the job exists, and a bot
    // killed at any later instant (or another bot process) finishes it.
    let accepted = service.accept(prepared).await?;
    if !accepted.newly_created {
        tracing::info!(job = %accepted.job, "interaction delivered twice; already accepted");
        return Ok(());
    }
    if let Err(error) = ctx.defer().await {
        // Discord showed the member that the command failed: render nothing for it.
        if let Err(store_error) = service.discard(&accepted).await {
            tracing::error!(job = %accepted.job, %store_error, "dropping an unacknowledged job failed");
        }
        return Err(error.into());
    }
    // The queue position is news, not the job: a failure here must not stop the rewrite.
    let queued = async {
        let position = service.position(&accepted).await?;
        let text = data.i18n.tr(
            locale(ctx),
            "imagine-queued",
            Some(&fluent_args!["position" => position]),
        );
        serenity::EditInteractionResponse::new()
            .content(text)
            .allowed_mentions(serenity::CreateAllowedMentions::new())
            .execute(ctx.http(), &interaction.token)
            .await?;
        Ok::<_, BotError>(())
    };
    if let Err(error) = queued.await {
        tracing::warn!(job = %accepted.job, %error, "showing the queue position failed");
    }
    service.rewrite(&accepted).await?;
    data.wake_workers.notify_one();

    if let Some(backfill_days) = service.consent_question(&accepted).await? {
        let (text, row) = super::persona::consent_prompt(&data.i18n, locale(ctx), backfill_days);
        serenity::CreateInteractionResponseFollowup::new()
            .content(text)
            .components(vec![row])
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new())
            .execute(ctx.http(), (None, &interaction.token))
            .await?;
    }
    Ok(())
}
