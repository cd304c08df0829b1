//! Tests for the persona encoder (included from `encoder.rs`).

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

use super::*;
use crate::persona::fixtures::{community, enc_cfg};

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
    let out = model.forward_with_attention(&gt).expect("forward");
    let emb = out.embeddings;
    assert_eq!(emb.dims(), &[n, cfg.out_dim]);
    assert_eq!(out.conv1_alpha.dims(), &[2 * g.edges.len() + n, cfg.heads]);
    assert_eq!(out.conv2_alpha.dims(), &[2 * g.edges.len() + n, cfg.heads]);
    let plain = model.embed(&gt).expect("embed");
    assert_eq!(
        (&plain - &emb)
            .expect("sub")
            .abs()
            .expect("abs")
            .max_all()
            .expect("max")
            .to_scalar::<f32>()
            .expect("scalar"),
        0.0
    );
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
