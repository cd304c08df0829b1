//! `/persona show|edit|setup|reset|refresh|history|consent|forget`, the consent prompt shown on
//! a member's first `/imagine` in a server, and the texts, buttons and modals they share with
//! the component and modal handlers (`persona_interactions.rs`); `/persona add-image` is in
//! `persona_image.rs`. Everything here is ephemeral: a member only ever sees their own persona,
//! consent and data.

use std::sync::atomic::Ordering;

use poise::serenity_prelude as serenity;

use super::errors::locale;
use super::{BotData, BotError, Context};
use crate::error::UserError;
use crate::fluent_args;
use crate::i18n::I18n;
use crate::ids::{GuildId, MemberId};
use crate::lifecycle::{Refresh, SOURCE_INFERRED, SOURCE_QUESTIONNAIRE};
use crate::store::{Erased, Persona};
use crate::verbalize::{PersonaEvidence, MAX_MEMBER_CHARS};

pub use super::persona_image::add_image;

pub(super) const CONSENT_YES: &str = "zipp-consent:yes";
pub(super) const CONSENT_NO: &str = "zipp-consent:no";
pub(super) const FORGET_CONFIRM: &str = "zipp-forget:confirm";
pub(super) const EDIT_MODAL: &str = "zipp-persona-edit";
pub(super) const SETUP_MODAL: &str = "zipp-persona-setup";
pub(super) const EDIT_BUTTON: &str = "zipp-persona:edit";
pub(super) const HISTORY_BUTTON: &str = "zipp-persona:history";
pub(super) const RESTORE_SELECT: &str = "zipp-persona:restore";
/// Prefix of the `/imagine` reply button: `zipp-persona-open:<persona id>`.
pub(super) const OPEN_PREFIX: &str = "zipp-persona-open:";
/// The questionnaire's fields, in order, with the Fluent ids of label and sentence.
pub(super) const SETUP_FIELDS: [&str; 4] = ["who", "work", "love", "visual"];
/// Longest answer per questionnaire field (characters).
const SETUP_FIELD_CHARS: u16 = 200;
/// Versions listed by `/persona history` (a select menu holds at most 25).
const HISTORY_LIMIT: i64 = 10;

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
    subcommands(
        "show",
        "edit",
        "setup",
        "reset",
        "refresh",
        "history",
        "add_image",
        "consent",
        "forget"
    ),
    subcommand_required
)]
pub async fn persona(_ctx: Context<'_>) -> Result<(), BotError> {
    Ok(())
}

pub(super) fn ids(ctx: Context<'_>) -> Result<(GuildId, MemberId), BotError> {
    let guild = ctx
        .guild_id()
        .map(|g| GuildId(g.get()))
        .ok_or_else(|| UserError::new("error-guild-only"))?;
    Ok((guild, MemberId(ctx.author().id.get())))
}

