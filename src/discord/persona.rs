//! `/persona show|edit|setup|reset|refresh|history|consent|forget`, the consent prompt shown on
//! a member's first `/imagine` in a server, the persona modals (edit, questionnaire), the
//! history select and the "open my persona" button of `/imagine` replies. Everything here is
//! ephemeral: a member only ever sees their own persona, consent and data.

use std::sync::atomic::Ordering;

use poise::serenity_prelude as serenity;

use super::errors::locale;
use super::{BotData, BotError, Context};
use crate::error::UserError;
use crate::fluent_args;
use crate::i18n::I18n;
use crate::ids::{GuildId, MemberId};
use crate::lifecycle::{Refresh, SOURCE_EDITED, SOURCE_INFERRED, SOURCE_QUESTIONNAIRE};
use crate::persona::verbalize::{
    clean_member_text, MemberTextError, PersonaEvidence, MAX_MEMBER_CHARS,
};
use crate::store::Persona;
use crate::upload::{self, check_declared, UploadError, UploadLimits};

const CONSENT_YES: &str = "zipp-consent:yes";
const CONSENT_NO: &str = "zipp-consent:no";
const FORGET_CONFIRM: &str = "zipp-forget:confirm";
const EDIT_MODAL: &str = "zipp-persona-edit";
const SETUP_MODAL: &str = "zipp-persona-setup";
const EDIT_BUTTON: &str = "zipp-persona:edit";
const HISTORY_BUTTON: &str = "zipp-persona:history";
const RESTORE_SELECT: &str = "zipp-persona:restore";
/// Prefix of the `/imagine` reply button: `zipp-persona-open:<persona id>`.
const OPEN_PREFIX: &str = "zipp-persona-open:";
/// The questionnaire's fields, in order, with the Fluent ids of label and sentence.
const SETUP_FIELDS: [&str; 4] = ["who", "work", "love", "visual"];
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
fn describe(i18n: &I18n, locale: &str, persona: &Persona, active: bool) -> String {
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
    }
    if active && persona.source != SOURCE_INFERRED {
        out.push_str(&i18n.tr(locale, "persona-show-pinned", None));
        out.push('\n');
    }
    out.push_str(&i18n.tr(locale, "persona-show-private", None));
    out
}

