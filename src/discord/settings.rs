//! `/settings`: a member's defaults for `/imagine` in this server (the shape of their images,
//! how many per command, and whether their persona rewrites their prompts). Private; erased by
//! `/persona forget`.

use poise::serenity_prelude as serenity;

use super::errors::locale;
use super::imagine::AspectChoice;
use super::{BotError, Context};
use crate::domain::PersonaMode;
use crate::error::UserError;
use crate::fluent_args;
use crate::ids::{GuildId, MemberId};
use crate::store::MemberSettings;

/// Whether the persona rewrites the member's prompts by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poise::ChoiceParameter)]
pub enum PersonaDefault {
    /// Rewrite (the default).
    #[name = "on"]
    On,
    /// Render the prompt as typed.
    #[name = "off"]
    Off,
}

/// Your defaults for /imagine in this server (texts come from commands/*.ftl).
#[poise::command(slash_command, guild_only)]
pub async fn settings(
    ctx: Context<'_>,
    aspect: Option<AspectChoice>,
    persona: Option<PersonaDefault>,
    #[min = 1]
    #[max = 4]
    count: Option<u32>,
    reset: Option<bool>,
) -> Result<(), BotError> {
    let guild = ctx
        .guild_id()
        .map(|g| GuildId(g.get()))
        .ok_or_else(|| UserError::new("error-guild-only"))?;
    let member = MemberId(ctx.author().id.get());
    let data = ctx.data();
    let locale = locale(ctx);
    let text = if reset == Some(true) {
        data.store.clear_member_settings(guild, member).await?;
        data.i18n.tr(locale, "settings-reset-done", None)
    } else {
        let mut current = data.store.member_settings(guild, member).await?;
        if aspect.is_some() || persona.is_some() || count.is_some() {
            if let Some(count) = count {
                if !(1..=crate::domain::MAX_IMAGES).contains(&count) {
                    return Err(UserError::new("error-count-range")
                        .with_number("max", i64::from(crate::domain::MAX_IMAGES))
                        .into());
                }
                current.image_count = Some(count);
            }
            if let Some(aspect) = aspect {
                current.aspect = Some(aspect.into());
            }
            if let Some(persona) = persona {
                current.persona_mode = Some(match persona {
                    PersonaDefault::On => PersonaMode::On,
                    PersonaDefault::Off => PersonaMode::Off,
                });
            }
            data.store
                .set_member_settings(guild, member, current)
                .await?;
        }
        shown(data, locale, current)
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

fn shown(data: &super::BotData, locale: &str, settings: MemberSettings) -> String {
    let t = |key: &str| data.i18n.tr(locale, key, None);
    let aspect = settings
        .aspect
        .map_or_else(|| t("settings-aspect-model"), |a| a.as_str().to_owned());
    let persona = match settings.persona_mode {
        Some(PersonaMode::Off) => t("settings-persona-off"),
        _ => t("settings-persona-on"),
    };
    data.i18n.tr(
        locale,
        "settings-shown",
        Some(&fluent_args![
            "aspect" => aspect,
            "persona" => persona,
            "count" => settings.image_count.unwrap_or(1),
        ]),
    )
}
