//! The persona components and modals: consent and forget buttons, the edit and history
//! buttons of `/persona show`, the history restore menu, the "open my persona" button of
//! `/imagine` replies, and the edit and questionnaire modals. Every answer is ephemeral.

use poise::serenity_prelude as serenity;

use super::persona::{
    describe, edit_modal, history_message, show_buttons, CONSENT_NO, CONSENT_YES, EDIT_BUTTON,
    EDIT_MODAL, FORGET_CONFIRM, HISTORY_BUTTON, OPEN_PREFIX, RESTORE_SELECT, SETUP_FIELDS,
    SETUP_MODAL,
};
use super::{BotData, BotError};
use crate::error::UserError;
use crate::fluent_args;
use crate::i18n::I18n;
use crate::ids::{GuildId, MemberId};
use crate::lifecycle::{SOURCE_EDITED, SOURCE_QUESTIONNAIRE};
use crate::text::{clean, for_echo, Field, Refusal};
use crate::verbalize::MAX_MEMBER_CHARS;

/// Handles the persona components (consent, forget, edit and history buttons, the restore menu,
/// the `/imagine` "open my persona" button); returns false for other components.
pub async fn on_component(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    data: &BotData,
) -> Result<bool, serenity::Error> {
    let custom_id = component.data.custom_id.as_str();
    let known = [
        CONSENT_YES,
        CONSENT_NO,
        FORGET_CONFIRM,
        EDIT_BUTTON,
        HISTORY_BUTTON,
        RESTORE_SELECT,
    ]
    .contains(&custom_id)
        || custom_id.starts_with(OPEN_PREFIX);
    if !known {
        return Ok(false);
    }
    let locale = component.locale.as_str();
    let Some(guild) = component.guild_id.map(|g| GuildId(g.get())) else {
        return Ok(true);
    };
    let member = MemberId(component.user.id.get());
    let answer = match custom_id {
        CONSENT_YES | CONSENT_NO | FORGET_CONFIRM => {
            consent_or_forget(ctx, data, guild, member, custom_id).await
        }
        EDIT_BUTTON => match data.store.active_persona(guild, member).await {
            Ok(current) => {
                let modal = edit_modal(
                    &data.i18n,
                    locale,
                    current.as_ref().map(|p| p.text.as_str()),
                );
                return component
                    .create_response(&ctx.http, serenity::CreateInteractionResponse::Modal(modal))
                    .await
                    .map(|()| true);
            }
            Err(error) => Err(BotError::from(error)),
        },
        HISTORY_BUTTON => history_message(data, locale, guild, member)
            .await
            .map(|(text, rows)| Answer::New(text, rows)),
        RESTORE_SELECT => restore(data, locale, guild, member, component).await,
        _ => open(data, locale, member, custom_id).await,
    };
    let response = match answer {
        Ok(Answer::Id(id)) => update(data.i18n.tr(locale, id, None)),
        Ok(Answer::Update(text)) => update(text),
        Ok(Answer::New(text, rows)) => new_ephemeral(text, rows),
        Err(BotError::User(e)) => new_ephemeral(e.localize(&data.i18n, locale), Vec::new()),
        Err(BotError::Internal(error)) => {
            tracing::error!(%guild, %member, error = ?error, custom_id, "persona component failed");
            new_ephemeral(data.i18n.tr(locale, "error-internal", None), Vec::new())
        }
    };
    component.create_response(&ctx.http, response).await?;
    Ok(true)
}

