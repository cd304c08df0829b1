//! Training of the [`PersonaEncoder`], full batch or mini-batch with neighbour sampling.
//!
//! Two objectives, summed as `loss = lp + λ·align`:
//! - **link prediction**: dot-product scores of member→channel `Posted` pairs against one
//!   sampled negative channel per positive, binary cross-entropy with logits. About
//!   `val_fraction` of the posted pairs are held out ([`split_links`]) for the validation AUC
//!   and removed (with any `Reacted` edge of the same pair) from the message-passing graph;
//! - **ImageAlign**: InfoNCE (in-batch negatives, temperature `temperature`) between the
//!   projected embedding of each member with images and the mean of their images. Each epoch
//!   a share `image_dropout` of those members get a zero input row, as cold-start members
//!   have, while their target stays: this teaches the encoder to place a member in image
//!   space from the graph alone, which is what cold-start personas need. In full batch they
//!   also keep only `cold_practice_edges` of their posts and reactions for the epoch (see
//!   `cold`), so they look like real newcomers: a few channels, their roles, who replies.
//!
//! **Batching** ([`BatchMode`]): full batch runs the encoder on the whole graph once per epoch
//! (one AdamW step). Mini-batch shuffles the members into batches of `batch_size` seeds; for
//! each batch the seeds are the members plus the channels of their training pairs (positive and
//! negative), [`NeighborSampler`] draws their computation graph with the per-layer `fanouts`,
//! the encoder runs on that subgraph and AdamW steps on the seeds' losses. `Auto` uses full
//! batch when the graph has at most `full_batch_max_edges` message-passing edges and at most
//! [`FULL_BATCH_MAX_MEMBERS`] members (InfoNCE over all members is quadratic), else
//! mini-batch. Negatives and the dropout mask are drawn per epoch before batching, so one
//! mini-batch holding every member with fan-outs ≥ the largest degree computes the full-batch
//! loss.
//!
//! **Validation and early stopping**: a share `val_align_fraction` of the members with images
//! are held out of ImageAlign: their input row is zeroed for the whole run (they look like
//! cold-start members to the encoder) and they are in no InfoNCE. After every epoch the
//! encoder (detached copy of the parameters, full graph, no autograd) scores the held-out
//! pairs (*LP AUC*) and, when λ > 0, places the held-out members in image space from the graph
//! alone (*align AUC*: for each of them, the share of the other held-out members whose mean
//! image is less similar to its projection than its own; 0.5 by chance). Early stopping
//! watches the mean of these signals — but only once it has **left its untrained value**
//! (measured on the initial parameters) by [`SIGNAL_MARGIN`]: until then no epoch counts as
//! best and patience does not run, and a signal that never leaves it keeps the last epoch
//! ([`TrainReport::signal_left_untrained`] says so). A noisy signal that never learned
//! anything so cannot stop a run at epoch 3. The parameters with the best signal are kept and
//! restored at the end; training stops after `patience` epochs without improvement (0 =
//! never). Everything random draws from `seed`: the splits, the initialisation
//! ([`seeded_init`]), negatives, dropout, batch order and neighbour sampling.
//!
//! Parameters live in a [`VarMap`], so `varmap.save(path)` writes a safetensors checkpoint.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{bail, DType, Device, Result, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::encoder::{GraphTensors, PersonaEncoder, PersonaEncoderConfig};
use super::kernels::{self, Kernel};
use super::sample::NeighborSampler;
use crate::graph::Graph;

mod cold;
mod minibatch;
mod params;
mod split;
mod validation;

use params::restore;
pub use params::{seeded_init, snapshot};
pub use split::{split_links, supervision_split, LinkSplit};

use cold::ColdPractice;
use minibatch::mini_batch_epoch;
use validation::{hold_out_align, validate, zero_members, Validation};

/// `Auto` trains full batch only up to this many members (see the module docs).
pub const FULL_BATCH_MAX_MEMBERS: usize = 8192;

