//! `zipp train`, `zipp infer` and `zipp eval`: the persona encoder's command-line front end.
//! Each reads a graph folder (`graph.json`, plus `truth.json` for eval), runs the library
//! (`zipp-gat`), prints one summary and writes its files. They are CPU-bound and
//! synchronous; `main` runs them off the async runtime.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "`zipp train|infer|eval` print their summaries for the operator"
)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use candle_core::Device;
use zipp_gat::checkpoint::{self, CheckpointMeta, DataStats};
use zipp_gat::encoder::PersonaEncoderConfig;
use zipp_gat::eval::{self, EvalConfig};
use zipp_gat::infer;
use zipp_gat::progress::TrainProgress;
use zipp_gat::train::{self, TrainConfig};

/// The encoder configuration for a graph: defaults with the graph's image size (and its CLIP
/// text embeddings, when it carries them).
fn encoder_for(graph: &zipp_gat::graph::Graph) -> PersonaEncoderConfig {
    PersonaEncoderConfig::for_graph(graph)
}

/// The graphs the bot collected in the configured database (consenting members only): one
/// server's, or the disjoint union of every server's. Returns it with a description of its
/// source for the checkpoint's metadata.
pub async fn graph_from_db(
    config: &zipp::config::Config,
    guild: Option<u64>,
) -> anyhow::Result<(zipp_gat::graph::Graph, String)> {
    use zipp::lifecycle::snapshot;
    let store = zipp::store::Store::connect(&config.database.url, 2)
        .await
        .with_context(|| {
            format!(
                "database.url {}",
                zipp::app::redact_url(&config.database.url)
            )
        })?;
    let guilds = match guild {
        Some(g) => vec![zipp::ids::GuildId(g)],
        None => store.guilds_with_consent().await?,
    };
    // With a CLIP model configured, channels and roles get its text embeddings (as the bot
    // does), so the checkpoint matches what the bot will feed it.
    let model = config.render.clip_model.trim().to_owned();
    let clip = if model.is_empty() {
        None
    } else {
        Some(std::sync::Arc::new(
            tokio::task::spawn_blocking(move || {
                let dir = zipp::models::ensure_clip_local(&model)?;
                zipp_clip::ClipEmbedder::load(&dir, &Device::Cpu)
            })
            .await??,
        ))
    };
    let now = zipp::store::now_ms();
    let mut graphs = Vec::new();
    for g in &guilds {
        let mut graph = snapshot::snapshot(&store, *g, now).await?.graph;
        if let Some(clip) = &clip {
            let clip = std::sync::Arc::clone(clip);
            graph = tokio::task::spawn_blocking(move || {
                snapshot::add_text_embeddings(&mut graph, &clip, &dashmap::DashMap::new())
                    .map(|()| graph)
            })
            .await??;
        }
        graphs.push(graph);
    }
    store.close().await;
    let graph = snapshot::union(graphs);
    if graph.members.is_empty() {
        anyhow::bail!(
            "no consenting members with recorded activity in {} (servers: {})",
            zipp::app::redact_url(&config.database.url),
            guilds.len()
        );
    }
    let source = format!(
        "database ({} server{})",
        guilds.len(),
        if guilds.len() == 1 { "" } else { "s" }
    );
    Ok((graph, source))
}