pub(super) async fn reply(
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

/// Show your persona here: its text, where it came from and why.
#[poise::command(slash_command, guild_only)]
pub async fn show(ctx: Context<'_>) -> Result<(), BotError> {
    let (guild, member) = ids(ctx)?;
    let data = ctx.data();
    let locale = locale(ctx);
    match data.store.active_persona(guild, member).await? {
        None => reply(ctx, data.i18n.tr(locale, "persona-none", None), Vec::new()).await,
        Some(persona) => {
            let text = describe(&data.i18n, locale, &persona, true);
            reply(ctx, text, vec![show_buttons(&data.i18n, locale)]).await
        }
    }
}

/// Write or change your persona yourself.
#[poise::command(slash_command, guild_only)]
pub async fn edit(ctx: Context<'_>) -> Result<(), BotError> {
    let (guild, member) = ids(ctx)?;
    let data = ctx.data();
    let current = data.store.active_persona(guild, member).await?;
    let modal = edit_modal(
        &data.i18n,
        locale(ctx),
        current.as_ref().map(|p| p.text.as_str()),
    );
    respond_with_modal(ctx, modal).await
}

/// Answer four short questions to build your persona.
#[poise::command(slash_command, guild_only)]
pub async fn setup(ctx: Context<'_>) -> Result<(), BotError> {
    ids(ctx)?;
    let modal = setup_modal(&ctx.data().i18n, locale(ctx));
    respond_with_modal(ctx, modal).await
}

/// Drop your own version and go back to the inferred persona.
#[poise::command(slash_command, guild_only)]
pub async fn reset(ctx: Context<'_>) -> Result<(), BotError> {
    let (guild, member) = ids(ctx)?;
    let data = ctx.data();
    let locale = locale(ctx);
    let Some(inferred) = data
        .store
        .latest_persona(guild, member, SOURCE_INFERRED)
        .await?
    else {
        return reply(
            ctx,
            data.i18n.tr(locale, "persona-reset-none", None),
            Vec::new(),
        )
        .await;
    };
    let active = data.store.active_persona(guild, member).await?;
    if active.is_some_and(|a| a.id == inferred.id) {
        return reply(
            ctx,
            data.i18n.tr(locale, "persona-reset-already", None),
            Vec::new(),
        )
        .await;
    }
    data.store
        .activate_persona(guild, member, inferred.id)
        .await?;
    tracing::info!(%guild, %member, version = inferred.version, "persona reset to the inferred one");
    let text = data.i18n.tr(
        locale,
        "persona-reset-done",
        Some(&fluent_args!["version" => inferred.version]),
    );
    reply(ctx, text, Vec::new()).await
}

/// Infer your persona again from your recent activity.
#[poise::command(slash_command, guild_only)]
pub async fn refresh(ctx: Context<'_>) -> Result<(), BotError> {
    let (guild, member) = ids(ctx)?;
    let data = ctx.data();
    let locale = locale(ctx);
    // Inference can take a few seconds on a large server.
    ctx.defer_ephemeral().await?;
    let outcome = data
        .personas
        .refresh(guild, member, true)
        .await
        .map_err(|e| BotError::Internal(anyhow::Error::new(e)))?;
    tracing::info!(%guild, %member, outcome = ?outcome_name(&outcome), "persona refresh");
    let text = match outcome {
        Refresh::Activated(p) | Refresh::Unchanged(p) => data.i18n.tr(
            locale,
            "persona-refresh-done",
            Some(&fluent_args!["version" => p.version]),
        ),
        Refresh::Kept(p) => data.i18n.tr(
            locale,
            "persona-refresh-kept",
            Some(&fluent_args!["version" => p.version]),
        ),
        Refresh::NoActivity => data.i18n.tr(locale, "persona-refresh-no-activity", None),
        Refresh::NoConsent => data.i18n.tr(locale, "persona-refresh-no-consent", None),
        Refresh::Disabled => data.i18n.tr(locale, "persona-refresh-disabled", None),
        Refresh::Unavailable => data.i18n.tr(locale, "persona-refresh-unavailable", None),
        Refresh::Cooldown(left) => data.i18n.tr(
            locale,
            "persona-refresh-cooldown",
            Some(&fluent_args!["minutes" => left.as_secs().div_ceil(60).max(1)]),
        ),
    };
    reply(ctx, text, Vec::new()).await
}

fn outcome_name(outcome: &Refresh) -> &'static str {
    match outcome {
        Refresh::Activated(_) => "activated",
        Refresh::Kept(_) => "kept",
        Refresh::Unchanged(_) => "unchanged",
        Refresh::NoActivity => "no activity",
        Refresh::NoConsent => "no consent",
        Refresh::Disabled => "disabled",
        Refresh::Unavailable => "unavailable",
        Refresh::Cooldown(_) => "cooldown",
    }
}

/// Earlier versions of your persona; restore one.
#[poise::command(slash_command, guild_only)]
pub async fn history(ctx: Context<'_>) -> Result<(), BotError> {
    let (guild, member) = ids(ctx)?;
    let data = ctx.data();
    let (text, components) = history_message(data, locale(ctx), guild, member).await?;
    reply(ctx, text, components).await
}

/// Answers the slash command with a modal (Discord allows no defer before a modal).
async fn respond_with_modal(
    ctx: Context<'_>,
    modal: serenity::CreateModal,
) -> Result<(), BotError> {
    let poise::Context::Application(app) = ctx else {
        return Ok(());
    };
    app.interaction
        .create_response(
            ctx.http(),
            serenity::CreateInteractionResponse::Modal(modal),
        )
        .await?;
    app.has_sent_initial_response.store(true, Ordering::SeqCst);
    Ok(())
}

/// The source of a persona in words.
fn source_label(i18n: &I18n, locale: &str, source: &str) -> String {
    let id = match source {
        SOURCE_INFERRED => "persona-source-inferred",
        SOURCE_QUESTIONNAIRE => "persona-source-questionnaire",
        _ => "persona-source-edited",
    };
    i18n.tr(locale, id, None)
}

/// The short "version N (source)" of `/imagine` replies.
pub fn version_label(i18n: &I18n, locale: &str, persona: &Persona) -> String {
    i18n.tr(
        locale,
        "imagine-persona-version",
        Some(&fluent_args![
            "version" => persona.version,
            "source" => source_label(i18n, locale, &persona.source)
        ]),
    )
}

