//! The `zipp` binary: parses the command line, loads the configuration, sets up logging and
//! hands over to [`zipp::app`].

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the command line: its reports are its output, and a failure before logging starts is printed"
)]

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

mod persona_cli;
use zipp::app::{App, AppOptions};
use zipp::config::Config;

// Candle allocates and frees large tensors at every step; glibc returns each one to the OS and
// the page faults cost up to 2x. mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// zipp — personal /imagine for Discord servers (ZIPP: persona-conditioned prompts).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Configuration file (default: config/zipp.toml when it exists). Every key can also be set
    /// with ZIPP_<SECTION>__<KEY> environment variables.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bot and an in-process render worker (the default; SQLite in ./data).
    Run,
    /// Run only the bot; render workers run elsewhere (`zipp worker`, shared PostgreSQL).
    Bot,
    /// Run only a render worker, pulling jobs from the database.
    Worker {
        /// Number of concurrent workers in this process.
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Ask this machine's zipp (at `observe.listen`) whether it is ready (`/readyz`), or with
    /// `--live` alive (`/healthz`): exit status 0 when it is, for container health checks.
    Ready {
        /// Check liveness only.
        #[arg(long)]
        live: bool,
    },
    /// Train the persona encoder (link prediction + ImageAlign) on a saved graph, or on the
    /// graphs the bot collected (`--from-db`).
    Train {
        /// Folder with graph.json (e.g. from `zipp graph synth` or `zipp graph export`).
        #[arg(long, required_unless_present = "from_db", conflicts_with = "from_db")]
        graph: Option<PathBuf>,
        /// Train on the consenting members' graphs in the configured database (every server,
        /// or only `--guild`).
        #[arg(long)]
        from_db: bool,
        /// With --from-db: only this server.
        #[arg(long, requires = "from_db")]
        guild: Option<u64>,
        /// Output folder for persona.safetensors and persona.json (default: persona.checkpoint
        /// of the configuration, which a running bot reloads on its own).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        training: TrainArgs,
    },
    /// Embed every member of a graph with a trained encoder and write the attention-ranked
    /// evidence (top channels, roles and members per member) as JSON.
    Infer {
        /// Folder with persona.safetensors and persona.json (from `zipp train`).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Folder with graph.json.
        #[arg(long)]
        graph: PathBuf,
        /// Output JSON file.
        #[arg(long)]
        out: PathBuf,
        /// Evidence items per kind (channels, roles, members) and member.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Also write each member's embedding.
        #[arg(long)]
        embeddings: bool,
    },
    /// Print the ablation table (link prediction, ImageAlign retrieval, cold-start taste
    /// recovery) on a synthetic community with planted truth.
    Eval {
        /// Folder with graph.json and truth.json (from `zipp graph synth`).
        #[arg(long)]
        graph: PathBuf,
        /// Also write the table as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        #[command(flatten)]
        training: TrainArgs,
    },
    /// Interaction graphs: synthetic communities for measuring persona quality.
    Graph {
        #[command(subcommand)]
        command: GraphCommand,
    },
}

/// Training options shared by `zipp train` and `zipp eval`.
#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// Maximum training epochs.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Seed for the splits, initialisation, negatives and sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many epochs without a better validation AUC (0: never).
    #[arg(long, default_value_t = 25)]
    patience: usize,
    /// auto (full batch for small graphs), full, or mini-batch.
    #[arg(long, default_value = "auto", value_parser = parse_mode)]
    mode: zipp_gat::train::BatchMode,
    /// Seed members per mini-batch.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// In-edges sampled per node, per layer (mini-batch).
    #[arg(long, default_value = "15,10", value_delimiter = ',')]
    fanouts: Vec<usize>,
    /// Weight of the ImageAlign loss (0: link prediction only).
    #[arg(long)]
    lambda_align: Option<f64>,
    /// Share of members with images whose input is hidden each epoch (cold-start practice).
    #[arg(long)]
    image_dropout: Option<f64>,
    /// AdamW learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

impl TrainArgs {
    fn config(&self) -> zipp_gat::train::TrainConfig {
        let default = zipp_gat::train::TrainConfig::default();
        zipp_gat::train::TrainConfig {
            epochs: self.epochs,
            seed: self.seed,
            patience: self.patience,
            mode: self.mode,
            batch_size: self.batch_size,
            fanouts: self.fanouts.clone(),
            lambda_align: self.lambda_align.unwrap_or(default.lambda_align),
            image_dropout: self.image_dropout.unwrap_or(default.image_dropout),
            lr: self.lr.unwrap_or(default.lr),
            ..default
        }
    }
}

fn parse_mode(s: &str) -> Result<zipp_gat::train::BatchMode, String> {
    use zipp_gat::train::BatchMode;
    match s {
        "auto" => Ok(BatchMode::Auto),
        "full" => Ok(BatchMode::Full),
        "mini-batch" | "minibatch" => Ok(BatchMode::MiniBatch),
        other => Err(format!("{other}: expected auto, full or mini-batch")),
    }
}

