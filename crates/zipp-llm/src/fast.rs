//! A CPU decoder for the llama family of GGUF models (`llama`, `qwen2`, `qwen3`): the maths of
//! candle-transformers' quantized models, run on plain buffers instead of one tensor per
//! operation.
//!
//! Why it exists: for the small models a Discord bot runs beside everything else (SmolLM2-135M
//! has 30 layers of width 576), candle's per-operation cost — an allocation, a dispatch and a
//! copy for each of ~25 tensor operations per layer, a KV cache rebuilt by `cat` at every step,
//! `repeat_kv` copies — outweighs the matrix products themselves. Here:
//! - Q4_0, Q4_1 and Q8_0 matrices (Q4_K as Q4_1, and Q5_0, Q5_1, Q6_K re-encoded as Q8_0) are
//!   multiplied by our own kernels (`fast/kernels.rs`): weights repacked so one dot-product
//!   instruction advances 8 rows, activations quantized once per product, AVX-512 VNNI,
//!   AVX-VNNI or AVX2 picked at run time, candle's barrier thread pool; one token and a prompt
//!   alike;
//! - other K-quant matrices (Q2_K, Q3_K, Q5_K) stay in candle's `QMatMul`, whose repacked x86
//!   kernels (VNNI where the CPU has it) are the fastest we have for them;
//! - F32 weights (and, on a CPU without x86 kernels, a prompt of at least `GEMM_MIN_ROWS` = 16
//!   tokens) are f32 GEMMs (the `gemm` crate candle uses for f32);
//! - the Q, K, V projections and the gate/up projections are fused into one product each when
//!   their types match;
//! - everything else (RMS norm, rotary embedding, attention over a KV cache that grows in
//!   place, SiLU, residuals) works in place on buffers reused across tokens; attention heads
//!   run on the same thread pool;
//! - the embedding table stays quantized (a row is dequantized when its token is read).
//!
//! Numerics follow llama.cpp's (activations quantized to 8 bits for every quantized product, f32
//! everywhere else); the tests compare logits with candle's models on generated files of each
//! architecture and on a real model, and the kernels with the dequantized matrices.
//!
//! Models this does not cover (mixture of experts, a rotary dimension other than the head
//! dimension, tensors whose width is not a whole number of quantization blocks) are refused
//! by [`FastWeights::load`], and the caller uses candle's model instead.

use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::QTensor;
use candle_core::Device;

use super::MAX_CONTEXT;
#[cfg(test)]
pub(super) use weights::TestWeight;
use weights::{Linear, QWeight, SendPtr};

pub(crate) mod kernels;
mod weights;

/// Why a file is not run by this decoder (the caller falls back to candle's model).
#[derive(Debug)]
pub(super) struct Unsupported(pub(super) String);

type Result<T> = std::result::Result<T, Unsupported>;

fn unsupported(what: impl Into<String>) -> Unsupported {
    Unsupported(what.into())
}

impl From<candle_core::Error> for Unsupported {
    fn from(e: candle_core::Error) -> Self {
        Unsupported(e.to_string())
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    qkv: Linear,
    /// Q|K|V biases (qwen2).
    qkv_bias: Option<Vec<f32>>,
    /// Per-head RMS norms of queries and keys (qwen3).
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    wo: QWeight,
    ffn_norm: Vec<f32>,
    gate_up: Linear,
    down: QWeight,
}

/// The shape of the network.
#[derive(Debug, Clone, Copy)]
struct Shape {
    hidden: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    ffn: usize,
    vocab: usize,
    eps: f32,
    /// Rotary embedding on the two halves of a head (qwen) or on adjacent pairs (llama GGUF).
    neox: bool,
}

impl Shape {
    fn q_dim(&self) -> usize {
        self.heads * self.head_dim
    }
    fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

/// A loaded model's weights, shared by every instance.
pub(super) struct FastWeights {
    shape: Shape,
    embed: QWeight,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    output: Option<QWeight>,
    /// cos/sin of every position, `head_dim / 2` each.
    cos: Vec<f32>,
    sin: Vec<f32>,
}

fn md_u32(content: &Content, key: &str) -> Result<usize> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| unsupported(format!("missing {key}")))?
        .to_u32()
        .map(|v| v as usize)
        .map_err(Into::into)
}

