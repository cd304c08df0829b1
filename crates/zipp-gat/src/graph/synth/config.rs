//! The knobs of the synthetic community (see the parent module's docs).

use serde::{Deserialize, Serialize};

/// Knobs for [`super::generate`].
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
    /// Channels without a taste (`general`, `media`, `off-topic`, ...), appended after the
    /// themed ones; only off-taste activity goes there.
    #[serde(default)]
    pub untyped_channels: usize,
    /// Zipf exponent of channel popularity for off-taste activity (untyped channels rank
    /// first, themed ones after in a seeded order); 0 (the default) is uniform.
    #[serde(default)]
    pub popularity_skew: f32,
    /// Probability that a post or reaction ignores the member's tastes and goes by
    /// popularity; `None` (the default) uses `noise`.
    #[serde(default)]
    pub channel_noise: Option<f32>,
    /// Probability that a reply partner is drawn from one of the member's tastes (else from
    /// everyone); `None` (the default) uses `1 - noise`.
    #[serde(default)]
    pub reply_homophily: Option<f32>,
    /// When set, cold-start members also have between 1 and this many interactions of their
    /// own (posts and reactions, no replies they start) and are reply partners of others;
    /// `None` (the default) gives them ordinary activity.
    #[serde(default)]
    pub cold_start_interactions: Option<u32>,
    /// Share of members whose channels, replies and roles follow no taste (bots, drive-by
    /// members); listed in [`super::GroundTruth::noise_members`].
    #[serde(default)]
    pub noise_member_share: f32,
    /// Probability that a member holds a role of their dominant taste (0.7 by default).
    #[serde(default = "default_taste_role_prob")]
    pub taste_role_prob: f32,
    /// Roles without a taste (`level-5`, `verified`), appended after the themed ones; each
    /// member holds one at random with probability ½.
    #[serde(default)]
    pub generic_roles: usize,
    /// Mean number of posts per member in the held-out future window
    /// ([`super::GroundTruth::future_posts`]); drawn from their own RNG stream.
    #[serde(default = "default_future_posts")]
    pub future_posts: f32,
    /// RNG seed; the same config always yields the same community.
    pub seed: u64,
}

fn default_taste_role_prob() -> f32 {
    0.7
}

fn default_future_posts() -> f32 {
    3.0
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
            untyped_channels: 0,
            popularity_skew: 0.0,
            channel_noise: None,
            reply_homophily: None,
            cold_start_interactions: None,
            noise_member_share: 0.0,
            taste_role_prob: default_taste_role_prob(),
            generic_roles: 0,
            future_posts: default_future_posts(),
            seed: 42,
        }
    }
}

impl SynthConfig {
    /// The hard, realistic community (see the module docs): 2,000 members and 8 tastes as by
    /// default, but 30 channels of which 6 are untyped and 3 in 4 of the themed ones are
    /// generically named, half of all activity in the busy channels, homophilous replies,
    /// 40% cold-start members with at most 3 interactions of their own, 5% noise members,
    /// and roles that carry a taste for 3 members in 10.
    pub fn hard(seed: u64) -> Self {
        Self {
            n_channels: 24,
            untyped_channels: 6,
            generic_channel_share: 0.75,
            popularity_skew: 1.0,
            channel_noise: Some(0.5),
            reply_homophily: Some(0.8),
            cold_start_share: 0.4,
            cold_start_interactions: Some(3),
            noise_member_share: 0.05,
            n_roles: 8,
            taste_role_prob: 0.3,
            generic_roles: 6,
            seed,
            ..Self::default()
        }
    }
}
