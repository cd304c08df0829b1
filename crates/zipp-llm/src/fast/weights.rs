//! The weights of the fused decoder (`fast.rs`): each matrix in a type candle has a fast
//! CPU kernel for, the product that suits the number of rows, and fused projections.

use std::sync::Arc;

use candle_core::quantized::k_quants::{self, BlockQ2K, BlockQ3K, BlockQ5K, GgmlType};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;

use super::kernels::{Format, Isa, Packed};
use super::{unsupported, Result};

/// The rows of one weight matrix: repacked for our kernels (Q4_0, Q4_1, Q8_0), or in a type
/// candle has CPU kernels for.
enum Blocks {
    F32(Vec<f32>),
    /// Q4_0, Q4_1 and Q8_0 (and types re-encoded as Q8_0), for `kernels.rs`.
    Packed(Packed),
    Q2K(Vec<BlockQ2K>),
    Q3K(Vec<BlockQ3K>),
    Q5K(Vec<BlockQ5K>),
    /// Q2_K, Q3_K, Q5_K once loaded (and fused): candle's `QMatMul` owns the blocks, so products take
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
            Blocks::Packed(_) => unreachable!("packed weights are matched before"),
            Blocks::Q2K($b) => $body,
            Blocks::Q3K($b) => $body,
            Blocks::Q5K($b) => $body,
            Blocks::Candle(tensor, _) => match tensor.dtype() {
                GgmlDType::Q2K => {
                    let $b = view::<BlockQ2K>(tensor);
                    $body
                }
                GgmlDType::Q3K => {
                    let $b = view::<BlockQ3K>(tensor);
                    $body
                }
                _ => {
                    let $b = view::<BlockQ5K>(tensor);
                    $body
                }
            },
        }
    };
}

/// One weight as the decoder holds it, for tests.
#[cfg(test)]
pub(crate) struct TestWeight(QWeight);

#[cfg(test)]
impl TestWeight {
    pub(crate) fn new(tensor: &QTensor) -> Self {
        TestWeight(
            QWeight::from_qtensor(tensor)
                .unwrap()
                .into_runtime()
                .unwrap(),
        )
    }
    pub(crate) fn matmul(&self, m: usize, lhs: &[f32], dst: &mut [f32]) {
        self.0.matmul(m, lhs, dst).unwrap()
    }
    pub(crate) fn row(&self, i: usize, out: &mut [f32]) {
        self.0.row(i, out)
    }
    pub(crate) fn held_by_candle(&self) -> bool {
        matches!(self.0.blocks, Blocks::Candle(..))
    }
}

