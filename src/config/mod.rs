//! Configuration: every knob of the bot and the worker in one [`Config`] struct.
//!
//! Load order (later wins): built-in defaults → `config/zipp.toml` (or `--config PATH`) →
//! environment variables `ZIPP_<SECTION>__<KEY>` (e.g. `ZIPP_DISCORD__API_URL`).
//! Secrets never live in the committed config: the Discord token comes from `DISCORD_TOKEN`
//! or from the secrets file named by `discord.secrets_file`, and is never logged.
//!
//! `config/zipp.example.toml` documents every key with its default; a test keeps the two in sync.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Path of the config file read when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/zipp.toml";

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How the bot talks to Discord.
    pub discord: DiscordConfig,
    /// Where state is kept.
    pub database: DatabaseConfig,
    /// Rendering: models, defaults and the job queue.
    pub render: RenderConfig,
    /// The ZIPP prompt rewrite: LLM choice, time budget, few-shot.
    pub rewrite: RewriteConfig,
    /// Recording consenting members' interactions.
    pub ingest: IngestSettings,
    /// Persona inference and verbalization.
    pub persona: PersonaSettings,
    /// How long member data is kept.
    pub retention: RetentionSettings,
    /// How much `/imagine` one member and one server may ask for.
    pub limits: LimitSettings,
    /// Logging.
    pub log: LogConfig,
    /// Metrics and health endpoints.
    pub observe: ObserveConfig,
}

/// `[observe]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ObserveConfig {
    /// Where the HTTP server with `/metrics` (Prometheus' text format), `/healthz` and `/readyz`
    /// listens, e.g. `0.0.0.0:9090`. Empty (the default): no server, and no metrics are kept.
    pub listen: String,
}

impl ObserveConfig {
    /// The address to listen on (None: off).
    pub fn address(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen.parse().map(Some).map_err(|_| {
            ConfigError(format!(
                "observe.listen must be an address and port such as 0.0.0.0:9090 (got {listen:?})"
            ))
        })
    }
}

/// `[discord]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    /// Base URL of Discord's HTTP API. Empty means Discord itself; set it to use a Discord HTTP
    /// proxy or a local fake Discord (`http://127.0.0.1:PORT`). serenity cannot throttle
    /// requests it sends to a proxy, so zipp's rate limiter is off then: the proxy must respect
    /// Discord's rate limits itself. A proxy on another machine is refused unless
    /// `proxy_rate_limits` says it does; Discord's own address is refused (leave this empty).
    pub api_url: String,
    /// The proxy at a non-local `api_url` respects Discord's rate limits itself (as
    /// twilight-http-proxy does).
    pub proxy_rate_limits: bool,
    /// When non-zero, slash commands are registered in this guild only (instant, for development)
    /// instead of globally.
    pub dev_guild: u64,
    /// A TOML file with `discord_token = "…"`, read when `DISCORD_TOKEN` is unset.
    pub secrets_file: PathBuf,
    /// How long an interaction token may be used, in seconds. Discord's is 900 (15 minutes); the
    /// default keeps a minute of margin. A
    /// result that is ready later is posted as a normal channel message instead.
    pub interaction_token_lifetime_secs: u64,
    /// How often the bot looks for progress and finished renders to deliver, in milliseconds.
    pub delivery_poll_ms: u64,
    /// The least time between two progress edits of the same reply, in milliseconds (Discord
    /// rate-limits message edits).
    pub progress_edit_interval_ms: u64,
    /// How long a bot's claim on delivering a finished render lasts, in seconds: a bot killed
    /// mid-delivery leaves a claim another bot (or its restart) takes over after this long.
    pub delivery_lease_secs: u64,
    /// The gateway shards this process runs: empty (one shard, the whole bot), `auto` (every
    /// shard, as many as Discord recommends), or a range of a total — `0-7/16` (shards 0 to 7
    /// of 16) or `3/16` — for a bot split over processes (Discord requires shards from 2,500
    /// servers on). Every process of a bot must name the same total.
    pub shards: String,
}

/// Which gateway shards a bot process runs (`discord.shards`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shards {
    /// One shard: the whole bot.
    One,
    /// Every shard, as many as Discord recommends.
    Auto,
    /// Shards `first` to `last` (both included) of `total`.
    Range {
        /// The first shard.
        first: u32,
        /// The last shard (included).
        last: u32,
        /// Shards of the whole bot.
        total: u32,
    },
}

