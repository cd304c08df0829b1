//! Wiring: builds the store, the renderer, the workers and the bot from a [`Config`], and shuts
//! them down cleanly. `main.rs` maps subcommands onto [`App::start`]; tests use the same entry
//! point with their own renderer and client hooks.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::consent::ConsentService;
use crate::discord::{self, Bot, BotData};
use crate::i18n::I18n;
use crate::imagine::ImagineService;
use crate::ingest::{IngestConfig, Ingestor};
use crate::lifecycle::PersonaService;
use crate::models::Catalog;
use crate::render::engine::DiffusionRenderer;
use crate::render::worker::{run_worker, WorkerConfig};
use crate::render::Renderer;
use crate::rewrite::registry::Rewriters;
use crate::rewrite::template::counter;
use crate::store::Store;
use zipp_clip::tokenizer as clip_tokenizer;

/// The longest a graceful shutdown waits for the bot's tasks and workers (the process then
/// exits within about a second more: see `main`).
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(8);

/// What to start.
pub struct AppOptions {
    /// The configuration.
    pub config: Config,
    /// Connect to Discord.
    pub run_bot: bool,
    /// Render workers in this process.
    pub workers: usize,
    /// The renderer (default: the diffusion renderer over the catalog).
    pub renderer: Option<Arc<dyn Renderer>>,
    /// The Discord token (required when `run_bot`).
    pub token: Option<String>,
    /// Adds handlers to the Discord client (tests).
    pub customize_client: Option<crate::discord::ClientCustomizer>,
}

