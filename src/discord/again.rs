//! Buttons that make a new image from a result, as a new job linked to the one it came from:
//! **Reroll** (the same prompt, negative prompt, persona mode and shape with a new seed),
//! under a result a persona rewrote **Without persona** (the same seed and shape, the prompt
//! as typed), and **Vary (subtle)**, **Vary (strong)** and **Upscale ×2**: img2img from the
//! result's own PNG (see [`Derive`]), with a new seed for a variation and the same one for an
//! upscale. Under a grid of several images, **U1…** and **V1…** do the same from one of them
//! (see [`cell_rows`]). Only the member who made the image may press them (others get a short private
//! note). A press passes the same checks as `/imagine` (prompt rules, limits) and is stored
//! before it is acknowledged.

use poise::serenity_prelude as serenity;

use super::BotData;
use crate::domain::Derive;
use crate::i18n::I18n;
use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, JobId, MemberId};
use crate::imagine::{ImagineError, ImagineRequest};

/// Prefix of the Reroll button: `zipp-reroll:<job id>`.
const REROLL_PREFIX: &str = "zipp-reroll:";
/// Prefix of the Without persona button: `zipp-plain:<job id>`.
const PLAIN_PREFIX: &str = "zipp-plain:";

/// What a press of one of these buttons asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    /// Reroll: a new seed.
    Reroll,
    /// Without persona: the same seed, the prompt as typed.
    Plain,
    /// Vary or Upscale: img2img from the result's image.
    Derive(Derive),
}

/// The custom-id prefix of a derivation's button: `zipp-vary-subtle:<job id>`, ….
fn derive_prefix(derive: Derive) -> String {
    format!("zipp-{}:", derive.as_str())
}

/// What `custom_id` asks for, and the job id text after its prefix.
fn parse(custom_id: &str) -> Option<(Again, &str)> {
    if let Some(id) = custom_id.strip_prefix(REROLL_PREFIX) {
        return Some((Again::Reroll, id));
    }
    if let Some(id) = custom_id.strip_prefix(PLAIN_PREFIX) {
        return Some((Again::Plain, id));
    }
    Derive::ALL.into_iter().find_map(|derive| {
        custom_id
            .strip_prefix(&derive_prefix(derive))
            .map(|id| (Again::Derive(derive), id))
    })
}

/// The Fluent id of a derivation's button label.
pub fn derive_label_key(derive: Derive) -> &'static str {
    match derive {
        Derive::VarySubtle => "imagine-vary-subtle-button",
        Derive::VaryStrong => "imagine-vary-strong-button",
        Derive::Upscale => "imagine-upscale-button",
    }
}

/// The Vary (subtle), Vary (strong) and Upscale buttons of result `job` (not for a
/// side-by-side comparison).
pub fn derive_row(i18n: &I18n, locale: &str, job: JobId) -> serenity::CreateActionRow {
    let buttons = Derive::ALL
        .into_iter()
        .map(|derive| {
            serenity::CreateButton::new(format!("{}{}", derive_prefix(derive), job.0))
                .label(i18n.tr(locale, derive_label_key(derive), None))
                .style(serenity::ButtonStyle::Secondary)
        })
        .collect();
    serenity::CreateActionRow::Buttons(buttons)
}

/// The Fluent id of the label of a derivation's button under one image of a grid (`U1`, `V1`).
fn cell_label_key(derive: Derive) -> &'static str {
    match derive {
        Derive::Upscale => "imagine-upscale-cell-button",
        _ => "imagine-vary-cell-button",
    }
}

/// The buttons under a grid of `count` images, as Midjourney's: a row of Upscale (`U1`…) and a
/// row of Vary (strong) (`V1`…), one per image. A `V` press renders a new grid of variations of
/// that image; a `U` press one image twice its size.
pub fn cell_rows(
    i18n: &I18n,
    locale: &str,
    job: JobId,
    count: u32,
) -> Vec<serenity::CreateActionRow> {
    [Derive::Upscale, Derive::VaryStrong]
        .into_iter()
        .map(|derive| {
            let buttons = (0..count)
                .map(|cell| {
                    serenity::CreateButton::new(format!(
                        "{}{}:{cell}",
                        derive_prefix(derive),
                        job.0
                    ))
                    .label(i18n.tr(
                        locale,
                        cell_label_key(derive),
                        Some(&crate::fluent_args!["n" => cell + 1]),
                    ))
                    .style(serenity::ButtonStyle::Secondary)
                })
                .collect();
            serenity::CreateActionRow::Buttons(buttons)
        })
        .collect()
}

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

/// Handles the Reroll, Without persona, Vary and Upscale buttons; returns false for other
/// components.
pub async fn on_component(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    data: &BotData,
) -> Result<bool, serenity::Error> {
    let arrived = std::time::Instant::now();
    let Some((again, id)) = parse(component.data.custom_id.as_str()) else {
        return Ok(false);
    };
    let plain = again == Again::Plain;
    let derive = match again {
        Again::Derive(derive) => Some(derive),
        Again::Reroll | Again::Plain => None,
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
    // `<job id>`, or `<job id>:<image>` under one image of a grid.
    let (id, cell) = match id.split_once(':') {
        Some((id, cell)) => (id, cell.parse::<u32>().ok()),
        None => (id, None),
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
    if derive.is_some() {
        // img2img needs the result's own image, one picture: not a side-by-side comparison,
        // and not one the retention sweep already deleted.
        let refusal = if parent.compare.is_some()
            || cell.is_some_and(|cell| cell >= parent.image_count)
        {
            Some("imagine-derive-unavailable")
        } else {
            match data.store.has_rendered_image(parent.id).await {
                Ok(true) => None,
                Ok(false) => Some("imagine-derive-gone"),
                Err(error) => {
                    tracing::error!(parent = %parent.id, %member, %error, "Vary/Upscale: reading the image failed");
                    Some("error-internal")
                }
            }
        };
        if let Some(key) = refusal {
            let text = data.i18n.tr(locale, key, None);
            component.create_response(&ctx.http, private(text)).await?;
            return Ok(true);
        }
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
        // Without persona: the very image, minus the persona's rewrite; an upscale redraws the
        // very image larger (one of a grid: that image's own seed).
        seed: (plain || derive.is_some_and(|d| !d.new_seed())).then_some(
            crate::domain::image_seed(parent.seed, cell.filter(|_| derive.is_some()).unwrap_or(0))
                as i64,
        ),
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
        derive,
        source_cell: cell.filter(|_| derive.is_some()),
        // As many as the parent (a V press under a grid makes a grid of variations); an
        // upscale is one image.
        count: Some(parent.image_count),
        // The parent's pick, if the member made one (refused if the server no longer allows it).
        model: parent.model_choice.clone(),
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
    crate::observe::acknowledged("button", arrived);
    tracing::info!(job = %accepted.job, parent = %parent.id, plain, derive = derive.map(Derive::as_str), "new image from a result accepted");
    service.hand_off(accepted);
    Ok(true)
}
