//! Random draws of the synthetic community (only `rand` is available, not `rand_distr`).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::SynthConfig;

/// Standard normal sample via Box–Muller (only `rand` is available, not `rand_distr`).
pub fn gaussian(rng: &mut StdRng) -> f32 {
    // 1 - U lies in (0, 1], so ln never sees 0.
    let u1 = 1.0 - rng.gen::<f64>();
    let u2 = rng.gen::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Poisson sample by Knuth's method; fine for the small means used here.
pub(super) fn poisson(rng: &mut StdRng, mean: f32) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    let limit = (-f64::from(mean)).exp();
    let mut k = 0;
    let mut p = rng.gen::<f64>();
    while p > limit {
        k += 1;
        p *= rng.gen::<f64>();
    }
    k
}

/// Normalizes `v` to unit length in place (left as is if it is all zeros).
pub(super) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Samples a taste index from a mixture by weight.
pub(super) fn pick_taste(rng: &mut StdRng, mixture: &[(usize, f32)]) -> usize {
    let mut u = rng.gen::<f32>();
    for &(t, w) in mixture {
        if u < w {
            return t;
        }
        u -= w;
    }
    // Rounding can leave u just above the last weight; the heaviest taste is a fine fallback.
    mixture.first().map_or(0, |&(t, _)| t)
}

/// Picks a random element of `items`, or of `fallback` when `items` is empty.
pub(super) fn pick_from(rng: &mut StdRng, items: &[u32], fallback: &[u32]) -> Option<u32> {
    items.choose(rng).or_else(|| fallback.choose(rng)).copied()
}

/// Days since last interaction: exponential with a 20-day mean, so recency features spread out.
pub(super) fn last_seen(rng: &mut StdRng) -> f32 {
    -20.0 * (1.0 - rng.gen::<f32>()).ln()
}

/// A random subset of `share * n` member ids, ascending.
pub(super) fn pick_share(rng: &mut StdRng, n: usize, share: f32) -> Vec<u32> {
    let k = ((share.clamp(0.0, 1.0) * n as f32).round() as usize).min(n);
    let mut ids: Vec<u32> = (0..n as u32).collect();
    ids.shuffle(rng);
    ids.truncate(k);
    ids.sort_unstable();
    ids
}

/// An index drawn with probability proportional to its weight, from `cumulative` weights
/// (ascending, the last one the total); `None` when there are none.
pub(super) fn pick_weighted(rng: &mut StdRng, cumulative: &[f32]) -> Option<u32> {
    let total = *cumulative.last()?;
    let u = rng.gen::<f32>() * total;
    let i = cumulative.partition_point(|&c| c <= u);
    Some(i.min(cumulative.len() - 1) as u32)
}

/// Where a member's posts and reactions go: a channel of one of their tastes, or with
/// probability `noise` one drawn by popularity.
pub(super) struct ChannelPicker {
    /// Themed channels of each taste.
    pub(super) of_taste: Vec<Vec<u32>>,
    /// Every themed channel (the uniform draw of the easy community).
    pub(super) themed: Vec<u32>,
    /// Cumulative popularity over all channels, when it is not uniform over themed ones.
    pub(super) popular: Option<Vec<f32>>,
}

impl ChannelPicker {
    pub(super) fn pick(&self, rng: &mut StdRng, mix: &[(usize, f32)], noise: f32) -> Option<u32> {
        if rng.gen::<f32>() < noise {
            match &self.popular {
                None => pick_from(rng, &self.themed, &[]),
                Some(cumulative) => pick_weighted(rng, cumulative),
            }
        } else {
            let t = pick_taste(rng, mix);
            pick_from(rng, &self.of_taste[t], &self.themed)
        }
    }
}

/// Cumulative popularity of `n` channels for off-taste activity: Zipf with exponent
/// `popularity_skew` over ranks, untyped channels first, themed ones after in a seeded order.
pub(super) fn popularity(cfg: &SynthConfig, n: usize) -> Vec<f32> {
    let mut themed: Vec<usize> = (0..cfg.n_channels).collect();
    themed.shuffle(&mut StdRng::seed_from_u64(cfg.seed ^ 0x706f_7075_6c61));
    let ranked = (cfg.n_channels..n).chain(themed);
    let mut weight = vec![0f32; n];
    for (rank, c) in ranked.enumerate() {
        weight[c] = (rank as f32 + 1.0).powf(-cfg.popularity_skew);
    }
    weight
        .iter()
        .scan(0f32, |sum, w| {
            *sum += w;
            Some(*sum)
        })
        .collect()
}
