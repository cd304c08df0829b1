//! A tiny random-weight GGUF in the real layout, so tests can load and generate without a
//! download: arch `llama`, 2 layers, width 64 (4 heads, 2 KV heads), Q8_0 matrices, F32 norms
//! and embeddings, and a byte-level BPE vocabulary (256 byte tokens, a few merges, the ChatML
//! control tokens) with a ChatML `tokenizer.chat_template`.
//!
//! The output rows of the control tokens are zero, so greedy decoding never ends a turn by
//! itself: an answer runs to `max_tokens` (useful for cancellation tests).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::chat_template::CHATML;
use super::LocalError;

const SPECIAL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const MERGES: [&str; 30] = [
    "Ġ t",
    "h e",
    "Ġt he",
    "i n",
    "Ġ a",
    "a t",
    "Ġ c",
    "Ġc at",
    "Ġ s",
    "Ġs o",
    "f a",
    "Ġso fa",
    "Ġ o",
    "Ġo n",
    "s y",
    "s t",
    "e m",
    "st em",
    "sy stem",
    "u s",
    "e r",
    "us er",
    "a s",
    "as s",
    "i s",
    "t a",
    "n t",
    "is ta",
    "ista nt",
    "ass istant",
];
/// The shape of a random-weight model.
#[derive(Debug, Clone, Copy)]
pub struct RandomShape {
    pub width: usize,
    pub ffn: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub layers: usize,
}

/// The tests' model: 2 layers of width 64.
const TINY: RandomShape = RandomShape {
    width: 64,
    ffn: 128,
    heads: 4,
    kv_heads: 2,
    layers: 2,
};

/// GPT-2's printable stand-in for each byte (byte-level BPE vocabularies are written in it).
pub(super) fn byte_char(b: u8) -> char {
    let printable = |c: u8| matches!(c, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        char::from(b)
    } else {
        let rank = (0..b).filter(|&c| !printable(c)).count() as u32;
        char::from_u32(256 + rank).unwrap_or('?')
    }
}

/// A small deterministic generator (splitmix64), so the file depends on `seed` only.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    fn tensor(&mut self, rows: usize, cols: usize, scale: f32) -> candle_core::Result<Tensor> {
        let data: Vec<f32> = (0..rows * cols).map(|_| self.next_f32() * scale).collect();
        Tensor::from_vec(data, (rows, cols), &Device::Cpu)
    }
}

/// Writes a tiny random-weight GGUF (arch `llama`, 2 layers, width 64, Q8_0/F32 tensors, a
/// byte-level BPE vocabulary with merges and the ChatML control tokens, a ChatML
/// `tokenizer.chat_template`) so tests can load and generate with no download.
pub fn write_tiny_gguf(path: &Path, seed: u64) -> Result<(), LocalError> {
    write_tiny_gguf_as(path, seed, "llama", GgmlDType::Q8_0)
}

/// [`write_tiny_gguf`] for another architecture (`llama`, `qwen2` with Q/K/V biases, `qwen3`
/// with per-head Q/K norms) and another type for the weight matrices (Q8_0, F32, ...). The
/// `llama` + Q8_0 file is exactly [`write_tiny_gguf`]'s.
pub(super) fn write_tiny_gguf_as(
    path: &Path,
    seed: u64,
    arch: &str,
    matrices: GgmlDType,
) -> Result<(), LocalError> {
    write_random_gguf(path, seed, arch, matrices, TINY)
}

/// A random-weight GGUF of any shape, with the tiny vocabulary and chat template of
/// [`write_tiny_gguf`]: for benchmarks of the decoder's body at a real model's sizes (e.g. a
/// width that is a multiple of 256, which K-quants need), with no download. Control tokens are
/// never the most likely, so generation runs to its token limit.
pub fn write_random_gguf(
    path: &Path,
    seed: u64,
    arch: &str,
    matrices: GgmlDType,
    shape: RandomShape,
) -> Result<(), LocalError> {
    let RandomShape {
        width,
        ffn,
        heads,
        kv_heads,
        layers,
    } = shape;
    let mut tokens: Vec<String> = SPECIAL.iter().map(|s| s.to_string()).collect();
    tokens.extend((0..=255u8).map(|b| byte_char(b).to_string()));
    tokens.extend(MERGES.iter().map(|m| m.replace(' ', "")));
    let vocab = tokens.len();
    let types: Vec<Value> = (0..vocab)
        .map(|i| Value::I32(if i < SPECIAL.len() { 3 } else { 1 }))
        .collect();

    let tensors = random_tensors(seed, vocab, arch, matrices, shape)
        .map_err(|e| LocalError::Candle(e.to_string()))?;
    let string = |s: &str| Value::String(s.to_owned());
    let u32v = |n: usize| Value::U32(n as u32);
    let key = |k: &str| format!("{arch}.{k}");
    let mut hyper: Vec<(String, Value)> = vec![
        (key("block_count"), u32v(layers)),
        (key("context_length"), u32v(4096)),
        (key("embedding_length"), u32v(width)),
        (key("feed_forward_length"), u32v(ffn)),
        (key("attention.head_count"), u32v(heads)),
        (key("attention.head_count_kv"), u32v(kv_heads)),
        (key("rope.dimension_count"), u32v(width / heads)),
        (key("rope.freq_base"), Value::F32(10_000.0)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        (key("vocab_size"), u32v(vocab)),
    ];
    if arch == "qwen3" {
        hyper.push((key("attention.key_length"), u32v(width / heads)));
        hyper.push((key("attention.value_length"), u32v(width / heads)));
        // candle's qwen3 computes in F16 unless the file says F32.
        hyper.push(("general.dtype".to_owned(), u32v(0)));
    }
    let name = format!("zipp tiny random {arch}");
    let mut metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", string(arch)),
        ("general.name", string(&name)),
    ];
    metadata.extend(hyper.iter().map(|(k, v)| (k.as_str(), v.clone())));
    metadata.extend(vec![
        ("tokenizer.ggml.model", string("gpt2")),
        // "default": GPT-2's pre-tokenization, the name llama.cpp knows it by (it refuses "gpt2").
        ("tokenizer.ggml.pre", string("default")),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| string(t)).collect()),
        ),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        (
            "tokenizer.ggml.merges",
            Value::Array(MERGES.iter().map(|m| string(m)).collect()),
        ),
        ("tokenizer.ggml.bos_token_id", u32v(1)),
        ("tokenizer.ggml.eos_token_id", u32v(2)),
        ("tokenizer.ggml.padding_token_id", u32v(0)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(false)),
        ("tokenizer.chat_template", string(CHATML)),
    ]);
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();

    let io = |source| LocalError::Io {
        path: path.to_owned(),
        source,
    };
    let mut out = BufWriter::new(File::create(path).map_err(io)?);
    gguf_file::write(&mut out, &metadata, &tensors)
        .map_err(|e| LocalError::Candle(e.to_string()))?;
    out.into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)
}

