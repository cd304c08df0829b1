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
    /// Train the persona encoder (link prediction + ImageAlign) on a saved graph.
    Train {
        /// Folder with graph.json (e.g. from `zipp graph synth`).
        #[arg(long)]
        graph: PathBuf,
        /// Output folder for persona.safetensors and persona.json.
        #[arg(long)]
        out: PathBuf,
        /// Training epochs (full batch).
        #[arg(long, default_value_t = 100)]
        epochs: usize,
        /// Seed for the split, sampling and initialisation.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
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
        Command::Train {
            graph,
            out,
            epochs,
            seed,
        } => train(&graph, &out, epochs, seed),
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

/// `zipp train`: full-batch training on one saved graph; writes the weights (PyG-style names) and a
/// JSON file with the configs, the report and the data statistics beside them.
fn train(
    graph_dir: &std::path::Path,
    out: &std::path::Path,
    epochs: usize,
    seed: u64,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use zipp::persona::encoder::PersonaEncoderConfig;
    use zipp::persona::train::{self, TrainConfig};

    let (graph, _truth) = zipp::graph::synth::load(graph_dir)?;
    let image_dim = graph
        .images
        .first()
        .map(|i| i.embedding.len())
        .unwrap_or(64);
    let config = PersonaEncoderConfig {
        image_dim,
        ..PersonaEncoderConfig::default()
    };
    let train_config = TrainConfig {
        epochs,
        seed,
        ..TrainConfig::default()
    };
    let device = candle_core::Device::Cpu;
    let varmap = candle_nn::VarMap::new();
    let started = std::time::Instant::now();
    let (_model, report) = train::train(&graph, &config, &train_config, &varmap, &device)
        .context("training the persona encoder")?;
    let elapsed_s = started.elapsed().as_secs_f64();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let weights = out.join("persona.safetensors");
    varmap
        .save(&weights)
        .with_context(|| format!("writing {}", weights.display()))?;
    let metadata = serde_json::json!({
        "encoder": config,
        "training": train_config,
        "report": report,
        "data": {
            "members": graph.members.len(),
            "channels": graph.channels.len(),
            "roles": graph.roles.len(),
            "edges": graph.edges.len(),
            "images": graph.images.len(),
            "source": graph_dir.display().to_string(),
        },
        "elapsed_s": elapsed_s,
        "trained_at_unix_ms": zipp::store::now_ms(),
    });
    let meta_path = out.join("persona.json");
    std::fs::write(&meta_path, serde_json::to_string_pretty(&metadata)?)
        .with_context(|| format!("writing {}", meta_path.display()))?;
    println!(
        "zipp: trained {epochs} epochs in {elapsed_s:.1} s: link loss {:.3} -> {:.3}, align loss {:.3} -> {:.3}, validation AUC {:.3}; wrote {}",
        report.lp_loss_first,
        report.lp_loss_last,
        report.align_loss_first,
        report.align_loss_last,
        report.val_auc,
        out.display()
    );
    Ok(())
}
