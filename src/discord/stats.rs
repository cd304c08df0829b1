//! `/stats`: the server's persona win rate in compare mode, with a 95% Wilson interval and n —
//! the paper's human-preference figure, measured live on this server — and how many requests the
//! server's rules refused (limits, blocklists), by reason.

use poise::serenity_prelude as serenity;

use super::errors::locale;
use super::{BotError, Context};
use crate::error::UserError;
use crate::fluent_args;
use crate::ids::GuildId;
use crate::store::wilson_interval;

/// Show how often members preferred their persona image (texts come from commands/*.ftl).
#[poise::command(slash_command, guild_only)]
pub async fn stats(ctx: Context<'_>) -> Result<(), BotError> {
    let guild = ctx
        .guild_id()
        .map(|g| GuildId(g.get()))
        .ok_or_else(|| UserError::new("error-guild-only"))?;
    let data = ctx.data();
    let stats = data.store.compare_stats(guild).await?;
    let text = if stats.picks == 0 {
        data.i18n.tr(locale(ctx), "stats-none", None)
    } else {
        let (low, high) = wilson_interval(stats.persona_wins, stats.picks);
        let pct = |x: f64| format!("{:.0}", x * 100.0);
        data.i18n.tr(
            locale(ctx),
            "stats-win-rate",
            Some(&fluent_args![
                "rate" => pct(stats.persona_wins as f64 / stats.picks as f64),
                "low" => pct(low),
                "high" => pct(high),
                "wins" => stats.persona_wins,
                "n" => stats.picks,
            ]),
        )
    };
    let refusals = data.store.refusal_counts(guild).await?;
    let text = if refusals.is_empty() {
        text
    } else {
        let total: u64 = refusals.iter().map(|(_, n)| n).sum();
        let by = |reasons: &[&str]| -> u64 {
            refusals
                .iter()
                .filter(|(r, _)| reasons.contains(&r.as_str()))
                .map(|(_, n)| n)
                .sum()
        };
        let line = data.i18n.tr(
            locale(ctx),
            "stats-refusals",
            Some(&fluent_args![
                "total" => total,
                "limits" => by(&["member_active", "member_hourly", "server_active", "server_hourly"]),
                "blocklist" => by(&["blocklist"]),
                "builtin" => by(&["blocklist_builtin"]),
                "safety" => by(&["safety"]),
            ]),
        );
        format!("{text}\n{line}")
    };
    ctx.send(
        poise::CreateReply::default()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}
