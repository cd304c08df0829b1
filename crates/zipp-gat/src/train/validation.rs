//! Validation of a training run: link prediction on held-out pairs and ImageAlign on held-out
//! members (see the parent module's docs).

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::{pair_scores, LinkSplit, TrainConfig};
use crate::encoder::{GraphTensors, PersonaEncoder, PersonaEncoderConfig};
use crate::metrics::auc;

/// Members held out of ImageAlign for validation, with their true mean images.
pub(super) struct AlignHoldout {
    /// Member indices.
    pub(super) members: Vec<u32>,
    /// Their mean images, unit length, in the same order.
    targets: Vec<Vec<f32>>,
}

/// One epoch's validation.
#[derive(Clone, Copy, Debug)]
pub(super) struct Validation {
    pub(super) lp_auc: f32,
    pub(super) align_auc: Option<f32>,
}

impl Validation {
    /// What early stopping watches: the mean of the AUCs in use.
    pub(super) fn signal(&self) -> f32 {
        match self.align_auc {
            Some(a) => 0.5 * (self.lp_auc + a),
            None => self.lp_auc,
        }
    }
}

/// Picks the ImageAlign validation members (a share `val_align_fraction` of the members with
/// images, at least two, never all; none when λ = 0) and zeroes their inputs in `g`.
pub(super) fn hold_out_align(
    mut g: GraphTensors,
    targets: &Tensor,
    tcfg: &TrainConfig,
) -> Result<(GraphTensors, Option<AlignHoldout>)> {
    let with_images: Vec<u32> = (0..g.n_members as u32)
        .filter(|&m| g.member_has_image[m as usize])
        .collect();
    let n = ((with_images.len() as f64) * tcfg.val_align_fraction.clamp(0.0, 1.0)).round() as usize;
    if tcfg.lambda_align <= 0.0 || n < 2 || n >= with_images.len() {
        return Ok((g, None));
    }
    let mut members = with_images;
    members.shuffle(&mut StdRng::seed_from_u64(tcfg.seed ^ 0xa119_0e1d));
    members.truncate(n);
    members.sort_unstable();
    zero_members(&mut g, &members)?;
    let rows = targets.to_vec2::<f32>()?;
    let targets = members
        .iter()
        .map(|&m| crate::metrics::normalized(&rows[m as usize]))
        .collect();
    Ok((g, Some(AlignHoldout { members, targets })))
}

/// Zeroes the inputs of `members` in `g` (they look like members without images).
pub(super) fn zero_members(g: &mut GraphTensors, members: &[u32]) -> Result<()> {
    let mut keep = vec![1f32; g.n_members];
    for &m in members {
        keep[m as usize] = 0.0;
        g.member_has_image[m as usize] = false;
    }
    let keep = Tensor::from_vec(keep, (g.n_members, 1), g.x_member.device())?;
    g.x_member = g.x_member.broadcast_mul(&keep)?;
    Ok(())
}

/// Validation of `params`: LP AUC of the held-out pairs and, with held-out members, the
/// ImageAlign AUC (see the module docs), on the full training graph without autograd.
pub(super) fn validate(
    params: &HashMap<String, Tensor>,
    cfg: &PersonaEncoderConfig,
    g: &GraphTensors,
    split: &LinkSplit,
    val: Option<&AlignHoldout>,
    device: &Device,
) -> Result<Validation> {
    let frozen = PersonaEncoder::new(
        cfg.clone(),
        VarBuilder::from_tensors(params.clone(), DType::F32, device),
    )?;
    let emb = frozen.embed(g)?;
    let lp_auc = if split.val_pos.is_empty() {
        0.5
    } else {
        let pos = pair_scores(&emb, g, &split.val_pos)?.to_vec1::<f32>()?;
        let neg = pair_scores(&emb, g, &split.val_neg)?.to_vec1::<f32>()?;
        auc(&pos, &neg)
    };
    let align_auc = match val {
        Some(v) => {
            let idx = Tensor::new(v.members.as_slice(), device)?;
            let proj = frozen
                .align(&emb.index_select(&idx, 0)?)?
                .to_vec2::<f32>()?;
            Some(align_auc(&proj, &v.targets))
        }
        None => None,
    };
    Ok(Validation { lp_auc, align_auc })
}

/// Mean over rows `i` of the share of other targets `j` less similar to `proj[i]` than
/// `targets[i]` (cosine; ties count half).
pub(super) fn align_auc(proj: &[Vec<f32>], targets: &[Vec<f32>]) -> f32 {
    let n = proj.len();
    if n < 2 {
        return 0.5;
    }
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let total: f32 = proj
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let own = dot(p, &targets[i]);
            let wins: f32 = (0..n)
                .filter(|&j| j != i)
                .map(|j| match dot(p, &targets[j]).total_cmp(&own) {
                    std::cmp::Ordering::Less => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Greater => 0.0,
                })
                .sum();
            wins / (n - 1) as f32
        })
        .sum();
    total / n as f32
}