impl DiscordConfig {
    /// The shards this process runs.
    pub fn shards(&self) -> Result<Shards, ConfigError> {
        let text = self.shards.trim();
        if text.is_empty() {
            return Ok(Shards::One);
        }
        if text.eq_ignore_ascii_case("auto") {
            return Ok(Shards::Auto);
        }
        let bad = || {
            ConfigError(format!(
                "discord.shards must be empty, auto, or a range of a total such as 0-7/16 or \
                 3/16, within the total (got {text:?})"
            ))
        };
        let (range, total) = text.split_once('/').ok_or_else(bad)?;
        let number = |s: &str| s.trim().parse::<u32>().map_err(|_| bad());
        let (first, last) = match range.split_once('-') {
            Some((first, last)) => (number(first)?, number(last)?),
            None => (number(range)?, number(range)?),
        };
        let total = number(total)?;
        if first > last || last >= total {
            return Err(bad());
        }
        Ok(Shards::Range { first, last, total })
    }

    /// Whether `guild`'s events reach shard `shard` of `total` (Discord's rule).
    pub fn shard_of(guild: u64, total: u32) -> u32 {
        ((guild >> 22) % u64::from(total.max(1))) as u32
    }

    /// `api_url` is empty, or a proxy or fake Discord that may go unthrottled (see its doc).
    fn check_api_url(&self) -> Result<(), ConfigError> {
        let api = self.api_url.trim();
        if api.is_empty() {
            return Ok(());
        }
        let url = reqwest::Url::parse(api)
            .ok()
            .filter(|u| ["http", "https"].contains(&u.scheme()) && u.host().is_some())
            .ok_or_else(|| {
                ConfigError(format!(
                    "discord.api_url must be empty or an http(s) URL (got {api:?})"
                ))
            })?;
        let name = url.host_str().unwrap_or_default().trim_end_matches('.');
        let discord = ["discord.com", "discordapp.com"].iter().any(|d| {
            name.eq_ignore_ascii_case(d) || name.to_ascii_lowercase().ends_with(&format!(".{d}"))
        });
        if discord {
            return Err(ConfigError(format!(
                "discord.api_url points at Discord itself ({name}): leave it empty, so that \
                 zipp's rate limiter stays on"
            )));
        }
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        let local = bare.eq_ignore_ascii_case("localhost")
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !local && !self.proxy_rate_limits {
            return Err(ConfigError(format!(
                "discord.api_url points at {name}, another machine: zipp sends requests to a \
                 proxy without its own rate limiter, so the proxy must respect Discord's rate \
                 limits; set discord.proxy_rate_limits = true if it does"
            )));
        }
        Ok(())
    }
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            api_url: String::new(),
            proxy_rate_limits: false,
            dev_guild: 0,
            secrets_file: PathBuf::from("config/secrets.toml"),
            interaction_token_lifetime_secs: 840,
            delivery_poll_ms: 250,
            progress_edit_interval_ms: 1500,
            delivery_lease_secs: 60,
            shards: String::new(),
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (file and folder are created) or `postgres://user@host/db`.
    pub url: String,
    /// Most connections in the pool.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/zipp.db".to_owned(),
            max_connections: 8,
        }
    }
}

