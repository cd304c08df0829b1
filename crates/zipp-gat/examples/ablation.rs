//! The ablation table over several seeds, on the easy and the hard synthetic community
//! (`SynthConfig::default()` and `SynthConfig::hard`), with the spread across seeds and the
//! issue's goals checked per seed.
//!
//! ```text
//! cargo run --release -p zipp-gat --example ablation -- [--seeds N] [--community easy|hard|both]
//!     [--members M] [--epochs E] [--lambda L] [--set FIELD=JSON]... [--json PATH]
//! ```
//!
//! Seed `s` (0..N) generates the community with seed `s + 1` and trains with seed `s`. Each
//! table goes to stderr as it is measured; the summary (mean ± standard deviation, and the
//! minimum) goes to stdout as Markdown, followed by the margins of GAT + ImageAlign over the
//! best non-graph row and the best graph heuristic in every seed.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark or tool run by hand: its report is its output"
)]

use anyhow::{bail, Context as _, Result};
use candle_core::Device;
use zipp_gat::encoder::PersonaEncoderConfig;
use zipp_gat::eval::{
    self, EvalConfig, EvalRow, EvalTable, COUNTS, GAT_FULL, GAT_NO_ALIGN, LABEL_PROP, NEIGHBOURS,
    NO_GRAPH, TFIDF,
};
use zipp_gat::graph::synth::{generate, GroundTruth, SynthConfig};
use zipp_gat::graph::{EdgeType, Graph};
use zipp_gat::train::TrainConfig;

struct Args {
    seeds: u64,
    communities: Vec<&'static str>,
    members: Option<usize>,
    epochs: usize,
    lambda: Option<f64>,
    json: Option<String>,
    /// `key=value` overrides of `TrainConfig` fields (values in JSON).
    set: Vec<(String, serde_json::Value)>,
}