fn md_f32(content: &Content, key: &str) -> Option<f32> {
    content.metadata.get(key).and_then(|v| v.to_f32().ok())
}

impl FastWeights {
    /// Reads the weights of a `llama`, `qwen2` or `qwen3` file; [`Unsupported`] for anything
    /// this decoder does not reproduce exactly.
    pub(super) fn load<R: std::io::Read + std::io::Seek>(
        arch: &str,
        content: &Content,
        reader: &mut R,
    ) -> Result<Self> {
        if !matches!(arch, "llama" | "qwen2" | "qwen3") {
            return Err(unsupported(format!("architecture {arch}")));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let expert_count = content
            .metadata
            .get(&key("expert_count"))
            .and_then(|v| v.to_u32().ok())
            .unwrap_or(0);
        if expert_count > 1 {
            return Err(unsupported("mixture of experts"));
        }
        let hidden = md_u32(content, &key("embedding_length"))?;
        let heads = md_u32(content, &key("attention.head_count"))?;
        let kv_heads = md_u32(content, &key("attention.head_count_kv"))?;
        let head_dim = if arch == "qwen3" {
            md_u32(content, &key("attention.key_length"))?
        } else {
            hidden / heads.max(1)
        };
        if arch == "llama" && md_u32(content, &key("rope.dimension_count"))? != head_dim {
            return Err(unsupported(
                "a rotary dimension other than the head dimension",
            ));
        }
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 || head_dim % 2 != 0 {
            return Err(unsupported("attention shape"));
        }
        let eps = md_f32(content, &key("attention.layer_norm_rms_epsilon"))
            .ok_or_else(|| unsupported("missing the RMS norm epsilon"))?;
        let rope_base = md_f32(content, &key("rope.freq_base")).unwrap_or(match arch {
            "llama" | "qwen2" => 10_000.0,
            _ => 1_000_000.0,
        });
        let block_count = md_u32(content, &key("block_count"))?;

        let mut tensor = |name: &str| -> Result<QTensor> {
            content
                .tensor(reader, name, &Device::Cpu)
                .map_err(|e| unsupported(format!("{name}: {e}")))
        };
        let has = |name: &str| content.tensor_infos.contains_key(name);
        let vector = |t: QTensor| -> Result<Vec<f32>> {
            Ok(t.dequantize(&Device::Cpu)?
                .flatten_all()?
                .to_vec1::<f32>()?)
        };

        let embed = QWeight::from_qtensor(&tensor("token_embd.weight")?)?.into_runtime()?;
        if embed.cols != hidden {
            return Err(unsupported("token_embd width"));
        }
        let output = if has("output.weight") {
            Some(QWeight::from_qtensor(&tensor("output.weight")?)?.into_runtime()?)
        } else {
            None
        };
        let norm = vector(tensor("output_norm.weight")?)?;
        let mut layers = Vec::with_capacity(block_count);
        let mut ffn = 0;
        for i in 0..block_count {
            let name = |n: &str| format!("blk.{i}.{n}");
            let weight = |t: QTensor| QWeight::from_qtensor(&t);
            let q = weight(tensor(&name("attn_q.weight"))?)?;
            let k = weight(tensor(&name("attn_k.weight"))?)?;
            let v = weight(tensor(&name("attn_v.weight"))?)?;
            let q_dim = heads * head_dim;
            let kv_dim = kv_heads * head_dim;
            if (q.rows, k.rows, v.rows) != (q_dim, kv_dim, kv_dim)
                || q.cols != hidden
                || k.cols != hidden
                || v.cols != hidden
            {
                return Err(unsupported("attention projection shapes"));
            }
            let qkv_bias = if has(&name("attn_q.bias")) {
                let mut bias = vector(tensor(&name("attn_q.bias"))?)?;
                bias.extend(vector(tensor(&name("attn_k.bias"))?)?);
                bias.extend(vector(tensor(&name("attn_v.bias"))?)?);
                (bias.len() == q_dim + 2 * kv_dim)
                    .then_some(bias)
                    .ok_or_else(|| unsupported("attention bias shapes"))
                    .map(Some)?
            } else {
                None
            };
            let head_norm = |t: Result<QTensor>| -> Result<Vec<f32>> {
                let v = vector(t?)?;
                (v.len() == head_dim)
                    .then_some(v)
                    .ok_or_else(|| unsupported("query/key norm width"))
            };
            let (q_norm, k_norm) = if arch == "qwen3" {
                (
                    Some(head_norm(tensor(&name("attn_q_norm.weight")))?),
                    Some(head_norm(tensor(&name("attn_k_norm.weight")))?),
                )
            } else {
                (None, None)
            };
            let wo = weight(tensor(&name("attn_output.weight"))?)?;
            let gate = weight(tensor(&name("ffn_gate.weight"))?)?;
            let up = weight(tensor(&name("ffn_up.weight"))?)?;
            let down = weight(tensor(&name("ffn_down.weight"))?)?;
            ffn = gate.rows;
            if (wo.rows, wo.cols) != (hidden, q_dim)
                || gate.cols != hidden
                || (up.rows, up.cols) != (ffn, hidden)
                || (down.rows, down.cols) != (hidden, ffn)
            {
                return Err(unsupported("projection shapes"));
            }
            let attn_norm = vector(tensor(&name("attn_norm.weight"))?)?;
            let ffn_norm = vector(tensor(&name("ffn_norm.weight"))?)?;
            if attn_norm.len() != hidden || ffn_norm.len() != hidden {
                return Err(unsupported("norm widths"));
            }
            layers.push(Layer {
                attn_norm,
                qkv: Linear::fused(vec![q, k, v])?,
                qkv_bias,
                q_norm,
                k_norm,
                wo: wo.into_runtime()?,
                ffn_norm,
                gate_up: Linear::fused(vec![gate, up])?,
                down: down.into_runtime()?,
            });
        }
        let vocab = output.as_ref().map_or(embed.rows, |o| o.rows);
        if norm.len() != hidden || output.as_ref().is_some_and(|o| o.cols != hidden) {
            return Err(unsupported("output shapes"));
        }

        let half = head_dim / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1.0 / rope_base.powf((2 * i) as f32 / head_dim as f32))
            .collect();
        let mut cos = Vec::with_capacity(MAX_CONTEXT * half);
        let mut sin = Vec::with_capacity(MAX_CONTEXT * half);
        for pos in 0..MAX_CONTEXT {
            for f in &inv_freq {
                let angle = pos as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok(FastWeights {
            shape: Shape {
                hidden,
                heads,
                kv_heads,
                head_dim,
                ffn,
                vocab,
                eps,
                neox: arch != "llama",
            },
            embed,
            layers,
            norm,
            output,
            cos,
            sin,
        })
    }
}

/// Buffers reused from token to token.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    qkv: Vec<f32>,
    attn: Vec<f32>,
    gate_up: Vec<f32>,
    act: Vec<f32>,
    parts: Vec<f32>,
    logits: Vec<f32>,
}

/// One model instance: shared weights, its own KV cache.
pub(super) struct FastModel {
    weights: Arc<FastWeights>,
    /// Per layer: keys and values of every position so far, `kv_dim` values per position.
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    scratch: Scratch,
}

impl Clone for FastModel {
    fn clone(&self) -> Self {
        FastModel::new(self.weights.clone())
    }
}

/// `1 / sqrt(mean(x²) + eps)`.
fn rms_scale(x: &[f32], eps: f32) -> f32 {
    1.0 / (dot(x, x) / x.len() as f32 + eps).sqrt()
}

fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let scale = rms_scale(x, eps);
    for ((o, v), w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

fn rms_norm_in_place(x: &mut [f32], weight: &[f32], eps: f32) {
    let scale = rms_scale(x, eps);
    for (v, w) in x.iter_mut().zip(weight) {
        *v = *v * scale * w;
    }
}

/// A dot product the compiler vectorizes (eight independent accumulators).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (a8, a_rest) = a.split_at(a.len() / 8 * 8);
    let (b8, b_rest) = b.split_at(a8.len());
    for (x, y) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

impl FastModel {
    pub(super) fn new(weights: Arc<FastWeights>) -> Self {
        let layers = weights.layers.len();
        FastModel {
            weights,
            keys: vec![Vec::new(); layers],
            values: vec![Vec::new(); layers],
            scratch: Scratch::default(),
        }
    }

    /// Forgets the conversation (keeps the buffers' memory).
    pub(super) fn reset(&mut self) {
        self.keys.iter_mut().for_each(Vec::clear);
        self.values.iter_mut().for_each(Vec::clear);
    }

    /// Runs `tokens` at positions `position..`, appending them to the cache, and returns the
    /// logits of the last one. `position` must equal the number of cached positions (0 starts
    /// a new conversation).
    pub(super) fn forward(
        &mut self,
        tokens: &[u32],
        position: usize,
    ) -> candle_core::Result<&[f32]> {
        if position == 0 {
            self.reset();
        }
        let w = &*self.weights;
        let s = w.shape;
        let m = tokens.len();
        let cached = self.keys.first().map_or(0, |k| k.len() / s.kv_dim());
        if m == 0 || cached != position || position + m > MAX_CONTEXT {
            candle_core::bail!(
                "forward of {m} tokens at position {position} with {cached} cached (limit {MAX_CONTEXT})"
            );
        }
        if let Some(bad) = tokens.iter().find(|&&t| t as usize >= w.embed.rows) {
            candle_core::bail!("token {bad} is outside the vocabulary");
        }
        let (d, qkv_w, ff) = (s.hidden, s.q_dim() + 2 * s.kv_dim(), s.ffn);
        let sc = &mut self.scratch;
        sc.x.resize(m * d, 0.0);
        sc.h.resize(m * d, 0.0);
        sc.qkv.resize(m * qkv_w, 0.0);
        sc.attn.resize(m * s.q_dim(), 0.0);
        sc.gate_up.resize(m * 2 * ff, 0.0);
        sc.act.resize(m * ff, 0.0);
        for (row, &t) in sc.x.chunks_exact_mut(d).zip(tokens) {
            w.embed.row(t as usize, row);
        }

        for (l, layer) in w.layers.iter().enumerate() {
            for (x, h) in sc.x.chunks_exact(d).zip(sc.h.chunks_exact_mut(d)) {
                rms_norm(x, &layer.attn_norm, s.eps, h);
            }
            layer.qkv.forward(m, &sc.h, &mut sc.qkv, &mut sc.parts)?;
            for (i, row) in sc.qkv.chunks_exact_mut(qkv_w).enumerate() {
                if let Some(bias) = &layer.qkv_bias {
                    row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                }
                let (q, kv) = row.split_at_mut(s.q_dim());
                let k = &mut kv[..s.kv_dim()];
                for head in q.chunks_exact_mut(s.head_dim) {
                    if let Some(norm) = &layer.q_norm {
                        rms_norm_in_place(head, norm, s.eps);
                    }
                    w.rope(head, position + i);
                }
                for head in k.chunks_exact_mut(s.head_dim) {
                    if let Some(norm) = &layer.k_norm {
                        rms_norm_in_place(head, norm, s.eps);
                    }
                    w.rope(head, position + i);
                }
                self.keys[l].extend_from_slice(&kv[..s.kv_dim()]);
                self.values[l].extend_from_slice(&kv[s.kv_dim()..]);
            }
            attention(
                s,
                &sc.qkv,
                &self.keys[l],
                &self.values[l],
                position,
                &mut sc.attn,
            );
            layer.wo.matmul(m, &sc.attn, &mut sc.h)?;
            sc.x.iter_mut().zip(&sc.h).for_each(|(x, o)| *x += o);

            for (x, h) in sc.x.chunks_exact(d).zip(sc.h.chunks_exact_mut(d)) {
                rms_norm(x, &layer.ffn_norm, s.eps, h);
            }
            layer
                .gate_up
                .forward(m, &sc.h, &mut sc.gate_up, &mut sc.parts)?;
            for (gu, act) in sc
                .gate_up
                .chunks_exact(2 * ff)
                .zip(sc.act.chunks_exact_mut(ff))
            {
                let (gate, up) = gu.split_at(ff);
                for ((a, g), u) in act.iter_mut().zip(gate).zip(up) {
                    *a = g / (1.0 + (-g).exp()) * u;
                }
            }
            layer.down.matmul(m, &sc.act, &mut sc.h)?;
            sc.x.iter_mut().zip(&sc.h).for_each(|(x, o)| *x += o);
        }

        let last = &sc.x[(m - 1) * d..];
        let normed = &mut sc.h[..d];
        rms_norm(last, &w.norm, s.eps, normed);
        sc.logits.resize(s.vocab, 0.0);
        w.output
            .as_ref()
            .unwrap_or(&w.embed)
            .matmul(1, normed, &mut sc.logits)?;
        Ok(&sc.logits)
    }
}

impl FastWeights {
    /// Rotates one head in place for position `pos`.
    fn rope(&self, head: &mut [f32], pos: usize) {
        let half = self.shape.head_dim / 2;
        let cos = &self.cos[pos * half..(pos + 1) * half];
        let sin = &self.sin[pos * half..(pos + 1) * half];
        if self.shape.neox {
            let (a, b) = head.split_at_mut(half);
            for i in 0..half {
                let (x0, x1) = (a[i], b[i]);
                a[i] = x0 * cos[i] - x1 * sin[i];
                b[i] = x0 * sin[i] + x1 * cos[i];
            }
        } else {
            for (i, pair) in head.chunks_exact_mut(2).enumerate() {
                let (x0, x1) = (pair[0], pair[1]);
                pair[0] = x0 * cos[i] - x1 * sin[i];
                pair[1] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}

/// Causal attention of the `m` new queries (rows of `qkv`, positions `position..`) over the
/// cache, one (query, head) pair per work item on candle's thread pool.
fn attention(
    s: Shape,
    qkv: &[f32],
    keys: &[f32],
    values: &[f32],
    position: usize,
    out: &mut [f32],
) {
    let (hd, kv_dim, q_dim) = (s.head_dim, s.kv_dim(), s.q_dim());
    let qkv_w = q_dim + 2 * kv_dim;
    let group = s.heads / s.kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let m = qkv.len() / qkv_w;
    let out_ptr = SendPtr(out.as_mut_ptr());
    let item = |index: usize, scores: &mut Vec<f32>| {
        let (i, head) = (index / s.heads, index % s.heads);
        let kv_off = (head / group) * hd;
        let q = &qkv[i * qkv_w + head * hd..i * qkv_w + (head + 1) * hd];
        let len = position + i + 1;
        scores.clear();
        let mut max = f32::NEG_INFINITY;
        for t in 0..len {
            let k = &keys[t * kv_dim + kv_off..t * kv_dim + kv_off + hd];
            let score = dot(q, k) * scale;
            max = max.max(score);
            scores.push(score);
        }
        let mut total = 0.0;
        for score in scores.iter_mut() {
            *score = (*score - max).exp();
            total += *score;
        }
        let ptr = out_ptr;
        // SAFETY: item (i, head) alone writes out[i][head*hd..(head+1)*hd], inside `out`.
        let o = unsafe { std::slice::from_raw_parts_mut(ptr.0.add(i * q_dim + head * hd), hd) };
        o.fill(0.0);
        for (t, p) in scores.iter().enumerate() {
            let p = p / total;
            let v = &values[t * kv_dim + kv_off..t * kv_dim + kv_off + hd];
            o.iter_mut().zip(v).for_each(|(o, v)| *o += p * v);
        }
    };
    thread_local! {
        static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    candle_core::utils::barrier_pool().execute_chunked(m * s.heads, |range| {
        SCORES.with(|scores| {
            let mut scores = scores.borrow_mut();
            for index in range {
                item(index, &mut scores);
            }
        })
    });
}
