//! `/persona consent on|off` and `/persona forget`, and the consent prompt shown on a member's
//! first `/imagine` in a server (Accept / Not now). Everything here is ephemeral: a member only
//! ever sees their own consent and data.

use poise::serenity_prelude as serenity;

use super::errors::locale;
use super::{BotData, BotError, Context};
use crate::error::UserError;
use crate::i18n::I18n;
use crate::ids::{GuildId, MemberId};

const CONSENT_YES: &str = "zipp-consent:yes";
const CONSENT_NO: &str = "zipp-consent:no";
const FORGET_CONFIRM: &str = "zipp-forget:confirm";

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poise::ChoiceParameter)]
pub enum Switch {
    /// On.
    #[name = "on"]
    On,
    /// Off.
    #[name = "off"]
    Off,
}

/// Parent of the persona subcommands (texts come from commands/*.ftl).
#[poise::command(
    slash_command,
    guild_only,
    subcommands("consent", "forget"),
    subcommand_required
)]
pub async fn persona(_ctx: Context<'_>) -> Result<(), BotError> {
    Ok(())
}

fn ids(ctx: Context<'_>) -> Result<(GuildId, MemberId), BotError> {
    let guild = ctx
        .guild_id()
        .map(|g| GuildId(g.get()))
        .ok_or_else(|| UserError::new("error-guild-only"))?;
    Ok((guild, MemberId(ctx.author().id.get())))
}

async fn reply(
    ctx: Context<'_>,
    text: String,
    components: Vec<serenity::CreateActionRow>,
) -> Result<(), BotError> {
    ctx.send(
        poise::CreateReply::default()
            .content(text)
            .components(components)
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// Allow or stop zipp learning your taste from your activity here.
#[poise::command(slash_command, guild_only)]
pub async fn consent(ctx: Context<'_>, state: Switch) -> Result<(), BotError> {
    let (guild, member) = ids(ctx)?;
    let data = ctx.data();
    let granted = state == Switch::On;
    data.ingestor.set_consent(guild, member, granted).await?;
    tracing::info!(%guild, %member, granted, "consent changed");
    let id = if granted {
        "persona-consent-on"
    } else {
        "persona-consent-off"
    };
    reply(ctx, data.i18n.tr(locale(ctx), id, None), Vec::new()).await
}

/// Delete everything zipp keeps about you in this server (asks to confirm).
#[poise::command(slash_command, guild_only)]
pub async fn forget(ctx: Context<'_>) -> Result<(), BotError> {
    ids(ctx)?;
    let data = ctx.data();
    let button = serenity::CreateButton::new(FORGET_CONFIRM)
        .label(data.i18n.tr(locale(ctx), "persona-forget-button", None))
        .style(serenity::ButtonStyle::Danger);
    reply(
        ctx,
        data.i18n.tr(locale(ctx), "persona-forget-confirm", None),
        vec![serenity::CreateActionRow::Buttons(vec![button])],
    )
    .await
}

/// The consent prompt: what is stored and why, with Accept / Not now.
pub fn consent_prompt(i18n: &I18n, locale: &str) -> (String, serenity::CreateActionRow) {
    let text = i18n.tr(locale, "persona-consent-prompt", None);
    let row = serenity::CreateActionRow::Buttons(vec![
        serenity::CreateButton::new(CONSENT_YES)
            .label(i18n.tr(locale, "persona-consent-accept", None))
            .style(serenity::ButtonStyle::Success),
        serenity::CreateButton::new(CONSENT_NO)
            .label(i18n.tr(locale, "persona-consent-later", None))
            .style(serenity::ButtonStyle::Secondary),
    ]);
    (text, row)
}

/// Handles the consent and forget buttons; returns false for other components.
pub async fn on_component(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    data: &BotData,
) -> Result<bool, serenity::Error> {
    let custom_id = component.data.custom_id.as_str();
    if ![CONSENT_YES, CONSENT_NO, FORGET_CONFIRM].contains(&custom_id) {
        return Ok(false);
    }
    let locale = component.locale.as_str();
    let Some(guild) = component.guild_id.map(|g| GuildId(g.get())) else {
        return Ok(true);
    };
    let member = MemberId(component.user.id.get());
    let result = match custom_id {
        CONSENT_YES | CONSENT_NO => {
            let granted = custom_id == CONSENT_YES;
            data.ingestor
                .set_consent(guild, member, granted)
                .await
                .map(|()| {
                    if granted {
                        "persona-consent-on"
                    } else {
                        "persona-consent-later-ack"
                    }
                })
        }
        _ => match data.store.forget_member(guild, member).await {
            Ok(erased) => {
                data.ingestor.forget(guild, member);
                tracing::info!(%guild, %member, rows = ?erased.rows, "member forgotten");
                Ok("persona-forgotten")
            }
            Err(error) => Err(error),
        },
    };
    let text = match result {
        Ok(id) => data.i18n.tr(locale, id, None),
        Err(error) => {
            tracing::error!(%guild, %member, %error, custom_id, "persona button failed");
            data.i18n.tr(locale, "error-internal", None)
        }
    };
    // The answer replaces the prompt (buttons gone), still visible to this member only.
    let response = serenity::CreateInteractionResponse::UpdateMessage(
        serenity::CreateInteractionResponseMessage::new()
            .content(text)
            .components(Vec::new())
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    );
    component.create_response(&ctx.http, response).await?;
    Ok(true)
}
