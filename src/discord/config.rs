//! `/config show|llm|diffusion`: moderators choose the server's models.
//!
//! Visible to members with Manage Server by default (`default_member_permissions`, which servers
//! can re-map) *and* checked on every call (`required_permissions`), because a client can still
//! send the interaction. Every change goes to the audit log with who and when.

use poise::serenity_prelude as serenity;

use super::errors::locale;
use super::{BotError, Context};
use crate::error::UserError;
use crate::fluent_args;
use crate::ids::{GuildId, MemberId};
use crate::store::GuildSetting;

/// Parent of the configuration subcommands (texts come from commands/*.ftl).
#[poise::command(
    slash_command,
    guild_only,
    subcommands("show", "llm", "diffusion", "persona", "backfill"),
    subcommand_required,
    default_member_permissions = "MANAGE_GUILD",
    required_permissions = "MANAGE_GUILD"
)]
pub async fn config(_ctx: Context<'_>) -> Result<(), BotError> {
    Ok(())
}

fn guild(ctx: Context<'_>) -> Result<GuildId, BotError> {
    ctx.guild_id()
        .map(|g| GuildId(g.get()))
        .ok_or_else(|| UserError::new("error-guild-only").into())
}

async fn reply(ctx: Context<'_>, text: String) -> Result<(), BotError> {
    ctx.send(
        poise::CreateReply::default()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// Show this server's settings.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub async fn show(ctx: Context<'_>) -> Result<(), BotError> {
    let data = ctx.data();
    let settings = data.store.guild_settings(guild(ctx)?).await?;
    let on_off = |on: bool| {
        data.i18n.tr(
            locale(ctx),
            if on {
                "config-value-on"
            } else {
                "config-value-off"
            },
            None,
        )
    };
    let persona = on_off(settings.inference_on());
    let backfill = on_off(settings.backfill_on());
    let default = data.i18n.tr(locale(ctx), "config-default", None);
    let text = data.i18n.tr(
        locale(ctx),
        "config-settings",
        Some(&fluent_args![
            "diffusion" => settings.diffusion_model.unwrap_or_else(|| format!("{} ({default})", data.config.render.default_model)),
            "llm" => settings.llm.unwrap_or_else(|| format!("{} ({default})", data.config.rewrite.default_llm)),
            "persona" => persona,
            "backfill" => backfill,
        ]),
    );
    reply(ctx, text).await
}

async fn complete_llm(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    choices(matching(ctx.data().catalog.available_llms(), partial))
}

async fn complete_diffusion(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    choices(matching(ctx.data().catalog.available_diffusion(), partial))
}

fn choices(names: Vec<String>) -> serenity::CreateAutocompleteResponse {
    names.into_iter().fold(
        serenity::CreateAutocompleteResponse::new(),
        |response, name| response.add_string_choice(name.clone(), name),
    )
}

/// Catalog names containing `partial` (case-insensitive), at most Discord's 25 choices.
fn matching<'a>(names: impl Iterator<Item = &'a str>, partial: &str) -> Vec<String> {
    let partial = partial.to_lowercase();
    names
        .filter(|n| n.to_lowercase().contains(&partial))
        .take(25)
        .map(str::to_owned)
        .collect()
}

/// Choose the LLM that rewrites prompts.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub async fn llm(
    ctx: Context<'_>,
    #[autocomplete = "complete_llm"] name: String,
) -> Result<(), BotError> {
    let data = ctx.data();
    if !data.catalog.available_llms().any(|n| n == name) {
        return Err(UserError::new("error-unknown-llm").into());
    }
    change(ctx, GuildSetting::Llm, &name).await?;
    // An embedded model starts loading now rather than on the first member's request.
    data.rewriters.get(Some(&name)).preload();
    Ok(())
}

/// Choose the diffusion model that renders images.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub async fn diffusion(
    ctx: Context<'_>,
    #[autocomplete = "complete_diffusion"] name: String,
) -> Result<(), BotError> {
    let data = ctx.data();
    if !data.catalog.available_diffusion().any(|n| n == name) {
        return Err(UserError::new("error-unknown-diffusion").into());
    }
    change(ctx, GuildSetting::DiffusionModel, &name).await
}

/// Turn persona inference on or off for the whole server.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub async fn persona(ctx: Context<'_>, state: super::persona::Switch) -> Result<(), BotError> {
    let on = state == super::persona::Switch::On;
    change(
        ctx,
        GuildSetting::PersonaInference,
        if on { "on" } else { "off" },
    )
    .await?;
    ctx.data().ingestor.set_inference(guild(ctx)?, on);
    Ok(())
}

/// Let a member's consent also record their recent past activity (or not).
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub async fn backfill(ctx: Context<'_>, state: super::persona::Switch) -> Result<(), BotError> {
    let on = state == super::persona::Switch::On;
    change(
        ctx,
        GuildSetting::HistoryBackfill,
        if on { "on" } else { "off" },
    )
    .await
}

async fn change(ctx: Context<'_>, setting: GuildSetting, name: &str) -> Result<(), BotError> {
    let data = ctx.data();
    let guild = guild(ctx)?;
    let member = MemberId(ctx.author().id.get());
    data.store
        .change_guild_setting(guild, setting, Some(name), member)
        .await?;
    tracing::info!(guild = %guild, member = %member, setting = setting.as_str(), value = name, "server setting changed");
    // Setting names and on/off in the member's language; model names as they are.
    let label = data.i18n.tr(
        locale(ctx),
        match setting {
            GuildSetting::DiffusionModel => "config-name-diffusion",
            GuildSetting::Llm => "config-name-llm",
            GuildSetting::PersonaInference => "config-name-persona",
            GuildSetting::HistoryBackfill => "config-name-backfill",
        },
        None,
    );
    let value = match (setting, name) {
        (GuildSetting::PersonaInference | GuildSetting::HistoryBackfill, "on") => {
            data.i18n.tr(locale(ctx), "config-value-on", None)
        }
        (GuildSetting::PersonaInference | GuildSetting::HistoryBackfill, "off") => {
            data.i18n.tr(locale(ctx), "config-value-off", None)
        }
        _ => name.to_owned(),
    };
    let text = data.i18n.tr(
        locale(ctx),
        "config-changed",
        Some(&fluent_args!["setting" => label, "value" => value]),
    );
    reply(ctx, text).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn autocomplete_filters_and_caps() {
        let names: Vec<String> = (0..40).map(|i| format!("model-{i}")).collect();
        let got = super::matching(names.iter().map(String::as_str), "MODEL-1");
        assert_eq!(got.len(), 11, "{got:?}");
        assert!(super::matching(names.iter().map(String::as_str), "").len() == 25);
        assert!(super::matching(names.iter().map(String::as_str), "nope").is_empty());
    }
}
