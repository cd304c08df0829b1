//! A CPU decoder for the llama family of GGUF models (`llama`, `qwen2`, `qwen3`): the maths of
//! candle-transformers' quantized models, run on plain buffers instead of one tensor per
//! operation.
//!
//! Why it exists: for the small models a Discord bot runs beside everything else (SmolLM2-135M
//! has 30 layers of width 576), candle's per-operation cost — an allocation, a dispatch and a
//! copy for each of ~25 tensor operations per layer, a KV cache rebuilt by `cat` at every step,
//! `repeat_kv` copies — outweighs the matrix products themselves. Here:
//! - one token at a time (decoding), the matrix products are candle's own quantized kernels
//!   (`k_quants::matmul`: AVX2 dot products, activations quantized once per product, candle's
//!   barrier thread pool);
//! - for a prompt (at least `GEMM_MIN_ROWS` = 16 tokens), they are f32 GEMMs (the `gemm` crate
//!   candle uses for f32) over panels of dequantized weights, about twice as fast as the
//!   quantized dot products on AVX2, and exact for the dequantized weights;
//! - K-quant matrices (Q2K..Q6K) stay in candle's `QMatMul`, whose repacked x86 kernels are
//!   about twice as fast as either of the above for them;
//! - the Q, K, V projections and the gate/up projections are fused into one product each when
//!   their types match;
//! - everything else (RMS norm, rotary embedding, attention over a KV cache that grows in
//!   place, SiLU, residuals) works in place on buffers reused across tokens; attention heads
//!   run on the same thread pool;
//! - the embedding table stays quantized (a row is dequantized when its token is read).
//!
//! Numerics follow candle's models (same kernels, same activation quantization when decoding,
//! f32 everywhere else); the tests compare logits with candle on generated files of each
//! architecture and on a real model.
//!
//! Models this does not cover (mixture of experts, a rotary dimension other than the head
//! dimension, tensors whose width is not a whole number of quantization blocks) are refused
//! by [`FastWeights::load`], and the caller uses candle's model instead.

use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::k_quants::{
    self, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ6K, BlockQ8_0, GgmlType,
};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;

use super::MAX_CONTEXT;

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

/// The rows of one weight matrix in a type candle has CPU kernels for.
enum Blocks {
    F32(Vec<f32>),
    Q4_0(Vec<BlockQ4_0>),
    Q8_0(Vec<BlockQ8_0>),
    Q2K(Vec<BlockQ2K>),
    Q3K(Vec<BlockQ3K>),
    Q4K(Vec<BlockQ4K>),
    Q5K(Vec<BlockQ5K>),
    Q6K(Vec<BlockQ6K>),
    /// K-quants once loaded (and fused): candle's `QMatMul` owns the blocks, so products take
    /// candle's repacked x86 kernels (about 2x the plain dot products for a prompt); rows are
    /// read through [`view`].
    Candle(Arc<QTensor>, candle_core::quantized::QMatMul),
}

/// The blocks a CPU `QTensor` holds, typed (no copy).
fn view<T: GgmlType>(tensor: &QTensor) -> &[T] {
    let bytes: &[u8] = match tensor.data() {
        Ok(std::borrow::Cow::Borrowed(bytes)) => bytes,
        _ => unreachable!("a CPU QTensor lends its bytes"),
    };
    assert_eq!(tensor.dtype(), T::DTYPE, "view of another type");
    assert_eq!(bytes.as_ptr() as usize % std::mem::align_of::<T>(), 0);
    // SAFETY: the bytes are a `Vec<T>`'s (a CPU QTensor's storage), so aligned (checked) and a
    // whole number of `T`s; `T` is plain data. The slice borrows `tensor`.
    unsafe {
        std::slice::from_raw_parts(
            bytes.as_ptr() as *const T,
            bytes.len() / std::mem::size_of::<T>(),
        )
    }
}

