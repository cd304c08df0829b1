//! Synthetic community with planted tastes, for measuring persona quality without real users.
//!
//! [`generate`] plants `K` *tastes* (aesthetic themes, each a few descriptor words plus a unit-norm
//! image-embedding centroid), gives every member a sparse mixture over 1–3 tastes, and then samples a
//! [`Graph`] whose channels, roles, interactions and images all follow those mixtures plus noise.
//! The [`GroundTruth`] it returns says what was planted, so evaluation can check whether a model
//! (or a trivial baseline) recovers each member's tastes.
//!
//! Everything is drawn from one `StdRng` seeded with [`SynthConfig::seed`], in a fixed order, so a
//! config always yields the same community.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{ChannelNode, Edge, EdgeType, Graph, ImageEngagement, MemberNode, RoleNode};

/// Built-in aesthetic themes, six words each; a taste takes the first 4–6 as descriptors.
const THEMES: &[&str] = &[
    "cyberpunk neon rain city night chrome",
    "watercolor pastel botanical soft floral garden",
    "brutalist concrete monochrome geometric stark urban",
    "vaporwave retro synth sunset grid magenta",
    "gothic candlelit moody velvet cathedral crimson",
    "cottagecore rustic meadow cozy linen honey",
    "space nebula cosmic starfield astronaut galaxy",
    "ukiyo-e woodblock wave ink edo indigo",
    "steampunk brass clockwork victorian gears sepia",
    "minimalist scandinavian white clean airy calm",
    "pixel 8-bit arcade sprite chiptune blocky",
    "noir shadow detective smoke grainy alley",
    "fantasy dragon castle enchanted mythic forest",
    "surreal dreamlike melting impossible dali floating",
];

/// Nouns that turn descriptors into channel names and topics ("#neon-nights").
const CHANNEL_NOUNS: &[&str] = &[
    "nights", "corner", "lab", "gallery", "club", "den", "hub", "shots", "studio", "lounge",
];

/// Suffixes that turn a descriptor into a role name.
const ROLE_SUFFIXES: &[&str] = &["fan", "crew", "artist", "collector", "enjoyer", "guild"];

/// Knobs for [`generate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Number of members.
    pub n_members: usize,
    /// Number of planted tastes `K` (at least 1 is used).
    pub n_tastes: usize,
    /// Number of channels; channel `c` is themed by taste `c % K`.
    pub n_channels: usize,
    /// Number of roles; role `r` is themed by taste `r % K`.
    pub n_roles: usize,
    /// Image-embedding dimension (at least 1 is used).
    pub image_dim: usize,
    /// Mean number of images per non-cold-start member (Poisson).
    pub images_per_member: f32,
    /// Share of members with no images at all.
    pub cold_start_share: f32,
    /// Share of members with only 1–2 edges (chosen independently of cold start).
    pub sparse_share: f32,
    /// Probability that an interaction ignores the member's tastes (uniform channel/partner/role).
    pub noise: f32,
    /// Per-dimension standard deviation of the Gaussian noise around a taste centroid. The default
    /// (0.3 in 64-d, noise norm ~2.4 vs unit signal) makes single images ambiguous while a member's
    /// mean image still points at their tastes.
    pub image_noise: f32,
    /// Share of channels with a generic name and topic (`general-07`, "hang out and chat")
    /// that says nothing about their taste, as many real channels have; their members still
    /// follow the channel's taste. 0 (the default) names every channel after its taste. Drawn
    /// from its own RNG stream, so it changes nothing else in the community.
    #[serde(default)]
    pub generic_channel_share: f32,
    /// RNG seed; the same config always yields the same community.
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            n_members: 2000,
            n_tastes: 8,
            n_channels: 40,
            n_roles: 16,
            image_dim: 64,
            images_per_member: 6.0,
            cold_start_share: 0.2,
            sparse_share: 0.1,
            noise: 0.15,
            image_noise: 0.3,
            generic_channel_share: 0.0,
            seed: 42,
        }
    }
}

/// One planted taste.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Taste {
    /// 4–6 descriptor words, e.g. `["cyberpunk", "neon", "rain", "city"]`.
    pub descriptors: Vec<String>,
    /// Unit-norm image-embedding centroid.
    pub centroid: Vec<f32>,
}

