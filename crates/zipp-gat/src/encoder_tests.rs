//! Tests for the persona encoder (included from `encoder.rs`).

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

use super::*;
use crate::fixtures::{community, enc_cfg};

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

/// A graph carrying CLIP-style text embeddings: the encoder uses them (not hashed words), a
/// checkpoint records it and loads back, and inconsistent embeddings are named errors.
#[test]
fn carried_text_embeddings_are_the_text_features() {
    let mut g = community();
    let dim = 8;
    let unit = |seed: usize| -> Vec<f32> {
        let v: Vec<f32> = (0..dim)
            .map(|i| ((seed * 31 + i * 7) % 13) as f32 - 6.0)
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.into_iter().map(|x| x / n).collect()
    };
    for (i, c) in g.channels.iter_mut().enumerate() {
        c.text_embedding = Some(unit(i));
    }
    for (i, r) in g.roles.iter_mut().enumerate() {
        r.text_embedding = Some(unit(100 + i));
    }
    g.validate().expect("valid");
    assert_eq!(g.text_dim(), Some(dim));
    let cfg = PersonaEncoderConfig {
        image_dim: 16,
        ..PersonaEncoderConfig::for_graph(&g)
    };
    assert_eq!((cfg.text_dim, cfg.text_features), (dim, TextFeatures::Clip));
    let dev = Device::Cpu;
    let gt = GraphTensors::from_graph(&g, cfg.image_dim, cfg.text_dim, &dev).expect("tensors");
    let first = gt
        .x_channel
        .get(0)
        .expect("row")
        .to_vec1::<f32>()
        .expect("vec");
    assert_eq!(first, unit(0), "the channel's own embedding, as carried");
    // Saved and loaded with its feature schema.
    let vm = VarMap::new();
    let model = PersonaEncoder::new(cfg.clone(), VarBuilder::from_varmap(&vm, DType::F32, &dev))
        .expect("model");
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = crate::checkpoint::CheckpointMeta::new(
        cfg.clone(),
        crate::train::TrainConfig::default(),
        crate::fixtures::empty_report(),
        crate::checkpoint::DataStats::of(&g, "test"),
    );
    assert!(meta.features.text_input.starts_with("CLIP text embedding"));
    crate::checkpoint::save(dir.path(), &vm, &meta).expect("saved");
    let (loaded, back) = crate::checkpoint::load(dir.path(), &dev).expect("loads");
    assert_eq!(back.encoder.text_features, TextFeatures::Clip);
    let a = model
        .forward_with_attention(&gt)
        .expect("forward")
        .embeddings;
    let b = loaded
        .forward_with_attention(&gt)
        .expect("forward")
        .embeddings;
    let diff = (a - b)
        .expect("sub")
        .abs()
        .expect("abs")
        .max_all()
        .expect("max");
    assert!(diff.to_scalar::<f32>().expect("scalar") < 1e-6);
    // Wrong size for the encoder, missing on one node, not finite: named errors.
    let e = GraphTensors::from_graph(&g, 16, 32, &dev)
        .expect_err("size")
        .to_string();
    assert!(e.contains("text embeddings have 8 dimensions"), "{e}");
    let mut partial = g.clone();
    partial.roles[1].text_embedding = None;
    let e = partial.validate().expect_err("partial").to_string();
    assert!(e.contains(&partial.roles[1].name), "{e}");
    let mut nan = g.clone();
    nan.channels[2].text_embedding.as_mut().expect("some")[0] = f32::NAN;
    assert!(nan.validate().is_err());
    // Without embeddings nothing changes: hashed words.
    g.clear_text_embeddings();
    assert_eq!(
        PersonaEncoderConfig::for_graph(&g).text_features,
        TextFeatures::HashedBow
    );
}
