//! Evaluation on a synthetic community with planted truth ([`crate::graph::synth`]): the
//! paper's ablation table, as data ([`evaluate`] → [`EvalTable`]) and as text (`Display`).
//!
//! # Protocol
//! 1. **Held-out images**: from every member with at least two images, a share
//!    `image_holdout` (at least one, never all) is removed from the graph.
//! 2. **Held-out links**: a share `test_fraction` of the posted member→channel pairs is
//!    removed ([`split_links`]: with the pair's reactions, plus one never-linked negative
//!    channel per pair). Every method sees only what remains (the *training graph*); the GAT
//!    rows split their own validation pairs off the training graph for early stopping, so
//!    the test pairs are never used for any choice.
//! 3. **Metrics**
//!    - *LP AUC / LP acc*: ROC AUC and accuracy at the median threshold
//!      ([`accuracy_at_median`]) of the method's scores for test pairs against their
//!      negatives, over all members.
//!    - *R@k* (ImageAlign retrieval): every member with held-out images queries the pool of
//!      **all** held-out images (of all members) by cosine similarity to the member's vector
//!      in image space; recall@k of their own held-out images, averaged over those members.
//!    - *cold P@3* (taste recovery): for each cold-start member (no images at all, from the
//!      ground truth) with at least one edge left in the training graph (a member whose every
//!      edge went to the test set has no evidence at all), the method scores each planted
//!      taste; descriptors are read down the
//!      ranked tastes (each taste's descriptors in their stored order) and the first three
//!      are retrieved. P@3 is the share of those three that are descriptors of one of the
//!      member's planted tastes, averaged over cold-start members. Every taste has at least
//!      four descriptors, so this is the rate at which the top-ranked taste is one of the
//!      member's; chance (a uniformly random ranking) is the mean of `|planted| / K`.
//!      Noise members ([`GroundTruth::noise_members`]) are not scored.
//!    - *post acc / cold post* (posting accuracy, the ZIPP paper's measure, on a held-out
//!      time split): each member's top-ranked channel among those new to them, against the
//!      channels they post in during the community's future window (see [`posting`]); over
//!      all scored members and over cold-start ones.
//!
//! # Rows
//! - **no graph (mean image)**: a member is the mean of its remaining images; a channel the
//!   mean of its training members' vectors. LP = cosine; R@k by the mean image; taste score
//!   = cosine to the taste's image centroid. Cold-start members have nothing: n/a.
//! - **counts**, **reply partners' mean image**, **label propagation**: the rules a sceptic
//!   tries first, none of which learns (see [`graph_baselines`]).
//! - **TF-IDF channel profile**: channels are TF-IDF vectors of their name and topic words
//!   (smoothed idf over channels); a member is the count-weighted sum of the vectors of the
//!   channels they posted in or reacted to. LP = cosine; no image space (R@k n/a); taste
//!   score = cosine to the TF-IDF vector of the taste's descriptors.
//! - **GAT, λ = 0**: the encoder trained on link prediction only. LP = dot product; its
//!   embeddings have no image space, so a ridge regression (a linear probe, fitted on members
//!   with images, to their mean image) maps them there for R@k and taste scores (cosine to
//!   the centroids).
//! - **GAT + ImageAlign**: the full model; LP = dot product; the ImageAlign head maps
//!   embeddings into image space for R@k and taste scores.

mod baselines;
mod graph_baselines;
mod posting;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Instant;

use candle_core::{Device, Result};
use candle_nn::VarMap;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::encoder::{GraphTensors, PersonaEncoderConfig};
use super::metrics::{accuracy_at_median, auc, normalized, recall_at_k, top_k_indices};
use super::train::{split_links, train_split, EpochStats, LinkSplit, TrainConfig};
use crate::graph::synth::GroundTruth;
use crate::graph::{Graph, ImageEngagement};