/// How far the validation signal must rise above its untrained value before an epoch can be
/// kept as the best (see the module docs).
pub const SIGNAL_MARGIN: f32 = 0.01;

/// How an epoch visits the graph.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchMode {
    /// Full batch for small graphs, mini-batch otherwise (see the module docs).
    #[default]
    Auto,
    /// One step per epoch over the whole graph.
    Full,
    /// Batches of seed members with sampled neighbourhoods.
    MiniBatch,
}

/// Training hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Maximum number of epochs.
    pub epochs: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Weight λ of the ImageAlign loss (0 trains link prediction only).
    pub lambda_align: f64,
    /// InfoNCE temperature.
    pub temperature: f64,
    /// Share of posted member→channel pairs held out for validation.
    pub val_fraction: f64,
    /// Seed for everything random (see the module docs).
    pub seed: u64,
    /// Stop after this many epochs without a better validation AUC (0: run every epoch).
    pub patience: usize,
    /// Full batch, mini-batch, or chosen by size.
    pub mode: BatchMode,
    /// Seed members per mini-batch.
    pub batch_size: usize,
    /// In-edges sampled per node, per hop (one entry per GAT layer).
    pub fanouts: Vec<usize>,
    /// `Auto` uses full batch up to this many message-passing edges (both directions plus
    /// self loops).
    pub full_batch_max_edges: usize,
    /// Share of members with images whose input is zeroed each epoch (cold-start practice).
    pub image_dropout: f64,
    /// Share of members with images held out of ImageAlign for validation (see the module
    /// docs); 0 watches link prediction alone.
    pub val_align_fraction: f64,
    /// Share of the training pairs that supervise link prediction and leave the
    /// message-passing graph ([`supervision_split`]); 0 supervises every pair in place.
    pub supervision_share: f64,
    /// Full batch only: members whose image input is dropped in an epoch also keep at most
    /// this many of their posts and reactions for it (cold-start practice); 0 keeps all.
    pub cold_practice_edges: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            lr: 1e-2,
            weight_decay: 1e-4,
            lambda_align: 0.5,
            // 0.2 and an image dropout of 0.6 were measured best on the hard community
            // (examples/ablation; crates/zipp-gat/README.md).
            temperature: 0.2,
            val_fraction: 0.1,
            seed: 0,
            patience: 25,
            mode: BatchMode::Auto,
            batch_size: 1024,
            fanouts: vec![15, 10],
            full_batch_max_edges: 250_000,
            image_dropout: 0.6,
            val_align_fraction: 0.1,
            supervision_share: 0.3,
            cold_practice_edges: 3,
        }
    }
}

/// Losses and validation after one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// Epoch number, from 0.
    pub epoch: usize,
    /// Mean link-prediction loss over the epoch's steps.
    pub lp_loss: f32,
    /// Mean ImageAlign loss over the epoch's steps (0 when λ = 0).
    pub align_loss: f32,
    /// Link-prediction validation AUC after the epoch.
    pub val_auc: f32,
    /// ImageAlign validation AUC after the epoch (0.5 when λ = 0 or nobody is held out).
    #[serde(default)]
    pub val_align_auc: f32,
    /// What early stopping watches: the mean of the validation AUCs in use.
    #[serde(default)]
    pub signal: f32,
    /// Best signal of an epoch that counted (see the module docs); the untrained value until
    /// one did.
    #[serde(default)]
    pub best_signal: f32,
    /// Seconds since training started.
    pub elapsed_s: f32,
}