/// Runs `$body` with `$b` bound to the typed block vector, whatever its type.
macro_rules! with_blocks {
    ($blocks:expr, $b:ident => $body:expr) => {
        match $blocks {
            Blocks::F32($b) => $body,
            Blocks::Q4_0($b) => $body,
            Blocks::Q8_0($b) => $body,
            Blocks::Q2K($b) => $body,
            Blocks::Q3K($b) => $body,
            Blocks::Q4K($b) => $body,
            Blocks::Q5K($b) => $body,
            Blocks::Q6K($b) => $body,
            Blocks::Candle(tensor, _) => match tensor.dtype() {
                GgmlDType::Q2K => {
                    let $b = view::<BlockQ2K>(tensor);
                    $body
                }
                GgmlDType::Q3K => {
                    let $b = view::<BlockQ3K>(tensor);
                    $body
                }
                GgmlDType::Q4K => {
                    let $b = view::<BlockQ4K>(tensor);
                    $body
                }
                GgmlDType::Q5K => {
                    let $b = view::<BlockQ5K>(tensor);
                    $body
                }
                _ => {
                    let $b = view::<BlockQ6K>(tensor);
                    $body
                }
            },
        }
    };
}

/// One weight as the decoder holds it, for tests.
#[cfg(test)]
pub(super) struct TestWeight(QWeight);

#[cfg(test)]
impl TestWeight {
    pub(super) fn new(tensor: &QTensor) -> Self {
        TestWeight(
            QWeight::from_qtensor(tensor)
                .unwrap()
                .into_runtime()
                .unwrap(),
        )
    }
    pub(super) fn matmul(&self, m: usize, lhs: &[f32], dst: &mut [f32]) {
        self.0.matmul(m, lhs, dst).unwrap()
    }
    pub(super) fn row(&self, i: usize, out: &mut [f32]) {
        self.0.row(i, out)
    }
    pub(super) fn held_by_candle(&self) -> bool {
        matches!(self.0.blocks, Blocks::Candle(..))
    }
}

/// Copies raw GGUF bytes into typed blocks.
fn typed<T: GgmlType>(bytes: &[u8]) -> Result<Vec<T>> {
    let size = std::mem::size_of::<T>();
    if bytes.len() % size != 0 {
        return Err(unsupported(format!(
            "{} bytes are not a whole number of {:?} blocks",
            bytes.len(),
            T::DTYPE
        )));
    }
    let n = bytes.len() / size;
    let mut out: Vec<T> = Vec::with_capacity(n);
    // SAFETY: the block types are `repr(C)` plain data (f16/f32 scales and integer arrays),
    // valid for every bit pattern; `out` has room for `n` blocks, exactly `bytes.len()` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.as_mut_ptr() as *mut u8, bytes.len());
        out.set_len(n);
    }
    Ok(out)
}

/// A weight matrix of `rows` outputs by `cols` inputs (GGUF `[cols, rows]`, candle
/// `(rows, cols)`), multiplied as `x · Wᵀ`.
pub(super) struct QWeight {
    rows: usize,
    cols: usize,
    blocks: Blocks,
}

impl QWeight {
    /// Takes the tensor's own type when candle has a fast CPU kernel for it. F16 and BF16
    /// become F32 (candle's models multiply them as F32 too); Q4_1, Q5_0, Q5_1 (scalar code
    /// in candle) and the rest are re-encoded as Q8_0, as candle's path does on CPU.
    fn from_qtensor(tensor: &QTensor) -> Result<Self> {
        let (rows, cols) = match tensor.shape().dims() {
            [rows, cols] => (*rows, *cols),
            [cols] => (1, *cols),
            other => return Err(unsupported(format!("a weight of shape {other:?}"))),
        };
        let dtype = tensor.dtype();
        if cols % dtype.block_size() != 0 {
            return Err(unsupported(format!(
                "rows of {cols} values are not whole {dtype:?} blocks"
            )));
        }
        let data = || tensor.data();
        let blocks = match dtype {
            GgmlDType::F32 => Blocks::F32(typed(&data()?)?),
            GgmlDType::F16 | GgmlDType::BF16 => Blocks::F32(
                tensor
                    .dequantize(&Device::Cpu)?
                    .flatten_all()?
                    .to_vec1::<f32>()?,
            ),
            GgmlDType::Q4_0 => Blocks::Q4_0(typed(&data()?)?),
            GgmlDType::Q8_0 => Blocks::Q8_0(typed(&data()?)?),
            GgmlDType::Q2K => Blocks::Q2K(typed(&data()?)?),
            GgmlDType::Q3K => Blocks::Q3K(typed(&data()?)?),
            GgmlDType::Q4K => Blocks::Q4K(typed(&data()?)?),
            GgmlDType::Q5K => Blocks::Q5K(typed(&data()?)?),
            GgmlDType::Q6K => Blocks::Q6K(typed(&data()?)?),
            _ if cols % k_quants::QK8_0 == 0 => {
                let q8 = QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?;
                Blocks::Q8_0(typed(&q8.data()?)?)
            }
            other => {
                return Err(unsupported(format!(
                    "{other:?} rows of {cols} values cannot be re-encoded as Q8_0"
                )))
            }
        };
        let weight = QWeight { rows, cols, blocks };
        if weight.block_count() != rows * cols / weight.block_size() {
            return Err(unsupported("a tensor's data does not match its shape"));
        }
        Ok(weight)
    }

