//! Fused per-target softmax over CSR-ordered logits, used on its own by GATv2 (whose logits
//! come from [`super::gatv2`]); GATConv fuses the same math into [`super::attention`].

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::cpu::{
    cpu, dense_rows, expect_rows, node_blocks, softmax_segment, softmax_segment_bwd, split_blocks,
    tensor, with_float, Real, Rows,
};
use crate::edge_index::Topology;

/// Softmax over the incoming edges of each target, per head: `[M, H]` logits in CSR order to
/// `[M, H]` attention. The max subtracted per target is treated as a constant in the backward,
/// exactly like PyG's detached `scatter(..., reduce='max')`.
pub(super) struct SegmentSoftmax {
    pub(super) topo: Arc<Topology>,
}

impl SegmentSoftmax {
    fn fwd<T: Real>(&self, l: Rows<T>) -> Result<Vec<T>> {
        let t = &*self.topo;
        expect_rows(&l, t.num_edges(), "segment softmax logits")?;
        let h = l.width;
        let mut out = l.span(0, l.len).to_vec();
        let blocks = node_blocks(&t.row_ptr);
        let chunks = split_blocks(&mut out, &blocks, |i| t.row_ptr[i] * h);
        blocks.into_par_iter().zip(chunks).for_each(|(b, chunk)| {
            let base = t.row_ptr[b.start];
            let (mut mx, mut sum) = (vec![T::from_f64(0.0); h], vec![T::from_f64(0.0); h]);
            for i in b {
                let seg = &mut chunk[(t.row_ptr[i] - base) * h..(t.row_ptr[i + 1] - base) * h];
                softmax_segment(seg, h, &mut mx, &mut sum);
            }
        });
        Ok(out)
    }

    fn bwd_t<T: Real>(&self, alpha: Rows<T>, g: Rows<T>) -> Vec<T> {
        let t = &*self.topo;
        let h = alpha.width;
        let mut out = vec![T::from_f64(0.0); t.num_edges() * h];
        let blocks = node_blocks(&t.row_ptr);
        let chunks = split_blocks(&mut out, &blocks, |i| t.row_ptr[i] * h);
        blocks.into_par_iter().zip(chunks).for_each(|(b, chunk)| {
            let base = t.row_ptr[b.start];
            let mut acc = vec![T::from_f64(0.0); h];
            for i in b {
                let (s0, s1) = (t.row_ptr[i], t.row_ptr[i + 1]);
                let o = &mut chunk[(s0 - base) * h..(s1 - base) * h];
                softmax_segment_bwd(alpha.span(s0, s1), g.span(s0, s1), o, h, &mut acc);
            }
        });
        out
    }
}

impl CustomOp1 for SegmentSoftmax {
    fn name(&self) -> &'static str {
        "gat-segment-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        with_float!(s, self.name(), |T| {
            let r = dense_rows::<T>(s, l, "segment softmax logits")?;
            let shape = Shape::from((r.len, r.width));
            Ok((T::to_cpu_storage_owned(self.fwd(r)?), shape))
        })
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let (a_st, a_l) = res.storage_and_layout();
        let (g_st, g_l) = grad.storage_and_layout();
        let a_s = cpu(&a_st, "softmax output")?;
        let g_s = cpu(&g_st, "softmax grad")?;
        let out = with_float!(a_s, self.name(), |T| {
            let alpha = dense_rows::<T>(a_s, a_l, "alpha")?;
            let v = self.bwd_t(alpha, dense_rows::<T>(g_s, g_l, "grad")?);
            tensor(v, arg.dims())?
        });
        Ok(Some(out))
    }
}