#[derive(Debug, Subcommand)]
enum GraphCommand {
    /// Generate a synthetic community with planted tastes; writes graph.json and truth.json.
    /// `--preset hard` is the realistic community (generic and untyped busy channels,
    /// homophilous replies, 40% cold-start members); every other option overrides the preset.
    Synth(persona_cli::SynthArgs),
    /// Write a server's graph as the persona encoder sees it (consenting members only,
    /// pseudonymous, no message text; images and text embeddings when CLIP is configured).
    Export {
        /// The server (Discord id).
        #[arg(long)]
        guild: u64,
        /// Output: a FILE.json, or a folder (created) that receives graph.json, the layout
        /// `zipp train --graph` reads.
        #[arg(long)]
        out: PathBuf,
    },
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Blocking work still running when `main` returns (a render step, a training epoch) is left
/// behind after this long: each stops at its next check anyway, and nothing it would write
/// replaces a good file half-written (checkpoints are renamed into place, jobs are leased).
const BLOCKING_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("zipp: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async_main());
    // Dropping the runtime would wait for every blocking task without end.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    code
}

async fn async_main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("zipp: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(&config);
    match run(cli.command.unwrap_or(Command::Run), config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("zipp: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let options = |run_bot: bool, workers: usize, config: Config| AppOptions {
        config,
        run_bot,
        workers,
        renderer: None,
        token: None,
        customize_client: None,
    };
    match command {
        Command::Run => {
            let workers = config.render.in_process_workers as usize;
            App::start(options(true, workers, config))
                .await?
                .run_until_signal()
                .await
        }
        Command::Bot => {
            App::start(options(true, 0, config))
                .await?
                .run_until_signal()
                .await
        }
        Command::Worker { workers } => {
            App::start(options(false, workers.max(1), config))
                .await?
                .run_until_signal()
                .await
        }
        Command::Graph {
            command: GraphCommand::Synth(args),
        } => {
            let out = args.out.clone();
            let (graph, truth) = zipp_gat::graph::synth::generate(&args.config());
            zipp_gat::graph::io::save(&out, &graph, &truth)?;
            println!(
                "zipp: wrote {} members, {} channels, {} roles, {} edges, {} images to {}",
                graph.members.len(),
                graph.channels.len(),
                graph.roles.len(),
                graph.edges.len(),
                graph.images.len(),
                out.display()
            );
            Ok(())
        }
        Command::Graph {
            command: GraphCommand::Export { guild, out },
        } => {
            let (graph, _) = persona_cli::graph_from_db(&config, Some(guild)).await?;
            if out.extension().is_some_and(|e| e == "json") {
                if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&out, serde_json::to_vec(&graph)?)?;
            } else {
                zipp_gat::graph::io::save_graph(&out, &graph)?;
            }
            println!(
                "zipp: wrote server {guild}'s graph ({} consenting members, {} channels, {} roles, {} edges) to {}",
                graph.members.len(),
                graph.channels.len(),
                graph.roles.len(),
                graph.edges.len(),
                out.display()
            );
            Ok(())
        }
        // The persona commands are CPU-bound: off the async runtime.
        Command::Train {
            graph,
            from_db,
            guild,
            out,
            training,
        } => {
            let out = match out {
                Some(out) => out,
                None if config.persona.checkpoint.as_os_str().is_empty() => anyhow::bail!(
                    "zipp train: give --out, or set persona.checkpoint in the configuration"
                ),
                None => config.persona.checkpoint.clone(),
            };
            let (graph, source) = match graph {
                Some(dir) if !from_db => {
                    let graph = zipp_gat::graph::io::load_graph(&dir)?;
                    (graph, dir.display().to_string())
                }
                _ => persona_cli::graph_from_db(&config, guild).await?,
            };
            tokio::task::spawn_blocking(move || {
                persona_cli::train(&graph, &source, &out, &training.config(), training.quiet)
            })
            .await?
        }
        Command::Infer {
            checkpoint,
            graph,
            out,
            top,
            embeddings,
        } => {
            tokio::task::spawn_blocking(move || {
                persona_cli::infer(&checkpoint, &graph, &out, top, embeddings)
            })
            .await?
        }
        Command::Eval {
            graph,
            json,
            training,
        } => {
            tokio::task::spawn_blocking(move || {
                persona_cli::eval(&graph, json.as_deref(), &training.config(), training.quiet)
            })
            .await?
        }
        Command::Ready { live } => {
            let Some(mut address) = config.observe.address()? else {
                anyhow::bail!("observe.listen is not set: this zipp serves no health endpoint");
            };
            // A server listening on every interface is asked on this machine's.
            if address.ip().is_unspecified() {
                address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let path = if live { "healthz" } else { "readyz" };
            let url = format!("http://{address}/{path}");
            let response = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()?
                .get(&url)
                .send()
                .await
                .with_context(|| format!("no answer from {url}"))?;
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            anyhow::ensure!(status.is_success(), "{url}: {status}\n{}", body.trim_end());
            println!("{}", body.trim_end());
            Ok(())
        }
        Command::Migrate => {
            let store = zipp::store::Store::connect(&config.database.url, 1).await?;
            store.close().await;
            println!(
                "zipp: migrations applied to {}",
                zipp::app::redact_url(&config.database.url)
            );
            Ok(())
        }
    }
}