/// What a training run achieved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Epochs run.
    pub epochs: usize,
    /// The batching actually used (`Auto` resolved).
    pub mode: BatchMode,
    /// Epoch whose parameters were kept (best validation AUC).
    pub best_epoch: usize,
    /// Whether patience ran out before `epochs`.
    pub stopped_early: bool,
    /// Link-prediction loss of the first epoch.
    pub lp_loss_first: f32,
    /// Link-prediction loss of the last epoch.
    pub lp_loss_last: f32,
    /// ImageAlign loss of the first epoch.
    pub align_loss_first: f32,
    /// ImageAlign loss of the last epoch.
    pub align_loss_last: f32,
    /// ROC AUC of held-out posted pairs against sampled negative pairs, for the kept
    /// parameters.
    pub val_auc: f32,
    /// ImageAlign validation AUC of the kept parameters (0.5 when unused).
    #[serde(default)]
    pub val_align_auc: f32,
    /// The validation signal of the initial parameters.
    #[serde(default)]
    pub untrained_signal: f32,
    /// Whether the signal ever rose [`SIGNAL_MARGIN`] above its untrained value; when not, the
    /// last epoch was kept.
    #[serde(default)]
    pub signal_left_untrained: bool,
    /// Wall-clock seconds.
    pub elapsed_s: f32,
    /// Every epoch's statistics.
    pub history: Vec<EpochStats>,
}

/// Dot-product scores `[P]` of node pairs `(a, b)` from embeddings `[N, D]`.
pub fn node_pair_scores(emb: &Tensor, pairs: &[(u32, u32)]) -> Result<Tensor> {
    let dev = emb.device();
    let a: Vec<u32> = pairs.iter().map(|&(a, _)| a).collect();
    let b: Vec<u32> = pairs.iter().map(|&(_, b)| b).collect();
    let za = emb.index_select(&Tensor::new(a.as_slice(), dev)?, 0)?;
    let zb = emb.index_select(&Tensor::new(b.as_slice(), dev)?, 0)?;
    (za * zb)?.sum(D::Minus1)
}

/// Dot-product scores of `(member, channel)` pairs of the full graph `g`.
pub fn pair_scores(emb: &Tensor, g: &GraphTensors, pairs: &[(u32, u32)]) -> Result<Tensor> {
    let nodes: Vec<(u32, u32)> = pairs.iter().map(|&(m, c)| (m, g.channel_node(c))).collect();
    node_pair_scores(emb, &nodes)
}