/// `[render]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RenderConfig {
    /// The model catalog (see `config/models.toml`).
    pub models_file: PathBuf,
    /// The diffusion model used when a server chose none: a catalog name, the path of a local
    /// directory in the diffusers layout, or `auto` ([`RenderConfig::default_model`]).
    pub default_model: String,
    /// `cpu`, `cuda` (needs a build with the `cuda` feature) or `auto` (CUDA when built with it).
    pub device: String,
    /// Render workers inside `zipp run` (0: none; then run `zipp worker` elsewhere).
    pub in_process_workers: u32,
    /// Longest accepted prompt, in characters.
    pub max_prompt_chars: usize,
    /// Longest accepted negative prompt, in characters.
    pub max_negative_chars: usize,
    /// How often one job is tried before it fails for good.
    pub max_attempts: u32,
    /// How long a worker owns a job without a heartbeat, in seconds; then another may take it.
    pub lease_secs: u64,
    /// How often an idle worker looks for work, in milliseconds (on PostgreSQL a queued job
    /// wakes it at once; this is the fallback).
    pub poll_ms: u64,
    /// The models this process's workers render (catalog names or folders); empty: every model.
    /// Routes each model's jobs to the workers that keep it loaded (e.g. `["sdxl"]` on one GPU
    /// machine, `["sd-turbo"]` on another); a job of a model no worker lists waits. The models
    /// listed stay loaded once loaded (pinned); otherwise the two most recently used do.
    pub models: Vec<String>,
    /// Delay before a failed attempt is retried, in seconds (doubled on every further attempt).
    pub retry_backoff_secs: u64,
    /// The most one render may take (seconds) unless its catalog entry sets `deadline_secs`;
    /// past it the attempt fails as transient and counts toward `max_attempts`.
    pub deadline_secs: u64,
    /// The image safety checker every render passes: a folder with the checker's `config.json`
    /// and `model.safetensors`, or a Hugging Face repo id with an optional subfolder
    /// (`owner/name/subfolder`). Empty: renders are not checked (and are posted everywhere).
    pub safety_checker: String,
    /// CLIP model that embeds every render for the persona encoder: a folder (`config.json`,
    /// `model.safetensors`) or a Hugging Face repo id, e.g. `openai/clip-vit-base-patch32`.
    /// Empty: renders are not embedded.
    pub clip_model: String,
    /// The most memory one render may take on this worker, in GiB: a job whose estimated peak
    /// (weights + working set, `DiffusionModel::estimate_peak_bytes`) exceeds it is refused
    /// with a clear message instead of running out of memory. 0: on a CPU the machine's total
    /// memory, on a GPU no check (set it to the card's memory).
    pub max_memory_gib: f64,
    /// A live preview every this many denoising steps (a small image projected from the
    /// latents, no VAE decode), attached to the progress edits; 0: none.
    pub preview_every: u32,
    /// The most images rendered in one batch, one denoiser call per step for all of them: a
    /// grid's (`/imagine count:4`), or queued one-image jobs of the same model, size and step
    /// count, leased together; fewer when a batch would not fit in
    /// `max_memory_gib`. 0: 4 on a GPU; 1 on a CPU, so grids keep their live previews (a batch
    /// of 4 is about 1.4x as fast per image there: `bench_render --batch 4`).
    /// Batched grids get no live previews.
    pub max_batch: u32,
}

/// What `render.default_model = "auto"` picks without a GPU: SD-Turbo decoded by TAESD, one
/// step, seconds per image on a few CPU cores.
pub const CPU_DEFAULT_MODEL: &str = "sd-turbo";
/// What `auto` picks when this process renders on CUDA.
pub const GPU_DEFAULT_MODEL: &str = "sdxl";

impl RenderConfig {
    /// Whether this process renders on CUDA: `render.device` is `cuda`, or `auto` in a build
    /// with the `cuda` feature.
    pub fn wants_cuda(&self) -> bool {
        match self.device.as_str() {
            "cpu" => false,
            "cuda" => true,
            _ => cfg!(feature = "cuda"),
        }
    }

    /// The render memory limit in bytes: `max_memory_gib`, or for 0 the machine's total memory
    /// on a CPU (Linux's `/proc/meminfo`); `None` means no check.
    pub fn max_memory_bytes(&self) -> Option<u64> {
        if self.max_memory_gib > 0.0 {
            return Some((self.max_memory_gib * 1024.0 * 1024.0 * 1024.0) as u64);
        }
        if self.wants_cuda() {
            return None;
        }
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        let kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    }

    /// Images of one job rendered at once: `max_batch`, or for 0 four on a GPU and one on a
    /// CPU.
    pub fn max_batch_images(&self) -> usize {
        match self.max_batch {
            0 if self.wants_cuda() => 4,
            0 => 1,
            n => n as usize,
        }
    }

    /// The model for servers that chose none: `default_model`, where `auto` means
    /// [`GPU_DEFAULT_MODEL`] when this process renders on CUDA and [`CPU_DEFAULT_MODEL`]
    /// otherwise. A bot whose renders run on other machines' GPUs should name its model.
    pub fn default_model(&self) -> &str {
        match self.default_model.trim() {
            "auto" if self.wants_cuda() => GPU_DEFAULT_MODEL,
            "auto" => CPU_DEFAULT_MODEL,
            name => name,
        }
    }
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            models_file: PathBuf::from("config/models.toml"),
            default_model: "auto".to_owned(),
            device: "auto".to_owned(),
            in_process_workers: 1,
            max_prompt_chars: 1000,
            max_negative_chars: 500,
            max_attempts: 3,
            lease_secs: 60,
            poll_ms: 500,
            models: Vec::new(),
            retry_backoff_secs: 5,
            deadline_secs: 900,
            safety_checker: "stable-diffusion-v1-5/stable-diffusion-v1-5/safety_checker".to_owned(),
            clip_model: String::new(),
            max_memory_gib: 0.0,
            preview_every: 5,
            max_batch: 0,
        }
    }
}