/// `zipp train`: trains on `graph` and writes the checkpoint (weights with PyG-style names,
/// metadata JSON) into `out`; `source` says where the graph came from.
pub fn train(
    graph: &zipp_gat::graph::Graph,
    source: &str,
    out: &Path,
    train_config: &TrainConfig,
    quiet: bool,
) -> anyhow::Result<()> {
    graph.validate()?;
    let config = encoder_for(graph);
    let device = Device::Cpu;
    let varmap = candle_nn::VarMap::new();
    let split = train::split_links(graph, train_config.val_fraction, train_config.seed)
        .context("splitting the graph's links")?;
    let progress = TrainProgress::new(train_config.epochs, "train", quiet);
    let result = train::train_split(&split, &config, train_config, &varmap, &device, &mut |s| {
        progress.update(s)
    });
    progress.finish();
    let (_model, report) = result.context("training the persona encoder")?;
    let meta = CheckpointMeta::new(
        config,
        train_config.clone(),
        report.clone(),
        DataStats::of(graph, source),
    );
    checkpoint::save(out, &varmap, &meta)?;
    println!(
        "zipp: trained {} epochs ({:?}, best epoch {}{}) in {:.1} s: link loss {:.3} -> {:.3}, align loss {:.3} -> {:.3}, validation AUC {:.3}; wrote {}",
        report.epochs,
        report.mode,
        report.best_epoch,
        if report.stopped_early { ", stopped early" } else { "" },
        report.elapsed_s,
        report.lp_loss_first,
        report.lp_loss_last,
        report.align_loss_first,
        report.align_loss_last,
        report.val_auc,
        out.display()
    );
    Ok(())
}

/// `zipp infer`: loads the checkpoint, embeds every member of the graph and writes the
/// evidence (and optionally the embeddings) to `out`.
pub fn infer(
    checkpoint_dir: &Path,
    graph_dir: &Path,
    out: &Path,
    top: usize,
    with_embeddings: bool,
) -> anyhow::Result<()> {
    let device = Device::Cpu;
    let (model, meta) = checkpoint::load(checkpoint_dir, &device)?;
    let graph = zipp_gat::graph::io::load_graph(graph_dir)?;
    let started = Instant::now();
    let result = infer::infer(&model, &graph, top, &device)?;
    let infer_s = started.elapsed().as_secs_f64();
    let embeddings = if with_embeddings {
        Some(result.embeddings.to_vec2::<f32>()?)
    } else {
        None
    };
    let members: Vec<serde_json::Value> = result
        .evidence
        .iter()
        .enumerate()
        .map(|(m, ev)| {
            let mut v = serde_json::to_value(ev)?;
            if let (Some(e), Some(obj)) = (&embeddings, v.as_object_mut()) {
                obj.insert("embedding".into(), serde_json::to_value(&e[m])?);
            }
            Ok(v)
        })
        .collect::<serde_json::Result<_>>()?;
    let doc = serde_json::json!({
        "checkpoint": checkpoint_dir.display().to_string(),
        "graph": graph_dir.display().to_string(),
        "encoder": meta.encoder,
        "top": top,
        "evidence_weight": "attention of the member over its in-edges, mean over heads, mean of layers 1 and 2, summed over parallel edges",
        "members": members,
    });
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut writer, &doc)?;
    std::io::Write::flush(&mut writer).with_context(|| format!("writing {}", out.display()))?;
    let per_10k = if graph.members.is_empty() {
        0.0
    } else {
        infer_s * 10_000.0 / graph.members.len() as f64
    };
    println!(
        "zipp: inferred {} members in {infer_s:.2} s ({per_10k:.2} s per 10k members: graph tensors, embeddings, attention, evidence); wrote {}",
        graph.members.len(),
        out.display()
    );
    Ok(())
}

