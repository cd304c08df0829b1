//! `/config show|llm|diffusion|persona|backfill|limits|blocklist|nsfw|metadata|audit`: moderators choose the
//! server's models and rules, and see who changed what.
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
use crate::store::{GuildSetting, LimitKind};

/// Parent of the configuration subcommands (texts come from commands/*.ftl).
#[poise::command(
    slash_command,
    guild_only,
    subcommands(
        "show",
        "llm",
        "diffusion",
        "persona",
        "backfill",
        "limits",
        "blocklist",
        "nsfw",
        "metadata",
        "audit"
    ),
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
    let metadata = on_off(settings.metadata_on());
    let default = data.i18n.tr(locale(ctx), "config-default", None);
    let choices = data.imagine.allowed_models(Some(guild(ctx)?)).await?;
    let text = data.i18n.tr(
        locale(ctx),
        "config-settings",
        Some(&fluent_args![
            "diffusion" => settings.diffusion_model.unwrap_or_else(|| format!("{} ({default})", data.config.render.default_model())),
            "llm" => settings.llm.unwrap_or_else(|| format!("{} ({default})", data.config.rewrite.default_llm)),
            "persona" => persona,
            "backfill" => backfill,
            "metadata" => metadata,
            "choices" => choices.join(", "),
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

/// What `/config diffusion` does with the model it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poise::ChoiceParameter)]
pub enum ModelRole {
    /// The server's model: it renders unless a member picks another (the default).
    #[name = "default"]
    Default,
    /// Members may also pick it with `/imagine model`.
    #[name = "allow"]
    Allow,
    /// Members may no longer pick it.
    #[name = "remove"]
    Remove,
}

/// Choose the diffusion model that renders images, and the ones members may pick.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub async fn diffusion(
    ctx: Context<'_>,
    #[autocomplete = "complete_diffusion"] name: String,
    role: Option<ModelRole>,
) -> Result<(), BotError> {
    let data = ctx.data();
    let role = role.unwrap_or(ModelRole::Default);
    // A model no longer in the catalog may still be taken off the list.
    if role != ModelRole::Remove && !data.catalog.available_diffusion().any(|n| n == name) {
        return Err(UserError::new("error-unknown-diffusion").into());
    }
    if role == ModelRole::Default {
        return change(ctx, GuildSetting::DiffusionModel, &name).await;
    }
    let guild = guild(ctx)?;
    let member = MemberId(ctx.author().id.get());
    let allow = role == ModelRole::Allow;
    let changed = data
        .store
        .set_diffusion_allowed(guild, &name, allow, member)
        .await?;
    tracing::info!(guild = %guild, member = %member, model = %name, allow, changed, "models members may pick changed");
    let models = data.imagine.allowed_models(Some(guild)).await?;
    let text = data.i18n.tr(
        locale(ctx),
        "config-diffusion-choices",
        Some(&fluent_args!["models" => models.join(", ")]),
    );
    reply(ctx, text).await
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

/// What an image the safety check flagged does in an age-restricted channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poise::ChoiceParameter)]
pub enum NsfwChoice {
    /// Not posted (the default).
    #[name = "block"]
    Block,
    /// Posted behind a spoiler.
    #[name = "spoiler"]
    Spoiler,
    /// Posted.
    #[name = "allow"]
    Allow,
}

/// Choose what flagged images do in age-restricted channels (never posted elsewhere).
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub async fn nsfw(ctx: Context<'_>, policy: NsfwChoice) -> Result<(), BotError> {
    let value = match policy {
        NsfwChoice::Block => "block",
        NsfwChoice::Spoiler => "spoiler",
        NsfwChoice::Allow => "allow",
    };
    change(ctx, GuildSetting::NsfwPolicy, value).await
}

/// Write each image's seed, model, steps, size and prompt (as typed) into its PNG, or not.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub async fn metadata(ctx: Context<'_>, state: super::persona::Switch) -> Result<(), BotError> {
    let on = state == super::persona::Switch::On;
    change(
        ctx,
        GuildSetting::PngMetadata,
        if on { "on" } else { "off" },
    )
    .await
}

fn limit_label(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::MemberActive => "config-name-member-active",
        LimitKind::MemberHourly => "config-name-member-hourly",
        LimitKind::ServerActive => "config-name-server-active",
        LimitKind::ServerHourly => "config-name-server-hourly",
    }
}

/// Tighten this server's limits on /imagine (never above the operator's).
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub async fn limits(
    ctx: Context<'_>,
    #[min = 1] member_active: Option<u32>,
    #[min = 1] member_hourly: Option<u32>,
    #[min = 1] server_active: Option<u32>,
    #[min = 1] server_hourly: Option<u32>,
) -> Result<(), BotError> {
    let data = ctx.data();
    let guild = guild(ctx)?;
    let member = MemberId(ctx.author().id.get());
    let operator = crate::imagine::operator_limits(&data.config);
    for (kind, value) in [
        (LimitKind::MemberActive, member_active),
        (LimitKind::MemberHourly, member_hourly),
        (LimitKind::ServerActive, server_active),
        (LimitKind::ServerHourly, server_hourly),
    ] {
        let Some(value) = value else { continue };
        if value == 0 || value > kind.of(operator) {
            return Err(UserError::new("error-limit-above-operator")
                .with_number("max", i64::from(kind.of(operator)))
                .into());
        }
        data.store
            .change_guild_setting(
                guild,
                GuildSetting::Limit(kind),
                Some(&value.to_string()),
                member,
            )
            .await?;
        tracing::info!(guild = %guild, member = %member, limit = kind.as_str(), value, "server limit changed");
    }
    let now = data.store.guild_limits(Some(guild), &operator).await?;
    let text = data.i18n.tr(
        locale(ctx),
        "config-limits-now",
        Some(&fluent_args![
            "member_active" => now.member_active,
            "member_hourly" => now.member_hourly,
            "server_active" => now.server_active,
            "server_hourly" => now.server_hourly,
        ]),
    );
    reply(ctx, text).await
}

/// Words and phrases this server refuses in prompts.
#[poise::command(
    slash_command,
    guild_only,
    subcommands("blocklist_add", "blocklist_remove", "blocklist_list"),
    subcommand_required,
    required_permissions = "MANAGE_GUILD"
)]
pub async fn blocklist(_ctx: Context<'_>) -> Result<(), BotError> {
    Ok(())
}

