//! `/imagine prompt [seed] [negative] [persona] [aspect] [count] [model]`, shaped as the product: convert the interaction
//! → [`ImagineService::prepare`] (validation; refusals are ephemeral) →
//! [`ImagineService::accept`] (the durable job, one statement) → defer →
//! [`ImagineService::hand_off`] (the rewrite stage rewrites and queues it). The worker renders;
//! [`super::delivery`] edits the queue position, then progress, into the deferred response, and
//! finally the image.
//!
//! `persona:compare` renders the generic prompt and the persona prompt with the same seed, side
//! by side in one image; the side of the persona image is random and recorded, and the member's
//! pick (see [`super::compare`]) feeds the server's win rate and their few-shot examples.

use poise::serenity_prelude as serenity;
use serenity::Builder as _;

use super::errors::locale;
use super::{BotError, Context};
use crate::ids::{ApplicationId, ChannelId, GuildId, InteractionId, MemberId};
use crate::imagine::ImagineRequest;

/// Whether the member's persona conditions the render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poise::ChoiceParameter)]
pub enum PersonaMode {
    /// Rewrite the prompt for the persona (the default).
    #[name = "on"]
    On,
    /// Render the prompt as typed.
    #[name = "off"]
    Off,
    /// Render both, side by side, and let the member pick.
    #[name = "compare"]
    Compare,
}

/// The shape of the image (choice labels come from commands/*.ftl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, poise::ChoiceParameter)]
pub enum AspectChoice {
    /// 1:1.
    #[name = "square"]
    Square,
    /// 4:3.
    #[name = "landscape"]
    Landscape,
    /// 3:4.
    #[name = "portrait"]
    Portrait,
    /// 3:2.
    #[name = "photo"]
    Photo,
    /// 2:3.
    #[name = "photo-portrait"]
    PhotoPortrait,
    /// 16:9.
    #[name = "wide"]
    Wide,
    /// 9:16.
    #[name = "tall"]
    Tall,
}

impl From<AspectChoice> for crate::domain::Aspect {
    fn from(choice: AspectChoice) -> Self {
        match choice {
            AspectChoice::Square => Self::Square,
            AspectChoice::Landscape => Self::Landscape4x3,
            AspectChoice::Portrait => Self::Portrait3x4,
            AspectChoice::Photo => Self::Landscape3x2,
            AspectChoice::PhotoPortrait => Self::Portrait2x3,
            AspectChoice::Wide => Self::Wide16x9,
            AspectChoice::Tall => Self::Tall9x16,
        }
    }
}

impl From<PersonaMode> for crate::imagine::PersonaMode {
    fn from(mode: PersonaMode) -> Self {
        match mode {
            PersonaMode::On => Self::On,
            PersonaMode::Off => Self::Off,
            PersonaMode::Compare => Self::Compare,
        }
    }
}

/// Whether `channel` is age-restricted (Discord's `nsfw`; a thread inherits its parent's), from
/// the gateway cache. Unknown (not cached, DMs) counts as not.
pub(super) fn age_restricted(
    cache: &serenity::Cache,
    guild: Option<serenity::GuildId>,
    channel: serenity::ChannelId,
) -> bool {
    let Some(guild) = guild else {
        return false;
    };
    let Some(guild) = cache.guild(guild) else {
        return false;
    };
    let find = |id: serenity::ChannelId| {
        guild
            .channels
            .get(&id)
            .or_else(|| guild.threads.iter().find(|t| t.id == id))
    };
    match find(channel) {
        Some(c) if c.thread_metadata.is_some() => {
            c.parent_id.and_then(find).is_some_and(|parent| parent.nsfw)
        }
        Some(c) => c.nsfw,
        None => false,
    }
}

/// The models this server lets its members pick (its own first) that contain `partial`.
async fn complete_model(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let guild = ctx.guild_id().map(|g| GuildId(g.get()));
    let models = match ctx.data().imagine.allowed_models(guild).await {
        Ok(models) => models,
        Err(error) => {
            tracing::warn!(%error, "listing the models a member may pick failed");
            Vec::new()
        }
    };
    let partial = partial.to_lowercase();
    models
        .into_iter()
        .filter(|m| m.to_lowercase().contains(&partial))
        .take(25)
        .fold(
            serenity::CreateAutocompleteResponse::new(),
            |response, name| {
                // Discord's limit on a choice's name and value.
                let shown: String = name.chars().take(100).collect();
                response.add_string_choice(shown.clone(), shown)
            },
        )
}

/// Render an image from your prompt (texts come from commands/*.ftl).
// One argument per option Discord shows.
#[allow(clippy::too_many_arguments)]
#[poise::command(slash_command)]
pub async fn imagine(
    ctx: Context<'_>,
    prompt: String,
    #[min = 0]
    #[max = 4294967295.0]
    seed: Option<i64>,
    negative: Option<String>,
    persona: Option<PersonaMode>,
    aspect: Option<AspectChoice>,
    #[min = 1]
    #[max = 4]
    count: Option<u32>,
    #[autocomplete = "complete_model"] model: Option<String>,
) -> Result<(), BotError> {
    let arrived = std::time::Instant::now();
    let poise::Context::Application(app) = ctx else {
        return Ok(());
    };
    let interaction = app.interaction;
    let data = ctx.data();
    let service = &data.imagine;
    let request = ImagineRequest {
        guild: interaction.guild_id.map(|g| GuildId(g.get())),
        channel: ChannelId(interaction.channel_id.get()),
        member: MemberId(interaction.user.id.get()),
        interaction: InteractionId(interaction.id.get()),
        application: ApplicationId(interaction.application_id.get()),
        token: interaction.token.clone(),
        locale: locale(ctx).to_owned(),
        attachment_size_limit: u64::from(interaction.attachment_size_limit),
        prompt,
        negative,
        seed,
        mode: persona.map(Into::into),
        // Age-restricted channels (Discord's `nsfw`) are where a flagged image may be shown.
        channel_nsfw: age_restricted(
            &ctx.serenity_context().cache,
            interaction.guild_id,
            interaction.channel_id,
        ),
        aspect: aspect.map(Into::into),
        parent: None,
        derive: None,
        source_cell: None,
        count,
        model,
    };
    // Everything that can refuse comes before deferring: a refusal is an ephemeral reply and
    // nothing is stored.
    let prepared = service.prepare(request).await?;
    // Durable before acknowledged: once Discord has the deferral, the job exists, and a bot
    // killed at any later instant (or another bot process) finishes it.
    let accepted = service.accept(prepared).await?;
    if !accepted.newly_created {
        tracing::info!(job = %accepted.job, "interaction delivered twice; already accepted");
        return Ok(());
    }
    if let Err(error) = ctx.defer().await {
        // Discord showed the member that the command failed: render nothing for it.
        if let Err(store_error) = service.discard(&accepted).await {
            tracing::error!(job = %accepted.job, %store_error, "dropping an unacknowledged job failed");
        }
        return Err(error.into());
    }
    crate::observe::acknowledged("imagine", arrived);
    // The rewrite, and the queue position shown by delivery, happen off the handler.
    service.hand_off(accepted);

    let (guild, member) = (
        interaction.guild_id.map(|g| GuildId(g.get())),
        MemberId(interaction.user.id.get()),
    );
    if let Some(backfill_days) = service.consent_question(guild, member).await? {
        let (text, row) = super::persona::consent_prompt(&data.i18n, locale(ctx), backfill_days);
        serenity::CreateInteractionResponseFollowup::new()
            .content(text)
            .components(vec![row])
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new())
            .execute(ctx.http(), (None, &interaction.token))
            .await?;
    }
    Ok(())
}
