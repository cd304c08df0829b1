//! Shared test fixtures for the persona encoder: a small seeded synthetic community and an
//! encoder small enough for debug-build tests.

use crate::encoder::PersonaEncoderConfig;
use crate::graph::synth::{generate, GroundTruth, SynthConfig};
use crate::graph::{Graph, EDGE_FEATURE_DIM};
use crate::train::TrainConfig;

/// The synthetic community the persona tests share (150 members, 4 tastes, 16-d images).
pub(crate) fn synth_config() -> SynthConfig {
    SynthConfig {
        n_members: 150,
        n_tastes: 4,
        n_channels: 12,
        n_roles: 6,
        image_dim: 16,
        seed: 11,
        ..SynthConfig::default()
    }
}

/// [`synth_config`]'s graph and truth.
pub(crate) fn community_with_truth() -> (Graph, GroundTruth) {
    generate(&synth_config())
}

/// [`synth_config`]'s graph.
pub(crate) fn community() -> Graph {
    community_with_truth().0
}

/// A small encoder for [`community`].
pub(crate) fn enc_cfg() -> PersonaEncoderConfig {
    PersonaEncoderConfig {
        hidden: 16,
        heads: 2,
        out_dim: 24,
        image_dim: 16,
        edge_dim: EDGE_FEATURE_DIM,
        text_dim: 32,
        text_features: crate::encoder::TextFeatures::HashedBow,
    }
}

/// Training settings that converge on [`community`] in a few dozen epochs.
pub(crate) fn train_cfg() -> TrainConfig {
    TrainConfig {
        epochs: 40,
        lr: 2e-2,
        patience: 0,
        ..TrainConfig::default()
    }
}

/// A training report for checkpoints written without training.
pub(crate) fn empty_report() -> crate::train::TrainReport {
    crate::train::TrainReport {
        epochs: 0,
        mode: crate::train::BatchMode::Full,
        best_epoch: 0,
        stopped_early: false,
        lp_loss_first: 0.0,
        lp_loss_last: 0.0,
        align_loss_first: 0.0,
        align_loss_last: 0.0,
        val_auc: 0.5,
        val_align_auc: 0.5,
        untrained_signal: 0.5,
        signal_left_untrained: false,
        elapsed_s: 0.0,
        history: Vec::new(),
    }
}
