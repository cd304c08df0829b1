//! Discord glue: the poise framework, slash commands, event handling and reply rendering.
//!
//! **Architecture invariant:** this is the only module that imports serenity or poise. It turns
//! Discord types into the core's own (ids, requests) and calls the core; everything it shows a
//! member comes from `commands/*.ftl`.
//!
//! `discord.api_url` points the bot at a Discord HTTP proxy or a fake Discord: serenity's
//! `proxy` then rewrites every REST URL, its ratelimiter is disabled (it would bypass the proxy),
//! and reqwest ignores `HTTP(S)_PROXY` so local traffic stays local. The configuration allows
//! that only for a proxy on this machine or one that respects Discord's rate limits itself
//! (`discord.proxy_rate_limits`): towards Discord, the rate limiter is always on.

mod again;
pub mod backfill;
mod compare;
mod config;
mod delivery;
mod errors;
mod events;
mod imagine;
mod info;
mod localize;
mod persona;
mod persona_image;
mod persona_interactions;
mod queue;
mod settings;
mod stats;

use std::sync::Arc;

use poise::serenity_prelude as serenity;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::config::{Config, Shards};
use crate::error::UserError;
use crate::i18n::I18n;
use crate::ingest::Ingestor;
use crate::lifecycle::PersonaService;
use crate::models::Catalog;
use crate::rewrite::registry::Rewriters;
use crate::store::{Store, StoreError};

pub use localize::localized_commands;

/// Shared state of every command invocation.
pub struct BotData {
    /// The database.
    pub store: Store,
    /// The configuration.
    pub config: Arc<Config>,
    /// The model catalog.
    pub catalog: Arc<Catalog>,
    /// The prompt rewriters servers can choose.
    pub rewriters: Arc<Rewriters>,
    /// Localized texts.
    pub i18n: Arc<I18n>,
    /// Wakes in-process workers when a job is enqueued.
    pub wake_workers: Arc<Notify>,
    /// Records consenting members' interactions.
    pub ingestor: Arc<Ingestor>,
    /// Persona inference (encoder, verbalizer, schedule).
    pub personas: Arc<PersonaService>,
    /// CLIP, for images members add (`render.clip_model`); None when not configured.
    pub clip: Option<Arc<zipp_clip::ClipEmbedder>>,
    pub imagine: Arc<crate::imagine::ImagineService>,
    pub consent: Arc<crate::consent::ConsentService>,
    /// History backfills in progress ([`backfill::MAX_BACKFILLS`] at once, one per member).
    pub backfills: Arc<backfill::Backfills>,
}

/// A command's failure: shown politely (user errors) or logged and replaced by a generic text.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The member's input or situation; shown to them, ephemeral.
    #[error(transparent)]
    User(#[from] UserError),
    /// Everything else; logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<serenity::Error> for BotError {
    fn from(error: serenity::Error) -> Self {
        BotError::Internal(anyhow::Error::new(error).context("Discord API call"))
    }
}

impl From<crate::imagine::ImagineError> for BotError {
    fn from(error: crate::imagine::ImagineError) -> Self {
        match error {
            crate::imagine::ImagineError::User(user) => BotError::User(user),
            crate::imagine::ImagineError::Store(store) => store.into(),
        }
    }
}

impl From<StoreError> for BotError {
    fn from(error: StoreError) -> Self {
        BotError::Internal(anyhow::Error::new(error))
    }
}

/// The poise context of our commands.
pub type Context<'a> = poise::Context<'a, BotData, BotError>;

/// Ready when this process runs shards and every one is connected to the gateway (`/readyz`).
pub async fn gateway_ready(shards: &serenity::ShardManager) -> Result<(), String> {
    let runners = shards.runners.lock().await;
    if runners.is_empty() {
        return Err("no shard is running yet".to_owned());
    }
    let waiting: Vec<String> = runners
        .iter()
        .filter(|(_, runner)| runner.stage != serenity::ConnectionStage::Connected)
        .map(|(id, runner)| format!("shard {id} is {:?}", runner.stage))
        .collect();
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(waiting.join(", "))
    }
}

