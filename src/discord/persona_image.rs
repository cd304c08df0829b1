//! `/persona add-image`: an image a member loves, checked (`crate::upload`) and kept only as
//! its CLIP embedding, evidence of their taste.

use poise::serenity_prelude as serenity;

use super::errors::locale;
use super::persona::{ids, reply};
use super::{BotError, Context};
use crate::error::UserError;
use crate::upload::{self, check_declared, UploadError, UploadLimits};

/// `/persona add-image` downloads and embeddings running at once, over the whole bot.
static ADDING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Add an image you love: it tells zipp about your taste.
#[poise::command(slash_command, guild_only, rename = "add-image")]
pub async fn add_image(ctx: Context<'_>, image: serenity::Attachment) -> Result<(), BotError> {
    let (guild, member) = ids(ctx)?;
    let data = ctx.data();
    if !data.store.guild_settings(guild).await?.inference_on() {
        return Err(UserError::new("error-image-inference-off").into());
    }
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
    .map_err(|e| upload_error(e, &limits))?;
    ctx.defer_ephemeral().await?;
    // Downloads and decodes at once are few: each may hold 16 MP decoded plus CLIP's work.
    let _permit = ADDING
        .acquire()
        .await
        .map_err(|e| BotError::Internal(anyhow::Error::new(e).context("image semaphore")))?;
    let bytes = download(&image.url, &limits).await?;
    let embedded = tokio::task::spawn_blocking(move || -> Result<Vec<f32>, BotError> {
        let decoded = upload::decode(&bytes, &limits).map_err(|e| upload_error(e, &limits))?;
        let mut rows = clip
            .embed_images(&[decoded])
            .map_err(|e| BotError::Internal(anyhow::Error::new(e).context("CLIP embedding")))?;
        rows.pop()
            .ok_or_else(|| BotError::Internal(anyhow::anyhow!("CLIP returned no embedding")))
    })
    .await
    .map_err(|e| BotError::Internal(anyhow::Error::new(e).context("image task")))??;
    // The store checks consent and the server's switch again, in the insert: either may have
    // changed while the image was downloaded and embedded.
    if !data
        .store
        .add_member_image(guild, member, &embedded)
        .await?
    {
        return Err(UserError::new("error-image-no-consent").into());
    }
    tracing::info!(%guild, %member, bytes = image.size, "member added an image");
    let text = data.i18n.tr(locale(ctx), "persona-image-added", None);
    reply(ctx, text, Vec::new()).await
}

/// The member's message for a refused upload.
fn upload_error(error: UploadError, limits: &UploadLimits) -> BotError {
    let user = match error {
        UploadError::Type => UserError::new("error-image-type"),
        UploadError::TooLarge { max_bytes } => UserError::new("error-image-too-large")
            .with_number("max", (max_bytes / (1024 * 1024)).max(1) as i64),
        UploadError::TooManyPixels { .. } => UserError::new("error-image-too-many-pixels")
            .with_number("max", (limits.max_pixels / 1_000_000) as i64),
        UploadError::Unreadable(reason) => {
            tracing::info!(%reason, "refused an unreadable image");
            UserError::new("error-image-unreadable")
        }
    };
    user.into()
}

/// Downloads an attachment, stopping as soon as it exceeds the byte limit.
async fn download(url: &str, limits: &UploadLimits) -> Result<Vec<u8>, BotError> {
    let max = limits.max_bytes;
    let internal = |e: reqwest::Error| {
        BotError::Internal(anyhow::Error::new(e).context("downloading an attachment"))
    };
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
    if crate::http_client::is_loopback_url(url) {
        builder = builder.no_proxy();
    }
    let client = builder.build().map_err(internal)?;
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(internal)?;
    let too_large = || upload_error(UploadError::TooLarge { max_bytes: max }, limits);
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