    fn block_size(&self) -> usize {
        with_blocks!(&self.blocks, b => block_size_of(b))
    }

    fn block_count(&self) -> usize {
        with_blocks!(&self.blocks, b => b.len())
    }

    /// Hands K-quant blocks to candle's `QMatMul` (after any fusion).
    fn into_runtime(self) -> candle_core::Result<Self> {
        fn wrap<T: GgmlType + Send + Sync + 'static>(
            blocks: Vec<T>,
            rows: usize,
            cols: usize,
        ) -> candle_core::Result<Blocks> {
            let storage = candle_core::quantized::QStorage::Cpu(Box::new(blocks));
            let tensor = Arc::new(QTensor::new(storage, (rows, cols))?);
            let matmul = candle_core::quantized::QMatMul::from_arc(tensor.clone())?;
            Ok(Blocks::Candle(tensor, matmul))
        }
        let (rows, cols) = (self.rows, self.cols);
        let blocks = match self.blocks {
            Blocks::Q2K(b) => wrap(b, rows, cols)?,
            Blocks::Q3K(b) => wrap(b, rows, cols)?,
            Blocks::Q4K(b) => wrap(b, rows, cols)?,
            Blocks::Q5K(b) => wrap(b, rows, cols)?,
            Blocks::Q6K(b) => wrap(b, rows, cols)?,
            other => other,
        };
        Ok(QWeight { blocks, ..self })
    }

    /// `dst[m][rows] = lhs[m][cols] · Wᵀ`.
    fn matmul(&self, m: usize, lhs: &[f32], dst: &mut [f32]) -> candle_core::Result<()> {
        if let Blocks::Candle(_, matmul) = &self.blocks {
            use candle_core::Module;
            let x = candle_core::Tensor::from_slice(
                &lhs[..m * self.cols],
                (m, self.cols),
                &Device::Cpu,
            )?;
            let y = matmul.forward(&x)?.flatten_all()?;
            let y = y.to_vec1::<f32>()?;
            dst[..m * self.rows].copy_from_slice(&y);
            return Ok(());
        }
        if m >= GEMM_MIN_ROWS {
            self.matmul_f32(m, lhs, dst);
            return Ok(());
        }
        let mkn = (m, self.cols, self.rows);
        with_blocks!(&self.blocks, b => k_quants::matmul(mkn, lhs, b, &mut dst[..m * self.rows]))
    }

    /// The product in f32, for many rows (a prompt), where it beats the quantized dot
    /// products (which decode the weights again for every tile of rows). Work items of
    /// [`GEMM_PANEL`] weight rows run on candle's thread pool: each dequantizes its rows into
    /// a buffer of its thread (so memory stays at a panel per thread whatever the model) and
    /// multiplies them with one single-threaded GEMM into its own columns of `dst`.
    fn matmul_f32(&self, m: usize, lhs: &[f32], dst: &mut [f32]) {
        thread_local! {
            static PANEL: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let (n, k) = (self.rows, self.cols);
        assert!(
            lhs.len() >= m * k && dst.len() >= m * n,
            "matmul_f32 buffer sizes"
        );
        let dst_ptr = SendPtr(dst.as_mut_ptr());
        let panels = n.div_ceil(GEMM_PANEL);
        candle_core::utils::barrier_pool().execute_chunked(panels, |items| {
            PANEL.with(|cell| {
                let mut w = cell.borrow_mut();
                if w.len() < GEMM_PANEL * k {
                    w.resize(GEMM_PANEL * k, 0.0);
                }
                for item in items {
                    let first = item * GEMM_PANEL;
                    let rows = n.min(first + GEMM_PANEL) - first;
                    self.rows_to_f32(first..first + rows, &mut w[..rows * k]);
                    let ptr = dst_ptr;
                    // SAFETY: lhs is m × k and dst m × n, row-major (checked above); this
                    // item alone writes columns first..first + rows of dst; the panel is
                    // rows × k row-major, read as Wᵀ with (row, column) strides (1, k).
                    unsafe {
                        gemm::gemm(
                            m,
                            rows,
                            k,
                            ptr.0.add(first),
                            1,
                            n as isize,
                            false,
                            lhs.as_ptr(),
                            1,
                            k as isize,
                            w.as_ptr(),
                            k as isize,
                            1,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        )
                    }
                }
            })
        });
    }

    /// Rows `range` as f32, into `out`.
    fn rows_to_f32(&self, range: std::ops::Range<usize>, out: &mut [f32]) {
        with_blocks!(&self.blocks, b => {
            let per_row = b.len() / self.rows;
            to_float(&b[range.start * per_row..range.end * per_row], out)
        })
    }

    /// Row `i` as f32 (the embedding lookup).
    fn row(&self, i: usize, out: &mut [f32]) {
        with_blocks!(&self.blocks, b => {
            let per_row = b.len() / self.rows;
            to_float(&b[i * per_row..(i + 1) * per_row], out)
        })
    }

    /// Appends `other`'s rows when both have the same type and width (fused projections).
    fn append(&mut self, other: QWeight) -> std::result::Result<(), QWeight> {
        if self.cols != other.cols {
            return Err(other);
        }
        let rows = other.rows;
        macro_rules! join {
            ($($variant:ident),*) => {
                match (&mut self.blocks, other.blocks) {
                    $((Blocks::$variant(a), Blocks::$variant(b)) => a.extend(b),)*
                    (_, blocks) => return Err(QWeight { blocks, ..other }),
                }
            };
        }
        join!(F32, Q4_0, Q8_0, Q2K, Q3K, Q4K, Q5K, Q6K);
        self.rows += rows;
        Ok(())
    }
}

