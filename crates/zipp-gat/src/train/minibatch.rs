//! Mini-batch epochs: seed members, their training pairs and their sampled neighbourhoods
//! (see the parent module's docs).

use candle_core::{bail, Result, Tensor};
use candle_nn::AdamW;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{step, Batch, Pairs, Prepared, TrainConfig};
use crate::encoder::PersonaEncoder;
use crate::sample::{NeighborSampler, Subgraph};

/// Builds the mini-batch of `members` (global ids): their training pairs and their sampled
/// computation graph. Returns the subgraph and the pairs in its local indices.
pub(super) fn sample_batch(
    p: &Prepared,
    x_member: &Tensor,
    neg: &[(u32, u32)],
    members: &[u32],
    sampler: &NeighborSampler,
    fanouts: &[usize],
    rng: &mut StdRng,
) -> Result<(Subgraph, Pairs)> {
    let mut pos = Vec::new();
    let mut negs = Vec::new();
    for &m in members {
        let lo = p.train_pos.partition_point(|&(a, _)| a < m);
        let hi = p.train_pos.partition_point(|&(a, _)| a <= m);
        for (&(_, c), &(_, n)) in p.train_pos[lo..hi].iter().zip(&neg[lo..hi]) {
            pos.push((m, p.g.channel_node(c)));
            negs.push((m, p.g.channel_node(n)));
        }
    }
    let mut seeds: Vec<u32> = members.to_vec();
    seeds.extend(pos.iter().chain(&negs).map(|&(_, c)| c));
    let sampled = sampler.sample(&seeds, fanouts, rng);
    let sub = sampler.subgraph(&p.g, x_member, &sampled)?;
    let local = |pairs: Vec<(u32, u32)>| -> Result<Vec<(u32, u32)>> {
        pairs
            .into_iter()
            .map(|(a, b)| match (sub.local_of(a), sub.local_of(b)) {
                (Some(a), Some(b)) => Ok((a, b)),
                _ => bail!("sampler lost a seed of pair ({a}, {b})"),
            })
            .collect()
    };
    let pos = local(pos)?;
    let negs = local(negs)?;
    let aligned: Vec<(u32, u32)> = members
        .iter()
        .filter(|&&m| p.g.member_has_image[m as usize])
        .filter_map(|&m| sub.local_of(m).map(|l| (l, m)))
        .collect();
    Ok((
        sub,
        Pairs {
            pos,
            neg: negs,
            aligned,
        },
    ))
}

/// One pass over all members in shuffled batches; returns the mean `(lp, align)`.
#[allow(clippy::too_many_arguments)]
pub(super) fn mini_batch_epoch(
    model: &PersonaEncoder,
    opt: &mut AdamW,
    p: &Prepared,
    neg: &[(u32, u32)],
    x_member: Tensor,
    sampler: &NeighborSampler,
    tcfg: &TrainConfig,
    rng: &mut StdRng,
) -> Result<(f32, f32)> {
    let mut order: Vec<u32> = (0..p.g.n_members as u32).collect();
    order.shuffle(rng);
    let (mut lp_sum, mut align_sum, mut steps) = (0f32, 0f32, 0usize);
    for members in order.chunks(tcfg.batch_size) {
        let (sub, pairs) = sample_batch(p, &x_member, neg, members, sampler, &tcfg.fanouts, rng)?;
        if pairs.pos.is_empty() && pairs.aligned.len() < 2 {
            continue;
        }
        let batch = Batch {
            g: &sub.tensors,
            pairs,
        };
        let (lp, align) = step(model, opt, &batch, &p.targets, tcfg)?;
        lp_sum += lp;
        align_sum += align;
        steps += 1;
    }
    let steps = steps.max(1) as f32;
    Ok((lp_sum / steps, align_sum / steps))
}