/// Refuse prompts holding this word or phrase.
#[poise::command(
    slash_command,
    guild_only,
    rename = "add",
    required_permissions = "MANAGE_GUILD"
)]
pub async fn blocklist_add(ctx: Context<'_>, phrase: String) -> Result<(), BotError> {
    let data = ctx.data();
    let guild = guild(ctx)?;
    let member = MemberId(ctx.author().id.get());
    let added = data.imagine.block(guild, &phrase, member).await?;
    tracing::info!(guild = %guild, member = %member, added, "blocklist add");
    let id = if added {
        "config-blocklist-added"
    } else {
        "config-blocklist-already"
    };
    reply(ctx, data.i18n.tr(locale(ctx), id, None)).await
}

/// Stop refusing prompts holding this word or phrase.
#[poise::command(
    slash_command,
    guild_only,
    rename = "remove",
    required_permissions = "MANAGE_GUILD"
)]
pub async fn blocklist_remove(ctx: Context<'_>, phrase: String) -> Result<(), BotError> {
    let data = ctx.data();
    let guild = guild(ctx)?;
    let member = MemberId(ctx.author().id.get());
    let removed = data.imagine.unblock(guild, &phrase, member).await?;
    tracing::info!(guild = %guild, member = %member, removed, "blocklist remove");
    let id = if removed {
        "config-blocklist-removed"
    } else {
        "config-blocklist-absent"
    };
    reply(ctx, data.i18n.tr(locale(ctx), id, None)).await
}