/// `[rewrite]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RewriteConfig {
    /// LLM used when a server chose none: a name from `[llm.*]` in the model catalog.
    pub default_llm: String,
    /// The most a member waits for an LLM rewrite (ms, retries included); then the template
    /// rewrite is used.
    pub budget_ms: u64,
    /// Timeout of one request to an OpenAI-compatible server (ms).
    pub request_timeout_ms: u64,
    /// Retries of a request answered with 429 or 5xx.
    pub max_retries: u32,
    /// How many of the member's past compare picks go into the request as examples (none yet:
    /// one built-in example in the persona's style, `rewrite::prompt::demonstration`; 0: none).
    pub few_shot: usize,
    /// Most tokens an LLM may generate for one rewrite.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f64,
    /// `local` backend: how many rewrites may generate at once (each holds its own KV cache).
    pub local_max_concurrency: usize,
    /// `local` backend: where the model runs: `auto` (the GPU in a build with the `cuda`
    /// feature when one is present, else the CPU), `cpu` or `cuda`.
    pub local_device: String,
    /// LLM rewrites one server may use per hour (per bot process); past it the template
    /// rewrite answers and the reply says so. 0: no budget.
    pub server_llm_per_hour: u32,
}

impl Default for RewriteConfig {
    fn default() -> Self {
        Self {
            default_llm: "template".to_owned(),
            budget_ms: 8000,
            request_timeout_ms: 6000,
            max_retries: 2,
            few_shot: 3,
            max_tokens: 96,
            temperature: 0.7,
            local_max_concurrency: 1,
            local_device: "auto".to_owned(),
            server_llm_per_hour: 300,
        }
    }
}

/// `[ingest]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    /// Flush aggregated interactions when this many distinct edges are pending.
    pub flush_max: usize,
    /// Flush at least this often (milliseconds): the most a crash can lose.
    pub flush_ms: u64,
    /// Interaction aggregates untouched for this many days are deleted.
    pub retention_days: u64,
    /// In servers whose moderators turned history backfill on, a member's consent also records
    /// the metadata of their messages of the last this many days...
    pub backfill_days: u64,
    /// ...at most this many messages per member...
    pub backfill_messages: usize,
    /// ...reading one page of 100 messages at most this often (milliseconds), per member...
    pub backfill_page_ms: u64,
    /// ...and at most this many pages per member, over all channels (a member with little
    /// activity in a busy server would otherwise page through all of it).
    pub backfill_pages: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            flush_max: 5000,
            flush_ms: 2000,
            retention_days: 180,
            backfill_days: 30,
            backfill_messages: 500,
            backfill_page_ms: 1000,
            backfill_pages: 100,
        }
    }
}

/// `[retention]`: how long each kind of member data is kept (days; 0 keeps it for ever).
/// Interaction aggregates: `ingest.retention_days`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// A render's PNG, after delivery.
    pub images_days: u64,
    /// A finished job — prompts, rewrite — with its image, reactions, embedding and pick.
    pub jobs_days: u64,
    /// Persona versions other than the active one.
    pub persona_history_days: u64,
    /// Images members added with `/persona add-image`.
    pub added_images_days: u64,
    /// After the bot is removed from a server, its data is erased after this many days (being
    /// added back before cancels it).
    pub guild_grace_days: u64,
    /// How often the sweep runs (seconds).
    pub sweep_every_s: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            images_days: 7,
            jobs_days: 90,
            persona_history_days: 180,
            added_images_days: 365,
            guild_grace_days: 30,
            sweep_every_s: 3600,
        }
    }
}

/// `[limits]`: the most `/imagine` jobs one member and one server may have unfinished at once
/// and start per hour. A server's moderators may tighten them (`/config limits`), never loosen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// A member's jobs being rewritten, queued or rendering, over all servers.
    pub member_active: u32,
    /// Jobs a member may start per hour, over all servers.
    pub member_hourly: u32,
    /// A server's jobs being rewritten, queued or rendering.
    pub server_active: u32,
    /// Jobs a server's members may start per hour.
    pub server_hourly: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            member_active: 3,
            member_hourly: 30,
            server_active: 50,
            server_hourly: 600,
        }
    }
}