/// Row name of the image-only baseline.
pub const NO_GRAPH: &str = "no graph (mean image)";
/// Row name of the text baseline.
pub const TFIDF: &str = "TF-IDF channel profile";
/// Row name of the counting baseline: channel popularity, the community's mean image.
pub const COUNTS: &str = "counts (popularity, mean taste)";
/// Row name of the reply-partner baseline.
pub const NEIGHBOURS: &str = "reply partners' mean image";
/// Row name of label propagation.
pub const LABEL_PROP: &str = "label propagation (images)";
/// Row name of the encoder trained without ImageAlign.
pub const GAT_NO_ALIGN: &str = "GAT, no ImageAlign (λ=0) + probe";
/// Row name of the full model.
pub const GAT_FULL: &str = "GAT + ImageAlign";

/// Settings of [`evaluate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// The encoder of both GAT rows.
    pub encoder: PersonaEncoderConfig,
    /// Training of both GAT rows (the λ = 0 row overrides `lambda_align`); its seed also
    /// drives the held-out splits.
    pub train: TrainConfig,
    /// Share of each member's images held out for retrieval.
    pub image_holdout: f64,
    /// Share of posted pairs held out as the link-prediction test set.
    pub test_fraction: f64,
    /// `k` of recall@k.
    pub recall_k: usize,
    /// Ridge penalty of the λ = 0 row's linear probe.
    pub probe_ridge: f64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            encoder: PersonaEncoderConfig::default(),
            train: TrainConfig::default(),
            image_holdout: 1.0 / 3.0,
            test_fraction: 0.1,
            recall_k: 10,
            probe_ridge: 1.0,
        }
    }
}

/// One method's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    /// Method name (one of the row constants).
    pub method: String,
    /// Link prediction ROC AUC on the test pairs.
    pub lp_auc: f32,
    /// Link prediction accuracy at the median threshold.
    pub lp_accuracy: f32,
    /// Recall@k of held-out images; `None` without an image space.
    pub recall_at_k: Option<f32>,
    /// Taste recovery P@3 for cold-start members; `None` when the method has nothing for them.
    pub cold_precision_at_3: Option<f32>,
    /// Posting accuracy: share of members whose top-ranked new channel is one they post in
    /// during the future window (see the module docs).
    #[serde(default)]
    pub posting_accuracy: f32,
    /// Posting accuracy over cold-start members only.
    #[serde(default)]
    pub cold_posting_accuracy: f32,
    /// Seconds to fit the method.
    pub fit_s: f32,
}

/// The ablation table and what it was measured on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalTable {
    /// One row per method, baselines first, the full model last.
    pub rows: Vec<EvalRow>,
    /// Members in the community.
    pub members: usize,
    /// Planted tastes.
    pub tastes: usize,
    /// Test pairs (positives; as many negatives at most).
    pub test_pairs: usize,
    /// Held-out images in the retrieval pool.
    pub heldout_images: usize,
    /// Members querying the pool.
    pub recall_queries: usize,
    /// Cold-start members scored for taste recovery (those with an edge in the training
    /// graph).
    pub cold_members: usize,
    /// Members scored for posting accuracy (cold-start ones among them).
    #[serde(default)]
    pub posting_members: (usize, usize),
    /// Expected cold P@3 of a random taste ranking.
    pub chance_precision_at_3: f32,
    /// `k` of recall@k.
    pub recall_k: usize,
}

impl EvalTable {
    /// The row of `method`.
    pub fn row(&self, method: &str) -> Option<&EvalRow> {
        self.rows.iter().find(|r| r.method == method)
    }

    /// Cold P@3 of the full model minus the best other row's (rows without a value are
    /// skipped); `None` if the full model has no value.
    pub fn cold_margin(&self) -> Option<f32> {
        let full = self.row(GAT_FULL)?.cold_precision_at_3?;
        let best = self
            .rows
            .iter()
            .filter(|r| r.method != GAT_FULL)
            .filter_map(|r| r.cold_precision_at_3)
            .fold(f32::NEG_INFINITY, f32::max);
        Some(full - best.max(0.0))
    }
}