/// `/persona show`'s text: header, the persona quoted, why (for inferred ones), and notes.
pub(super) fn describe(i18n: &I18n, locale: &str, persona: &Persona, active: bool) -> String {
    let date = format!("<t:{}:D>", persona.created_at.div_euclid(1000));
    let mut out = i18n.tr(
        locale,
        "persona-show-header",
        Some(&fluent_args![
            "version" => persona.version,
            "source" => source_label(i18n, locale, &persona.source),
            "date" => date
        ]),
    );
    out.push('\n');
    for line in persona.text.lines() {
        out.push_str("> ");
        out.push_str(line);
        out.push('\n');
    }
    let evidence: Option<PersonaEvidence> = persona
        .evidence
        .as_deref()
        .and_then(|e| serde_json::from_str(e).ok());
    if let Some(e) = evidence {
        if !e.channels.is_empty() {
            let channels: Vec<String> = e
                .channels
                .iter()
                .take(3)
                .map(|c| format!("#{}", c.name))
                .collect();
            out.push_str(&i18n.tr(
                locale,
                "persona-show-evidence",
                Some(&fluent_args!["channels" => channels.join(", ")]),
            ));
            out.push('\n');
        }
        if !e.roles.is_empty() {
            let roles: Vec<String> = e.roles.iter().take(3).map(|r| r.name.clone()).collect();
            out.push_str(&i18n.tr(
                locale,
                "persona-show-evidence-roles",
                Some(&fluent_args!["roles" => roles.join(", ")]),
            ));
            out.push('\n');
        }
        if !e.prompts.is_empty() {
            out.push_str(&i18n.tr(
                locale,
                "persona-show-evidence-prompts",
                Some(&fluent_args!["count" => e.prompts.len()]),
            ));
            out.push('\n');
        }
        if !e.liked.is_empty() {
            out.push_str(&i18n.tr(
                locale,
                "persona-show-evidence-liked",
                Some(&fluent_args!["count" => e.liked.len()]),
            ));
            out.push('\n');
        }
        if !e.image_taste.is_empty() {
            out.push_str(&i18n.tr(
                locale,
                "persona-show-evidence-image-taste",
                Some(&fluent_args!["looks" => e.image_taste.join("; ")]),
            ));
            out.push('\n');
        }
    }
    if active && persona.source != SOURCE_INFERRED {
        out.push_str(&i18n.tr(locale, "persona-show-pinned", None));
        out.push('\n');
    }
    out.push_str(&i18n.tr(locale, "persona-show-private", None));
    out
}

pub(super) fn show_buttons(i18n: &I18n, locale: &str) -> serenity::CreateActionRow {
    serenity::CreateActionRow::Buttons(vec![
        serenity::CreateButton::new(EDIT_BUTTON)
            .label(i18n.tr(locale, "persona-button-edit", None))
            .style(serenity::ButtonStyle::Primary),
        serenity::CreateButton::new(HISTORY_BUTTON)
            .label(i18n.tr(locale, "persona-button-history", None))
            .style(serenity::ButtonStyle::Secondary),
    ])
}

/// The "open my persona" button of an `/imagine` reply.
pub fn open_button(i18n: &I18n, locale: &str, persona_id: i64) -> serenity::CreateButton {
    serenity::CreateButton::new(format!("{OPEN_PREFIX}{persona_id}"))
        .label(i18n.tr(locale, "imagine-persona-button", None))
        .style(serenity::ButtonStyle::Secondary)
}

pub(super) fn edit_modal(
    i18n: &I18n,
    locale: &str,
    current: Option<&str>,
) -> serenity::CreateModal {
    let mut input = serenity::CreateInputText::new(
        serenity::InputTextStyle::Paragraph,
        i18n.tr(locale, "persona-edit-label", None),
        "persona",
    )
    .placeholder(i18n.tr(locale, "persona-edit-placeholder", None))
    .max_length(MAX_MEMBER_CHARS as u16)
    .required(true);
    if let Some(text) = current {
        input = input.value(text.chars().take(MAX_MEMBER_CHARS).collect::<String>());
    }
    serenity::CreateModal::new(EDIT_MODAL, i18n.tr(locale, "persona-edit-title", None))
        .components(vec![serenity::CreateActionRow::InputText(input)])
}

fn setup_modal(i18n: &I18n, locale: &str) -> serenity::CreateModal {
    let rows = SETUP_FIELDS
        .iter()
        .map(|field| {
            let style = if *field == "visual" {
                serenity::InputTextStyle::Paragraph
            } else {
                serenity::InputTextStyle::Short
            };
            serenity::CreateActionRow::InputText(
                serenity::CreateInputText::new(
                    style,
                    i18n.tr(locale, &format!("persona-setup-{field}"), None),
                    *field,
                )
                .placeholder(i18n.tr(locale, &format!("persona-setup-{field}-placeholder"), None))
                .max_length(SETUP_FIELD_CHARS)
                .required(false),
            )
        })
        .collect();
    serenity::CreateModal::new(SETUP_MODAL, i18n.tr(locale, "persona-setup-title", None))
        .components(rows)
}

