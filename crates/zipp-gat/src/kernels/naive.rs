//! The reference implementation from composed candle ops (`index_select` → per-edge tensors →
//! `index_add`), used by the tests as ground truth and as the fallback on devices and dtypes
//! the fused kernels do not cover (CUDA, f16/bf16).
//!
//! It materialises `[M, H, C]` edge tensors, so it is slow and memory-hungry at scale. All
//! scatters go into constant zeros: candle 0.11's gradient to a scatter's `init` tensor is
//! wrong (notes §1), and `index_add` into zeros sidesteps it. The per-target max is computed
//! on the host from a detached copy, as PyG detaches it too; candle has no scatter-max.

use candle_core::{DType, Device, Result, Tensor, D};

use super::cpu::SOFTMAX_EPS;
use crate::edge_index::{u32_tensor, EdgeIndex};

/// CSR-order source and target index tensors on `dev`.
fn endpoints(g: &EdgeIndex, dev: &Device) -> Result<(Tensor, Tensor)> {
    let t = g.topology();
    Ok((u32_tensor(&t.csr_src, dev)?, u32_tensor(&t.csr_dst, dev)?))
}

/// See [`super::gat_attention`].
pub(super) fn gat_attention(
    xw: &Tensor,
    att_src: &Tensor,
    att_dst: &Tensor,
    g: &EdgeIndex,
    negative_slope: f64,
) -> Result<Tensor> {
    let (src, dst) = endpoints(g, xw.device())?;
    let (_, h, c) = att_src.dims3()?;
    let xw = xw.contiguous()?.reshape((g.num_nodes(), h, c))?;
    let a_src = xw.broadcast_mul(att_src)?.sum(D::Minus1)?;
    let a_dst = xw.broadcast_mul(att_dst)?.sum(D::Minus1)?;
    let pre = (a_src.index_select(&src, 0)? + a_dst.index_select(&dst, 0)?)?;
    segment_softmax(&candle_nn::ops::leaky_relu(&pre, negative_slope)?, g)
}

/// See [`super::gatv2_logits`].
pub(super) fn gatv2_logits(
    xlr: &Tensor,
    edge: Option<(&Tensor, &Tensor)>,
    att: &Tensor,
    g: &EdgeIndex,
    negative_slope: f64,
) -> Result<Tensor> {
    let (src, dst) = endpoints(g, xlr.device())?;
    let hc = xlr.dim(1)? / 2;
    let (heads, c) = att.dims2()?;
    let mut pre = (xlr.narrow(1, 0, hc)?.contiguous()?.index_select(&src, 0)?
        + xlr.narrow(1, hc, hc)?.contiguous()?.index_select(&dst, 0)?)?;
    if let Some((ea, w_edge)) = edge {
        pre = (pre + ea.matmul(&w_edge.t()?)?)?;
    }
    let m = candle_nn::ops::leaky_relu(&pre, negative_slope)?;
    m.reshape((g.num_edges(), heads, c))?
        .broadcast_mul(&att.unsqueeze(0)?)?
        .sum(D::Minus1)
}

/// See [`super::segment_softmax`].
pub(super) fn segment_softmax(logits: &Tensor, g: &EdgeIndex) -> Result<Tensor> {
    let dev = logits.device();
    let (_, dst) = endpoints(g, dev)?;
    let n = g.num_nodes();
    let mx = segment_max_host(logits, g)?;
    let logits = logits.contiguous()?;
    let ex = logits.broadcast_sub(&mx.index_select(&dst, 0)?)?.exp()?;
    let den = Tensor::zeros((n, ex.dim(1)?), ex.dtype(), dev)?.index_add(&dst, &ex, 0)?;
    ex.broadcast_div(&(den + SOFTMAX_EPS)?.index_select(&dst, 0)?)
}

/// Per-target max of `[M, H]` CSR-order logits, `[N, H]`, 0 for targets without edges
/// (torch_scatter's convention). Detached by construction.
fn segment_max_host(logits: &Tensor, g: &EdgeIndex) -> Result<Tensor> {
    let t = g.topology();
    let h = logits.dim(1)?;
    let vals = logits
        .detach()
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    let mut mx = vec![0f64; t.num_nodes * h];
    for i in 0..t.num_nodes {
        let (s0, s1) = (t.row_ptr[i], t.row_ptr[i + 1]);
        if s0 == s1 {
            continue;
        }
        let m = &mut mx[i * h..(i + 1) * h];
        m.copy_from_slice(&vals[s0 * h..(s0 + 1) * h]);
        for e in s0 + 1..s1 {
            for (a, &v) in m.iter_mut().zip(&vals[e * h..(e + 1) * h]) {
                *a = a.max(v);
            }
        }
    }
    Tensor::from_vec(mx, (t.num_nodes, h), &Device::Cpu)?
        .to_dtype(logits.dtype())?
        .to_device(logits.device())
}

/// See [`super::aggregate`].
pub(super) fn aggregate(
    alpha: &Tensor,
    x: &Tensor,
    bias: Option<&Tensor>,
    concat: bool,
    g: &EdgeIndex,
) -> Result<Tensor> {
    let (src, dst) = endpoints(g, x.device())?;
    let (n, h) = (g.num_nodes(), alpha.dim(1)?);
    let c = x.elem_count() / (n * h).max(1);
    let msg = x
        .contiguous()?
        .reshape((n, h, c))?
        .index_select(&src, 0)?
        .broadcast_mul(&alpha.unsqueeze(2)?)?;
    let out = Tensor::zeros((n, h, c), x.dtype(), x.device())?.index_add(&dst, &msg, 0)?;
    let out = if concat {
        out.reshape((n, h * c))?
    } else {
        out.mean(1)?
    };
    match bias {
        Some(b) => out.broadcast_add(b),
        None => Ok(out),
    }
}
