//! Buttons that make a new image from a result, as a new job linked to the one it came from:
//! **Reroll** (the same prompt, negative prompt, persona mode and shape with a new seed) and,
//! under a result a persona rewrote, **Without persona** (the same seed and shape, the prompt
//! as typed). Only the member who made the image may press them (others get a short private
//! note). A press passes the same checks as `/imagine` (prompt rules, limits) and is stored
//! before it is acknowledged.

use poise::serenity_prelude as serenity;

use super::BotData;
use crate::i18n::I18n;
use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, JobId, MemberId};
use crate::imagine::{ImagineError, ImagineRequest};

/// Prefix of the Reroll button: `zipp-reroll:<job id>`.
const REROLL_PREFIX: &str = "zipp-reroll:";
/// Prefix of the Without persona button: `zipp-plain:<job id>`.
const PLAIN_PREFIX: &str = "zipp-plain:";

/// The Reroll button of result `job`.
pub fn reroll_button(i18n: &I18n, locale: &str, job: JobId) -> serenity::CreateButton {
    serenity::CreateButton::new(format!("{REROLL_PREFIX}{}", job.0))
        .label(i18n.tr(locale, "imagine-reroll-button", None))
        .style(serenity::ButtonStyle::Primary)
}

/// The Without persona button of result `job`.
pub fn plain_button(i18n: &I18n, locale: &str, job: JobId) -> serenity::CreateButton {
    serenity::CreateButton::new(format!("{PLAIN_PREFIX}{}", job.0))
        .label(i18n.tr(locale, "imagine-plain-button", None))
        .style(serenity::ButtonStyle::Secondary)
}

/// Handles the Reroll and Without persona buttons; returns false for other components.
pub async fn on_component(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    data: &BotData,
) -> Result<bool, serenity::Error> {
    let custom_id = component.data.custom_id.as_str();
    let (id, plain) = match (
        custom_id.strip_prefix(REROLL_PREFIX),
        custom_id.strip_prefix(PLAIN_PREFIX),
    ) {
        (Some(id), _) => (id, false),
        (_, Some(id)) => (id, true),
        _ => return Ok(false),
    };
    let locale = component.locale.as_str();
    let member = MemberId(component.user.id.get());
    let private = |text: String| {
        serenity::CreateInteractionResponse::Message(
            serenity::CreateInteractionResponseMessage::new()
                .content(text)
                .ephemeral(true)
                .allowed_mentions(serenity::CreateAllowedMentions::new()),
        )
    };
    let parent = match id.parse::<i64>() {
        Ok(id) => match data.store.job(JobId(id)).await {
            Ok(job) => job,
            Err(error) => {
                tracing::error!(job = id, %member, %error, "Reroll: reading the job failed");
                let text = data.i18n.tr(locale, "error-internal", None);
                component.create_response(&ctx.http, private(text)).await?;
                return Ok(true);
            }
        },
        Err(_) => None,
    };
    let Some(parent) = parent else {
        let text = data.i18n.tr(locale, "imagine-info-gone", None);
        component.create_response(&ctx.http, private(text)).await?;
        return Ok(true);
    };
    if parent.member_id != member {
        let text = data.i18n.tr(locale, "imagine-again-not-yours", None);
        component.create_response(&ctx.http, private(text)).await?;
        return Ok(true);
    }
    let service = &data.imagine;
    let request = ImagineRequest {
        guild: component.guild_id.map(|g| GuildId(g.get())),
        channel: ChannelId(component.channel_id.get()),
        member,
        interaction: InteractionId(component.id.get()),
        application: ApplicationId(component.application_id.get()),
        token: component.token.clone(),
        locale: locale.to_owned(),
        attachment_size_limit: u64::from(component.attachment_size_limit),
        prompt: parent.prompt.clone(),
        negative: Some(parent.negative_prompt.clone()).filter(|n| !n.is_empty()),
        // Without persona: the very image, minus the persona's rewrite.
        seed: plain.then_some(parent.seed as i64),
        mode: Some(if plain {
            crate::imagine::PersonaMode::Off
        } else {
            parent.persona_mode
        }),
        channel_nsfw: super::imagine::age_restricted(
            &ctx.cache,
            component.guild_id,
            component.channel_id,
        ),
        aspect: parent.aspect,
        parent: Some(parent.id),
    };
    // As `/imagine`: everything that can refuse before the acknowledgement, and the job stored
    // before it.
    let accepted = match service.prepare(request).await {
        Ok(prepared) => service.accept(prepared).await,
        Err(error) => Err(error),
    };
    let accepted = match accepted {
        Ok(accepted) => accepted,
        Err(ImagineError::User(user)) => {
            let text = user.localize(&data.i18n, locale);
            component.create_response(&ctx.http, private(text)).await?;
            return Ok(true);
        }
        Err(ImagineError::Store(error)) => {
            tracing::error!(parent = %parent.id, %member, %error, "Reroll: storing the job failed");
            let text = data.i18n.tr(locale, "error-internal", None);
            component.create_response(&ctx.http, private(text)).await?;
            return Ok(true);
        }
    };
    if !accepted.newly_created {
        tracing::info!(job = %accepted.job, "press delivered twice; already accepted");
        return Ok(true);
    }
    // A new public message ("thinking…") that the result then replaces, like `/imagine`'s.
    let deferred = component
        .create_response(
            &ctx.http,
            serenity::CreateInteractionResponse::Defer(
                serenity::CreateInteractionResponseMessage::new(),
            ),
        )
        .await;
    if let Err(error) = deferred {
        if let Err(store_error) = service.discard(&accepted).await {
            tracing::error!(job = %accepted.job, %store_error, "dropping an unacknowledged job failed");
        }
        return Err(error);
    }
    tracing::info!(job = %accepted.job, parent = %parent.id, plain, "new image from a result accepted");
    service.hand_off(accepted);
    Ok(true)
}
