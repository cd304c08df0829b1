//! Tests for persona checkpoints (included from `checkpoint.rs`): a round trip gives identical
//! outputs, and every kind of malformed file is an error naming the file or the tensor.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;

use super::*;
use crate::encoder::GraphTensors;
use crate::fixtures::{community, enc_cfg, train_cfg};
use crate::train::{train, TrainConfig};

/// A trained checkpoint written to a temporary folder, and the model that wrote it.
fn trained() -> (tempfile::TempDir, PersonaEncoder, Graph) {
    let g = community();
    let cfg = enc_cfg();
    let tc = TrainConfig {
        epochs: 2,
        ..train_cfg()
    };
    let vm = VarMap::new();
    let (model, report) = train(&g, &cfg, &tc, &vm, &Device::Cpu).expect("train");
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = CheckpointMeta::new(cfg, tc, report, DataStats::of(&g, "test"));
    save(dir.path(), &vm, &meta).expect("save");
    (dir, model, g)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.max_all())
        .and_then(|d| d.to_scalar::<f32>())
        .expect("diff")
}

#[test]
fn round_trip_gives_identical_outputs() {
    let (dir, model, g) = trained();
    let (loaded, meta) = load(dir.path(), &Device::Cpu).expect("load");
    assert_eq!(meta.encoder, enc_cfg());
    assert_eq!(meta.features, FeatureSchema::current(&enc_cfg()));
    assert_eq!(meta.data.members, g.members.len());
    assert_eq!(meta.report.epochs, 2);
    let cfg = enc_cfg();
    let gt =
        GraphTensors::from_graph(&g, cfg.image_dim, cfg.text_dim, &Device::Cpu).expect("tensors");
    let a = model.forward_with_attention(&gt).expect("a");
    let b = loaded.forward_with_attention(&gt).expect("b");
    assert_eq!(max_diff(&a.embeddings, &b.embeddings), 0.0);
    assert_eq!(max_diff(&a.conv1_alpha, &b.conv1_alpha), 0.0);
    assert_eq!(max_diff(&a.conv2_alpha, &b.conv2_alpha), 0.0);
    let pa = model.align(&a.embeddings).expect("align a");
    let pb = loaded.align(&b.embeddings).expect("align b");
    assert_eq!(max_diff(&pa, &pb), 0.0);
}

/// Rewrites the weights file after `edit` and returns the load error's text.
fn load_error_after(edit: impl FnOnce(&mut HashMap<String, Tensor>)) -> String {
    let (dir, _, _) = trained();
    let path = dir.path().join(WEIGHTS_FILE);
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).expect("read");
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, &path).expect("write");
    match load(dir.path(), &Device::Cpu) {
        Ok(_) => panic!("a malformed checkpoint loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_tensor_is_named() {
    let e = load_error_after(|t| {
        t.remove("conv2.att");
    });
    assert!(e.contains("missing tensor conv2.att"), "{e}");
}

#[test]
fn wrong_shape_is_named() {
    let e = load_error_after(|t| {
        let w = Tensor::zeros((3, 5), DType::F32, &Device::Cpu).expect("zeros");
        t.insert("lin_member.weight".into(), w);
    });
    assert!(
        e.contains("lin_member.weight") && e.contains("[3, 5]"),
        "{e}"
    );
}

#[test]
fn wrong_dtype_is_named() {
    let e = load_error_after(|t| {
        let b = t["align.bias"].to_dtype(DType::I64).expect("i64");
        t.insert("align.bias".into(), b);
    });
    assert!(e.contains("align.bias") && e.contains("I64"), "{e}");
}

#[test]
fn nan_is_named() {
    let e = load_error_after(|t| {
        let w = &t["conv1.lin_edge.weight"];
        let mut v = w
            .flatten_all()
            .and_then(|f| f.to_vec1::<f32>())
            .expect("vec");
        v[7] = f32::NAN;
        let bad = Tensor::from_vec(v, w.dims(), &Device::Cpu).expect("tensor");
        t.insert("conv1.lin_edge.weight".into(), bad);
    });
    assert!(
        e.contains("conv1.lin_edge.weight") && e.contains("NaN") && e.contains("index 7"),
        "{e}"
    );
}

#[test]
fn unexpected_tensor_is_named() {
    let e = load_error_after(|t| {
        let x = Tensor::zeros(3, DType::F32, &Device::Cpu).expect("zeros");
        t.insert("conv3.att".into(), x);
    });
    assert!(e.contains("unexpected tensor conv3.att"), "{e}");
}

#[test]
fn unreadable_files_are_named() {
    let (dir, _, _) = trained();
    let weights = dir.path().join(WEIGHTS_FILE);
    std::fs::write(&weights, b"not safetensors").expect("write");
    let e = load(dir.path(), &Device::Cpu)
        .expect_err("error")
        .to_string();
    assert!(e.contains(WEIGHTS_FILE), "{e}");
    std::fs::remove_file(&weights).expect("rm");
    let e = load(dir.path(), &Device::Cpu)
        .expect_err("error")
        .to_string();
    assert!(e.contains(WEIGHTS_FILE), "{e}");

    let meta = dir.path().join(META_FILE);
    std::fs::write(&meta, "{").expect("write");
    let e = load(dir.path(), &Device::Cpu)
        .expect_err("error")
        .to_string();
    assert!(e.contains(META_FILE), "{e}");
}

#[test]
fn other_versions_and_feature_schemas_are_refused() {
    let (dir, _, _) = trained();
    let path = dir.path().join(META_FILE);
    let original = std::fs::read_to_string(&path).expect("read");
    let edit = |f: &dyn Fn(&mut CheckpointMeta)| {
        let mut meta: CheckpointMeta = serde_json::from_str(&original).expect("json");
        f(&mut meta);
        std::fs::write(&path, serde_json::to_string(&meta).expect("ser")).expect("write");
        load(dir.path(), &Device::Cpu)
            .expect_err("error")
            .to_string()
    };
    let e = edit(&|m| m.format_version = 99);
    assert!(e.contains("format version 99"), "{e}");
    let e = edit(&|m| m.features.edge_features.pop().map(drop).unwrap_or(()));
    assert!(e.contains("edge_features"), "{e}");
    let e = edit(&|m| m.features.text_input = "CLIP text tower".into());
    assert!(e.contains("text_input") && e.contains("CLIP"), "{e}");
    // A config whose shapes differ from the tensors: the first mismatching tensor is named.
    let e = edit(&|m| {
        m.encoder.hidden = 8;
        m.features = FeatureSchema::current(&m.encoder);
    });
    assert!(e.contains("has shape"), "{e}");
}

#[test]
fn only_an_aligned_encoder_places_members_among_images() {
    let g = community();
    let meta = |lambda_align: f64, graph: &Graph| {
        CheckpointMeta::new(
            enc_cfg(),
            TrainConfig {
                lambda_align,
                ..train_cfg()
            },
            crate::fixtures::empty_report(),
            DataStats::of(graph, "test"),
        )
    };
    assert!(!g.images.is_empty());
    assert!(meta(0.5, &g).places_members_among_images());
    assert!(!meta(0.0, &g).places_members_among_images(), "λ = 0");
    let no_images = Graph {
        images: Vec::new(),
        ..g.clone()
    };
    assert!(
        !meta(0.5, &no_images).places_members_among_images(),
        "no images"
    );
}
