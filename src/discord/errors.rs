//! Turning command failures into replies: a [`UserError`](crate::error::UserError) becomes a
//! polite ephemeral message in the member's locale; anything else is logged with the invocation's
//! context and the member sees only the generic "something went wrong".

use poise::serenity_prelude as serenity;

use super::{BotData, BotError, Context};

/// The member's locale for replies.
pub(super) fn locale(ctx: Context<'_>) -> &str {
    ctx.locale().unwrap_or(crate::i18n::FALLBACK_LOCALE)
}

/// poise's error hook.
pub(super) async fn on_error(error: poise::FrameworkError<'_, BotData, BotError>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. } => match error {
            BotError::User(user_error) => {
                crate::observe::interaction(&ctx.command().qualified_name, "refused");
                let text = user_error.localize(&ctx.data().i18n, locale(ctx));
                send_ephemeral(ctx, text).await;
            }
            BotError::Internal(internal) => {
                crate::observe::interaction(&ctx.command().qualified_name, "error");
                report_internal(ctx, &internal).await;
            }
        },
        poise::FrameworkError::ArgumentParse {
            ctx, error, input, ..
        } => {
            tracing::warn!(command = %ctx.command().qualified_name, ?input, %error, "argument parse failed");
            crate::observe::interaction(&ctx.command().qualified_name, "error");
            let text = ctx.data().i18n.tr(locale(ctx), "error-internal", None);
            send_ephemeral(ctx, text).await;
        }
        poise::FrameworkError::MissingUserPermissions { ctx, .. } => {
            tracing::info!(command = %ctx.command().qualified_name, member = %ctx.author().id, "refused: missing permission");
            crate::observe::interaction(&ctx.command().qualified_name, "refused");
            let text = ctx
                .data()
                .i18n
                .tr(locale(ctx), "error-missing-permission", None);
            send_ephemeral(ctx, text).await;
        }
        poise::FrameworkError::GuildOnly { ctx, .. } => {
            crate::observe::interaction(&ctx.command().qualified_name, "refused");
            let text = ctx.data().i18n.tr(locale(ctx), "error-guild-only", None);
            send_ephemeral(ctx, text).await;
        }
        poise::FrameworkError::Setup { error, .. } => {
            tracing::error!(error = %error, "bot setup failed (command registration)");
        }
        other => {
            if let Some(ctx) = other.ctx() {
                crate::observe::interaction(&ctx.command().qualified_name, "error");
                tracing::error!(command = %ctx.command().qualified_name, error = %other, "framework error");
                let text = ctx.data().i18n.tr(locale(ctx), "error-internal", None);
                send_ephemeral(ctx, text).await;
            } else {
                tracing::error!(error = %other, "framework error outside a command");
            }
        }
    }
}

async fn report_internal(ctx: Context<'_>, error: &anyhow::Error) {
    tracing::error!(
        command = %ctx.command().qualified_name,
        guild = ?ctx.guild_id().map(|g| g.get()),
        member = %ctx.author().id,
        error = ?error,
        "command failed"
    );
    let text = ctx.data().i18n.tr(locale(ctx), "error-internal", None);
    send_ephemeral(ctx, text).await;
}

async fn send_ephemeral(ctx: Context<'_>, text: String) {
    let reply = poise::CreateReply::default()
        .content(text)
        .ephemeral(true)
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    if let Err(error) = ctx.send(reply).await {
        tracing::error!(%error, "could not send an error reply");
    }
}