fn parse() -> Result<Args> {
    let mut a = Args {
        seeds: 3,
        communities: vec!["easy", "hard"],
        members: None,
        epochs: 100,
        lambda: None,
        json: None,
        set: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seeds" => a.seeds = value()?.parse()?,
            "--members" => a.members = Some(value()?.parse()?),
            "--epochs" => a.epochs = value()?.parse()?,
            "--lambda" => a.lambda = Some(value()?.parse()?),
            "--json" => a.json = Some(value()?),
            "--set" => {
                let kv = value()?;
                let (k, v) = kv.split_once('=').context("--set needs key=value")?;
                let v = serde_json::from_str(v).unwrap_or_else(|_| serde_json::json!(v));
                a.set.push((k.to_string(), v));
            }
            "--community" => {
                a.communities = match value()?.as_str() {
                    "easy" => vec!["easy"],
                    "hard" => vec!["hard"],
                    "both" => vec!["easy", "hard"],
                    other => bail!("--community {other}: expected easy, hard or both"),
                }
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// The metrics summarised, with how to read each from a row.
type Metric = (&'static str, fn(&EvalRow) -> Option<f32>);

const METRICS: [Metric; 5] = [
    ("LP AUC", |r| Some(r.lp_auc)),
    ("R@10", |r| r.recall_at_k),
    ("cold P@3", |r| r.cold_precision_at_3),
    ("post acc", |r| Some(r.posting_accuracy)),
    ("cold post acc", |r| Some(r.cold_posting_accuracy)),
];

/// Rows a model-free rule fills without the graph, and the graph heuristics.
const NON_GRAPH: [&str; 3] = [NO_GRAPH, COUNTS, TFIDF];
const GRAPH_HEURISTICS: [&str; 2] = [NEIGHBOURS, LABEL_PROP];

fn summary(values: &[f32]) -> String {
    if values.is_empty() {
        return "n/a".into();
    }
    let n = values.len() as f32;
    let mean = values.iter().sum::<f32>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    let min = values.iter().copied().fold(f32::INFINITY, f32::min);
    format!("{mean:.3} ± {sd:.3} (min {min:.3})")
}

fn best_of(table: &EvalTable, rows: &[&str], metric: fn(&EvalRow) -> Option<f32>) -> f32 {
    rows.iter()
        .filter_map(|name| table.row(name).and_then(metric))
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Cold P@3 of a rule that may read the truth about everyone *but* the member: each taste
/// scores one vote per reply with a partner who has it, per post or reaction in a channel of
/// it and per role of it (every edge of the full graph). Not a method (it reads the planted
/// tastes of the neighbours), but a ceiling on what a member's neighbourhood can tell.
fn oracle_cold_p3(graph: &Graph, truth: &GroundTruth) -> f32 {
    let k = truth.tastes.len();
    let mut votes = vec![vec![0f32; k]; graph.members.len()];
    for e in &graph.edges {
        match e.edge_type {
            EdgeType::Posted | EdgeType::Reacted => {
                if let Some(t) = truth.channel_taste_of(e.dst) {
                    votes[e.src as usize][t] += e.count as f32;
                }
            }
            EdgeType::HasRole => {
                if let Some(t) = truth.role_taste_of(e.dst) {
                    votes[e.src as usize][t] += 1.0;
                }
            }
            EdgeType::Replied => {
                for (me, other) in [(e.src, e.dst), (e.dst, e.src)] {
                    for &(t, w) in &truth.member_mixture[other as usize] {
                        votes[me as usize][t] += e.count as f32 * w;
                    }
                }
            }
        }
    }
    let cold: Vec<u32> = truth
        .cold_start
        .iter()
        .copied()
        .filter(|&m| !truth.is_noise(m) && graph.member_degree(m) > 0)
        .collect();
    let total: f32 = cold
        .iter()
        .map(|&m| eval::precision_at_3(truth, m, &votes[m as usize]))
        .sum();
    total / cold.len().max(1) as f32
}

fn main() -> Result<()> {
    let args = parse()?;
    let mut all = Vec::new();
    for &community in &args.communities {
        let mut tables = Vec::new();
        let mut oracles = Vec::new();
        for s in 0..args.seeds {
            let mut synth = match community {
                "hard" => SynthConfig::hard(s + 1),
                _ => SynthConfig {
                    seed: s + 1,
                    ..SynthConfig::default()
                },
            };
            if let Some(m) = args.members {
                synth.n_members = m;
            }
            let (graph, truth) = generate(&synth);
            let mut train = TrainConfig {
                epochs: args.epochs,
                seed: s,
                ..TrainConfig::default()
            };
            if let Some(l) = args.lambda {
                train.lambda_align = l;
            }
            if !args.set.is_empty() {
                let mut v = serde_json::to_value(&train)?;
                for (k, x) in &args.set {
                    v[k] = x.clone();
                }
                train = serde_json::from_value(v).context("--set")?;
            }
            let cfg = EvalConfig {
                encoder: PersonaEncoderConfig::for_graph(&graph),
                train,
                ..EvalConfig::default()
            };
            let verbose = std::env::var_os("ABLATION_VERBOSE").is_some();
            let oracle = oracle_cold_p3(&graph, &truth);
            let table = eval::evaluate(&graph, &truth, &cfg, &Device::Cpu, &mut |row, s| {
                if verbose {
                    eprintln!(
                        "{row} epoch {}: lp {:.4} align {:.4} val {:.3} align {:.3} signal {:.3} best {:.3}",
                        s.epoch, s.lp_loss, s.align_loss, s.val_auc, s.val_align_auc, s.signal, s.best_signal
                    );
                }
            })?;
            eprintln!(
                "## {community}, seed {s}\n{table}\nneighbourhood-vote oracle (reads the planted tastes of the neighbours): cold P@3 {oracle:.3}\n"
            );
            oracles.push(oracle);
            tables.push(table);
        }
        println!(
            "### {community} community ({} seeds, {} members)\n",
            tables.len(),
            tables.first().map_or(0, |t| t.members)
        );
        print!("| method |");
        for (name, _) in METRICS {
            print!(" {name} |");
        }
        println!();
        println!("|---|{}", "---|".repeat(METRICS.len()));
        let names: Vec<String> = tables
            .first()
            .map(|t| t.rows.iter().map(|r| r.method.clone()).collect())
            .unwrap_or_default();
        for name in &names {
            print!("| {name} |");
            for (_, metric) in METRICS {
                let values: Vec<f32> = tables
                    .iter()
                    .filter_map(|t| t.row(name).and_then(metric))
                    .collect();
                print!(" {} |", summary(&values));
            }
            println!();
        }
        println!(
            "| *oracle: neighbourhood vote with the planted truth* | | | {} | | |",
            summary(&oracles)
        );
        println!("\nGAT + ImageAlign minus the best other row, per seed:\n");
        for (metric_name, metric) in [METRICS[2], METRICS[3], METRICS[4]] {
            let margins: Vec<String> = tables
                .iter()
                .map(|t| {
                    let full = t.row(GAT_FULL).and_then(metric).unwrap_or(f32::NAN);
                    format!(
                        "{:+.3} / {:+.3} / {:+.3}",
                        full - best_of(t, &NON_GRAPH, metric),
                        full - best_of(t, &GRAPH_HEURISTICS, metric),
                        full - best_of(t, &[GAT_NO_ALIGN], metric)
                    )
                })
                .collect();
            println!(
                "- {metric_name} (vs non-graph / graph heuristics / λ=0): {}",
                margins.join("; ")
            );
        }
        println!();
        all.push((community, tables));
    }
    if let Some(path) = &args.json {
        let value: Vec<serde_json::Value> = all
            .iter()
            .map(|(c, t)| serde_json::json!({ "community": c, "tables": t }))
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&value)?)?;
    }
    Ok(())
}
