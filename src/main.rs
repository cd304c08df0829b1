//! The `zipp` binary: parses the command line, loads the configuration, sets up logging and
//! hands over to [`zipp::app`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};
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
    /// Interaction graphs: synthetic communities for measuring persona quality.
    Graph {
        #[command(subcommand)]
        command: GraphCommand,
    },
}

#[derive(Debug, Subcommand)]
enum GraphCommand {
    /// Generate a synthetic community with planted tastes; writes graph.json and truth.json.
    Synth {
        /// Output folder (created).
        #[arg(long)]
        out: PathBuf,
        /// Members.
        #[arg(long, default_value_t = 2000)]
        members: usize,
        /// Planted tastes (K).
        #[arg(long, default_value_t = 8)]
        tastes: usize,
        /// Channels.
        #[arg(long, default_value_t = 40)]
        channels: usize,
        /// Roles.
        #[arg(long, default_value_t = 16)]
        roles: usize,
        /// Share of cold-start members (no images at all).
        #[arg(long, default_value_t = 0.2)]
        cold_start_share: f32,
        /// Share of members with very few edges.
        #[arg(long, default_value_t = 0.1)]
        sparse_share: f32,
        /// Random seed (the same seed gives the same community).
        #[arg(long, default_value_t = 42)]
        seed: u64,
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
            command:
                GraphCommand::Synth {
                    out,
                    members,
                    tastes,
                    channels,
                    roles,
                    cold_start_share,
                    sparse_share,
                    seed,
                },
        } => {
            use zipp::graph::synth;
            let synth_config = synth::SynthConfig {
                n_members: members,
                n_tastes: tastes,
                n_channels: channels,
                n_roles: roles,
                cold_start_share,
                sparse_share,
                seed,
                ..synth::SynthConfig::default()
            };
            let (graph, truth) = synth::generate(&synth_config);
            synth::save(&out, &graph, &truth)?;
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