/// A running zipp.
pub struct App {
    /// The database.
    pub store: Store,
    /// The bot, when started.
    pub bot: Option<Bot>,
    /// Persona inference, when the bot runs.
    pub personas: Option<Arc<PersonaService>>,
    /// Gateway-event ingestion, when the bot runs.
    pub ingestor: Option<Arc<Ingestor>>,
    /// Consent and erasure, when the bot runs.
    pub consent: Option<Arc<ConsentService>>,
    /// The metrics and health server, when `observe.listen` is set.
    pub observe: Option<crate::observe::Server>,
    workers: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

/// Picks the candle device named by `render.device`.
pub fn device(config: &Config) -> anyhow::Result<candle_core::Device> {
    zipp_diffusion::select_device(config.render.wants_cuda()).context("render.device")
}

/// The CLIP model of `render.clip_model`, loaded off the runtime; on failure the error is
/// logged and renders are not embedded (rendering itself is unaffected).
async fn load_clip(config: &Config) -> Option<Arc<zipp_clip::ClipEmbedder>> {
    let model = config.render.clip_model.trim().to_owned();
    if model.is_empty() {
        return None;
    }
    let loaded = tokio::task::spawn_blocking(move || {
        let dir = crate::models::ensure_clip_local(&model)?;
        zipp_clip::ClipEmbedder::load(&dir, &candle_core::Device::Cpu)
    })
    .await;
    match loaded {
        Ok(Ok(clip)) => {
            tracing::info!(dim = clip.dim(), "CLIP loaded: renders are embedded");
            Some(Arc::new(clip))
        }
        Ok(Err(error)) => {
            tracing::error!(%error, "render.clip_model cannot be used; renders are not embedded");
            None
        }
        Err(error) => {
            tracing::error!(%error, "loading CLIP panicked; renders are not embedded");
            None
        }
    }
}

/// The image safety checker of `render.safety_checker` (None when empty). A checker that is
/// configured but cannot be loaded stops the start: renders are never posted unchecked by
/// accident.
async fn load_safety_checker(
    config: &Config,
) -> anyhow::Result<Option<Arc<zipp_clip::safety::SafetyChecker>>> {
    let spec = config.render.safety_checker.trim().to_owned();
    if spec.is_empty() {
        tracing::warn!("render.safety_checker is empty: renders are not safety-checked and are posted everywhere");
        return Ok(None);
    }
    let shown = spec.clone();
    let checker = tokio::task::spawn_blocking(move || {
        let dir = crate::models::ensure_checker_local(&spec)?;
        zipp_clip::safety::SafetyChecker::load(&dir, &candle_core::Device::Cpu)
    })
    .await
    .context("loading the safety checker panicked")?
    .with_context(|| {
        format!("render.safety_checker {shown:?} cannot be used (set it to \"\" to render without a safety check)")
    })?;
    tracing::info!(checker = %shown, "image safety checker loaded");
    Ok(Some(Arc::new(checker)))
}

impl App {
    /// Connects to the database (applying migrations), then starts workers and the bot.
    pub async fn start(options: AppOptions) -> anyhow::Result<App> {
        let config = Arc::new(options.config);
        let store = Store::connect(&config.database.url, config.database.max_connections)
            .await
            .with_context(|| format!("database.url {}", redact_url(&config.database.url)))?;
        let catalog = Arc::new(load_catalog(&config)?);
        // Before anything records a metric.
        let observe_at = config.observe.address()?;
        if observe_at.is_some() {
            crate::observe::install().map_err(|e| anyhow::anyhow!("metrics: {e}"))?;
        }
        let wake = Arc::new(Notify::new());
        let (shutdown, shutdown_rx) = watch::channel(false);

        let clip = if options.workers > 0 || options.run_bot {
            load_clip(&config).await
        } else {
            None
        };
        let safety = if options.workers > 0 {
            load_safety_checker(&config).await?
        } else {
            None
        };
        let mut workers = Vec::new();
        let mut checks: Vec<(&'static str, crate::observe::Check)> = Vec::new();
        if options.workers > 0 {
            let renderer: Arc<dyn Renderer> = match options.renderer {
                Some(renderer) => renderer,
                None => Arc::new(
                    DiffusionRenderer::new(
                        (*catalog).clone(),
                        device(&config)?,
                        config.render.max_memory_bytes(),
                    )
                    .with_max_batch(config.render.max_batch_images())
                    .with_pinned(config.render.models.clone()),
                ),
            };
            // A worker is ready when the models it renders can be loaded: those of
            // `render.models`, else the default one.
            let models = if config.render.models.is_empty() {
                vec![config.render.default_model().to_owned()]
            } else {
                config.render.models.clone()
            };
            let loadable = Arc::clone(&renderer);
            checks.push((
                "model",
                Arc::new(move || {
                    let (renderer, models) = (Arc::clone(&loadable), models.clone());
                    Box::pin(async move {
                        tokio::task::spawn_blocking(move || {
                            models.iter().try_for_each(|model| renderer.ready(model))
                        })
                        .await
                        .map_err(|e| format!("the check panicked: {e}"))?
                    })
                }),
            ));
            // Jobs queued by other processes wake these workers at once (PostgreSQL).
            {
                let (store, wake, shutdown) =
                    (store.clone(), Arc::clone(&wake), shutdown_rx.clone());
                workers.push(tokio::spawn(async move {
                    if let Err(error) = store.relay_queued(wake, shutdown).await {
                        tracing::warn!(%error, "cannot listen for queued jobs: workers poll");
                    }
                }));
            }
            for index in 0..options.workers {
                let worker_config = WorkerConfig {
                    owner: WorkerConfig::unique_owner(index),
                    lease: Duration::from_secs(config.render.lease_secs),
                    poll: Duration::from_millis(config.render.poll_ms),
                    retry_backoff: Duration::from_secs(config.render.retry_backoff_secs),
                    clip: clip.clone(),
                    deadline: Duration::from_secs(config.render.deadline_secs),
                    safety: safety.clone(),
                    preview_every: config.render.preview_every,
                    models: config.render.models.clone(),
                };
                workers.push(tokio::spawn(run_worker(
                    store.clone(),
                    Arc::clone(&renderer),
                    worker_config,
                    Arc::clone(&wake),
                    shutdown_rx.clone(),
                )));
            }
        }

        let mut personas_handle = None;
        let mut ingestor_handle = None;
        let mut consent_handle = None;
        let bot = if options.run_bot {
            let token = match options.token {
                Some(token) => token,
                None => config.discord_token()?,
            };
            let i18n = Arc::new(I18n::load().map_err(|e| anyhow::anyhow!(e))?);
            // Rewrites are checked against the text encoder's window with its own tokenizer:
            // the CLIP BPE of every Stable Diffusion 1.x/2.x model, shipped in the binary.
            let bpe = clip_tokenizer::bundled().context("building the CLIP tokenizer")?;
            let counter = counter(move |text| clip_tokenizer::count_tokens(&bpe, text));
            let rewriters = Arc::new(Rewriters::new(&catalog, &config.rewrite, counter));
            rewriters.preload_default();
            let ingestor = Ingestor::new(
                store.clone(),
                IngestConfig {
                    flush_max: config.ingest.flush_max.max(1),
                    flush_every: Duration::from_millis(config.ingest.flush_ms.max(10)),
                    retention: Duration::from_secs(config.ingest.retention_days * 86_400),
                },
            );
            let personas = PersonaService::new(
                store.clone(),
                config.persona.clone(),
                Arc::clone(&rewriters),
                clip.clone(),
                config.ingest.backfill_days,
            )
            .context("persona.descriptors")?;
            let imagine = Arc::new(ImagineService::new(
                store.clone(),
                Arc::clone(&rewriters),
                Arc::clone(&config),
                format!("bot-{}", WorkerConfig::unique_owner(0)),
            ));
            let consent = Arc::new(ConsentService::new(
                store.clone(),
                Arc::clone(&ingestor),
                Arc::clone(&personas),
            ));
            personas_handle = Some(Arc::clone(&personas));
            consent_handle = Some(Arc::clone(&consent));
            ingestor_handle = Some(Arc::clone(&ingestor));
            let data = BotData {
                store: store.clone(),
                config: Arc::clone(&config),
                catalog,
                rewriters,
                i18n,
                wake_workers: wake,
                ingestor,
                personas,
                clip,
                imagine,
                consent,
                backfills: Arc::default(),
            };
            let customize = options.customize_client;
            Some(
                discord::start(data, &token, move |builder| match customize {
                    Some(customize) => customize(builder),
                    None => builder,
                })
                .await?,
            )
        } else {
            None
        };
        if let Some(bot) = &bot {
            // A bot is ready when its shards are connected to the gateway.
            let shards = Arc::clone(&bot.shard_manager);
            checks.push((
                "gateway",
                Arc::new(move || {
                    let shards = Arc::clone(&shards);
                    Box::pin(async move { discord::gateway_ready(&shards).await })
                }),
            ));
        }
        let observe = match observe_at {
            Some(address) => Some(
                crate::observe::serve(address, store.clone(), checks, shutdown.subscribe()).await?,
            ),
            None => None,
        };
        Ok(App {
            store,
            bot,
            personas: personas_handle,
            ingestor: ingestor_handle,
            consent: consent_handle,
            observe,
            workers,
            shutdown,
        })
    }

    /// Stops the bot (delivery first), hands running jobs back to the queue, closes the database.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Some(bot) = self.bot {
            bot.shutdown().await;
        }
        for worker in self.workers {
            if let Err(error) = worker.await {
                tracing::error!(%error, "worker task ended abnormally");
            }
        }
        if let Some(server) = self.observe {
            server.stopped().await;
        }
        self.store.close().await;
    }

