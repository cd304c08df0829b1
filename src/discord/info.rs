//! The Info button of every `/imagine` result: how the image was made (model, seed, steps,
//! size, the prompt as typed and as rendered, the negative prompt, the persona version — never
//! the persona's text), shown privately to the member who made it.

use poise::serenity_prelude as serenity;

use super::delivery::what_ran;
use super::BotData;
use crate::fluent_args;
use crate::i18n::I18n;
use crate::ids::{JobId, MemberId};
use crate::store::RenderJob;
use crate::text::for_echo;

/// The most characters of each text (prompt, rendered prompt, negative prompt) Info shows.
const MAX_SHOWN: usize = 500;

/// Prefix of the button: `zipp-info:<job id>`.
const INFO_PREFIX: &str = "zipp-info:";

/// The buttons under result `job`: Reroll, Info, and, when a persona (`persona`) changed the
/// prompt, Without persona and the one that opens the persona.
pub fn result_row(
    i18n: &I18n,
    locale: &str,
    job: &RenderJob,
    persona: Option<i64>,
) -> serenity::CreateActionRow {
    let mut buttons = vec![
        super::again::reroll_button(i18n, locale, job.id),
        serenity::CreateButton::new(format!("{INFO_PREFIX}{}", job.id.0))
            .label(i18n.tr(locale, "imagine-info-button", None))
            .style(serenity::ButtonStyle::Secondary),
    ];
    if let Some(id) = persona {
        if job.rendered_prompt != job.prompt {
            buttons.push(super::again::plain_button(i18n, locale, job.id));
        }
        buttons.push(super::persona::open_button(i18n, locale, id));
    }
    serenity::CreateActionRow::Buttons(buttons)
}

/// Handles the Info button; returns false for other components.
pub async fn on_component(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    data: &BotData,
) -> Result<bool, serenity::Error> {
    let Some(id) = component.data.custom_id.strip_prefix(INFO_PREFIX) else {
        return Ok(false);
    };
    let locale = component.locale.as_str();
    let member = MemberId(component.user.id.get());
    let text = match id.parse::<i64>() {
        Ok(id) => match info(data, locale, JobId(id), member).await {
            Ok(text) => text,
            Err(error) => {
                tracing::error!(job = id, %member, error = ?error, "the Info button failed");
                data.i18n.tr(locale, "error-internal", None)
            }
        },
        Err(_) => data.i18n.tr(locale, "imagine-info-gone", None),
    };
    component
        .create_response(
            &ctx.http,
            serenity::CreateInteractionResponse::Message(
                serenity::CreateInteractionResponseMessage::new()
                    .content(text)
                    .ephemeral(true)
                    .allowed_mentions(serenity::CreateAllowedMentions::new()),
            ),
        )
        .await?;
    Ok(true)
}

/// The details of job `id` for `member` (a short refusal when it is not theirs or gone).
async fn info(
    data: &BotData,
    locale: &str,
    id: JobId,
    member: MemberId,
) -> Result<String, crate::store::StoreError> {
    let t = |key: &str| data.i18n.tr(locale, key, None);
    let Some(job) = data.store.job(id).await? else {
        return Ok(t("imagine-info-gone"));
    };
    if job.member_id != member {
        return Ok(t("imagine-info-not-yours"));
    }
    // The image may be gone (images are kept for less long than jobs): its size then comes
    // from the job alone.
    let image = data.store.rendered_image(id).await?;
    let (steps, width, height) = what_ran(&job, image.as_ref());
    let persona = match job.persona_id {
        Some(pid) => match data.store.persona(pid).await? {
            Some(p) => super::persona::version_label(&data.i18n, locale, &p),
            None => t("imagine-info-none"),
        },
        None => t("imagine-info-none"),
    };
    // Within Discord's 2000 characters: three texts of at most 500.
    let shown = |text: &str| {
        if text.is_empty() {
            return t("imagine-info-none");
        }
        let text = for_echo(text).replace('`', "'");
        let cut: String = text.chars().take(MAX_SHOWN).collect();
        let more = if cut.len() < text.len() { "…" } else { "" };
        format!("`{cut}`{more}")
    };
    let mut text = data.i18n.tr(
        locale,
        "imagine-info",
        Some(&fluent_args![
            "model" => for_echo(&job.model),
            // A grid's images take the seeds that follow the first.
            "seed" => super::delivery::seeds(&job),
            "steps" => steps,
            "width" => width,
            "height" => height,
            "prompt" => shown(&job.prompt),
            "rendered" => shown(&job.rendered_prompt),
            "negative" => shown(&job.negative_prompt),
            "persona" => persona,
        ]),
    );
    // A Vary or Upscale result: the image it was made from, and how.
    if let (Some(derive), Some(parent)) = (job.derive, job.parent_id) {
        let how = t(super::again::derive_label_key(derive));
        text.push('\n');
        text.push_str(&data.i18n.tr(
            locale,
            "imagine-info-derived",
            Some(&fluent_args![
                // Which image of the parent's grid, when it came from one.
                "parent" => match job.source_cell {
                    Some(cell) => format!("#{} ({})", parent.0, cell + 1),
                    None => format!("#{}", parent.0),
                },
                "how" => how
            ]),
        ));
    }
    Ok(text)
}