/// How a component is answered.
enum Answer {
    /// Replace the (ephemeral) message with this text id, components removed.
    Id(&'static str),
    /// Replace the message with this text, components removed.
    Update(String),
    /// A new ephemeral message.
    New(String, Vec<serenity::CreateActionRow>),
}

fn update(text: String) -> serenity::CreateInteractionResponse {
    serenity::CreateInteractionResponse::UpdateMessage(
        serenity::CreateInteractionResponseMessage::new()
            .content(text)
            .components(Vec::new())
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
}

fn new_ephemeral(
    text: String,
    rows: Vec<serenity::CreateActionRow>,
) -> serenity::CreateInteractionResponse {
    serenity::CreateInteractionResponse::Message(
        serenity::CreateInteractionResponseMessage::new()
            .content(text)
            .components(rows)
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
}

async fn consent_or_forget(
    ctx: &serenity::Context,
    data: &BotData,
    guild: GuildId,
    member: MemberId,
    custom_id: &str,
) -> Result<Answer, BotError> {
    if custom_id == FORGET_CONFIRM {
        data.consent.forget(guild, member).await?;
        return Ok(Answer::Id("persona-forgotten"));
    }
    if custom_id == CONSENT_YES {
        let changed = data.consent.grant(guild, member).await?;
        // Also when nothing changed: each step starts at most once (see `after_consent`).
        super::backfill::after_consent(ctx, data, guild, member).await?;
        Ok(Answer::Id(if changed {
            "persona-consent-on"
        } else {
            "persona-consent-already"
        }))
    } else {
        data.consent.withdraw(guild, member).await?;
        Ok(Answer::Id("persona-consent-later-ack"))
    }
}

/// The restore menu of `/persona history`: makes the picked version active (own versions only).
async fn restore(
    data: &BotData,
    locale: &str,
    guild: GuildId,
    member: MemberId,
    component: &serenity::ComponentInteraction,
) -> Result<Answer, BotError> {
    let picked = match &component.data.kind {
        serenity::ComponentInteractionDataKind::StringSelect { values } => {
            values.first().and_then(|v| v.parse::<i64>().ok())
        }
        _ => None,
    };
    let restored = match picked {
        Some(id) => data.store.activate_persona(guild, member, id).await?,
        None => None,
    };
    let Some(persona) = restored else {
        return Err(UserError::new("persona-gone").into());
    };
    tracing::info!(%guild, %member, version = persona.version, "persona version restored");
    Ok(Answer::Update(data.i18n.tr(
        locale,
        "persona-restored",
        Some(&fluent_args!["version" => persona.version]),
    )))
}

/// The `/imagine` reply's button: the persona version that render used, to its owner only.
async fn open(
    data: &BotData,
    locale: &str,
    member: MemberId,
    custom_id: &str,
) -> Result<Answer, BotError> {
    let id = custom_id[OPEN_PREFIX.len()..].parse::<i64>().ok();
    let persona = match id {
        Some(id) => data.store.persona(id).await?,
        None => None,
    };
    match persona {
        None => Err(UserError::new("persona-gone").into()),
        Some(p) if p.member_id != member => Err(UserError::new("persona-not-yours").into()),
        Some(p) => {
            let active = data.store.active_persona(p.guild_id, member).await?;
            let is_active = active.is_some_and(|a| a.id == p.id);
            Ok(Answer::New(
                describe(&data.i18n, locale, &p, is_active),
                vec![show_buttons(&data.i18n, locale)],
            ))
        }
    }
}

/// Handles the persona modals (edit, questionnaire); returns false for other modals.
pub async fn on_modal(
    ctx: &serenity::Context,
    modal: &serenity::ModalInteraction,
    data: &BotData,
) -> Result<bool, serenity::Error> {
    let custom_id = modal.data.custom_id.as_str();
    if ![EDIT_MODAL, SETUP_MODAL].contains(&custom_id) {
        return Ok(false);
    }
    let locale = modal.locale.as_str();
    let Some(guild) = modal.guild_id.map(|g| GuildId(g.get())) else {
        return Ok(true);
    };
    let member = MemberId(modal.user.id.get());
    let fields: Vec<(String, String)> = modal
        .data
        .components
        .iter()
        .flat_map(|row| &row.components)
        .filter_map(|c| match c {
            serenity::ActionRowComponent::InputText(t) => {
                Some((t.custom_id.clone(), t.value.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect();
    let (source, typed, cleaned) = if custom_id == EDIT_MODAL {
        let text = fields
            .iter()
            .find(|(id, _)| id == "persona")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let cleaned = clean(&text, Field::Persona, MAX_MEMBER_CHARS)
            .map_err(|refusal| (Field::Persona, refusal));
        (SOURCE_EDITED, text, cleaned)
    } else {
        let typed = fields
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let cleaned = questionnaire(&data.i18n, locale, &fields).and_then(|text| {
            clean(&text, Field::Persona, MAX_MEMBER_CHARS)
                .map_err(|refusal| (Field::Persona, refusal))
        });
        (SOURCE_QUESTIONNAIRE, typed, cleaned)
    };
    let mut attachment = None;
    let text = match cleaned {
        Err((field, refusal)) => {
            // Nothing is lost: what they wrote comes back, quoted when it is short and plain,
            // else as a file (control or bidi characters never reach a message).
            let (length, max) = match refusal {
                Refusal::TooLong { length, max } => (length, max),
                _ => (0, 0),
            };
            let mut text = data.i18n.tr(
                locale,
                refusal.message_id(field),
                Some(&fluent_args!["length" => length, "max" => max]),
            );
            let quoted = for_echo(&typed.replace("```", "'''"));
            let plain = matches!(refusal, Refusal::TooLong { .. })
                && !typed.chars().any(|c| c.is_control() && c != '\n');
            if plain && text.chars().count() + quoted.chars().count() + 10 <= 2000 {
                text.push_str(&format!("\n```\n{quoted}\n```"));
            } else if !typed.trim().is_empty() {
                attachment = Some(serenity::CreateAttachment::bytes(
                    typed.clone().into_bytes(),
                    "persona.txt",
                ));
            }
            text
        }
        Ok(clean) => match data
            .store
            .add_persona(guild, member, source, &clean, None)
            .await
        {
            Ok(p) => {
                tracing::info!(%guild, %member, version = p.version, source, "persona written by the member");
                data.i18n.tr(
                    locale,
                    "persona-saved",
                    Some(&fluent_args!["version" => p.version]),
                )
            }
            Err(error) => {
                // Nothing is lost here either: the text comes back with the apology.
                tracing::error!(%guild, %member, %error, "saving a persona failed");
                let mut text = data.i18n.tr(locale, "error-internal", None);
                text.push_str(&format!("\n```\n{}\n```", clean.replace("```", "'''")));
                text
            }
        },
    };
    let mut message = serenity::CreateInteractionResponseMessage::new()
        .content(text)
        .ephemeral(true)
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    if let Some(file) = attachment {
        message = message.add_file(file);
    }
    modal
        .create_response(
            &ctx.http,
            serenity::CreateInteractionResponse::Message(message),
        )
        .await?;
    Ok(true)
}

/// The questionnaire's answers as first-person sentences (empty answers are skipped), or the
/// first answer the cleaner refused.
fn questionnaire(
    i18n: &I18n,
    locale: &str,
    fields: &[(String, String)],
) -> Result<String, (Field, Refusal)> {
    let mut sentences = Vec::new();
    for field in SETUP_FIELDS {
        let Some((_, raw)) = fields.iter().find(|(id, _)| id == field) else {
            continue;
        };
        // Invisible characters, mentions and links go; an answer of nothing else is skipped.
        let answer = clean(raw, Field::Answer, MAX_MEMBER_CHARS)
            .map_err(|refusal| (Field::Answer, refusal))?;
        let answer = answer.trim_end_matches(['.', '!', '。']).trim();
        if answer.is_empty() {
            continue;
        }
        sentences.push(i18n.tr(
            locale,
            &format!("persona-questionnaire-{field}"),
            Some(&fluent_args!["answer" => answer.to_owned()]),
        ));
    }
    Ok(sentences.join(" "))
}