/// The running bot.
pub struct Bot {
    /// The REST client (proxied when `discord.api_url` is set).
    pub http: Arc<serenity::Http>,
    /// The gateway shards.
    pub shard_manager: Arc<serenity::ShardManager>,
    client_task: JoinHandle<Result<(), serenity::Error>>,
    delivery_task: JoinHandle<()>,
    rewrite_task: JoinHandle<()>,
    sweep_task: JoinHandle<()>,
    ingest_task: JoinHandle<()>,
    persona_task: JoinHandle<()>,
    shutdown: watch::Sender<bool>,
    ingest_shutdown: watch::Sender<bool>,
}

impl Bot {
    /// Stops delivering, closes the gateway connection and waits for both.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Err(error) = self.delivery_task.await {
            tracing::error!(%error, "delivery task ended abnormally");
        }
        if let Err(error) = self.rewrite_task.await {
            tracing::error!(%error, "rewrite stage ended abnormally");
        }
        if let Err(error) = self.sweep_task.await {
            tracing::error!(%error, "retention sweep ended abnormally");
        }
        if let Err(error) = self.persona_task.await {
            tracing::error!(%error, "persona task ended abnormally");
        }
        self.shard_manager.shutdown_all().await;
        // After the gateway is closed, so the last events are in the final flush.
        let _ = self.ingest_shutdown.send(true);
        if let Err(error) = self.ingest_task.await {
            tracing::error!(%error, "ingest task ended abnormally");
        }
        match self.client_task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "gateway client ended with an error"),
            Err(error) => tracing::error!(%error, "gateway client task ended abnormally"),
        }
    }

    /// Waits until the gateway client stops by itself (fatal error) — for `zipp bot`'s main loop.
    pub fn is_finished(&self) -> bool {
        self.client_task.is_finished()
    }
}

/// Builds the REST client; mentions nobody by default. With `api_url` empty it talks to Discord
/// through serenity's rate limiter. With `api_url` set it is proxied, immune to `HTTP(S)_PROXY`
/// and unthrottled (serenity's rate limiter would send to Discord itself, ignoring the proxy):
/// the configuration only allows that for a proxy on this machine or one that respects
/// Discord's limits (`discord.proxy_rate_limits`), never for Discord's own address.
fn build_http(config: &Config, token: &str) -> anyhow::Result<serenity::Http> {
    let mut builder = serenity::HttpBuilder::new(token)
        .default_allowed_mentions(serenity::CreateAllowedMentions::new());
    let api_url = config.discord.api_url.trim().trim_end_matches('/');
    if !api_url.is_empty() {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
        builder = builder
            .proxy(api_url)
            .ratelimiter_disabled(true)
            .client(client);
    }
    Ok(builder.build())
}

/// Adds handlers to the Discord client before it connects (tests add a guard that fails on
/// unparsable events); lets the wiring in `app` customize the client without naming serenity.
pub type ClientCustomizer =
    Box<dyn FnOnce(serenity::ClientBuilder) -> serenity::ClientBuilder + Send>;