/// `zipp eval`: prints the ablation table for the synthetic community in `graph_dir`.
pub fn eval(
    graph_dir: &Path,
    json: Option<&Path>,
    train_config: &TrainConfig,
    quiet: bool,
) -> anyhow::Result<()> {
    let (graph, truth) = zipp_gat::graph::io::load(graph_dir)?;
    let config = EvalConfig {
        encoder: encoder_for(&graph),
        train: train_config.clone(),
        ..EvalConfig::default()
    };
    let mut bar: Option<(String, TrainProgress)> = None;
    let table = eval::evaluate(&graph, &truth, &config, &Device::Cpu, &mut |row, stats| {
        if bar.as_ref().is_none_or(|(name, _)| name != row) {
            if let Some((_, b)) = &bar {
                b.finish();
            }
            bar = Some((
                row.to_string(),
                TrainProgress::new(train_config.epochs, row, quiet),
            ));
        }
        if let Some((_, b)) = &bar {
            b.update(stats);
        }
    });
    if let Some((_, b)) = &bar {
        b.finish();
    }
    let table = table.context("evaluating the persona encoder")?;
    println!("{table}");
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&table)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `zipp graph synth`: a preset and overrides of its knobs (see
/// `zipp_gat::graph::synth::SynthConfig` for what each mimics).
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Output folder (created).

    #[arg(long)]
    pub out: PathBuf,
    /// Starting point: `easy` (channels named after their tastes) or `hard`.
    #[arg(long, default_value = "easy", value_parser = ["easy", "hard"])]
    pub preset: String,
    /// Members (2000).
    #[arg(long)]
    pub members: Option<usize>,
    /// Planted tastes, K (8).
    #[arg(long)]
    pub tastes: Option<usize>,
    /// Themed channels (easy 40, hard 24).
    #[arg(long)]
    pub channels: Option<usize>,
    /// Themed roles (easy 16, hard 8).
    #[arg(long)]
    pub roles: Option<usize>,
    /// Share of cold-start members, with no images (easy 0.2, hard 0.4).
    #[arg(long)]
    pub cold_start_share: Option<f32>,
    /// Cold-start members also have at most this many posts and reactions (hard 3).
    #[arg(long)]
    pub cold_start_interactions: Option<u32>,
    /// Share of members with very few edges (0.1).
    #[arg(long)]
    pub sparse_share: Option<f32>,
    /// Share of themed channels with a generic name (easy 0, hard 0.75).
    #[arg(long)]
    pub generic_channel_share: Option<f32>,
    /// Channels with no taste (#general, #media, ...), the busiest (easy 0, hard 6).
    #[arg(long)]
    pub untyped_channels: Option<usize>,
    /// Zipf exponent of channel popularity for off-taste activity (easy 0, hard 1).
    #[arg(long)]
    pub popularity_skew: Option<f32>,
    /// Probability a post or reaction ignores the member's tastes (easy 0.15, hard 0.5).
    #[arg(long)]
    pub channel_noise: Option<f32>,
    /// Probability a reply partner shares one of the member's tastes (easy 0.85, hard 0.8).
    #[arg(long)]
    pub reply_homophily: Option<f32>,
    /// Share of members whose activity follows no taste (easy 0, hard 0.05).
    #[arg(long)]
    pub noise_member_share: Option<f32>,
    /// Probability a member holds a role of their taste (easy 0.7, hard 0.3).
    #[arg(long)]
    pub taste_role_prob: Option<f32>,
    /// Roles with no taste (easy 0, hard 6).
    #[arg(long)]
    pub generic_roles: Option<usize>,
    /// Random seed (the same seed gives the same community).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl SynthArgs {
    /// The generator's settings: the preset, with every option given replacing its value.
    pub fn config(&self) -> zipp_gat::graph::synth::SynthConfig {
        use zipp_gat::graph::synth::SynthConfig;
        let mut c = if self.preset == "hard" {
            SynthConfig::hard(self.seed)
        } else {
            SynthConfig {
                seed: self.seed,
                ..SynthConfig::default()
            }
        };
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *slot = v;
            }
        }
        set(&mut c.n_members, self.members);
        set(&mut c.n_tastes, self.tastes);
        set(&mut c.n_channels, self.channels);
        set(&mut c.n_roles, self.roles);
        set(&mut c.untyped_channels, self.untyped_channels);
        set(&mut c.generic_roles, self.generic_roles);
        set(&mut c.cold_start_share, self.cold_start_share);
        set(&mut c.sparse_share, self.sparse_share);
        set(&mut c.generic_channel_share, self.generic_channel_share);
        set(&mut c.popularity_skew, self.popularity_skew);
        set(&mut c.noise_member_share, self.noise_member_share);
        set(&mut c.taste_role_prob, self.taste_role_prob);
        set(&mut c.channel_noise, self.channel_noise.map(Some));
        set(&mut c.reply_homophily, self.reply_homophily.map(Some));
        set(
            &mut c.cold_start_interactions,
            self.cold_start_interactions.map(Some),
        );
        c
    }
}
