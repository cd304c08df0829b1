//! Plumbing shared by the fused CPU kernels: the float trait, strided row views over candle's
//! CPU storage, and the split of nodes into work-balanced blocks for rayon.

use std::ops::Range;

use candle_core::{bail, CpuStorage, DType, Layout, Result, Storage, Tensor, WithDType};

/// Runs `$body` with `$T` bound to the Rust type of the CPU storage `$s` (f32 or f64); other
/// dtypes are an error (the dispatch in `kernels.rs` never sends them here).
macro_rules! with_float {
    ($s:expr, $name:expr, |$T:ident| $body:expr) => {
        match $s {
            candle_core::CpuStorage::F32(_) => {
                type $T = f32;
                $body
            }
            candle_core::CpuStorage::F64(_) => {
                type $T = f64;
                $body
            }
            other => candle_core::bail!(
                "{}: unsupported dtype {:?}",
                $name,
                candle_core::backend::BackendStorage::dtype(other)
            ),
        }
    };
}
pub(super) use with_float;

/// Softmax denominator guard, as in PyG's `utils.softmax` (`out_sum + 1e-16`).
pub(super) const SOFTMAX_EPS: f64 = 1e-16;

/// The float types the fused kernels are compiled for (`f32`, `f64`).
pub(super) trait Real: WithDType {
    /// `e^self`.
    fn exp(self) -> Self;
}

impl Real for f32 {
    #[inline]
    fn exp(self) -> Self {
        f32::exp(self)
    }
}

impl Real for f64 {
    #[inline]
    fn exp(self) -> Self {
        f64::exp(self)
    }
}

/// Whether the fused kernels have an implementation for `dtype`.
pub(super) fn supported(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F64)
}

/// `leaky_relu(v)` with PyG's convention (`v > 0` passes through).
#[inline]
pub(super) fn lrelu<T: Real>(v: T, slope: T) -> T {
    if v > T::from_f64(0.0) {
        v
    } else {
        v * slope
    }
}

/// Derivative of [`lrelu`]; at `v == 0` it is `slope`, as in torch's backward.
#[inline]
pub(super) fn lrelu_grad<T: Real>(v: T, slope: T) -> T {
    if v > T::from_f64(0.0) {
        T::from_f64(1.0)
    } else {
        slope
    }
}

/// A read-only view of a tensor as `len` rows of `width` contiguous elements, rows `stride`
/// apart. Accepting a row stride lets the kernels read `narrow`ed feature slices (GATv2's
/// `[lin_l(x) | lin_r(x)]` halves, the `[a_src | a_dst]` halves) without a copy.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rows<'a, T> {
    data: &'a [T],
    stride: usize,
    /// Elements per row.
    pub(super) width: usize,
    /// Number of rows (the tensor's first dimension).
    pub(super) len: usize,
}

impl<'a, T> Rows<'a, T> {
    /// A dense view of `data` as rows of `width` (a kernel's own buffers).
    pub(super) fn dense_from(data: &'a [T], width: usize) -> Self {
        let len = data.len().checked_div(width).unwrap_or(0);
        Self {
            data,
            stride: width,
            width,
            len,
        }
    }

    /// Row `i`.
    #[inline]
    pub(super) fn row(&self, i: usize) -> &'a [T] {
        let s = i * self.stride;
        &self.data[s..s + self.width]
    }

    /// All elements, when the rows are densely packed (else an error).
    pub(super) fn dense(&self) -> Result<&'a [T]> {
        if self.len > 1 && self.stride != self.width {
            bail!("expected a contiguous tensor");
        }
        Ok(&self.data[..self.len * self.width])
    }

    /// Rows `a..b` as one slice; only for views made by [`dense_rows`].
    #[inline]
    pub(super) fn span(&self, a: usize, b: usize) -> &'a [T] {
        &self.data[a * self.width..b * self.width]
    }
}

/// Like [`rows`] but requires densely packed rows (per-edge `[M, H]` operands, which the
/// kernels slice per target with [`Rows::span`]).
pub(super) fn dense_rows<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> Result<Rows<'a, T>> {
    let r = rows(storage, layout, what)?;
    if r.len > 1 && r.stride != r.width {
        bail!("{what}: expected a contiguous tensor");
    }
    Ok(r)
}

/// Checks that a row view has `len` rows.
pub(super) fn expect_rows<T>(r: &Rows<T>, len: usize, what: &str) -> Result<()> {
    if r.len != len {
        bail!("{what}: expected {len} rows, got {}", r.len);
    }
    Ok(())
}

/// Views CPU storage with `layout` as [`Rows`]; fails (naming `what`) unless every dimension
/// after the first is contiguous.
pub(super) fn rows<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> Result<Rows<'a, T>> {
    let data = T::cpu_storage_as_slice(storage)?;
    let dims = layout.dims();
    let strides = layout.stride();
    let Some(&len) = dims.first() else {
        bail!("{what}: expected a tensor with at least one dimension");
    };
    let mut width = 1;
    for k in (1..dims.len()).rev() {
        if dims[k] != 1 && strides[k] != width {
            bail!(
                "{what}: inner dimensions must be contiguous (dims {dims:?}, strides {strides:?})"
            );
        }
        width *= dims[k];
    }
    let stride = if len <= 1 { width } else { strides[0] };
    if stride < width {
        bail!("{what}: overlapping rows (dims {dims:?}, strides {strides:?})");
    }
    let start = layout.start_offset();
    let span = if len == 0 {
        0
    } else {
        (len - 1) * stride + width
    };
    if start + span > data.len() {
        bail!("{what}: layout exceeds its storage");
    }
    Ok(Rows {
        data: &data[start..start + span],
        stride,
        width,
        len,
    })
}