/// `[persona]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PersonaSettings {
    /// Folder of the persona encoder checkpoint (what `zipp train` writes). Empty: no
    /// inference; members can still write personas.
    pub checkpoint: PathBuf,
    /// How often (seconds) the checkpoint folder is checked for a newer checkpoint.
    pub reload_check_s: u64,
    /// Infer every consenting member's persona this often (seconds); 0 turns the schedule off.
    pub infer_every_s: u64,
    /// The least time (seconds) between two `/persona refresh` of one member.
    pub refresh_cooldown_s: u64,
    /// A member's refresh embeds their neighbourhood: all their channels, roles and reply
    /// partners, and at most this many edges into each of those (`Store::member_neighbourhood`).
    /// 0: the whole server.
    pub refresh_fanout: usize,
    /// Channels and roles kept per member as evidence.
    pub top_k: usize,
    /// Token budget of the evidence sent to an LLM verbalizer (the paper's 4096).
    pub evidence_tokens: usize,
    /// Longest verbalized persona (characters).
    pub max_chars: usize,
    /// `auto`: the server's LLM writes personas when it has one, else the offline verbalizer;
    /// `offline`: always the offline verbalizer.
    pub verbalizer: String,
    /// Time limit of one LLM verbalization (milliseconds); the offline verbalizer answers after.
    pub verbalize_timeout_ms: u64,
    /// How many of the member's recent `/imagine` prompts count as evidence.
    pub recent_prompts: usize,
    /// Descriptor vocabulary of the offline verbalizer; empty: the bundled
    /// `config/descriptors.toml`.
    pub descriptors: PathBuf,
    /// Retrain the encoder on the collected graphs this often (seconds), when enough new data
    /// arrived; 0 (the default) leaves training to `zipp train --from-db`.
    pub train_every_s: u64,
    /// New interaction aggregates needed since the last training before retraining.
    pub train_min_new_edges: u64,
    /// Epochs of scheduled training.
    pub train_epochs: usize,
    /// Largest image a member may add with `/persona add-image` (bytes).
    pub max_image_bytes: u64,
}