/// What [`generate`] planted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The `K` tastes.
    pub tastes: Vec<Taste>,
    /// Per member: `(taste index, weight)` for 1–3 tastes, weights summing to 1, heaviest first.
    pub member_mixture: Vec<Vec<(usize, f32)>>,
    /// Taste index of each channel.
    pub channel_taste: Vec<usize>,
    /// Taste index of each role.
    pub role_taste: Vec<usize>,
    /// Members with no images, ascending.
    pub cold_start: Vec<u32>,
    /// Members with only 1–2 edges, ascending.
    pub sparse: Vec<u32>,
}

impl GroundTruth {
    /// The heaviest taste of `member`, if the member exists.
    pub fn dominant_taste(&self, member: u32) -> Option<usize> {
        self.member_mixture
            .get(member as usize)
            .and_then(|m| m.first())
            .map(|&(t, _)| t)
    }

    /// Whether `taste` is one of `member`'s planted tastes.
    pub fn has_taste(&self, member: u32, taste: usize) -> bool {
        self.member_mixture
            .get(member as usize)
            .is_some_and(|m| m.iter().any(|&(t, _)| t == taste))
    }
}

/// Standard normal sample via Box–Muller (only `rand` is available, not `rand_distr`).
fn gaussian(rng: &mut StdRng) -> f32 {
    // 1 - U lies in (0, 1], so ln never sees 0.
    let u1 = 1.0 - rng.gen::<f64>();
    let u2 = rng.gen::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Poisson sample by Knuth's method; fine for the small means used here.
fn poisson(rng: &mut StdRng, mean: f32) -> u32 {
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
fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Samples a taste index from a mixture by weight.
fn pick_taste(rng: &mut StdRng, mixture: &[(usize, f32)]) -> usize {
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
fn pick_from(rng: &mut StdRng, items: &[u32], fallback: &[u32]) -> Option<u32> {
    items.choose(rng).or_else(|| fallback.choose(rng)).copied()
}

/// Days since last interaction: exponential with a 20-day mean, so recency features spread out.
fn last_seen(rng: &mut StdRng) -> f32 {
    -20.0 * (1.0 - rng.gen::<f32>()).ln()
}

/// A random subset of `share * n` member ids, ascending.
fn pick_share(rng: &mut StdRng, n: usize, share: f32) -> Vec<u32> {
    let k = ((share.clamp(0.0, 1.0) * n as f32).round() as usize).min(n);
    let mut ids: Vec<u32> = (0..n as u32).collect();
    ids.shuffle(rng);
    ids.truncate(k);
    ids.sort_unstable();
    ids
}

/// Samples a synthetic community and what was planted in it.
///
/// `n_tastes` and `image_dim` are raised to 1 if zero. With more tastes than built-in themes the
/// themes repeat, with a numeric suffix on the descriptors so tastes stay distinguishable.
pub fn generate(cfg: &SynthConfig) -> (Graph, GroundTruth) {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let k = cfg.n_tastes.max(1);
    let dim = cfg.image_dim.max(1);
    let noise = cfg.noise.clamp(0.0, 1.0);

    // Tastes: distinct themes in a seed-dependent order, 4-6 descriptors each, random unit centroid
    // (random directions in 64-d are nearly orthogonal, so tastes are separable but not trivially).
    let mut theme_order: Vec<usize> = (0..THEMES.len()).collect();
    theme_order.shuffle(&mut rng);
    let tastes: Vec<Taste> = (0..k)
        .map(|t| {
            let theme: Vec<&str> = THEMES[theme_order[t % THEMES.len()]]
                .split_whitespace()
                .collect();
            let round = t / THEMES.len();
            let n_desc = rng.gen_range(4..=6).min(theme.len());
            let descriptors = theme[..n_desc]
                .iter()
                .map(|w| {
                    if round == 0 {
                        (*w).to_string()
                    } else {
                        format!("{w}-{}", round + 1)
                    }
                })
                .collect();
            let mut centroid: Vec<f32> = (0..dim).map(|_| gaussian(&mut rng)).collect();
            normalize(&mut centroid);
            Taste {
                descriptors,
                centroid,
            }
        })
        .collect();

    // Channels and roles: themed round-robin so every taste gets some when there are enough.
    let channel_taste: Vec<usize> = (0..cfg.n_channels).map(|c| c % k).collect();
    let mut used_names = std::collections::BTreeSet::new();
    let channels: Vec<ChannelNode> = channel_taste
        .iter()
        .map(|&t| {
            // Three distinct descriptors: the first names the channel, all three make the topic.
            let mut words: Vec<&str> = tastes[t].descriptors.iter().map(String::as_str).collect();
            words.shuffle(&mut rng);
            let a = words[0];
            let noun = CHANNEL_NOUNS[rng.gen_range(0..CHANNEL_NOUNS.len())];
            let mut name = format!("{a}-{noun}");
            // Discord channel names need not be unique, but ours must be for readable evidence.
            let mut n = 2;
            while !used_names.insert(name.clone()) {
                name = format!("{a}-{noun}-{n}");
                n += 1;
            }
            let topic = format!("{} {noun}", words[..3.min(words.len())].join(" "));
            ChannelNode {
                name,
                topic,
                text_embedding: None,
            }
        })
        .collect();
    let mut channels = channels;
    if cfg.generic_channel_share > 0.0 {
        // A separate stream keeps every other draw (and so the default community) unchanged.
        let mut names_rng = StdRng::seed_from_u64(cfg.seed ^ 0x6e61_6d65);
        for c in pick_share(&mut names_rng, cfg.n_channels, cfg.generic_channel_share) {
            channels[c as usize] = ChannelNode {
                name: format!("general-{c:02}"),
                topic: "hang out and chat".to_string(),
                text_embedding: None,
            };
        }
    }
    let role_taste: Vec<usize> = (0..cfg.n_roles).map(|r| r % k).collect();
    let roles: Vec<RoleNode> = role_taste
        .iter()
        .enumerate()
        .map(|(r, &t)| {
            let d = &tastes[t].descriptors;
            let suffix = ROLE_SUFFIXES[r / k % ROLE_SUFFIXES.len()];
            RoleNode {
                name: format!("{} {suffix}", d[0]),
                text_embedding: None,
            }
        })
        .collect();
    let mut channels_of: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (c, &t) in channel_taste.iter().enumerate() {
        channels_of[t].push(c as u32);
    }
    let mut roles_of: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (r, &t) in role_taste.iter().enumerate() {
        roles_of[t].push(r as u32);
    }
    let all_channels: Vec<u32> = (0..cfg.n_channels as u32).collect();
    let all_roles: Vec<u32> = (0..cfg.n_roles as u32).collect();

    // Mixtures: 1-3 distinct tastes with Dirichlet(1,..,1) weights (normalized exponentials).
    let member_mixture: Vec<Vec<(usize, f32)>> = (0..cfg.n_members)
        .map(|_| {
            let u = rng.gen::<f32>();
            let n = if u < 0.5 {
                1
            } else if u < 0.85 {
                2
            } else {
                3
            }
            .min(k);
            let mut ids: Vec<usize> = (0..k).collect();
            ids.shuffle(&mut rng);
            let mut mix: Vec<(usize, f32)> = ids[..n]
                .iter()
                .map(|&t| (t, -(1.0 - rng.gen::<f32>()).ln() + 1e-6))
                .collect();
            let total: f32 = mix.iter().map(|&(_, w)| w).sum();
            mix.iter_mut().for_each(|(_, w)| *w /= total);
            mix.sort_by(|a, b| b.1.total_cmp(&a.1));
            mix
        })
        .collect();

    let cold_start = pick_share(&mut rng, cfg.n_members, cfg.cold_start_share);
    let sparse = pick_share(&mut rng, cfg.n_members, cfg.sparse_share);
    let is_sparse = |m: usize| sparse.binary_search(&(m as u32)).is_ok();

    // Reply partners are drawn from non-sparse members grouped by dominant taste, so sparse
    // members never gain edges through someone else's replies.
    let mut dense_by_taste: Vec<Vec<u32>> = vec![Vec::new(); k];
    let mut dense_all = Vec::new();
    for (m, mix) in member_mixture.iter().enumerate() {
        if !is_sparse(m) {
            dense_by_taste[mix[0].0].push(m as u32);
            dense_all.push(m as u32);
        }
    }

    let mut edges = Vec::new();
    let mut replies: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    for (m, mix) in member_mixture.iter().enumerate() {
        let mu = m as u32;
        // A channel by taste affinity, or uniformly with probability `noise`.
        let channel = |rng: &mut StdRng| {
            if rng.gen::<f32>() < noise {
                pick_from(rng, &all_channels, &[])
            } else {
                let t = pick_taste(rng, mix);
                pick_from(rng, &channels_of[t], &all_channels)
            }
        };
        if is_sparse(m) {
            let n_edges = rng.gen_range(1..=2);
            let mut seen = Vec::new();
            for _ in 0..n_edges {
                if let Some(c) = channel(&mut rng) {
                    if !seen.contains(&c) {
                        seen.push(c);
                        edges.push(Edge {
                            src: mu,
                            dst: c,
                            edge_type: EdgeType::Posted,
                            count: rng.gen_range(1..=3),
                            last_seen_days: last_seen(&mut rng),
                        });
                    }
                }
            }
            continue;
        }
        // Activity is heavy-tailed (log-normal), like real servers: a few members post a lot.
        let activity = (2.5 + 0.8 * gaussian(&mut rng)).exp();
        for (edge_type, scale) in [(EdgeType::Posted, 1.0), (EdgeType::Reacted, 1.5)] {
            let n = poisson(&mut rng, (activity * scale).min(500.0)).max(1);
            let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
            for _ in 0..n {
                if let Some(c) = channel(&mut rng) {
                    *counts.entry(c).or_default() += 1;
                }
            }
            for (c, count) in counts {
                edges.push(Edge {
                    src: mu,
                    dst: c,
                    edge_type,
                    count,
                    last_seen_days: last_seen(&mut rng),
                });
            }
        }
        // Replies: partners mostly share one of this member's tastes.
        for _ in 0..poisson(&mut rng, (activity / 4.0).min(20.0)) {
            let partner = if rng.gen::<f32>() < noise {
                pick_from(&mut rng, &dense_all, &[])
            } else {
                let t = pick_taste(&mut rng, mix);
                pick_from(&mut rng, &dense_by_taste[t], &dense_all)
            };
            if let Some(p) = partner.filter(|&p| p != mu) {
                *replies.entry((mu.min(p), mu.max(p))).or_default() += 1;
            }
        }
        // Roles: most members hold a role of their dominant taste.
        if rng.gen::<f32>() < 0.7 {
            let role = if rng.gen::<f32>() < noise {
                pick_from(&mut rng, &all_roles, &[])
            } else {
                pick_from(&mut rng, &roles_of[mix[0].0], &[])
            };
            if let Some(r) = role {
                edges.push(Edge {
                    src: mu,
                    dst: r,
                    edge_type: EdgeType::HasRole,
                    count: 1,
                    last_seen_days: last_seen(&mut rng),
                });
            }
        }
    }
    for ((a, b), count) in replies {
        edges.push(Edge {
            src: a,
            dst: b,
            edge_type: EdgeType::Replied,
            count,
            last_seen_days: last_seen(&mut rng),
        });
    }

    // Images: around the centroid of a taste drawn from the mixture, then renormalized.
    let mut images = Vec::new();
    for (m, mix) in member_mixture.iter().enumerate() {
        if cold_start.binary_search(&(m as u32)).is_ok() {
            continue;
        }
        let n = poisson(&mut rng, cfg.images_per_member).max(1);
        for _ in 0..n {
            let t = pick_taste(&mut rng, mix);
            let mut embedding: Vec<f32> = tastes[t]
                .centroid
                .iter()
                .map(|c| c + cfg.image_noise * gaussian(&mut rng))
                .collect();
            normalize(&mut embedding);
            images.push(ImageEngagement {
                member: m as u32,
                embedding,
            });
        }
    }

    let members = (0..cfg.n_members)
        .map(|m| MemberNode {
            name: format!("member-{m:05}"),
        })
        .collect();
    let graph = Graph {
        members,
        channels,
        roles,
        edges,
        images,
    };
    let truth = GroundTruth {
        tastes,
        member_mixture,
        channel_taste,
        role_taste,
        cold_start,
        sparse,
    };
    (graph, truth)
}

// Tests live beside this file to keep it under the 600-line limit.
#[cfg(test)]
#[path = "synth_tests.rs"]
mod tests;
