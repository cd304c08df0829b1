//! Message-passing kernels for the GAT layers: attention (node scores, edge logits and the
//! per-target softmax), the attention-weighted aggregation with head merge and bias, the whole
//! GATConv step as one op, and the dense pieces around them in training (`x·Wᵀ`, ELU, the
//! InfoNCE cross-entropy).
//!
//! Each function has two implementations with identical math and autograd behaviour:
//! - **fused** (submodules `attention`, `aggregate`, `gatconv`, `gatv2`, `softmax`, `elu`,
//!   `matmul`, `loss`): candle `CustomOp`s with hand-written forward and exact backward passes
//!   over the CSR/CSC arrays of an [`EdgeIndex`], rayon-parallel over blocks of targets (or
//!   sources), never allocating `[M, H, C]` edge tensors, and keeping candle's autograd away
//!   from large temporaries (each costs an allocation, page faults and a pass over memory).
//!   CPU, f32/f64.
//! - **naive** (`naive`, or candle's own op): composed candle ops, the reference for tests and
//!   the fallback for other devices (CUDA) and dtypes.
//!
//! [`Kernel::Auto`] picks the fused path whenever it applies. Per-edge tensors (`[M, H]`
//! logits and attention, `[M, D]` edge features) are always in the graph's CSR order; use
//! [`EdgeIndex::csr_to_pyg_order`] to report them in PyG's order.

mod aggregate;
mod attention;
mod cpu;
mod elu;
mod gatconv;
mod gatv2;
mod loss;
mod matmul;
mod naive;
mod softmax;
#[cfg(test)]
pub(super) mod tests;

use candle_core::{bail, DType, Result, Tensor};

use crate::edge_index::EdgeIndex;
use aggregate::{Aggregate, AggregateBias};
use attention::GatAttention;
use elu::Elu;
use gatconv::{GatConv, GatConvBias};
use gatv2::{Gatv2Logits, Gatv2LogitsNoEdge};
use loss::CrossEntropy;
use matmul::MatmulT;
use softmax::SegmentSoftmax;

/// Which implementation the kernel functions use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernel {
    /// Fused on CPU for f32/f64, naive otherwise.
    #[default]
    Auto,
    /// Always fused; an error where it does not apply.
    Fused,
    /// Always the composed-ops reference.
    Naive,
}

impl Kernel {
    /// Whether these operands go through the fused kernels.
    fn fused(self, operands: &[&Tensor]) -> Result<bool> {
        let dtype = operands.first().map(|t| t.dtype());
        let ok = operands
            .iter()
            .all(|t| t.device().is_cpu() && Some(t.dtype()) == dtype && cpu::supported(t.dtype()));
        match self {
            Kernel::Naive => Ok(false),
            Kernel::Auto => Ok(ok),
            Kernel::Fused if ok => Ok(true),
            Kernel::Fused => bail!(
                "fused GAT kernels need CPU tensors of one dtype, f32 or f64 (got {:?})",
                operands
                    .iter()
                    .map(|t| (t.device().location(), t.dtype()))
                    .collect::<Vec<_>>()
            ),
        }
    }
}

/// Checks a tensor's leading dimension and rank.
fn expect_dims(t: &Tensor, rows: usize, rank: usize, what: &str) -> Result<()> {
    if t.rank() != rank || t.dim(0)? != rows {
        bail!(
            "{what}: expected rank {rank} with {rows} rows, got shape {:?}",
            t.dims()
        );
    }
    Ok(())
}

/// `t` itself when its rows can be read in place by the fused kernels (inner dimensions
/// contiguous, rows not overlapping), else a contiguous copy.
fn row_major(t: &Tensor) -> Result<Tensor> {
    let (dims, strides) = (t.dims(), t.stride());
    let mut width = 1;
    let mut ok = true;
    for k in (1..dims.len()).rev() {
        ok &= dims[k] == 1 || strides[k] == width;
        width *= dims[k];
    }
    ok &= dims.first().is_none_or(|&n| n <= 1 || strides[0] >= width);
    if ok {
        Ok(t.clone())
    } else {
        t.contiguous()
    }
}

