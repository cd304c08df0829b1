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
//!
//! # The hard community
//!
//! By default every channel is named after its taste and members post where their tastes are,
//! so counting channel words recovers tastes almost perfectly. [`SynthConfig::hard`] turns the
//! knobs that make a community look like a real server, where a graph model must earn its
//! place (each knob defaults to the easy community's behaviour):
//!
//! | knob | what real servers it mimics |
//! |------|-----------------------------|
//! | `untyped_channels` | `#general`, `#media`, `#off-topic`: the busiest channels carry no taste at all |
//! | `popularity_skew` | activity concentrates on a few channels (Zipf over channels, untyped ones first) |
//! | `channel_noise` | much of what a member posts or reacts to is in those busy channels, whatever their taste |
//! | `generic_channel_share` | themed channels with names that do not say their theme (`#general-07`, `#lounge`) |
//! | `reply_homophily` | members of a taste talk among themselves more than with others |
//! | `cold_start_share` + `cold_start_interactions` | newcomers and lurkers: no images, at most a few posts of their own, though others reply to them |
//! | `noise_member_share` | bots, spammers and drive-by members whose activity follows no taste |
//! | `taste_role_prob`, `generic_roles` | roles picked at onboarding sometimes carry a taste; most (`level-5`, `verified`) carry none |
//! | `future_posts` | the next weeks of posting, held out for the posting-accuracy measure |

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{ChannelNode, Edge, EdgeType, Graph, ImageEngagement, MemberNode, RoleNode};

mod config;
mod draw;
mod names;

pub use config::SynthConfig;
pub use draw::gaussian;

use draw::{
    last_seen, normalize, pick_from, pick_share, pick_taste, poisson, popularity, ChannelPicker,
};
use names::{CHANNEL_NOUNS, GENERIC_ROLES, ROLE_SUFFIXES, THEMES, UNTYPED_CHANNELS};

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
    /// Taste index of each themed channel; they come first, and channels past the end of
    /// this list are untyped ([`SynthConfig::untyped_channels`]).
    pub channel_taste: Vec<usize>,
    /// Taste index of each themed role; roles past the end of this list carry no taste.
    pub role_taste: Vec<usize>,
    /// Members with no images, ascending.
    pub cold_start: Vec<u32>,
    /// Members with only 1–2 edges, ascending.
    pub sparse: Vec<u32>,
    /// Members whose activity follows no taste, ascending.
    #[serde(default)]
    pub noise_members: Vec<u32>,
    /// Per member, the channels they post in during the held-out future window (sorted,
    /// distinct); not part of the graph.
    #[serde(default)]
    pub future_posts: Vec<Vec<u32>>,
}

impl GroundTruth {
    /// The heaviest taste of `member`, if the member exists.
    pub fn dominant_taste(&self, member: u32) -> Option<usize> {
        self.member_mixture
            .get(member as usize)
            .and_then(|m| m.first())
            .map(|&(t, _)| t)
    }

    /// The taste of channel `c`; `None` for an untyped channel.
    pub fn channel_taste_of(&self, c: u32) -> Option<usize> {
        self.channel_taste.get(c as usize).copied()
    }

    /// The taste of role `r`; `None` for a role without one.
    pub fn role_taste_of(&self, r: u32) -> Option<usize> {
        self.role_taste.get(r as usize).copied()
    }

    /// Whether `member` is a noise member.
    pub fn is_noise(&self, member: u32) -> bool {
        self.noise_members.binary_search(&member).is_ok()
    }

    /// Whether `taste` is one of `member`'s planted tastes.
    pub fn has_taste(&self, member: u32, taste: usize) -> bool {
        self.member_mixture
            .get(member as usize)
            .is_some_and(|m| m.iter().any(|&(t, _)| t == taste))
    }
}