fn show_buttons(i18n: &I18n, locale: &str) -> serenity::CreateActionRow {
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
pub fn open_button(i18n: &I18n, locale: &str, persona_id: i64) -> serenity::CreateActionRow {
    serenity::CreateActionRow::Buttons(vec![serenity::CreateButton::new(format!(
        "{OPEN_PREFIX}{persona_id}"
    ))
    .label(i18n.tr(locale, "imagine-persona-button", None))
    .style(serenity::ButtonStyle::Secondary)])
}

fn edit_modal(i18n: &I18n, locale: &str, current: Option<&str>) -> serenity::CreateModal {
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
async fn history_message(
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

/// Add an image you love: it tells zipp about your taste.
#[poise::command(slash_command, guild_only, rename = "add-image")]
pub async fn add_image(ctx: Context<'_>, image: serenity::Attachment) -> Result<(), BotError> {
    let (guild, member) = ids(ctx)?;
    let data = ctx.data();
    if data.store.consent(guild, member).await? != Some(true) {
        return Err(UserError::new("error-image-no-consent").into());
    }
    let Some(clip) = data.clip.clone() else {
        return Err(UserError::new("error-image-unavailable").into());
    };
    let limits = UploadLimits {
        max_bytes: data.config.persona.max_image_bytes,
        ..UploadLimits::default()
    };
    // What Discord declares is checked before anything is downloaded.
    check_declared(
        image.content_type.as_deref(),
        u64::from(image.size),
        &limits,
    )
    .map_err(upload_error)?;
    ctx.defer_ephemeral().await?;
    let bytes = download(&image.url, limits.max_bytes).await?;
    let embedded = tokio::task::spawn_blocking(move || -> Result<Vec<f32>, BotError> {
        let decoded = upload::decode(&bytes, &limits).map_err(upload_error)?;
        let mut rows = clip
            .embed_images(&[decoded])
            .map_err(|e| BotError::Internal(anyhow::Error::new(e).context("CLIP embedding")))?;
        rows.pop()
            .ok_or_else(|| BotError::Internal(anyhow::anyhow!("CLIP returned no embedding")))
    })
    .await
    .map_err(|e| BotError::Internal(anyhow::Error::new(e).context("image task")))??;
    data.store
        .add_member_image(guild, member, &embedded)
        .await?;
    tracing::info!(%guild, %member, bytes = image.size, "member added an image");
    let text = data.i18n.tr(locale(ctx), "persona-image-added", None);
    reply(ctx, text, Vec::new()).await
}

/// The member's message for a refused upload.
fn upload_error(error: UploadError) -> BotError {
    let user = match error {
        UploadError::Type => UserError::new("error-image-type"),
        UploadError::TooLarge { max_bytes } => UserError::new("error-image-too-large")
            .with_number("max", (max_bytes / (1024 * 1024)).max(1) as i64),
        UploadError::TooManyPixels { .. } => UserError::new("error-image-too-many-pixels")
            .with_number(
                "max",
                (UploadLimits::default().max_pixels / 1_000_000) as i64,
            ),
        UploadError::Unreadable(reason) => {
            tracing::info!(%reason, "refused an unreadable image");
            UserError::new("error-image-unreadable")
        }
    };
    user.into()
}

/// Downloads an attachment, stopping as soon as it exceeds `max` bytes.
async fn download(url: &str, max: u64) -> Result<Vec<u8>, BotError> {
    let internal = |e: reqwest::Error| {
        BotError::Internal(anyhow::Error::new(e).context("downloading an attachment"))
    };
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
    if crate::rewrite::openai::is_loopback_url(url) {
        builder = builder.no_proxy();
    }
    let client = builder.build().map_err(internal)?;
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(internal)?;
    let too_large = || upload_error(UploadError::TooLarge { max_bytes: max });
    if response.content_length().is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(internal)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > max {
            return Err(too_large());
        }
    }
    Ok(bytes)
}

/// Allow or stop zipp learning your taste from your activity here.
#[poise::command(slash_command, guild_only)]
pub async fn consent(ctx: Context<'_>, state: Switch) -> Result<(), BotError> {
    let (guild, member) = ids(ctx)?;
    let data = ctx.data();
    let granted = state == Switch::On;
    data.ingestor.set_consent(guild, member, granted).await?;
    tracing::info!(%guild, %member, granted, "consent changed");
    if granted {
        super::backfill::after_consent(ctx.serenity_context(), data, guild, member).await?;
    }
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
        let erased = data.store.forget_member(guild, member).await?;
        data.ingestor.forget(guild, member);
        data.personas.forget(guild, member);
        tracing::info!(%guild, %member, rows = ?erased.rows, "member forgotten");
        return Ok(Answer::Id("persona-forgotten"));
    }
    let granted = custom_id == CONSENT_YES;
    data.ingestor.set_consent(guild, member, granted).await?;
    tracing::info!(%guild, %member, granted, "consent changed");
    if granted {
        super::backfill::after_consent(ctx, data, guild, member).await?;
        Ok(Answer::Id("persona-consent-on"))
    } else {
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
    let (source, typed) = if custom_id == EDIT_MODAL {
        let text = fields
            .iter()
            .find(|(id, _)| id == "persona")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        (SOURCE_EDITED, text)
    } else {
        (
            SOURCE_QUESTIONNAIRE,
            questionnaire(&data.i18n, locale, &fields),
        )
    };
    let mut attachment = None;
    let text = match clean_member_text(&typed, MAX_MEMBER_CHARS) {
        Err(MemberTextError::Empty) => data.i18n.tr(locale, "error-persona-empty", None),
        Err(MemberTextError::TooLong { length, max }) => {
            // Nothing is lost: what they wrote comes back, in the message or as a file.
            let mut text = data.i18n.tr(
                locale,
                "error-persona-too-long",
                Some(&fluent_args!["length" => length, "max" => max]),
            );
            let quoted = typed.replace("```", "'''");
            if text.chars().count() + quoted.chars().count() + 10 <= 2000 {
                text.push_str(&format!("\n```\n{quoted}\n```"));
            } else {
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

/// The questionnaire's answers as first-person sentences (empty answers are skipped).
fn questionnaire(i18n: &I18n, locale: &str, fields: &[(String, String)]) -> String {
    SETUP_FIELDS
        .iter()
        .filter_map(|field| {
            let raw = &fields.iter().find(|(id, _)| id == field)?.1;
            // Invisible characters, mentions and links go; an answer of nothing else is skipped.
            let answer = match clean_member_text(raw, usize::MAX) {
                Ok(answer) => answer,
                Err(_) => return None,
            };
            let answer = answer.trim_end_matches(['.', '!', '。']).trim();
            if answer.is_empty() {
                return None;
            }
            Some(i18n.tr(
                locale,
                &format!("persona-questionnaire-{field}"),
                Some(&fluent_args!["answer" => answer.to_owned()]),
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
