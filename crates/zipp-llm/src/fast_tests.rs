//! Tests of the fused CPU decoder (`fast.rs`): logits against candle-transformers'
//! models on generated files of each architecture and weight type, and on the real SmolLM2;
//! each held weight type against its dequantized matrix; what it refuses and checks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::model::{self, read_header, Model};
use super::tests::{edited, smollm2_path, tiny, LLAMA_CPP_IDS};
use super::{fast, tiny};

/// Logits of `tokens` from one instance: a prefill of the first `split` tokens, then one token
/// at a time. Panics unless the fused decoder ran exactly when `fused` asked for it.
fn logits_by_step(path: &Path, fused: bool, tokens: &[u32], split: usize) -> Vec<Vec<f32>> {
    let (content, mut reader) = read_header(path).unwrap();
    let arch = content.metadata["general.architecture"]
        .to_string()
        .unwrap()
        .clone();
    let device = Device::Cpu;
    let mut model = Model::load(&arch, content, &mut reader, &device, path, fused).unwrap();
    assert_eq!(matches!(model, Model::Fast(_)), fused, "{arch}: engine");
    let row = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut out = vec![row(model.forward(&tokens[..split], 0, &device).unwrap())];
    for (i, &token) in tokens.iter().enumerate().skip(split) {
        out.push(row(model.forward(&[token], i, &device).unwrap()));
    }
    out
}

/// The largest gap between the fused decoder's logits and candle's, relative to the largest
/// candle logit, over every step; and whether every step's argmax agrees.
fn engine_gap(path: &Path, tokens: &[u32], split: usize) -> (f32, bool) {
    engine_gap_between(path, path, tokens, split)
}

/// [`engine_gap`] with the fused decoder on `fused_path` and candle on `candle_path`.
fn engine_gap_between(
    fused_path: &Path,
    candle_path: &Path,
    tokens: &[u32],
    split: usize,
) -> (f32, bool) {
    let fused = logits_by_step(fused_path, true, tokens, split);
    let candle = logits_by_step(candle_path, false, tokens, split);
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
    };
    let mut gap = 0f32;
    let mut same_argmax = true;
    for (f, c) in fused.iter().zip(&candle) {
        assert_eq!(f.len(), c.len());
        let scale = c.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = f.iter().zip(c).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        gap = gap.max(diff / scale);
        same_argmax &= argmax(f) == argmax(c);
    }
    (gap, same_argmax)
}

/// A copy of a GGUF file with the tensors `which` picks dequantized to F32.
fn dequantized(path: &Path, out: &Path, which: impl Fn(&str) -> bool) -> PathBuf {
    let mut reader = std::fs::File::open(path).unwrap();
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let tensors: Vec<(String, QTensor)> = content
        .tensor_infos
        .keys()
        .map(|name| {
            let t = content.tensor(&mut reader, name, &Device::Cpu).unwrap();
            if !which(name) {
                return (name.clone(), t);
            }
            let t = t.dequantize(&Device::Cpu).unwrap();
            (name.clone(), QTensor::quantize(&t, GgmlDType::F32).unwrap())
        })
        .collect();
    let metadata: Vec<(&str, &Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut file = std::fs::File::create(out).unwrap();
    gguf_file::write(&mut file, &metadata, &tensors).unwrap();
    out.to_owned()
}

/// The fused decoder against candle on a generated file of each architecture:
/// - F32 and F16 weights: nothing is quantized; the engines differ only by summation order.
/// - Quantized weights, one token at a time: both quantize activations with candle's kernels.
/// - Quantized weights, a prompt of at least `GEMM_MIN_ROWS` tokens: the fused decoder
///   multiplies in f32 with the weights dequantized, which is exactly candle on the same file
///   converted to F32 (the output matrix, applied to the last token only, is F32 in both).
/// - Both together (a prompt, then tokens one at a time): within a few percent.
#[test]
fn fused_decoder_matches_candle_on_each_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let tokens: Vec<u32> = (0..40).map(|i| (i * 37 + 5) % 280).collect();
    for arch in model::FAST_ARCHITECTURES {
        for dtype in [GgmlDType::F32, GgmlDType::F16] {
            let path = dir.path().join(format!("{arch}-{dtype:?}.gguf"));
            tiny::write_tiny_gguf_as(&path, 7, arch, dtype).unwrap();
            let (gap, same) = engine_gap(&path, &tokens, 25);
            assert!(gap < 1e-5, "{arch} {dtype:?}: relative gap {gap}");
            assert!(same, "{arch} {dtype:?}: argmax differs");
        }
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q4_1, GgmlDType::Q4_0] {
            let what = format!("{arch} {dtype:?}");
            let path = dir.path().join(format!("{arch}-{dtype:?}.gguf"));
            tiny::write_tiny_gguf_as(&path, 7, arch, dtype).unwrap();
            let (gap, same) = engine_gap(&path, &tokens, 1);
            assert!(gap < 1e-3, "{what}, token by token: relative gap {gap}");
            assert!(same, "{what}, token by token: argmax differs");
            // Q4_1 is re-encoded as Q8_0 at load, so its dequantized weights are those of
            // the Q8_0 copy, whose case this is.
            if dtype != GgmlDType::Q4_1 {
                let name = |what: &str| dir.path().join(format!("{arch}-{dtype:?}-{what}.gguf"));
                let f32_output = dequantized(&path, &name("f32-output"), |t| t == "output.weight");
                let f32_all = dequantized(&path, &name("f32"), |_| true);
                let (gap, same) = engine_gap_between(&f32_output, &f32_all, &tokens, tokens.len());
                assert!(gap < 1e-5, "{what}, prompt: relative gap {gap}");
                assert!(same, "{what}, prompt: argmax differs");
            }
            // Random weights leave near ties between logits, so only the gap is bounded here.
            let (gap, _) = engine_gap(&path, &tokens, 25);
            assert!(gap < 0.05, "{what}, prompt then tokens: relative gap {gap}");
        }
    }
}