/// `word` on the first pass over a list of names, `word-2`, `word-3`, ... on later ones.
fn numbered(word: &str, round: usize) -> String {
    if round == 0 {
        word.to_string()
    } else {
        format!("{word}-{}", round + 1)
    }
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
    let channel_noise = cfg.channel_noise.unwrap_or(noise).clamp(0.0, 1.0);
    // Kept as a noise probability, so the default draws compare against `noise` itself.
    let reply_noise = cfg
        .reply_homophily
        .map_or(noise, |h| 1.0 - h.clamp(0.0, 1.0));

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
            let descriptors = theme[..n_desc].iter().map(|w| numbered(w, round)).collect();
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
    for u in 0..cfg.untyped_channels {
        let (name, topic) = UNTYPED_CHANNELS[u % UNTYPED_CHANNELS.len()];
        let round = u / UNTYPED_CHANNELS.len();
        channels.push(ChannelNode {
            name: numbered(name, round),
            topic: topic.to_string(),
            text_embedding: None,
        });
    }
    let role_taste: Vec<usize> = (0..cfg.n_roles).map(|r| r % k).collect();
    let mut roles: Vec<RoleNode> = role_taste
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
    for r in 0..cfg.generic_roles {
        let name = GENERIC_ROLES[r % GENERIC_ROLES.len()];
        let round = r / GENERIC_ROLES.len();
        roles.push(RoleNode {
            name: numbered(name, round),
            text_embedding: None,
        });
    }
    let mut channels_of: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (c, &t) in channel_taste.iter().enumerate() {
        channels_of[t].push(c as u32);
    }
    let mut roles_of: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (r, &t) in role_taste.iter().enumerate() {
        roles_of[t].push(r as u32);
    }
    let all_roles: Vec<u32> = (0..cfg.n_roles as u32).collect();
    let picker = ChannelPicker {
        of_taste: channels_of,
        themed: (0..cfg.n_channels as u32).collect(),
        popular: (cfg.untyped_channels > 0 || cfg.popularity_skew != 0.0)
            .then(|| popularity(cfg, channels.len())),
    };

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
    let noise_members = if cfg.noise_member_share > 0.0 {
        let mut noise_rng = StdRng::seed_from_u64(cfg.seed ^ 0x006e_6f69_7365);
        pick_share(&mut noise_rng, cfg.n_members, cfg.noise_member_share)
    } else {
        Vec::new()
    };
    let is_sparse = |m: usize| sparse.binary_search(&(m as u32)).is_ok();
    let is_cold = |m: usize| cold_start.binary_search(&(m as u32)).is_ok();
    let is_noise = |m: usize| noise_members.binary_search(&(m as u32)).is_ok();
    // A noise member's every choice ignores tastes.
    let noise_of = |m: usize, p: f32| if is_noise(m) { 1.0 } else { p };

    // Reply partners are drawn from non-sparse members grouped by dominant taste, so sparse
    // members never gain edges through someone else's replies; a noise member is nobody's
    // partner by taste.
    let mut dense_by_taste: Vec<Vec<u32>> = vec![Vec::new(); k];
    let mut dense_all = Vec::new();
    for (m, mix) in member_mixture.iter().enumerate() {
        if !is_sparse(m) {
            if !is_noise(m) {
                dense_by_taste[mix[0].0].push(m as u32);
            }
            dense_all.push(m as u32);
        }
    }

    let mut edges = Vec::new();
    let mut replies: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    for (m, mix) in member_mixture.iter().enumerate() {
        let mu = m as u32;
        let ch_noise = noise_of(m, channel_noise);
        if is_sparse(m) {
            let n_edges = rng.gen_range(1..=2);
            let mut seen = Vec::new();
            for _ in 0..n_edges {
                if let Some(c) = picker.pick(&mut rng, mix, ch_noise) {
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
        match cfg.cold_start_interactions {
            Some(most) if is_cold(m) => {
                // A newcomer or lurker: a few posts and reactions, no replies of their own.
                let mut counts: BTreeMap<(usize, u32), u32> = BTreeMap::new();
                for _ in 0..rng.gen_range(1..=most.max(1)) {
                    let kind = usize::from(rng.gen::<f32>() >= 0.6);
                    if let Some(c) = picker.pick(&mut rng, mix, ch_noise) {
                        *counts.entry((kind, c)).or_default() += 1;
                    }
                }
                for ((kind, c), count) in counts {
                    edges.push(Edge {
                        src: mu,
                        dst: c,
                        edge_type: [EdgeType::Posted, EdgeType::Reacted][kind],
                        count,
                        last_seen_days: last_seen(&mut rng),
                    });
                }
            }
            _ => {
                // Activity is heavy-tailed (log-normal), like real servers: a few members post a lot.
                let activity = (2.5 + 0.8 * gaussian(&mut rng)).exp();
                for (edge_type, scale) in [(EdgeType::Posted, 1.0), (EdgeType::Reacted, 1.5)] {
                    let n = poisson(&mut rng, (activity * scale).min(500.0)).max(1);
                    let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
                    for _ in 0..n {
                        if let Some(c) = picker.pick(&mut rng, mix, ch_noise) {
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
                    let partner = if rng.gen::<f32>() < noise_of(m, reply_noise) {
                        pick_from(&mut rng, &dense_all, &[])
                    } else {
                        let t = pick_taste(&mut rng, mix);
                        pick_from(&mut rng, &dense_by_taste[t], &dense_all)
                    };
                    if let Some(p) = partner.filter(|&p| p != mu) {
                        *replies.entry((mu.min(p), mu.max(p))).or_default() += 1;
                    }
                }
            }
        }
        // Roles: many members hold a role of their dominant taste.
        if rng.gen::<f32>() < cfg.taste_role_prob {
            let role = if rng.gen::<f32>() < noise_of(m, noise) {
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
        if cfg.generic_roles > 0 && rng.gen::<f32>() < 0.5 {
            edges.push(Edge {
                src: mu,
                dst: (cfg.n_roles + rng.gen_range(0..cfg.generic_roles)) as u32,
                edge_type: EdgeType::HasRole,
                count: 1,
                last_seen_days: last_seen(&mut rng),
            });
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
        if is_cold(m) {
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

    // The future window, from its own stream: the same process, a few posts per member.
    let mut future_rng = StdRng::seed_from_u64(cfg.seed ^ 0x6675_7475_7265);
    let future_posts: Vec<Vec<u32>> = member_mixture
        .iter()
        .enumerate()
        .map(|(m, mix)| {
            let n = if cfg.future_posts > 0.0 {
                poisson(&mut future_rng, cfg.future_posts).max(1)
            } else {
                0
            };
            let mut posts: Vec<u32> = (0..n)
                .filter_map(|_| picker.pick(&mut future_rng, mix, noise_of(m, channel_noise)))
                .collect();
            posts.sort_unstable();
            posts.dedup();
            posts
        })
        .collect();

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
        noise_members,
        future_posts,
    };
    (graph, truth)
}

// Tests live beside this file to keep it under the 600-line limit.
#[cfg(test)]
#[path = "synth_tests.rs"]
mod tests;
