//! Full-batch training of the [`PersonaEncoder`].
//!
//! Two objectives, summed as `loss = lp + λ·align`:
//! - **link prediction**: dot-product scores of member→channel `Posted` pairs against one
//!   sampled negative channel per positive, binary cross-entropy with logits. About
//!   `val_fraction` of the posted pairs are held out for validation AUC and removed (with any
//!   `Reacted` edge of the same pair) from the message-passing graph;
//! - **ImageAlign**: InfoNCE between the projected embeddings of members with images and
//!   their mean image embeddings (temperature `temperature`).
//!
//! Parameters live in a [`VarMap`], so `varmap.save(path)` writes a safetensors checkpoint.

use std::collections::HashSet;

use candle_core::{bail, DType, Device, Result, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::encoder::{GraphTensors, PersonaEncoder, PersonaEncoderConfig};
use crate::graph::{EdgeType, Graph};

/// Training hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Full-batch optimisation steps.
    pub epochs: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Weight λ of the ImageAlign loss.
    pub lambda_align: f64,
    /// InfoNCE temperature.
    pub temperature: f64,
    /// Share of posted member→channel pairs held out for validation.
    pub val_fraction: f64,
    /// Seed for the split, negative sampling and initialisation order.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            lr: 1e-2,
            weight_decay: 1e-4,
            lambda_align: 0.5,
            temperature: 0.1,
            val_fraction: 0.1,
            seed: 0,
        }
    }
}

/// What a training run achieved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Steps run.
    pub epochs: usize,
    /// Link-prediction loss of the first step.
    pub lp_loss_first: f32,
    /// Link-prediction loss of the last step.
    pub lp_loss_last: f32,
    /// ImageAlign loss of the first step.
    pub align_loss_first: f32,
    /// ImageAlign loss of the last step.
    pub align_loss_last: f32,
    /// ROC AUC of held-out posted pairs against sampled negative pairs, after training.
    pub val_auc: f32,
}

/// A train/validation split of member→channel `Posted` pairs.
#[derive(Clone, Debug)]
pub struct LinkSplit {
    /// The graph without the held-out pairs (used for message passing).
    pub train_graph: Graph,
    /// Training positives `(member, channel)`.
    pub train_pos: Vec<(u32, u32)>,
    /// Held-out positives.
    pub val_pos: Vec<(u32, u32)>,
    /// One negative per held-out positive: same member, a channel it never posted in or
    /// reacted to (none for a member linked to every channel).
    pub val_neg: Vec<(u32, u32)>,
}

/// Splits `graph`'s posted pairs deterministically (`seed`), holding out `val_fraction`.
pub fn split_links(graph: &Graph, val_fraction: f64, seed: u64) -> Result<LinkSplit> {
    let nc = graph.channels.len() as u32;
    if nc < 2 {
        bail!("link prediction needs at least two channels");
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut posted: Vec<(u32, u32)> = graph
        .edges
        .iter()
        .filter(|e| e.edge_type == EdgeType::Posted)
        .map(|e| (e.src, e.dst))
        .collect();
    posted.sort_unstable();
    posted.dedup();
    posted.shuffle(&mut rng);
    let n_val = ((posted.len() as f64) * val_fraction).round() as usize;
    let val_pos: Vec<(u32, u32)> = posted[..n_val].to_vec();
    let mut train_pos: Vec<(u32, u32)> = posted[n_val..].to_vec();
    train_pos.sort_unstable();
    let held: HashSet<(u32, u32)> = val_pos.iter().copied().collect();
    let linked: HashSet<(u32, u32)> = graph
        .edges
        .iter()
        .filter(|e| matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted))
        .map(|e| (e.src, e.dst))
        .collect();
    let mut val_neg = Vec::with_capacity(val_pos.len());
    for &(m, _) in &val_pos {
        let free: Vec<u32> = (0..nc).filter(|&c| !linked.contains(&(m, c))).collect();
        if let Some(&c) = free.choose(&mut rng) {
            val_neg.push((m, c));
        }
    }
    let mut train_graph = graph.clone();
    train_graph.edges.retain(|e| {
        !(matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted)
            && held.contains(&(e.src, e.dst)))
    });
    Ok(LinkSplit {
        train_graph,
        train_pos,
        val_pos,
        val_neg,
    })
}