/// The real model, Q4_1 re-encoded as Q8_0 by both engines. Its activations have outliers,
/// so a last-bit difference (summation order, or the prompt multiplied in f32) can round an
/// activation to the other Q8_0 step and the logits drift by a few percent (both engines are
/// ~5% from llama.cpp's own logits for this prompt; the same file converted to F32 agrees
/// to 3e-6). Every step's next token must agree.
#[test]
fn fused_decoder_matches_candle_on_smollm2() {
    let path = smollm2_path();
    let (gap, same) = engine_gap(&path, LLAMA_CPP_IDS, 40);
    assert!(gap < 0.1, "relative gap {gap}");
    assert!(same, "argmax differs");
}

#[test]
fn fused_decoder_refuses_what_it_does_not_cover() {
    let dir = tempfile::tempdir().unwrap();
    // A rotary dimension other than the head dimension: candle's model runs it.
    let path = edited(
        &dir,
        "rope.gguf",
        &[],
        vec![("llama.rope.dimension_count", Value::U32(8))],
    );
    let (content, mut reader) = read_header(&path).unwrap();
    let why = fast::FastWeights::load("llama", &content, &mut reader)
        .err()
        .unwrap();
    assert!(why.0.contains("rotary dimension"), "{}", why.0);
    // A mixture of experts.
    let path = edited(
        &dir,
        "moe.gguf",
        &[],
        vec![("llama.expert_count", Value::U32(4))],
    );
    let (content, mut reader) = read_header(&path).unwrap();
    let why = fast::FastWeights::load("llama", &content, &mut reader)
        .err()
        .unwrap();
    assert!(why.0.contains("mixture of experts"), "{}", why.0);
    // Other architectures.
    let path = tiny(&dir, 3);
    let (content, mut reader) = read_header(&path).unwrap();
    assert!(fast::FastWeights::load("gemma3", &content, &mut reader).is_err());
}

#[test]
fn fused_decoder_checks_positions_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny(&dir, 3);
    let (content, mut reader) = read_header(&path).unwrap();
    let weights = fast::FastWeights::load("llama", &content, &mut reader).unwrap();
    let mut model = fast::FastModel::new(Arc::new(weights));
    assert!(model.forward(&[5, 6], 0).is_ok());
    // Position 3 skips one: refused, not a silently wrong cache.
    let err = model.forward(&[7], 3).unwrap_err().to_string();
    assert!(err.contains("2 cached"), "{err}");
    assert!(model.forward(&[7], 2).is_ok());
    let err = model.forward(&[100_000], 3).unwrap_err().to_string();
    assert!(err.contains("outside the vocabulary"), "{err}");
    assert!(model.forward(&[], 3).is_err());
    // Position 0 starts over.
    let first = model.forward(&[5, 6], 0).unwrap().to_vec();
    let mut fresh = model.clone();
    assert_eq!(fresh.forward(&[5, 6], 0).unwrap(), first.as_slice());
}

/// Each weight type the fused decoder holds, against `x · Wᵀ` with W dequantized: K-quants go
/// through candle's `QMatMul` (its repacked kernels); a prompt's rows (16 or more) multiply in
/// f32 (exact); fewer rows quantize the activations (Q8 precision); rows read back exactly.
#[test]
fn fused_decoder_weights_multiply_like_their_dequantized_matrix() {
    let (n, k) = (96usize, 512usize);
    let w = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu).unwrap();
    for dtype in [
        GgmlDType::F32,
        GgmlDType::Q8_0,
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
    ] {
        let q = QTensor::quantize(&w, dtype).unwrap();
        let weight = fast::TestWeight::new(&q);
        let k_quant = matches!(dtype, GgmlDType::Q4K | GgmlDType::Q5K | GgmlDType::Q6K);
        assert_eq!(weight.held_by_candle(), k_quant, "{dtype:?}");
        // Q4_1 is held as Q8_0: its dequantized matrix is the Q8_0 one.
        let held = if dtype == GgmlDType::Q4_1 {
            QTensor::quantize(&q.dequantize(&Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap()
        } else {
            q
        };
        let deq = held.dequantize(&Device::Cpu).unwrap();
        let rows = deq.to_vec2::<f32>().unwrap();
        let mut row = vec![0f32; k];
        for i in [0, 17, n - 1] {
            weight.row(i, &mut row);
            assert_eq!(row, rows[i], "{dtype:?} row {i}");
        }
        for m in [1usize, 3, 20] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
            let expected = x.matmul(&deq.t().unwrap()).unwrap().flatten_all().unwrap();
            let expected = expected.to_vec1::<f32>().unwrap();
            let mut got = vec![0f32; m * n];
            weight.matmul(
                m,
                &x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                &mut got,
            );
            let scale = expected.iter().fold(0f32, |a, v| a.max(v.abs()));
            let gap = got
                .iter()
                .zip(&expected)
                .fold(0f32, |a, (g, e)| a.max((g - e).abs()));
            let exact = dtype == GgmlDType::F32 || (m >= 16 && !k_quant);
            let limit = if exact { 1e-5 } else { 3e-2 };
            assert!(
                gap / scale < limit,
                "{dtype:?} m={m}: relative gap {}",
                gap / scale
            );
        }
    }
}
