//! Compare-mode buttons: "left is better" / "right is better" under a side-by-side render. Only
//! the member who asked may pick, once; the pick is stored (`store::compare`) and the buttons are
//! disabled with the chosen one highlighted.

use poise::serenity_prelude as serenity;

use super::BotData;
use crate::i18n::I18n;
use crate::ids::{JobId, MemberId};
use crate::store::{PickOutcome, Side};

/// Prefix of the buttons' custom ids: `zipp-pick:<job>:<left|right>`.
const PREFIX: &str = "zipp-pick:";

fn custom_id(job: JobId, side: Side) -> String {
    format!("{PREFIX}{}:{}", job.0, side.as_str())
}

/// Parses a pick button's custom id.
fn parse(custom_id: &str) -> Option<(JobId, Side)> {
    let rest = custom_id.strip_prefix(PREFIX)?;
    let (job, side) = rest.split_once(':')?;
    Some((JobId(job.parse().ok()?), Side::parse(side)?))
}

/// The two pick buttons; `picked` disables both and highlights the chosen one.
pub fn buttons(
    i18n: &I18n,
    locale: &str,
    job: JobId,
    picked: Option<Side>,
) -> serenity::CreateActionRow {
    let button = |side: Side, label: &str| {
        let style = if picked == Some(side) {
            serenity::ButtonStyle::Success
        } else {
            serenity::ButtonStyle::Secondary
        };
        serenity::CreateButton::new(custom_id(job, side))
            .label(i18n.tr(locale, label, None))
            .style(style)
            .disabled(picked.is_some())
    };
    serenity::CreateActionRow::Buttons(vec![
        button(Side::Left, "compare-left-better"),
        button(Side::Right, "compare-right-better"),
    ])
}

/// Handles a pick button press; other components are left to other handlers.
pub async fn on_component(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    data: &BotData,
) -> Result<(), serenity::Error> {
    let Some((job, side)) = parse(&component.data.custom_id) else {
        return Ok(());
    };
    let locale = component.locale.as_str();
    let member = MemberId(component.user.id.get());
    let outcome = match data.store.record_pick(job, member, side).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::error!(%job, %error, "recording a compare pick failed");
            return ephemeral(ctx, component, data.i18n.tr(locale, "error-internal", None)).await;
        }
    };
    // The pick row shows the choice; the result's other buttons stay.
    let mut rows = vec![buttons(&data.i18n, locale, job, Some(side))];
    match data.store.job(job).await {
        Ok(Some(found)) => rows.push(super::info::result_row(
            &data.i18n,
            locale,
            &found,
            found.persona_id,
        )),
        Ok(None) => {}
        Err(error) => tracing::warn!(%job, %error, "reading the compared job failed"),
    }
    match outcome {
        PickOutcome::Recorded { persona_won } => {
            tracing::info!(%job, side = side.as_str(), persona_won, "compare pick recorded");
            let response = serenity::CreateInteractionResponse::UpdateMessage(
                serenity::CreateInteractionResponseMessage::new()
                    .components(rows.clone())
                    .allowed_mentions(serenity::CreateAllowedMentions::new()),
            );
            component.create_response(&ctx.http, response).await
        }
        PickOutcome::NotKept { persona_won } => {
            tracing::info!(%job, persona_won, "compare pick shown, not kept (no consent)");
            let response = serenity::CreateInteractionResponse::UpdateMessage(
                serenity::CreateInteractionResponseMessage::new()
                    .components(rows.clone())
                    .allowed_mentions(serenity::CreateAllowedMentions::new()),
            );
            component.create_response(&ctx.http, response).await?;
            component
                .create_followup(
                    &ctx.http,
                    serenity::CreateInteractionResponseFollowup::new()
                        .content(data.i18n.tr(locale, "compare-pick-not-kept", None))
                        .ephemeral(true)
                        .allowed_mentions(serenity::CreateAllowedMentions::new()),
                )
                .await
                .map(|_| ())
        }
        PickOutcome::AlreadyPicked => {
            ephemeral(
                ctx,
                component,
                data.i18n.tr(locale, "compare-already-picked", None),
            )
            .await
        }
        PickOutcome::NotRequester => {
            ephemeral(
                ctx,
                component,
                data.i18n.tr(locale, "compare-not-yours", None),
            )
            .await
        }
        PickOutcome::Unknown => {
            ephemeral(
                ctx,
                component,
                data.i18n.tr(locale, "compare-unknown", None),
            )
            .await
        }
    }
}

async fn ephemeral(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    text: String,
) -> Result<(), serenity::Error> {
    let response = serenity::CreateInteractionResponse::Message(
        serenity::CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    );
    component.create_response(&ctx.http, response).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_ids_round_trip_and_reject_garbage() {
        let id = custom_id(JobId(42), Side::Right);
        assert_eq!(id, "zipp-pick:42:right");
        assert_eq!(parse(&id), Some((JobId(42), Side::Right)));
        for bad in [
            "zipp-pick:",
            "zipp-pick:x:left",
            "zipp-pick:1:up",
            "other:1:left",
            "zipp-pick:1",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