/// Copies raw GGUF bytes into typed blocks.
fn typed<T: GgmlType>(bytes: &[u8]) -> Result<Vec<T>> {
    let size = std::mem::size_of::<T>();
    if !bytes.len().is_multiple_of(size) {
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
    pub(super) rows: usize,
    pub(super) cols: usize,
    blocks: Blocks,
}

impl QWeight {
    /// Q4_0, Q4_1 and Q8_0 are repacked for our kernels (`kernels.rs`), Q4_K as Q4_1 and Q6_K
    /// re-encoded as Q8_0 for them; Q2_K, Q3_K and Q5_K keep their type (candle's kernels); F16
    /// and BF16 become F32 (candle's models multiply them as F32 too); Q5_0, Q5_1 and the rest
    /// are re-encoded as Q8_0, as candle's path does on CPU.
    pub(super) fn from_qtensor(tensor: &QTensor) -> Result<Self> {
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
        let packed = |format: Format, bytes: &[u8]| -> Result<Blocks> {
            if bytes.len() != rows * cols / k_quants::QK8_0 * format.gguf_block_bytes() {
                return Err(unsupported("a tensor's data does not match its shape"));
            }
            Ok(Blocks::Packed(Packed::from_gguf(format, rows, cols, bytes)))
        };
        let blocks = match dtype {
            GgmlDType::F32 => Blocks::F32(typed(&data()?)?),
            GgmlDType::F16 | GgmlDType::BF16 => Blocks::F32(
                tensor
                    .dequantize(&Device::Cpu)?
                    .flatten_all()?
                    .to_vec1::<f32>()?,
            ),
            GgmlDType::Q4_0 => packed(Format::Q4_0, &data()?)?,
            GgmlDType::Q4_1 => packed(Format::Q4_1, &data()?)?,
            GgmlDType::Q8_0 => packed(Format::Q8_0, &data()?)?,
            GgmlDType::Q2K => Blocks::Q2K(typed(&data()?)?),
            GgmlDType::Q3K => Blocks::Q3K(typed(&data()?)?),
            // Q4_K as Q4_1 for our kernels (its 32-value sub-blocks are Q4_1 blocks); Q6_K
            // re-encoded as Q8_0 (its 16-value sub-blocks have scales of their own). On a
            // Qwen3-0.6B-shaped Q4_K_M file this took decoding from 0.54-0.63x of llama.cpp's
            // (candle's K-quant kernels) to 0.83-0.89x.
            GgmlDType::Q4K => {
                let bytes = data()?;
                if bytes.len() != rows * cols / 256 * 144 {
                    return Err(unsupported("a tensor's data does not match its shape"));
                }
                Blocks::Packed(Packed::from_q4k(rows, cols, &bytes))
            }
            GgmlDType::Q5K => Blocks::Q5K(typed(&data()?)?),
            GgmlDType::Q6K => {
                let q8 = QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?;
                packed(Format::Q8_0, &q8.data()?)?
            }
            _ if cols % k_quants::QK8_0 == 0 => {
                let q8 = QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?;
                packed(Format::Q8_0, &q8.data()?)?
            }
            other => {
                return Err(unsupported(format!(
                    "{other:?} rows of {cols} values cannot be re-encoded as Q8_0"
                )))
            }
        };
        let weight = QWeight { rows, cols, blocks };
        if !matches!(weight.blocks, Blocks::Packed(_))
            && weight.block_count() != rows * cols / weight.block_size()
        {
            return Err(unsupported("a tensor's data does not match its shape"));
        }
        Ok(weight)
    }

    fn block_size(&self) -> usize {
        match &self.blocks {
            Blocks::Packed(_) => k_quants::QK8_0,
            blocks => with_blocks!(blocks, b => block_size_of(b)),
        }
    }

    fn block_count(&self) -> usize {
        match &self.blocks {
            Blocks::Packed(_) => self.rows * self.cols / k_quants::QK8_0,
            blocks => with_blocks!(blocks, b => b.len()),
        }
    }

    /// Hands K-quant blocks to candle's `QMatMul` (after any fusion).
    pub(super) fn into_runtime(self) -> candle_core::Result<Self> {
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
            Blocks::Q5K(b) => wrap(b, rows, cols)?,
            other => other,
        };
        Ok(QWeight { blocks, ..self })
    }

    /// `dst[m][rows] = lhs[m][cols] · Wᵀ`.
    pub(super) fn matmul(&self, m: usize, lhs: &[f32], dst: &mut [f32]) -> candle_core::Result<()> {
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
        if let Blocks::Packed(packed) = &self.blocks {
            let isa = Isa::chosen();
            // Without x86 kernels, a prompt multiplies faster in f32 (the `gemm` crate's
            // kernels for the CPU) than with plain integer code.
            if isa == Isa::Plain && m >= GEMM_MIN_ROWS {
                self.matmul_f32(m, lhs, dst);
            } else {
                packed.matmul(isa, m, lhs, dst);
            }
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
        if let Blocks::Packed(packed) = &self.blocks {
            return packed.rows_to_f32(range, out);
        }
        with_blocks!(&self.blocks, b => {
            let per_row = b.len() / self.rows;
            to_float(&b[range.start * per_row..range.end * per_row], out)
        })
    }

    /// Row `i` as f32 (the embedding lookup).
    pub(super) fn row(&self, i: usize, out: &mut [f32]) {
        self.rows_to_f32(i..i + 1, out)
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
                    (Blocks::Packed(a), Blocks::Packed(b)) => {
                        if let Err(b) = a.append(b) {
                            return Err(QWeight { blocks: Blocks::Packed(b), ..other });
                        }
                    }
                    $((Blocks::$variant(a), Blocks::$variant(b)) => a.extend(b),)*
                    (_, blocks) => return Err(QWeight { blocks, ..other }),
                }
            };
        }
        join!(F32, Q2K, Q3K, Q5K);
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

/// From this many rows on, F32 weights (and packed ones on a CPU without x86 kernels) multiply
/// with the `gemm` crate ([`QWeight::matmul_f32`]).
const GEMM_MIN_ROWS: usize = 16;

/// Weight rows per work item of [`QWeight::matmul_f32`].
const GEMM_PANEL: usize = 64;

/// Projections run as one product when their types allow (`parts` of one fused weight), or
/// one product each.
pub(super) struct Linear {
    weights: Vec<QWeight>,
    /// Output width of each original projection, in order.
    widths: Vec<usize>,
}

impl Linear {
    pub(super) fn fused(parts: Vec<QWeight>) -> candle_core::Result<Self> {
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
    pub(super) fn forward(
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

/// A pointer the workers write disjoint parts of one buffer through.
#[derive(Clone, Copy)]
pub(super) struct SendPtr(pub(super) *mut f32);
// SAFETY: every user has each work item write its own part of the buffer; none overlap.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