/// ROC AUC (Mann–Whitney, ties count half) of positive against negative scores.
pub fn auc(pos: &[f32], neg: &[f32]) -> f32 {
    if pos.is_empty() || neg.is_empty() {
        return 0.5;
    }
    let mut wins = 0f64;
    for &p in pos {
        for &n in neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    (wins / (pos.len() * neg.len()) as f64) as f32
}

/// Dot-product scores of `(member, channel)` pairs from node embeddings `[N, D]`.
pub fn pair_scores(emb: &Tensor, g: &GraphTensors, pairs: &[(u32, u32)]) -> Result<Tensor> {
    let dev = emb.device();
    let m: Vec<u32> = pairs.iter().map(|&(m, _)| m).collect();
    let c: Vec<u32> = pairs.iter().map(|&(_, c)| g.channel_node(c)).collect();
    let zm = emb.index_select(&Tensor::new(m.as_slice(), dev)?, 0)?;
    let zc = emb.index_select(&Tensor::new(c.as_slice(), dev)?, 0)?;
    (zm * zc)?.sum(D::Minus1)
}

/// `mean(softplus(-s))`: BCE with logits for label 1 (use `-s` for label 0).
fn bce_pos(s: &Tensor) -> Result<Tensor> {
    let x = s.neg()?;
    // softplus(x) = relu(x) + ln(1 + e^{-|x|}), stable for both signs.
    let sp = (x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    sp.mean_all()
}

/// InfoNCE of projected member embeddings `[n, d]` against image targets `[n, d]`.
fn info_nce(proj: &Tensor, target: &Tensor, temperature: f64) -> Result<Tensor> {
    let norm = |t: &Tensor| -> Result<Tensor> {
        let n = (t.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
        t.broadcast_div(&n)
    };
    let logits = (norm(proj)?.matmul(&norm(target)?.t()?)? / temperature)?;
    let n = logits.dim(0)?;
    let labels = Tensor::arange(0u32, n as u32, logits.device())?;
    candle_nn::loss::cross_entropy(&logits, &labels)
}

/// Deterministically re-initialises every variable of `varmap` from `seed` (candle's CPU
/// initialisers cannot be seeded): 2-D weights and `[1, H, C]` attention vectors get Glorot
/// uniform `±√(6 / (fan_in + fan_out))` over their last two dims, 1-D biases zeros.
pub fn seeded_init(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = StdRng::seed_from_u64(seed);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let vals: Vec<f32> = if dims.len() < 2 {
            vec![0.0; n]
        } else {
            let (a, b) = (dims[dims.len() - 2], dims[dims.len() - 1]);
            let bound = (6.0 / (a + b) as f32).sqrt();
            (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
        };
        let t = Tensor::from_vec(vals, dims.as_slice(), var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// Trains a fresh encoder whose parameters are created in `varmap`; returns it and the report.
pub fn train(
    graph: &Graph,
    cfg: &PersonaEncoderConfig,
    tcfg: &TrainConfig,
    varmap: &VarMap,
    device: &Device,
) -> Result<(PersonaEncoder, TrainReport)> {
    let split = split_links(graph, tcfg.val_fraction, tcfg.seed)?;
    if split.train_pos.is_empty() {
        bail!("no posted member→channel edges to train on");
    }
    let gt = GraphTensors::from_graph(&split.train_graph, cfg.image_dim, cfg.text_dim, device)?;
    let vb = VarBuilder::from_varmap(varmap, DType::F32, device);
    let model = PersonaEncoder::new(cfg.clone(), vb)?;
    seeded_init(varmap, tcfg.seed)?;
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: tcfg.lr,
            weight_decay: tcfg.weight_decay,
            ..Default::default()
        },
    )?;
    // Members with images: indices and mean-image targets.
    let imaged: Vec<u32> = (0..graph.members.len() as u32)
        .filter(|&m| graph.mean_image(m).is_some())
        .collect();
    let img_idx = Tensor::new(imaged.as_slice(), device)?;
    let img_target = gt.x_member.index_select(&img_idx, 0)?;
    let nc = graph.channels.len() as u32;
    let mut rng = StdRng::seed_from_u64(tcfg.seed ^ 0x9e37_79b9_7f4a_7c15);
    let (mut lp_first, mut lp_last, mut al_first, mut al_last) = (0f32, 0f32, 0f32, 0f32);
    for epoch in 0..tcfg.epochs {
        let (emb, _) = model.forward(&gt)?;
        let neg: Vec<(u32, u32)> = split
            .train_pos
            .iter()
            .map(|&(m, c)| {
                let mut n = rng.gen_range(0..nc - 1);
                if n >= c {
                    n += 1;
                }
                (m, n)
            })
            .collect();
        let s_pos = pair_scores(&emb, &gt, &split.train_pos)?;
        let s_neg = pair_scores(&emb, &gt, &neg)?;
        let lp = (bce_pos(&s_pos)? + bce_pos(&s_neg.neg()?)?)?;
        let align = if imaged.len() >= 2 {
            let proj = model.align(&emb.index_select(&img_idx, 0)?)?;
            info_nce(&proj, &img_target, tcfg.temperature)?
        } else {
            Tensor::zeros((), DType::F32, device)?
        };
        let loss = (&lp + (&align * tcfg.lambda_align)?)?;
        opt.backward_step(&loss)?;
        let (lpv, alv) = (lp.to_scalar::<f32>()?, align.to_scalar::<f32>()?);
        if epoch == 0 {
            (lp_first, al_first) = (lpv, alv);
        }
        (lp_last, al_last) = (lpv, alv);
    }
    let (emb, _) = model.forward(&gt)?;
    let pos = pair_scores(&emb, &gt, &split.val_pos)?.to_vec1::<f32>()?;
    let neg = pair_scores(&emb, &gt, &split.val_neg)?.to_vec1::<f32>()?;
    let report = TrainReport {
        epochs: tcfg.epochs,
        lp_loss_first: lp_first,
        lp_loss_last: lp_last,
        align_loss_first: al_first,
        align_loss_last: al_last,
        val_auc: auc(&pos, &neg),
    };
    Ok((model, report))
}