/// `mean(softplus(-s))`: BCE with logits for label 1 (use `-s` for label 0).
fn bce_pos(s: &Tensor) -> Result<Tensor> {
    let x = s.neg()?;
    // softplus(x) = relu(x) + ln(1 + e^{-|x|}), stable for both signs.
    let sp = (x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    sp.mean_all()
}

/// Rows of `t` scaled to unit length.
fn l2_rows(t: &Tensor) -> Result<Tensor> {
    let n = (t.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    t.broadcast_div(&n)
}

/// InfoNCE of projected member embeddings `[n, d]` against image targets `[n, d]`: row `i`'s
/// positive is target `i`, the other rows' targets are its negatives.
pub fn info_nce(proj: &Tensor, target: &Tensor, temperature: f64) -> Result<Tensor> {
    let logits = (l2_rows(proj)?.matmul(&l2_rows(target)?.t()?)? / temperature)?;
    let n = logits.dim(0)?;
    let labels = Tensor::arange(0u32, n as u32, logits.device())?;
    kernels::cross_entropy(&logits, &labels, Kernel::Auto)
}

/// One step's supervision, in the node indices of the graph the encoder runs on.
struct Pairs {
    /// Positive `(member node, channel node)` pairs.
    pos: Vec<(u32, u32)>,
    /// Negative pairs, one per positive.
    neg: Vec<(u32, u32)>,
    /// Member nodes in the InfoNCE, with their global member index (target row).
    aligned: Vec<(u32, u32)>,
}

/// One step's inputs.
struct Batch<'a> {
    /// Graph (full or sampled) the encoder runs on.
    g: &'a GraphTensors,
    /// What the step is scored on.
    pairs: Pairs,
}

/// `(lp, align)` losses of one batch; `align` is a zero scalar when λ = 0 or fewer than two
/// members have images.
fn batch_loss(
    model: &PersonaEncoder,
    batch: &Batch,
    targets: &Tensor,
    tcfg: &TrainConfig,
) -> Result<(Tensor, Tensor)> {
    let emb = model.embed(batch.g)?;
    let batch = &batch.pairs;
    let lp = if batch.pos.is_empty() {
        Tensor::zeros((), DType::F32, emb.device())?
    } else {
        let s_pos = node_pair_scores(&emb, &batch.pos)?;
        let s_neg = node_pair_scores(&emb, &batch.neg)?;
        (bce_pos(&s_pos)? + bce_pos(&s_neg.neg()?)?)?
    };
    let align = if tcfg.lambda_align > 0.0 && batch.aligned.len() >= 2 {
        let dev = emb.device();
        let nodes: Vec<u32> = batch.aligned.iter().map(|&(n, _)| n).collect();
        let members: Vec<u32> = batch.aligned.iter().map(|&(_, m)| m).collect();
        let proj = model.align(&emb.index_select(&Tensor::new(nodes.as_slice(), dev)?, 0)?)?;
        let target = targets.index_select(&Tensor::new(members.as_slice(), dev)?, 0)?;
        info_nce(&proj, &target, tcfg.temperature)?
    } else {
        Tensor::zeros((), DType::F32, emb.device())?
    };
    Ok((lp, align))
}

/// The mode `Auto` resolves to for a graph (see the module docs).
pub fn resolve_mode(tcfg: &TrainConfig, g: &GraphTensors) -> BatchMode {
    match tcfg.mode {
        BatchMode::Auto
            if g.edge_index.num_edges() <= tcfg.full_batch_max_edges
                && g.n_members <= FULL_BATCH_MAX_MEMBERS =>
        {
            BatchMode::Full
        }
        BatchMode::Auto => BatchMode::MiniBatch,
        mode => mode,
    }
}

/// Everything an epoch needs, built once.
struct Prepared {
    /// The training graph's tensors (unmasked member inputs).
    g: GraphTensors,
    /// Training positives, sorted by member.
    train_pos: Vec<(u32, u32)>,
    /// ImageAlign targets: mean training image per member `[Nm, image_dim]`.
    targets: Tensor,
}

/// One negative channel per positive pair (any other channel; collisions with other positives
/// are rare and harmless), drawn for the whole epoch.
fn sample_negatives(pos: &[(u32, u32)], n_channels: u32, rng: &mut StdRng) -> Vec<(u32, u32)> {
    pos.iter()
        .map(|&(m, c)| {
            let mut n = rng.gen_range(0..n_channels - 1);
            if n >= c {
                n += 1;
            }
            (m, n)
        })
        .collect()
}

/// The member input with the rows of dropped members zeroed, and those members.
fn dropout_inputs(p: &Prepared, rate: f64, rng: &mut StdRng) -> Result<(Tensor, Vec<u32>)> {
    if rate <= 0.0 {
        return Ok((p.g.x_member.clone(), Vec::new()));
    }
    let mut dropped = Vec::new();
    let keep: Vec<f32> =
        p.g.member_has_image
            .iter()
            .enumerate()
            .map(|(m, &has)| {
                if has && rng.gen::<f64>() < rate {
                    dropped.push(m as u32);
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
    let keep = Tensor::from_vec(keep, (p.g.n_members, 1), p.g.x_member.device())?;
    Ok((p.g.x_member.broadcast_mul(&keep)?, dropped))
}

/// Trains a fresh encoder on `graph` (split with [`split_links`]); see [`train_split`].
pub fn train(
    graph: &Graph,
    cfg: &PersonaEncoderConfig,
    tcfg: &TrainConfig,
    varmap: &VarMap,
    device: &Device,
) -> Result<(PersonaEncoder, TrainReport)> {
    let split = split_links(graph, tcfg.val_fraction, tcfg.seed)?;
    train_split(&split, cfg, tcfg, varmap, device, &mut |_| {})
}

/// Trains a fresh encoder whose parameters are created in `varmap` on `split`, calling
/// `on_epoch` after every epoch; returns it (with the best parameters) and the report.
pub fn train_split(
    split: &LinkSplit,
    cfg: &PersonaEncoderConfig,
    tcfg: &TrainConfig,
    varmap: &VarMap,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochStats),
) -> Result<(PersonaEncoder, TrainReport)> {
    if split.train_pos.is_empty() {
        bail!("no posted member→channel edges to train on");
    }
    if tcfg.fanouts.len() != 2 || tcfg.fanouts.contains(&0) || tcfg.batch_size == 0 {
        bail!(
            "mini-batch settings: need two positive fan-outs (one per layer) and a positive batch size, got {:?} and {}",
            tcfg.fanouts,
            tcfg.batch_size
        );
    }
    let started = Instant::now();
    let (passing, supervision) = supervision_split(split, tcfg.supervision_share, tcfg.seed);
    let g = GraphTensors::from_graph(&passing, cfg.image_dim, cfg.text_dim, device)?;
    let model = PersonaEncoder::new(
        cfg.clone(),
        VarBuilder::from_varmap(varmap, DType::F32, device),
    )?;
    seeded_init(varmap, tcfg.seed)?;
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: tcfg.lr,
            weight_decay: tcfg.weight_decay,
            ..Default::default()
        },
    )?;
    let mode = resolve_mode(tcfg, &g);
    let targets = g.x_member.clone();
    let (g, val) = hold_out_align(g, &targets, tcfg)?;
    // Validation passes messages over every training edge, as inference will.
    let g_val = if supervision.len() == split.train_pos.len() {
        g.clone()
    } else {
        let mut full =
            GraphTensors::from_graph(&split.train_graph, cfg.image_dim, cfg.text_dim, device)?;
        if let Some(v) = &val {
            zero_members(&mut full, &v.members)?;
        }
        full
    };
    let p = Prepared {
        targets,
        train_pos: supervision,
        g,
    };
    let sampler = (mode == BatchMode::MiniBatch).then(|| NeighborSampler::new(&p.g));
    let practice = (sampler.is_none() && tcfg.cold_practice_edges > 0)
        .then(|| ColdPractice::new(&passing, tcfg.cold_practice_edges));
    let mut rng = StdRng::seed_from_u64(tcfg.seed ^ 0x9e37_79b9_7f4a_7c15);
    let early_stopping = tcfg.patience > 0 && (!split.val_pos.is_empty() || val.is_some());
    let untrained =
        validate(&snapshot(varmap)?, cfg, &g_val, split, val.as_ref(), device)?.signal();
    let mut best: Option<(Validation, usize, HashMap<String, Tensor>)> = None;
    let mut last: Option<Validation> = None;
    let mut history: Vec<EpochStats> = Vec::new();
    let mut stopped_early = false;
    for epoch in 0..tcfg.epochs {
        let neg = sample_negatives(&p.train_pos, p.g.n_channels as u32, &mut rng);
        let (x_member, dropped) = dropout_inputs(&p, tcfg.image_dropout, &mut rng)?;
        let (lp, align) = match &sampler {
            None => {
                let g = match &practice {
                    Some(c) if !dropped.is_empty() => {
                        let thin = c.thin(&passing, &dropped, &mut rng);
                        let t =
                            GraphTensors::from_graph(&thin, cfg.image_dim, cfg.text_dim, device)?;
                        GraphTensors {
                            x_member,
                            member_has_image: p.g.member_has_image.clone(),
                            ..t
                        }
                    }
                    _ => GraphTensors {
                        x_member,
                        ..p.g.clone()
                    },
                };
                full_batch_epoch(&model, &mut opt, &p, &g, &neg, tcfg)?
            }
            Some(s) => mini_batch_epoch(&model, &mut opt, &p, &neg, x_member, s, tcfg, &mut rng)?,
        };
        let params = snapshot(varmap)?;
        let v = validate(&params, cfg, &g_val, split, val.as_ref(), device)?;
        let signal = v.signal();
        // An epoch counts only once the signal has left its untrained value.
        let counts = signal >= untrained + SIGNAL_MARGIN;
        if counts && best.as_ref().is_none_or(|(b, _, _)| signal > b.signal()) {
            best = Some((v, epoch, params));
        }
        let best_signal = best.as_ref().map_or(untrained, |b| b.0.signal());
        let stats = EpochStats {
            epoch,
            lp_loss: lp,
            align_loss: align,
            val_auc: v.lp_auc,
            val_align_auc: v.align_auc.unwrap_or(0.5),
            signal,
            best_signal,
            elapsed_s: started.elapsed().as_secs_f32(),
        };
        on_epoch(&stats);
        history.push(stats);
        last = Some(v);
        if early_stopping && best.as_ref().is_some_and(|b| epoch - b.1 >= tcfg.patience) {
            stopped_early = epoch + 1 < tcfg.epochs;
            break;
        }
    }
    let signal_left_untrained = best.is_some();
    let (kept, best_epoch) = match best {
        Some((v, epoch, params)) if early_stopping => {
            restore(varmap, &params)?;
            (Some(v), epoch)
        }
        _ => (last, history.len().saturating_sub(1)),
    };
    let first = history.first().cloned();
    let last = history.last().cloned();
    let report = TrainReport {
        epochs: history.len(),
        mode,
        best_epoch,
        stopped_early,
        lp_loss_first: first.as_ref().map_or(0.0, |s| s.lp_loss),
        lp_loss_last: last.as_ref().map_or(0.0, |s| s.lp_loss),
        align_loss_first: first.as_ref().map_or(0.0, |s| s.align_loss),
        align_loss_last: last.as_ref().map_or(0.0, |s| s.align_loss),
        val_auc: kept.map_or(0.5, |v| v.lp_auc),
        val_align_auc: kept.and_then(|v| v.align_auc).unwrap_or(0.5),
        untrained_signal: untrained,
        signal_left_untrained,
        elapsed_s: started.elapsed().as_secs_f32(),
        history,
    };
    Ok((model, report))
}

/// One AdamW step on the whole graph; returns `(lp, align)`.
fn full_batch_epoch(
    model: &PersonaEncoder,
    opt: &mut AdamW,
    p: &Prepared,
    g: &GraphTensors,
    neg: &[(u32, u32)],
    tcfg: &TrainConfig,
) -> Result<(f32, f32)> {
    let batch = full_batch(g, &p.train_pos, neg);
    step(model, opt, &batch, &p.targets, tcfg)
}

/// The full-graph batch: every training pair and every member with images.
fn full_batch<'a>(g: &'a GraphTensors, pos: &[(u32, u32)], neg: &[(u32, u32)]) -> Batch<'a> {
    let to_nodes = |pairs: &[(u32, u32)]| -> Vec<(u32, u32)> {
        pairs.iter().map(|&(m, c)| (m, g.channel_node(c))).collect()
    };
    Batch {
        g,
        pairs: Pairs {
            pos: to_nodes(pos),
            neg: to_nodes(neg),
            aligned: (0..g.n_members as u32)
                .filter(|&m| g.member_has_image[m as usize])
                .map(|m| (m, m))
                .collect(),
        },
    }
}

/// Computes a batch's losses and steps AdamW; returns `(lp, align)` as numbers.
fn step(
    model: &PersonaEncoder,
    opt: &mut AdamW,
    batch: &Batch,
    targets: &Tensor,
    tcfg: &TrainConfig,
) -> Result<(f32, f32)> {
    let (lp, align) = batch_loss(model, batch, targets, tcfg)?;
    let loss = (&lp + (&align * tcfg.lambda_align)?)?;
    opt.backward_step(&loss)?;
    Ok((lp.to_scalar::<f32>()?, align.to_scalar::<f32>()?))
}

#[cfg(test)]
#[path = "train_tests.rs"]
mod tests;
