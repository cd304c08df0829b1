//! `/queue`: the member's own unfinished jobs with their place in the fair queue and an ETA from
//! recent render times of the job's model, each with a Cancel button only its owner can use.
//! Moderators (Manage Server) also see the server's queue length. Every reply is ephemeral.

use poise::serenity_prelude as serenity;

use super::errors::locale;
use super::{BotData, BotError, Context};
use crate::fluent_args;
use crate::i18n::I18n;
use crate::ids::{GuildId, JobId, MemberId};
use crate::store::{JobStatus, Store, StoreError};

/// Prefix of a Cancel button's custom id; the job id follows.
const PREFIX: &str = "zipp:cancel:";
/// The most jobs listed (one row of five buttons each, Discord's limit being five rows).
const MAX_LISTED: i64 = 10;

fn custom_id(job: JobId) -> String {
    format!("{PREFIX}{}", job.0)
}

fn parse(custom_id: &str) -> Option<JobId> {
    Some(JobId(custom_id.strip_prefix(PREFIX)?.parse().ok()?))
}

/// Show your images on the way, with their place in the queue and a Cancel button each.
#[poise::command(slash_command)]
pub async fn queue(ctx: Context<'_>) -> Result<(), BotError> {
    let data = ctx.data();
    let guild = ctx.guild_id().map(|g| GuildId(g.get()));
    let member = MemberId(ctx.author().id.get());
    let moderator = match ctx {
        poise::Context::Application(app) => app
            .interaction
            .member
            .as_ref()
            .and_then(|m| m.permissions)
            .is_some_and(|p| p.manage_guild()),
        poise::Context::Prefix(_) => false,
    };
    let (text, rows) = view(
        &data.store,
        &data.i18n,
        locale(ctx),
        guild,
        member,
        moderator,
    )
    .await?;
    ctx.send(
        poise::CreateReply::default()
            .content(text)
            .components(rows)
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// The reply: one line per job, a Cancel button per job, the server's length for moderators.
async fn view(
    store: &Store,
    i18n: &I18n,
    locale: &str,
    guild: Option<GuildId>,
    member: MemberId,
    moderator: bool,
) -> Result<(String, Vec<serenity::CreateActionRow>), StoreError> {
    let jobs = store.member_queue(guild, member, MAX_LISTED).await?;
    let mut lines = Vec::new();
    if jobs.is_empty() {
        lines.push(i18n.tr(locale, "queue-empty", None));
    }
    let mut buttons = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        let number = index + 1;
        // The prompt as typed, inert (no links, mentions or markup), in a code span.
        let mut prompt: String = crate::text::for_echo(&job.prompt)
            .replace('`', "'")
            .chars()
            .take(60)
            .collect();
        if job.prompt.chars().count() > 60 {
            prompt.push('…');
        }
        let state = match job.status {
            JobStatus::Running => i18n.tr(
                locale,
                "queue-rendering",
                Some(&fluent_args![
                    "step" => job.progress_step,
                    "total" => job.progress_total.max(1),
                ]),
            ),
            _ => {
                let position = store.queue_position(job.id).await?;
                let (mean_ms, busy) = store.render_pace(&job.model).await?;
                match mean_ms {
                    Some(mean) => {
                        // Renders ahead, spread over the workers busy now, each at the
                        // model's recent pace.
                        let workers = busy.max(1);
                        let rounds = position.div_ceil(workers);
                        let eta_s = (rounds as i64 * mean).div_euclid(1000).max(1);
                        let at = crate::store::now_ms().div_euclid(1000) + eta_s;
                        i18n.tr(
                            locale,
                            "queue-waiting-eta",
                            Some(&fluent_args![
                                "position" => position,
                                "eta" => format!("<t:{at}:R>"),
                            ]),
                        )
                    }
                    None => i18n.tr(
                        locale,
                        "queue-waiting",
                        Some(&fluent_args!["position" => position]),
                    ),
                }
            }
        };
        lines.push(format!("{number}. `{prompt}` — {state}"));
        buttons.push(
            serenity::CreateButton::new(custom_id(job.id))
                .label(i18n.tr(
                    locale,
                    "queue-cancel",
                    Some(&fluent_args!["number" => number]),
                ))
                .style(serenity::ButtonStyle::Danger),
        );
    }
    if moderator {
        if let Some(guild) = guild {
            let (here, everywhere) = store.queue_lengths(guild).await?;
            lines.push(i18n.tr(
                locale,
                "queue-server",
                Some(&fluent_args!["here" => here, "everywhere" => everywhere]),
            ));
        }
    }
    let rows = buttons
        .chunks(5)
        .map(|row| serenity::CreateActionRow::Buttons(row.to_vec()))
        .collect();
    Ok((lines.join("\n"), rows))
}

/// Handles a Cancel button; false when the component is not one.
pub async fn on_component(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    data: &BotData,
) -> Result<bool, serenity::Error> {
    let Some(job) = parse(&component.data.custom_id) else {
        return Ok(false);
    };
    let locale = component.locale.as_str();
    let member = MemberId(component.user.id.get());
    let guild = component.guild_id.map(|g| GuildId(g.get()));
    let moderator = component
        .member
        .as_ref()
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.manage_guild());
    let outcome = async {
        // Only the owner: the store cancels a job only for the member it belongs to.
        let cancelled = data.store.cancel_job(job, member).await?;
        let (text, rows) = view(&data.store, &data.i18n, locale, guild, member, moderator).await?;
        Ok::<_, StoreError>((cancelled, text, rows))
    }
    .await;
    let response = match outcome {
        Ok((cancelled, text, rows)) => {
            tracing::info!(%job, %member, cancelled, "cancel button");
            let note = if cancelled {
                data.i18n.tr(locale, "queue-cancelled", None)
            } else {
                data.i18n.tr(locale, "queue-not-cancelled", None)
            };
            serenity::CreateInteractionResponse::UpdateMessage(
                serenity::CreateInteractionResponseMessage::new()
                    .content(format!("{note}\n{text}"))
                    .components(rows)
                    .allowed_mentions(serenity::CreateAllowedMentions::new()),
            )
        }
        Err(error) => {
            tracing::error!(%job, %error, "cancelling a job failed");
            serenity::CreateInteractionResponse::Message(
                serenity::CreateInteractionResponseMessage::new()
                    .content(data.i18n.tr(locale, "error-internal", None))
                    .ephemeral(true)
                    .allowed_mentions(serenity::CreateAllowedMentions::new()),
            )
        }
    };
    component.create_response(&ctx.http, response).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_ids_round_trip_and_reject_garbage() {
        assert_eq!(parse(&custom_id(JobId(42))), Some(JobId(42)));
        assert_eq!(parse("zipp:cancel:x"), None);
        assert_eq!(parse("zipp:pick:1:left"), None);
    }
}