fn block_size_of<T: GgmlType>(_: &[T]) -> usize {
    T::BLCK_SIZE
}

fn to_float<T: GgmlType>(blocks: &[T], out: &mut [f32]) {
    T::to_float(blocks, out)
}

/// From this many rows on, products run in f32 ([`QWeight::matmul_f32`]).
const GEMM_MIN_ROWS: usize = 16;

/// Weight rows per work item of [`QWeight::matmul_f32`].
const GEMM_PANEL: usize = 64;

/// Projections run as one product when their types allow (`parts` of one fused weight), or
/// one product each.
struct Linear {
    weights: Vec<QWeight>,
    /// Output width of each original projection, in order.
    widths: Vec<usize>,
}

impl Linear {
    fn fused(parts: Vec<QWeight>) -> candle_core::Result<Self> {
        let widths = parts.iter().map(|w| w.rows).collect();
        let mut weights: Vec<QWeight> = Vec::new();
        for part in parts {
            match weights.last_mut() {
                Some(last) => {
                    if let Err(part) = last.append(part) {
                        weights.push(part);
                    }
                }
                None => weights.push(part),
            }
        }
        let weights = weights
            .into_iter()
            .map(QWeight::into_runtime)
            .collect::<candle_core::Result<_>>()?;
        Ok(Linear { weights, widths })
    }

    fn rows(&self) -> usize {
        self.widths.iter().sum()
    }

    /// `dst[m][rows()]`, the projections side by side; `scratch` holds unfused parts.
    fn forward(
        &self,
        m: usize,
        lhs: &[f32],
        dst: &mut [f32],
        scratch: &mut Vec<f32>,
    ) -> candle_core::Result<()> {
        if let [only] = self.weights.as_slice() {
            return only.matmul(m, lhs, dst);
        }
        let total = self.rows();
        let mut offset = 0;
        for weight in &self.weights {
            scratch.resize(m * weight.rows, 0.0);
            weight.matmul(m, lhs, scratch)?;
            for (row, part) in scratch.chunks_exact(weight.rows).enumerate() {
                dst[row * total + offset..row * total + offset + weight.rows].copy_from_slice(part);
            }
            offset += weight.rows;
        }
        Ok(())
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

/// A pointer the attention workers write disjoint rows through.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: each work item writes its own (query, head) slice of the output; none overlap.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let mean = dot(x, x) / x.len() as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, v), w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

fn rms_norm_in_place(x: &mut [f32], weight: &[f32], eps: f32) {
    let mean = dot(x, x) / x.len() as f32;
    let scale = 1.0 / (mean + eps).sqrt();
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
    candle_core::utils::barrier_pool().execute_chunked(m * s.heads, |range| {
        let mut scores = Vec::with_capacity(position + m);
        for index in range {
            item(index, &mut scores);
        }
    });
}