/// Show this server's blocklist.
#[poise::command(
    slash_command,
    guild_only,
    rename = "list",
    required_permissions = "MANAGE_GUILD"
)]
pub async fn blocklist_list(ctx: Context<'_>) -> Result<(), BotError> {
    let data = ctx.data();
    let list = data.store.blocklist(guild(ctx)?).await?;
    let text = if list.is_empty() {
        data.i18n.tr(locale(ctx), "config-blocklist-empty", None)
    } else {
        // Code spans: a phrase is shown as typed, never as a link or a mention.
        let phrases = list
            .iter()
            .map(|p| format!("`{}`", p.replace('`', "'")))
            .collect::<Vec<_>>()
            .join(", ");
        let text = data.i18n.tr(
            locale(ctx),
            "config-blocklist-shown",
            Some(&fluent_args!["count" => list.len(), "phrases" => phrases]),
        );
        truncate(text)
    };
    reply(ctx, text).await
}

/// The most entries `/config audit` shows.
pub const AUDIT_ENTRIES: i64 = 15;

/// Show the latest changes to this server's settings: who, what, when.
#[poise::command(slash_command, guild_only, required_permissions = "MANAGE_GUILD")]
pub async fn audit(ctx: Context<'_>) -> Result<(), BotError> {
    let data = ctx.data();
    let entries = data.store.config_audit(guild(ctx)?, AUDIT_ENTRIES).await?;
    if entries.is_empty() {
        let text = data.i18n.tr(locale(ctx), "config-audit-empty", None);
        return reply(ctx, text).await;
    }
    let default = data.i18n.tr(locale(ctx), "config-default", None);
    let shown = |value: &Option<String>| match value {
        Some(v) => format!("`{}`", v.replace('`', "'")),
        None => default.clone(),
    };
    let mut lines = vec![data.i18n.tr(locale(ctx), "config-audit-title", None)];
    for entry in &entries {
        // A forgotten member's id was replaced by 0.
        let who = if entry.member_id.0 == 0 {
            data.i18n.tr(locale(ctx), "config-audit-someone", None)
        } else {
            format!("<@{}>", entry.member_id.0)
        };
        lines.push(data.i18n.tr(
            locale(ctx),
            "config-audit-entry",
            Some(&fluent_args![
                "when" => format!("<t:{}:f>", entry.changed_at / 1000),
                "who" => who,
                "setting" => entry.setting.clone(),
                "old" => shown(&entry.old_value),
                "new" => shown(&entry.new_value),
            ]),
        ));
    }
    reply(ctx, truncate(lines.join("\n"))).await
}

/// Discord's 2000-character limit on a message, cut at a line or comma.
fn truncate(text: String) -> String {
    const MAX: usize = 1990;
    if text.chars().count() <= MAX {
        return text;
    }
    let cut: String = text.chars().take(MAX).collect();
    let end = cut.rfind(['\n', ',']).unwrap_or(cut.len());
    format!("{}…", &cut[..end])
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
            GuildSetting::Limit(kind) => limit_label(kind),
            GuildSetting::NsfwPolicy => "config-name-nsfw",
            GuildSetting::PngMetadata => "config-name-metadata",
        },
        None,
    );
    let value = match (setting, name) {
        (
            GuildSetting::PersonaInference
            | GuildSetting::HistoryBackfill
            | GuildSetting::PngMetadata,
            "on",
        ) => data.i18n.tr(locale(ctx), "config-value-on", None),
        (
            GuildSetting::PersonaInference
            | GuildSetting::HistoryBackfill
            | GuildSetting::PngMetadata,
            "off",
        ) => data.i18n.tr(locale(ctx), "config-value-off", None),
        (GuildSetting::NsfwPolicy, policy) => {
            data.i18n
                .tr(locale(ctx), &format!("config-value-nsfw-{policy}"), None)
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