impl fmt::Display for EvalTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: Option<f32>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"));
        writeln!(
            f,
            "{:<34} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>7}",
            "method",
            "LP AUC",
            "LP acc",
            format!("R@{}", self.recall_k),
            "cold P@3",
            "post acc",
            "cold post",
            "fit s"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<34} {:>7.3} {:>7.3} {:>7} {:>9} {:>9.3} {:>9.3} {:>7.1}",
                r.method,
                r.lp_auc,
                r.lp_accuracy,
                opt(r.recall_at_k),
                opt(r.cold_precision_at_3),
                r.posting_accuracy,
                r.cold_posting_accuracy,
                r.fit_s
            )?;
        }
        writeln!(
            f,
            "{} members, {} tastes; {} test pairs; {} held-out images queried by {} members; {} cold-start members (chance P@3 {:.3}); posting accuracy over {} members ({} cold-start)",
            self.members,
            self.tastes,
            self.test_pairs,
            self.heldout_images,
            self.recall_queries,
            self.cold_members,
            self.chance_precision_at_3,
            self.posting_members.0,
            self.posting_members.1,
        )?;
        if let Some(m) = self.cold_margin() {
            write!(
                f,
                "cold-start taste recovery, full model minus best other row: {m:+.3}"
            )?;
        }
        Ok(())
    }
}

/// What every method is scored against, built once.
struct Context<'a> {
    truth: &'a GroundTruth,
    /// The test pairs; `split.train_graph` is the graph every method learns from (without
    /// held-out images and test links).
    split: LinkSplit,
    /// Unit-norm held-out image embeddings.
    pool: Vec<Vec<f32>>,
    /// `(member, indices into pool)` for members with held-out images.
    queries: Vec<(u32, Vec<usize>)>,
    /// Cold-start members.
    cold: Vec<u32>,
    recall_k: usize,
    /// What posting accuracy is scored against.
    posting: posting::PostingTask,
}

impl Context<'_> {
    /// The graph every method learns from.
    fn train_graph(&self) -> &Graph {
        &self.split.train_graph
    }

    /// The planted tastes' image centroids.
    fn centroids(&self) -> Vec<Vec<f32>> {
        self.truth
            .tastes
            .iter()
            .map(|t| t.centroid.clone())
            .collect()
    }
}