/// `/persona history`'s text and restore menu.
pub(super) async fn history_message(
    data: &BotData,
    locale: &str,
    guild: GuildId,
    member: MemberId,
) -> Result<(String, Vec<serenity::CreateActionRow>), BotError> {
    let i18n = &data.i18n;
    let versions = data
        .store
        .persona_history(guild, member, HISTORY_LIMIT)
        .await?;
    if versions.is_empty() {
        return Ok((i18n.tr(locale, "persona-none", None), Vec::new()));
    }
    let active = data
        .store
        .active_persona(guild, member)
        .await?
        .map(|p| p.id);
    let mut text = i18n.tr(locale, "persona-history-header", None);
    let mut options = Vec::new();
    for p in &versions {
        let in_use = if Some(p.id) == active {
            format!(" {}", i18n.tr(locale, "persona-history-in-use", None))
        } else {
            String::new()
        };
        let excerpt = excerpt(&p.text, 90);
        text.push('\n');
        text.push_str(&i18n.tr(
            locale,
            "persona-history-line",
            Some(&fluent_args![
                "version" => p.version,
                "source" => source_label(i18n, locale, &p.source),
                "date" => format!("<t:{}:d>", p.created_at.div_euclid(1000)),
                "active" => in_use,
                "excerpt" => excerpt.clone()
            ]),
        ));
        let label = i18n.tr(
            locale,
            "persona-history-option",
            Some(&fluent_args![
                "version" => p.version,
                "source" => source_label(i18n, locale, &p.source)
            ]),
        );
        options.push(
            serenity::CreateSelectMenuOption::new(excerpt_chars(&label, 100), p.id.to_string())
                .description(excerpt_chars(&excerpt, 100)),
        );
    }
    let menu = serenity::CreateSelectMenu::new(
        RESTORE_SELECT,
        serenity::CreateSelectMenuKind::String { options },
    )
    .placeholder(i18n.tr(locale, "persona-history-pick", None));
    Ok((text, vec![serenity::CreateActionRow::SelectMenu(menu)]))
}

/// The first line of `text`, at most `n` characters (with an ellipsis when cut).
fn excerpt(text: &str, n: usize) -> String {
    let first = text.lines().next().unwrap_or_default();
    let cut = excerpt_chars(first, n);
    if cut.len() < text.len() && !cut.ends_with('…') {
        format!("{cut}…")
    } else {
        cut
    }
}

fn excerpt_chars(text: &str, n: usize) -> String {
    match text.char_indices().nth(n.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > n => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

/// Allow or stop zipp learning your taste from your activity here.
#[poise::command(slash_command, guild_only)]
pub async fn consent(ctx: Context<'_>, state: Switch) -> Result<(), BotError> {
    let (guild, member) = ids(ctx)?;
    let data = ctx.data();
    let text = if state == Switch::On {
        let changed = data.consent.grant(guild, member).await?;
        // Also when nothing changed: it starts only what never ran (a first attempt that
        // failed half-way is finished), each step at most once.
        super::backfill::after_consent(ctx.serenity_context(), data, guild, member).await?;
        let id = if changed {
            "persona-consent-on"
        } else {
            "persona-consent-already"
        };
        data.i18n.tr(locale(ctx), id, None)
    } else {
        let erased = data.consent.withdraw(guild, member).await?;
        withdrawn_text(&data.i18n, locale(ctx), &erased)
    };
    reply(ctx, text, Vec::new()).await
}

/// What withdrawing consent deleted, in the member's words.
pub(super) fn withdrawn_text(i18n: &I18n, locale: &str, erased: &Erased) -> String {
    let count = |tables: &[&str]| -> u64 {
        erased
            .rows
            .iter()
            .filter(|(table, _)| tables.contains(table))
            .map(|(_, n)| n)
            .sum()
    };
    i18n.tr(
        locale,
        "persona-consent-off",
        Some(&fluent_args![
            "interactions" => count(&["member_edges"]),
            "feedback" => count(&["render_feedback"]),
            "images" => count(&["image_embeddings", "member_images"]),
            "picks" => count(&["compare_picks"]),
            "personas" => count(&["personas"])
        ]),
    )
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

/// The consent prompt: what is stored and why (and, with history backfill on in the server,
/// for how many past days), with Accept / Not now.
pub fn consent_prompt(
    i18n: &I18n,
    locale: &str,
    backfill_days: Option<u64>,
) -> (String, serenity::CreateActionRow) {
    let mut text = i18n.tr(locale, "persona-consent-prompt", None);
    if let Some(days) = backfill_days {
        text.push(' ');
        text.push_str(&i18n.tr(
            locale,
            "persona-consent-prompt-backfill",
            Some(&fluent_args!["days" => days]),
        ));
    }
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
