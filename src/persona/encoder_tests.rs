//! Tests for the persona encoder and its training (included from `encoder.rs`).

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::*;
use crate::graph::synth::{generate, SynthConfig};
use crate::persona::train::{auc, split_links, train, TrainConfig};

fn community() -> Graph {
    generate(&SynthConfig {
        n_members: 150,
        n_tastes: 4,
        n_channels: 12,
        n_roles: 6,
        image_dim: 16,
        seed: 11,
        ..SynthConfig::default()
    })
    .0
}

fn enc_cfg() -> PersonaEncoderConfig {
    PersonaEncoderConfig {
        hidden: 16,
        heads: 2,
        out_dim: 24,
        image_dim: 16,
        edge_dim: EDGE_FEATURE_DIM,
        text_dim: 32,
    }
}

fn train_cfg() -> TrainConfig {
    TrainConfig {
        epochs: 40,
        lr: 2e-2,
        ..TrainConfig::default()
    }
}

#[test]
fn dimensions_come_from_the_config() {
    let g = community();
    let cfg = enc_cfg();
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let model = PersonaEncoder::new(cfg.clone(), VarBuilder::from_varmap(&vm, DType::F32, &dev))
        .expect("model");
    let gt = GraphTensors::from_graph(&g, cfg.image_dim, cfg.text_dim, &dev).expect("tensors");
    let n = g.members.len() + g.channels.len() + g.roles.len();
    let (emb, att) = model.forward(&gt).expect("forward");
    assert_eq!(emb.dims(), &[n, cfg.out_dim]);
    assert_eq!(att.dims(), &[2 * g.edges.len() + n, cfg.heads]);
    assert_eq!(
        model.align(&emb).expect("align").dims(),
        &[n, cfg.image_dim]
    );
    assert_eq!(gt.x_channel.dims(), &[g.channels.len(), cfg.text_dim]);
    let json = serde_json::to_string(&cfg).expect("ser");
    let back: PersonaEncoderConfig = serde_json::from_str(&json).expect("de");
    assert_eq!(back, cfg);
}

#[test]
fn hashed_text_feature_is_deterministic_and_normalised() {
    let a = hashed_bag_of_words(&["cozy-art", "Watercolor topics"], 32);
    let b = hashed_bag_of_words(&["cozy-art", "Watercolor topics"], 32);
    assert_eq!(a, b);
    assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    assert!(hashed_bag_of_words(&[""], 8).iter().all(|&x| x == 0.0));
}

/// Baseline without the graph: cosine(member mean image, channel's mean member image over
/// training posts); members without images score 0.
fn baseline_auc(g: &Graph) -> f32 {
    let tc = train_cfg();
    let split = split_links(g, tc.val_fraction, tc.seed).expect("split");
    let means: Vec<Option<Vec<f32>>> = (0..g.members.len() as u32)
        .map(|m| g.mean_image(m))
        .collect();
    let d = 16;
    let mut chan = vec![vec![0f32; d]; g.channels.len()];
    for &(m, c) in &split.train_pos {
        if let Some(v) = &means[m as usize] {
            chan[c as usize]
                .iter_mut()
                .zip(v)
                .for_each(|(a, b)| *a += b);
        }
    }
    let cos = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        if na == 0.0 || nb == 0.0 {
            0.0
        } else {
            dot / (na * nb)
        }
    };
    let score = |pairs: &[(u32, u32)]| -> Vec<f32> {
        pairs
            .iter()
            .map(|&(m, c)| match &means[m as usize] {
                Some(v) => cos(v, &chan[c as usize]),
                None => 0.0,
            })
            .collect()
    };
    auc(&score(&split.val_pos), &score(&split.val_neg))
}

#[test]
fn training_reduces_losses_and_beats_the_baseline() {
    let g = community();
    let vm = VarMap::new();
    let t0 = std::time::Instant::now();
    let (_, report) = train(&g, &enc_cfg(), &train_cfg(), &vm, &Device::Cpu).expect("train");
    let base = baseline_auc(&g);
    eprintln!(
        "report {report:?} baseline_auc {base} in {:?}",
        t0.elapsed()
    );
    assert!(report.lp_loss_last < report.lp_loss_first, "{report:?}");
    assert!(
        report.align_loss_last < report.align_loss_first,
        "{report:?}"
    );
    assert!(report.val_auc > 0.75, "{report:?}");
    assert!(report.val_auc > base, "{report:?} vs baseline {base}");
}

#[test]
fn checkpoint_round_trip_gives_identical_outputs() {
    let g = community();
    let cfg = enc_cfg();
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let tc = TrainConfig {
        epochs: 3,
        ..train_cfg()
    };
    let (model, _) = train(&g, &cfg, &tc, &vm, &dev).expect("train");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("persona.safetensors");
    vm.save(&path).expect("save");

    let mut vm2 = VarMap::new();
    let model2 = PersonaEncoder::new(cfg.clone(), VarBuilder::from_varmap(&vm2, DType::F32, &dev))
        .expect("model2");
    vm2.load(&path).expect("load");
    let gt = GraphTensors::from_graph(&g, cfg.image_dim, cfg.text_dim, &dev).expect("tensors");
    let (a, att_a) = model.forward(&gt).expect("fwd");
    let (b, att_b) = model2.forward(&gt).expect("fwd2");
    let diff = |x: &Tensor, y: &Tensor| -> f32 {
        (x - y)
            .expect("sub")
            .abs()
            .expect("abs")
            .max_all()
            .expect("max")
            .to_scalar::<f32>()
            .expect("scalar")
    };
    assert_eq!(diff(&a, &b), 0.0);
    assert_eq!(diff(&att_a, &att_b), 0.0);
}

#[test]
fn split_removes_held_out_pairs_from_message_passing() {
    let g = community();
    let s = split_links(&g, 0.1, 3).expect("split");
    assert!(!s.val_pos.is_empty());
    assert!(!s.val_neg.is_empty() && s.val_neg.len() <= s.val_pos.len());
    for e in &s.train_graph.edges {
        if matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted) {
            assert!(!s.val_pos.contains(&(e.src, e.dst)), "{e:?} leaked");
        }
    }
    for &(m, c) in &s.val_neg {
        assert!(!g.edges.iter().any(|e| e.src == m
            && e.dst == c
            && matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted)));
    }
}