impl Default for PersonaSettings {
    fn default() -> Self {
        Self {
            checkpoint: PathBuf::new(),
            reload_check_s: 60,
            infer_every_s: 21_600,
            refresh_cooldown_s: 3600,
            refresh_fanout: 25,
            top_k: 5,
            evidence_tokens: 4096,
            max_chars: 600,
            verbalizer: "auto".to_owned(),
            verbalize_timeout_ms: 60_000,
            recent_prompts: 5,
            descriptors: PathBuf::new(),
            train_every_s: 0,
            train_min_new_edges: 10_000,
            train_epochs: 100,
            max_image_bytes: 10 * 1024 * 1024,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `zipp=debug,serenity=warn`. `RUST_LOG` wins when set.
    pub filter: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info,serenity=warn,tracing::span=warn".to_owned(),
            format: "text".to_owned(),
        }
    }
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads defaults → the config file → `ZIPP_*` environment variables, then validates.
    ///
    /// `path` is `--config`; when it is `None` the default file is read if it exists.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, Env::prefixed("ZIPP_").split("__"))
    }

    fn load_with_env(path: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) if !path.exists() => {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )))
            }
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file(DEFAULT_CONFIG_PATH)),
        }
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError(describe_figment_error(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: URLs, enumerations, ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            // Only the redacted URL: it may carry a password.
            return Err(ConfigError(format!(
                "database.url must start with sqlite:// or postgres:// (got {:?})",
                crate::http_client::redact_url(url)
            )));
        }
        self.discord.check_api_url()?;
        self.observe.address()?;
        self.discord.shards()?;
        if !["auto", "cpu", "cuda"].contains(&self.render.device.as_str()) {
            return Err(ConfigError(format!(
                "render.device must be auto, cpu or cuda (got {:?})",
                self.render.device
            )));
        }
        match self.rewrite.local_device.as_str() {
            "auto" | "cpu" => {}
            "cuda" if cfg!(feature = "cuda") => {}
            "cuda" => {
                return Err(ConfigError(
                    "rewrite.local_device = \"cuda\" needs zipp built with --features cuda"
                        .to_owned(),
                ))
            }
            other => {
                return Err(ConfigError(format!(
                    "rewrite.local_device must be auto, cpu or cuda (got {other:?})"
                )))
            }
        }
        if !["auto", "offline"].contains(&self.persona.verbalizer.as_str()) {
            return Err(ConfigError(format!(
                "persona.verbalizer must be auto or offline (got {:?})",
                self.persona.verbalizer
            )));
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            return Err(ConfigError(format!(
                "log.format must be text or json (got {:?})",
                self.log.format
            )));
        }
        let positive = [
            (
                "database.max_connections",
                u64::from(self.database.max_connections),
            ),
            ("render.max_attempts", u64::from(self.render.max_attempts)),
            ("render.lease_secs", self.render.lease_secs),
            ("render.poll_ms", self.render.poll_ms),
            ("render.deadline_secs", self.render.deadline_secs),
            (
                "render.max_prompt_chars",
                self.render.max_prompt_chars as u64,
            ),
            ("discord.delivery_poll_ms", self.discord.delivery_poll_ms),
            (
                "discord.delivery_lease_secs",
                self.discord.delivery_lease_secs,
            ),
            ("retention.sweep_every_s", self.retention.sweep_every_s),
            ("limits.member_active", u64::from(self.limits.member_active)),
            ("limits.member_hourly", u64::from(self.limits.member_hourly)),
            ("limits.server_active", u64::from(self.limits.server_active)),
            ("limits.server_hourly", u64::from(self.limits.server_hourly)),
            ("persona.reload_check_s", self.persona.reload_check_s),
            ("persona.top_k", self.persona.top_k as u64),
            ("persona.max_chars", self.persona.max_chars as u64),
            (
                "persona.evidence_tokens",
                self.persona.evidence_tokens as u64,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError(format!("{key} must be greater than 0")));
            }
        }
        if self.render.max_batch > 16 {
            return Err(ConfigError(
                "render.max_batch must be between 0 (automatic) and 16".to_owned(),
            ));
        }
        if !(self.render.max_memory_gib.is_finite() && self.render.max_memory_gib >= 0.0) {
            return Err(ConfigError(
                "render.max_memory_gib must be 0 (automatic) or a positive number".to_owned(),
            ));
        }
        if self.render.default_model.trim().is_empty() {
            return Err(ConfigError(
                "render.default_model must not be empty".to_owned(),
            ));
        }
        Ok(())
    }

    /// The Discord bot token: `DISCORD_TOKEN`, else `discord_token` in the secrets file.
    pub fn discord_token(&self) -> Result<String, ConfigError> {
        if let Ok(token) = std::env::var("DISCORD_TOKEN") {
            if !token.trim().is_empty() {
                return Ok(token.trim().to_owned());
            }
        }
        #[derive(Deserialize)]
        struct Secrets {
            discord_token: Option<String>,
        }
        let file = &self.discord.secrets_file;
        let text = std::fs::read_to_string(file).map_err(|_| {
            ConfigError(format!(
                "no Discord token: set DISCORD_TOKEN or put discord_token in {} (discord.secrets_file)",
                file.display()
            ))
        })?;
        // The parser's message quotes the offending line, which may be the token itself: only
        // the file is named.
        let secrets: Secrets = toml_from_str(&text).map_err(|_| {
            ConfigError(format!(
                "{} (discord.secrets_file) is not valid TOML: it must hold one line, discord_token = \"…\"",
                file.display()
            ))
        })?;
        secrets
            .discord_token
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().to_owned())
            .ok_or_else(|| ConfigError(format!("{}: discord_token is missing", file.display())))
    }
}

fn toml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    Figment::from(Toml::string(text))
        .extract()
        .map_err(|e| describe_figment_error(&e))
}

/// One line naming the offending key, e.g. `render.lease_secs: invalid type: found string "x", expected u64`.
fn describe_figment_error(error: &figment::Error) -> String {
    let mut parts = Vec::new();
    for e in error.clone() {
        let key = e.path.join(".");
        let origin = e
            .metadata
            .as_ref()
            .map(|m| format!(" (from {})", m.name))
            .unwrap_or_default();
        if key.is_empty() {
            parts.push(format!("{}{origin}", e.kind));
        } else {
            parts.push(format!("{key}: {}{origin}", e.kind));
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests;