/// GATConv attention `[M, H]` (CSR order) from the projected features `xw` `[N, H·C]` and
/// PyG's `att_src`, `att_dst` `[1, H, C]`: `softmax_i(leaky_relu(a_src[j] + a_dst[i]))` over
/// the incoming edges of each target, with `a[n, h] = Σ_c xw[n, h, c]·att[h, c]`.
pub fn gat_attention(
    xw: &Tensor,
    att_src: &Tensor,
    att_dst: &Tensor,
    g: &EdgeIndex,
    negative_slope: f64,
    kernel: Kernel,
) -> Result<Tensor> {
    let (one, heads, c) = att_src.dims3()?;
    if one != 1 || att_dst.dims() != att_src.dims() {
        bail!(
            "att_src/att_dst must both be [1, H, C], got {:?} and {:?}",
            att_src.dims(),
            att_dst.dims()
        );
    }
    expect_dims(xw, g.num_nodes(), 2, "xw")?;
    if xw.dim(1)? != heads * c {
        bail!("xw: expected {} features, got {}", heads * c, xw.dim(1)?);
    }
    if !kernel.fused(&[xw, att_src, att_dst])? {
        return naive::gat_attention(xw, att_src, att_dst, g, negative_slope);
    }
    let op = GatAttention {
        topo: g.topology().clone(),
        heads,
        negative_slope,
    };
    row_major(xw)?.apply_op3(&att_src.contiguous()?, &att_dst.contiguous()?, op)
}

/// A whole GATConv message-passing step without reporting attention: the same result as
/// [`gat_attention`] followed by [`aggregate`], as one fused op on CPU (less memory and
/// autograd work; the path for training and embedding).
#[allow(clippy::too_many_arguments)]
pub fn gat_conv(
    xw: &Tensor,
    att_src: &Tensor,
    att_dst: &Tensor,
    bias: Option<&Tensor>,
    concat: bool,
    g: &EdgeIndex,
    negative_slope: f64,
    kernel: Kernel,
) -> Result<Tensor> {
    let mut operands = vec![xw, att_src, att_dst];
    operands.extend(bias);
    if !kernel.fused(&operands)? {
        let alpha = gat_attention(xw, att_src, att_dst, g, negative_slope, kernel)?;
        return aggregate(&alpha, xw, bias, concat, g, kernel);
    }
    let (_, heads, c) = att_src.dims3()?;
    expect_dims(xw, g.num_nodes(), 2, "xw")?;
    if att_dst.dims() != att_src.dims() || xw.dim(1)? != heads * c {
        bail!(
            "xw {:?}, att_src {:?} and att_dst {:?} do not match",
            xw.dims(),
            att_src.dims(),
            att_dst.dims()
        );
    }
    let out_dim = if concat { heads * c } else { c };
    if let Some(b) = bias {
        if b.dims() != [out_dim] {
            bail!("bias: expected [{out_dim}], got {:?}", b.dims());
        }
    }
    let op = GatConv {
        topo: g.topology().clone(),
        heads,
        concat,
        negative_slope,
        saved: std::sync::OnceLock::new(),
    };
    let att = Tensor::cat(&[att_src, att_dst], 0)?;
    let xw = row_major(xw)?;
    match bias {
        Some(b) => xw.apply_op3(&att, &b.contiguous()?, GatConvBias(op)),
        None => xw.apply_op2(&att, op),
    }
}

/// GATv2 logits: `Σ_c att[h, c] · leaky_relu(xl[j] + xr[i] + W_e·ea[e])[h, c]` per edge.
///
/// `xlr` is `[N, 2·H·C]`, the concatenation `[lin_l(x) | lin_r(x)]` along features; `edge` is
/// `(ea, w_edge)` with edge features `[M, D]` in CSR order (see [`EdgeIndex::edge_attr_csr`])
/// and PyG's `lin_edge.weight` `[H·C, D]`; `att` is `[H, C]`. Returns `[M, H]` in CSR order.
pub fn gatv2_logits(
    xlr: &Tensor,
    edge: Option<(&Tensor, &Tensor)>,
    att: &Tensor,
    g: &EdgeIndex,
    negative_slope: f64,
    kernel: Kernel,
) -> Result<Tensor> {
    let (heads, c) = att.dims2()?;
    expect_dims(xlr, g.num_nodes(), 2, "xlr")?;
    if xlr.dim(1)? != 2 * heads * c {
        bail!(
            "xlr: expected {} features, got {}",
            2 * heads * c,
            xlr.dim(1)?
        );
    }
    if let Some((ea, w)) = edge {
        expect_dims(ea, g.num_edges(), 2, "edge features")?;
        if w.dims() != [heads * c, ea.dim(1)?] {
            bail!(
                "lin_edge weight: expected [{}, {}], got {:?}",
                heads * c,
                ea.dim(1)?,
                w.dims()
            );
        }
    }
    let mut operands = vec![xlr, att];
    if let Some((ea, w)) = edge {
        operands.extend([ea, w]);
    }
    if !kernel.fused(&operands)? {
        return naive::gatv2_logits(xlr, edge, att, g, negative_slope);
    }
    let op = Gatv2Logits {
        topo: g.topology().clone(),
        heads,
        negative_slope,
    };
    let att_col = att.reshape((heads * c, 1))?;
    match edge {
        Some((ea, w)) => {
            let params = Tensor::cat(&[w, &att_col], 1)?;
            row_major(xlr)?.apply_op3(&row_major(ea)?, &params, op)
        }
        None => row_major(xlr)?.apply_op2(&att_col, Gatv2LogitsNoEdge(op)),
    }
}