/// The CPU storage behind a tensor's storage guard (custom-op backward passes read their
/// operands directly instead of launching further ops).
pub(super) fn cpu<'a>(storage: &'a Storage, what: &str) -> Result<&'a CpuStorage> {
    match storage {
        Storage::Cpu(s) => Ok(s),
        _ => bail!("{what}: the fused GAT kernels run on CPU tensors only"),
    }
}

/// A contiguous CPU tensor of `shape` from a kernel's output buffer.
pub(super) fn tensor<T: WithDType>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(data, shape, &candle_core::Device::Cpu)
}

/// Splits nodes `0..n` (with `ptr` the CSR/CSC pointer, `n + 1` entries) into contiguous
/// blocks of roughly equal work (edges plus nodes), several per rayon thread so that skewed
/// degrees still balance; small graphs get a single block.
pub(super) fn node_blocks(ptr: &[usize]) -> Vec<Range<usize>> {
    let n = ptr.len().saturating_sub(1);
    let work = |k: usize| ptr[k] + k;
    let grain = (work(n) / (rayon::current_num_threads() * 8)).max(4096);
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < n {
        let goal = work(start) + grain;
        // `work` is increasing: binary-search the first boundary reaching the goal.
        let (mut lo, mut hi) = (start + 1, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if work(mid) < goal {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        blocks.push(start..lo);
        start = lo;
    }
    blocks
}

/// Splits `out` into one mutable chunk per block: block `b` gets elements
/// `offset(b.start)..offset(b.end)`. `offset` must be non-decreasing with `offset(0) == 0`;
/// a constant 0 gives empty chunks (for an output that is not wanted).
pub(super) fn split_blocks<'a, T>(
    mut out: &'a mut [T],
    blocks: &[Range<usize>],
    offset: impl Fn(usize) -> usize,
) -> Vec<&'a mut [T]> {
    let mut chunks = Vec::with_capacity(blocks.len());
    let mut pos = 0;
    for b in blocks {
        let end = offset(b.end);
        let (head, tail) = std::mem::take(&mut out).split_at_mut(end - pos);
        chunks.push(head);
        out = tail;
        pos = end;
    }
    chunks
}

/// `acc[k] += a * x[k]` (the inner loop of every aggregation; LLVM vectorises it).
#[inline]
pub(super) fn axpy<T: Real>(acc: &mut [T], a: T, x: &[T]) {
    for (o, &v) in acc.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// In-place softmax over the edges of one target: `seg` holds that target's `[k, h]` logits
/// (CSR slots, row-major) and becomes its attention. The max is per head, as PyG's detached
/// `scatter_max`; `mx` and `sum` are `h`-element scratch rows.
#[inline]
pub(super) fn softmax_segment<T: Real>(seg: &mut [T], h: usize, mx: &mut [T], sum: &mut [T]) {
    if seg.is_empty() {
        return;
    }
    mx.copy_from_slice(&seg[..h]);
    for row in seg.chunks_exact(h).skip(1) {
        for (m, &v) in mx.iter_mut().zip(row) {
            if v > *m {
                *m = v;
            }
        }
    }
    sum.fill(T::from_f64(0.0));
    for row in seg.chunks_exact_mut(h) {
        for ((v, &m), s) in row.iter_mut().zip(mx.iter()).zip(sum.iter_mut()) {
            *v = (*v - m).exp();
            *s += *v;
        }
    }
    let eps = T::from_f64(SOFTMAX_EPS);
    for s in sum.iter_mut() {
        *s += eps;
    }
    for row in seg.chunks_exact_mut(h) {
        for (v, &s) in row.iter_mut().zip(sum.iter()) {
            *v /= s;
        }
    }
}

/// Softmax backward over one target's edges: `dl = α ⊙ (g − Σ_e α_e g_e)` per head, written
/// to `out` (same `[k, h]` layout as `alpha` and `g`); `acc` is `h`-element scratch.
#[inline]
pub(super) fn softmax_segment_bwd<T: Real>(
    alpha: &[T],
    g: &[T],
    out: &mut [T],
    h: usize,
    acc: &mut [T],
) {
    acc.fill(T::from_f64(0.0));
    for (a, gr) in alpha.chunks_exact(h).zip(g.chunks_exact(h)) {
        for ((s, &a), &gv) in acc.iter_mut().zip(a).zip(gr) {
            *s += a * gv;
        }
    }
    for ((o, a), gr) in out
        .chunks_exact_mut(h)
        .zip(alpha.chunks_exact(h))
        .zip(g.chunks_exact(h))
    {
        for (((o, &a), &gv), &s) in o.iter_mut().zip(a).zip(gr).zip(acc.iter()) {
            *o = a * (gv - s);
        }
    }
}

/// `Σ_k x[k]·y[k]`, with eight independent partial sums so that it vectorises (a single
/// accumulator is a serial dependency chain, since float addition is not reassociated).
#[inline]
pub(super) fn dot<T: Real>(x: &[T], y: &[T]) -> T {
    let zero = T::from_f64(0.0);
    let mut acc = [zero; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for k in 0..8 {
            acc[k] += a[k] * b[k];
        }
    }
    let mut s = zero;
    for (&a, &b) in xr.iter().zip(yr) {
        s += a * b;
    }
    acc.iter().fold(s, |t, &v| t + v)
}