fn random_tensors(
    seed: u64,
    vocab: usize,
    arch: &str,
    matrices: GgmlDType,
    shape: RandomShape,
) -> candle_core::Result<Vec<(String, QTensor)>> {
    let RandomShape {
        width,
        ffn,
        heads,
        kv_heads,
        layers,
    } = shape;
    let mut rng = Rng(seed);
    let head_dim = width / heads;
    let q8 = |t: Tensor| QTensor::quantize(&t, matrices);
    let f32 = |t: Tensor| QTensor::quantize(&t, GgmlDType::F32);
    let ones = || Tensor::ones(width, candle_core::DType::F32, &Device::Cpu);
    let scale = |fan_in: usize| 2.0 / (fan_in as f32).sqrt();

    let mut out = vec![
        (
            "token_embd.weight".to_owned(),
            f32(rng.tensor(vocab, width, 2.0)?)?,
        ),
        ("output_norm.weight".to_owned(), f32(ones()?)?),
    ];
    // Zero output rows for the control tokens: never picked by argmax over random logits.
    let head = rng.tensor(vocab, width, 2.0)?;
    let head = Tensor::cat(
        &[
            Tensor::zeros(
                (SPECIAL.len(), width),
                candle_core::DType::F32,
                &Device::Cpu,
            )?,
            head.narrow(0, SPECIAL.len(), vocab - SPECIAL.len())?,
        ],
        0,
    )?;
    out.push(("output.weight".to_owned(), q8(head)?));
    for layer in 0..layers {
        let name = |n: &str| format!("blk.{layer}.{n}.weight");
        out.push((name("attn_q"), q8(rng.tensor(width, width, scale(width))?)?));
        out.push((
            name("attn_k"),
            q8(rng.tensor(kv_heads * head_dim, width, scale(width))?)?,
        ));
        out.push((
            name("attn_v"),
            q8(rng.tensor(kv_heads * head_dim, width, scale(width))?)?,
        ));
        out.push((
            name("attn_output"),
            q8(rng.tensor(width, width, scale(width))?)?,
        ));
        out.push((name("ffn_gate"), q8(rng.tensor(ffn, width, scale(width))?)?));
        out.push((name("ffn_up"), q8(rng.tensor(ffn, width, scale(width))?)?));
        out.push((name("ffn_down"), q8(rng.tensor(width, ffn, scale(ffn))?)?));
        out.push((name("attn_norm"), f32(ones()?)?));
        out.push((name("ffn_norm"), f32(ones()?)?));
    }
    // Drawn after the llama tensors, so the llama file stays the same for a seed.
    for layer in 0..layers {
        let vector = |rng: &mut Rng, n: usize, scale: f32| -> candle_core::Result<QTensor> {
            f32(rng.tensor(1, n, scale)?.flatten_all()?)
        };
        if arch == "qwen2" {
            out.push((
                format!("blk.{layer}.attn_q.bias"),
                vector(&mut rng, width, 0.5)?,
            ));
            for kv in ["attn_k", "attn_v"] {
                let bias = vector(&mut rng, kv_heads * head_dim, 0.5)?;
                out.push((format!("blk.{layer}.{kv}.bias"), bias));
            }
        }
        if arch == "qwen3" {
            for norm in ["attn_q_norm", "attn_k_norm"] {
                let weight = (rng.tensor(1, head_dim, 0.5)?.flatten_all()? + 1.0)?;
                out.push((format!("blk.{layer}.{norm}.weight"), f32(weight)?));
            }
        }
    }
    Ok(out)
}