/// Softmax over each target's incoming edges, per head, with the per-target max subtracted
/// (and detached, as in PyG) and `1e-16` added to the denominator: `[M, H]` → `[M, H]`,
/// CSR order. Targets without edges contribute nothing.
pub fn segment_softmax(logits: &Tensor, g: &EdgeIndex, kernel: Kernel) -> Result<Tensor> {
    expect_dims(logits, g.num_edges(), 2, "logits")?;
    if kernel.fused(&[logits])? {
        logits.contiguous()?.apply_op1(SegmentSoftmax {
            topo: g.topology().clone(),
        })
    } else {
        naive::segment_softmax(logits, g)
    }
}

/// Attention-weighted sum of source features with PyG's head merge and bias:
/// `out[i] = merge_h(Σ_{j→i} alpha[e, h] · x[j, h, :]) + bias`, `alpha` `[M, H]` (CSR order),
/// `x` `[N, H·C]` or `[N, H, C]`; `merge` concatenates (`[N, H·C]`) or averages (`[N, C]`).
/// Nodes without incoming edges get just the bias.
pub fn aggregate(
    alpha: &Tensor,
    x: &Tensor,
    bias: Option<&Tensor>,
    concat: bool,
    g: &EdgeIndex,
    kernel: Kernel,
) -> Result<Tensor> {
    expect_dims(alpha, g.num_edges(), 2, "attention")?;
    if x.rank() < 2 || x.dim(0)? != g.num_nodes() {
        bail!(
            "features: expected {} rows, got shape {:?}",
            g.num_nodes(),
            x.dims()
        );
    }
    let h = alpha.dim(1)?;
    let width = x.elem_count() / g.num_nodes().max(1);
    if h == 0 || !width.is_multiple_of(h) {
        bail!("features: width {width} is not a multiple of {h} heads");
    }
    let out_dim = if concat { width } else { width / h };
    if let Some(b) = bias {
        if b.dims() != [out_dim] {
            bail!("bias: expected [{out_dim}], got {:?}", b.dims());
        }
    }
    let mut operands = vec![alpha, x];
    operands.extend(bias);
    if !kernel.fused(&operands)? {
        return naive::aggregate(alpha, x, bias, concat, g);
    }
    let op = Aggregate {
        topo: g.topology().clone(),
        concat,
    };
    let (alpha, x) = (alpha.contiguous()?, row_major(x)?);
    match bias {
        Some(b) => alpha.apply_op3(&x, &b.contiguous()?, AggregateBias(op)),
        None => alpha.apply_op2(&x, op),
    }
}

/// `elu(x) = x` for `x > 0`, else `alpha·(eˣ − 1)`, with a single-pass backward on the fused
/// path (candle's composed backward allocates about ten full-size temporaries).
pub fn elu(x: &Tensor, alpha: f64, kernel: Kernel) -> Result<Tensor> {
    if x.rank() == 0 || !kernel.fused(&[x])? {
        return x.elu(alpha);
    }
    x.contiguous()?.apply_op1(Elu { alpha })
}

/// Mean softmax cross-entropy of `logits` `[B, K]` against class indices `labels` `[B]`
/// (u32 or i64), as `candle_nn::loss::cross_entropy`, with a single-pass backward on the fused
/// path (the InfoNCE loss of the encoder's training).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor, kernel: Kernel) -> Result<Tensor> {
    let (b, _) = logits.dims2()?;
    if labels.dims() != [b] {
        bail!("labels: expected [{b}], got {:?}", labels.dims());
    }
    if !kernel.fused(&[logits])? {
        return candle_nn::loss::cross_entropy(logits, labels);
    }
    let labels = labels.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    let op = CrossEntropy {
        labels,
        lse: std::sync::OnceLock::new(),
    };
    logits.contiguous()?.apply_op1(op)
}

/// `a · bᵀ` for `a` `[m, k]`, `b` `[n, k]` (a linear layer's `x · Wᵀ`). On the fused path the
/// backward computes only the gradients of operands that track them (candle's matmul always
/// computes both).
pub fn matmul_t(a: &Tensor, b: &Tensor, kernel: Kernel) -> Result<Tensor> {
    if !kernel.fused(&[a, b])? {
        return a.matmul(&b.t()?);
    }
    // candle's CPU matmul reads plain or transposed layouts only.
    a.contiguous()?.apply_op2(&b.contiguous()?, MatmulT)
}