    /// Runs until Ctrl-C or SIGTERM (or the gateway client dies), then shuts down — within
    /// [`SHUTDOWN_LIMIT`]: past it, what is still running is left to the leases (a job or a
    /// delivery whose owner went away is taken over when its lease expires).
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        wait_for_signal(self.bot.as_ref()).await;
        tracing::info!("shutting down");
        if tokio::time::timeout(SHUTDOWN_LIMIT, self.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                limit_s = SHUTDOWN_LIMIT.as_secs(),
                "shutdown took too long; exiting with work in flight (its leases hand it on)"
            );
        }
        Ok(())
    }
}

async fn wait_for_signal(bot: Option<&Bot>) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let terminate = async {
            match term.as_mut() {
                Some(term) => {
                    term.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = terminate => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if bot.is_some_and(Bot::is_finished) {
                    tracing::error!("the Discord client stopped; exiting");
                    return;
                }
            }
        }
    }
}

fn load_catalog(config: &Config) -> anyhow::Result<Catalog> {
    let path = &config.render.models_file;
    if !path.exists() {
        tracing::warn!(path = %path.display(), "render.models_file does not exist; only local model directories can be used");
        return Ok(Catalog::default());
    }
    Catalog::load(path).context("render.models_file")
}

/// The URL without its credentials, for logs and errors (see [`crate::http_client::redact_url`]).
pub use crate::http_client::redact_url;