/// Removes a share `holdout` of the images of each member with at least two (at least one,
/// never all), deterministically from `seed`. Returns the remaining graph and the held-out
/// images.
pub fn hold_out_images(graph: &Graph, holdout: f64, seed: u64) -> (Graph, Vec<ImageEngagement>) {
    let mut by_member: Vec<Vec<usize>> = vec![Vec::new(); graph.members.len()];
    for (i, img) in graph.images.iter().enumerate() {
        if let Some(list) = by_member.get_mut(img.member as usize) {
            list.push(i);
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut held = vec![false; graph.images.len()];
    for list in &mut by_member {
        if list.len() < 2 {
            continue;
        }
        let n = ((list.len() as f64 * holdout).round() as usize).clamp(1, list.len() - 1);
        list.shuffle(&mut rng);
        for &i in &list[..n] {
            held[i] = true;
        }
    }
    let mut kept = graph.clone();
    kept.images = Vec::new();
    let mut out = Vec::new();
    for (img, h) in graph.images.iter().zip(held) {
        if h {
            out.push(img.clone());
        } else {
            kept.images.push(img.clone());
        }
    }
    (kept, out)
}

/// Runs every row of the table on `graph` with its planted `truth`. `on_epoch` sees each GAT
/// row's training progress (with the row name).
pub fn evaluate(
    graph: &Graph,
    truth: &GroundTruth,
    cfg: &EvalConfig,
    device: &Device,
    on_epoch: &mut dyn FnMut(&str, &EpochStats),
) -> Result<EvalTable> {
    graph.validate().map_err(candle_core::Error::wrap)?;
    if truth.member_mixture.len() != graph.members.len() || truth.tastes.is_empty() {
        candle_core::bail!(
            "ground truth does not match the graph ({} mixtures for {} members, {} tastes)",
            truth.member_mixture.len(),
            graph.members.len(),
            truth.tastes.len()
        );
    }
    let seed = cfg.train.seed;
    let (kept, held) = hold_out_images(graph, cfg.image_holdout, seed);
    let split = split_links(&kept, cfg.test_fraction, seed ^ 0x7e57)?;
    let mut queries: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, img) in held.iter().enumerate() {
        queries.entry(img.member).or_default().push(i);
    }
    let mut queries: Vec<(u32, Vec<usize>)> = queries.into_iter().collect();
    queries.sort_unstable();
    // Cold-start members with some evidence left: one whose every edge went to the test set
    // has neither images nor graph, and every method can only guess a constant for it.
    let mut has_edge = vec![false; graph.members.len()];
    for e in &split.train_graph.edges {
        has_edge[e.src as usize] = true;
        if e.edge_type == crate::graph::EdgeType::Replied {
            has_edge[e.dst as usize] = true;
        }
    }
    // Noise members follow no taste: nothing could recover one, so they are not scored.
    let cold: Vec<u32> = truth
        .cold_start
        .iter()
        .copied()
        .filter(|&m| has_edge.get(m as usize).copied().unwrap_or(false) && !truth.is_noise(m))
        .collect();
    let posting = posting::PostingTask::new(graph, &split.train_graph, truth, &has_edge);
    let ctx = Context {
        truth,
        pool: held.iter().map(|i| normalized(&i.embedding)).collect(),
        queries,
        cold,
        recall_k: cfg.recall_k,
        split,
        posting,
    };
    let mut rows = vec![
        baselines::no_graph(&ctx),
        graph_baselines::counts(&ctx),
        baselines::tfidf(&ctx),
        graph_baselines::neighbours(&ctx),
        graph_baselines::label_propagation(&ctx),
    ];
    for (name, lambda) in [(GAT_NO_ALIGN, 0.0), (GAT_FULL, cfg.train.lambda_align)] {
        let tcfg = TrainConfig {
            lambda_align: lambda,
            ..cfg.train.clone()
        };
        rows.push(gat_row(
            &ctx,
            name,
            &cfg.encoder,
            &tcfg,
            cfg.probe_ridge,
            device,
            on_epoch,
        )?);
    }
    let k = truth.tastes.len() as f32;
    let chance = if ctx.cold.is_empty() {
        0.0
    } else {
        ctx.cold
            .iter()
            .map(|&m| truth.member_mixture[m as usize].len() as f32 / k)
            .sum::<f32>()
            / ctx.cold.len() as f32
    };
    Ok(EvalTable {
        rows,
        members: graph.members.len(),
        tastes: truth.tastes.len(),
        test_pairs: ctx.split.val_pos.len(),
        heldout_images: ctx.pool.len(),
        recall_queries: ctx.queries.len(),
        cold_members: ctx.cold.len(),
        posting_members: ctx.posting.members(),
        chance_precision_at_3: chance,
        recall_k: cfg.recall_k,
    })
}

/// Trains the encoder with `tcfg` on the context's training graph and scores it; the λ = 0
/// row reaches image space through a ridge probe, the full model through its ImageAlign head.
fn gat_row(
    ctx: &Context,
    name: &str,
    enc: &PersonaEncoderConfig,
    tcfg: &TrainConfig,
    ridge: f64,
    device: &Device,
    on_epoch: &mut dyn FnMut(&str, &EpochStats),
) -> Result<EvalRow> {
    let started = Instant::now();
    let inner = split_links(ctx.train_graph(), tcfg.val_fraction, tcfg.seed)?;
    let varmap = VarMap::new();
    let (model, _) = train_split(&inner, enc, tcfg, &varmap, device, &mut |s| {
        on_epoch(name, s)
    })?;
    let g = GraphTensors::from_graph(ctx.train_graph(), enc.image_dim, enc.text_dim, device)?;
    let emb = model.embed(&g)?;
    let members = emb.narrow(0, 0, g.n_members)?;
    let image_space: Vec<Vec<f32>> = if tcfg.lambda_align > 0.0 {
        model.align(&members)?.to_vec2::<f32>()?
    } else {
        let z = members.to_vec2::<f32>()?;
        let means = ctx.train_graph().mean_images();
        let fit: Vec<(&[f32], &[f32])> = z
            .iter()
            .zip(&means)
            .filter_map(|(z, m)| m.as_ref().map(|m| (z.as_slice(), m.as_slice())))
            .collect();
        let probe = baselines::Ridge::fit(&fit, ridge)?;
        z.iter().map(|z| probe.apply(z)).collect()
    };
    let fit_s = started.elapsed().as_secs_f32();
    let all = emb.to_vec2::<f32>()?;
    let vectors: Vec<Option<Vec<f32>>> = image_space.into_iter().map(Some).collect();
    Ok(scored_row(
        ctx,
        name,
        &|m, c| dot(&all[m as usize], &all[g.channel_node(c) as usize]),
        Some(recall(ctx, &vectors)),
        cold_precision_at_3(ctx, &vectors, &ctx.centroids()),
        fit_s,
    ))
}

/// A row whose link prediction (held-out pairs against their negatives) and posting accuracy
/// rank channels by `score(member, channel)`.
fn scored_row(
    ctx: &Context,
    method: &str,
    score: &dyn Fn(u32, u32) -> f32,
    recall_at_k: Option<f32>,
    cold_precision_at_3: Option<f32>,
    fit_s: f32,
) -> EvalRow {
    let scores =
        |pairs: &[(u32, u32)]| -> Vec<f32> { pairs.iter().map(|&(m, c)| score(m, c)).collect() };
    let (pos, neg) = (scores(&ctx.split.val_pos), scores(&ctx.split.val_neg));
    let (posting_accuracy, cold_posting_accuracy) = ctx.posting.accuracy(score);
    EvalRow {
        method: method.to_string(),
        lp_auc: auc(&pos, &neg),
        lp_accuracy: accuracy_at_median(&pos, &neg),
        recall_at_k,
        cold_precision_at_3,
        posting_accuracy,
        cold_posting_accuracy,
        fit_s,
    }
}

/// Mean recall@k of the queries' held-out images when ranking the pool by cosine similarity
/// to each member's image-space vector (members without one score 0).
fn recall(ctx: &Context, vectors: &[Option<Vec<f32>>]) -> f32 {
    if ctx.queries.is_empty() {
        return 0.0;
    }
    let total: f32 = ctx
        .queries
        .iter()
        .map(|(m, relevant)| match &vectors[*m as usize] {
            Some(v) => {
                let v = normalized(v);
                let scores: Vec<f32> = ctx.pool.iter().map(|p| dot(&v, p)).collect();
                recall_at_k(&scores, relevant, ctx.recall_k)
            }
            None => 0.0,
        })
        .sum();
    total / ctx.queries.len() as f32
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cold-start taste recovery P@3 (see the module docs) with taste scores = cosine of each
/// member's vector to each taste's `prototype`; `None` when no cold-start member has a vector.
fn cold_precision_at_3(
    ctx: &Context,
    vectors: &[Option<Vec<f32>>],
    prototypes: &[Vec<f32>],
) -> Option<f32> {
    if ctx.cold.iter().all(|&m| vectors[m as usize].is_none()) {
        return None;
    }
    let total: f32 = ctx
        .cold
        .iter()
        .map(|&m| match &vectors[m as usize] {
            Some(v) => {
                let scores: Vec<f32> = prototypes
                    .iter()
                    .map(|p| super::metrics::cosine(v, p))
                    .collect();
                precision_at_3(ctx.truth, m, &scores)
            }
            None => 0.0,
        })
        .sum();
    Some(total / ctx.cold.len() as f32)
}

/// P@3 of the descriptors read down the ranking of `taste_scores` against `member`'s planted
/// tastes.
pub fn precision_at_3(truth: &GroundTruth, member: u32, taste_scores: &[f32]) -> f32 {
    let order = top_k_indices(taste_scores, taste_scores.len());
    let planted: HashSet<&String> = truth.member_mixture[member as usize]
        .iter()
        .flat_map(|&(t, _)| &truth.tastes[t].descriptors)
        .collect();
    let hits = order
        .iter()
        .flat_map(|&t| &truth.tastes[t].descriptors)
        .take(3)
        .filter(|d| planted.contains(d))
        .count();
    hits as f32 / 3.0
}