/// Connects to Discord (or `discord.api_url`), registers the commands once ready, and starts
/// delivering finished renders. `customize` can add handlers to the client (tests add a guard
/// that fails on unparsable events).
pub async fn start(
    data: BotData,
    token: &str,
    customize: impl FnOnce(serenity::ClientBuilder) -> serenity::ClientBuilder,
) -> anyhow::Result<Bot> {
    let config = Arc::clone(&data.config);
    let i18n = Arc::clone(&data.i18n);
    let store = data.store.clone();
    let ingestor = Arc::clone(&data.ingestor);
    let personas = Arc::clone(&data.personas);
    let imagine = Arc::clone(&data.imagine);
    let wake = Arc::clone(&data.wake_workers);
    let http = build_http(&config, token)?;
    let commands = localized_commands(&i18n)?;
    let dev_guild = config.discord.dev_guild;
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands,
            on_error: |error| Box::pin(errors::on_error(error)),
            post_command: |ctx| {
                Box::pin(async move {
                    crate::observe::interaction(&ctx.command().qualified_name, "ok");
                })
            },
            event_handler: |framework, event| {
                Box::pin(async move {
                    let (ctx, data) = (framework.serenity_context, framework.user_data);
                    match event {
                        serenity::FullEvent::InteractionCreate {
                            interaction: serenity::Interaction::Component(component),
                        } => {
                            // Counted by the handler that took the press (a bounded label:
                            // never the custom id a client sent).
                            let handled = async {
                                Ok::<_, serenity::Error>(
                                    if persona_interactions::on_component(ctx, component, data)
                                        .await?
                                    {
                                        "button:persona"
                                    } else if queue::on_component(ctx, component, data).await? {
                                        "button:queue"
                                    } else if info::on_component(ctx, component, data).await? {
                                        "button:info"
                                    } else if again::on_component(ctx, component, data).await? {
                                        "button:again"
                                    } else {
                                        compare::on_component(ctx, component, data).await?;
                                        "button:compare"
                                    },
                                )
                            }
                            .await;
                            match handled {
                                Ok(handler) => crate::observe::interaction(handler, "ok"),
                                Err(error) => {
                                    crate::observe::interaction("button", "error");
                                    return Err(error.into());
                                }
                            }
                        }
                        serenity::FullEvent::InteractionCreate {
                            interaction: serenity::Interaction::Modal(modal),
                        } => {
                            persona_interactions::on_modal(ctx, modal, data).await?;
                        }
                        _ => events::on_event(ctx, event, data).await,
                    }
                    Ok(())
                })
            },
            allowed_mentions: Some(serenity::CreateAllowedMentions::new()),
            ..Default::default()
        })
        .setup(move |ctx, ready, framework| {
            Box::pin(async move {
                let commands = &framework.options().commands;
                if dev_guild != 0 {
                    poise::builtins::register_in_guild(ctx, commands, serenity::GuildId::new(dev_guild))
                        .await?;
                } else {
                    poise::builtins::register_globally(ctx, commands).await?;
                }
                tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), dev_guild, "connected; commands registered");
                Ok(data)
            })
        })
        .build();
    // Only metadata is ever needed: no privileged intents (no MESSAGE_CONTENT).
    let intents = serenity::GatewayIntents::non_privileged();
    let builder = serenity::ClientBuilder::new_with_http(http, intents).framework(framework);
    let mut client = customize(builder).await?;
    let http = Arc::clone(&client.http);
    let shard_manager = Arc::clone(&client.shard_manager);
    let shards = config.discord.shards()?;
    tracing::info!(?shards, "gateway shards of this process");
    let client_task = tokio::spawn(async move {
        match shards {
            Shards::One => client.start().await,
            Shards::Auto => client.start_autosharded().await,
            // serenity's range runs from its start to its end, both included.
            Shards::Range { first, last, total } => {
                client.start_shard_range(first..last, total).await
            }
        }
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let persona_task = tokio::spawn(personas.run(shutdown_rx.clone()));
    let rewrite_task = tokio::spawn(imagine.run_rewrite_stage(wake, shutdown_rx.clone()));
    let sweep_task = tokio::spawn(crate::sweep::run(
        store.clone(),
        Arc::clone(&config),
        shutdown_rx.clone(),
    ));
    let delivery_task = tokio::spawn(delivery::run(
        store,
        Arc::clone(&http),
        i18n,
        config,
        shutdown_rx,
    ));
    let (ingest_shutdown, ingest_shutdown_rx) = watch::channel(false);
    let ingest_task = tokio::spawn(ingestor.run(ingest_shutdown_rx));
    Ok(Bot {
        http,
        shard_manager,
        client_task,
        delivery_task,
        rewrite_task,
        sweep_task,
        ingest_task,
        persona_task,
        shutdown,
        ingest_shutdown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_is_on_for_discord_itself() {
        let mut config = Config::default();
        let http = build_http(&config, "token").expect("client");
        assert!(http.ratelimiter.is_some(), "throttled towards Discord");
        assert!(http.proxy.is_none());
        // A fake Discord or proxy on this machine: proxied, so not throttled by serenity.
        config.discord.api_url = "http://127.0.0.1:3030/".to_owned();
        let http = build_http(&config, "token").expect("client");
        assert!(http.ratelimiter.is_none());
        assert_eq!(http.proxy.as_deref(), Some("http://127.0.0.1:3030"));
    }
}
