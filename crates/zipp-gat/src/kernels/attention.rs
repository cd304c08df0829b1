//! Fused GATConv attention: node scores, edge logits and the per-target softmax in one op,
//! `(xw [N, H·C], att_src [H·C], att_dst [H·C])` → `α [M, H]` in CSR order:
//! `a_src[n, h] = Σ_c xw[n, h, c]·att_src[h, c]` (likewise `a_dst`),
//! `α[e = j→i] = softmax_i(leaky_relu(a_src[j] + a_dst[i]))`.
//!
//! Only `[N, H]` scores and `[M, H]` attention are materialised. The backward recomputes the
//! scores (`N·H·C`, cheap), runs the softmax and leaky-ReLU backward per target (CSR), gathers
//! the source-side sums per source (CSC), and returns exact gradients for `xw` and both
//! attention vectors. The per-target max is detached, as in PyG.

use std::sync::Arc;

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::cpu::{
    cpu, dense_rows, dot, expect_rows, lrelu, lrelu_grad, node_blocks, rows, softmax_segment,
    softmax_segment_bwd, split_blocks, tensor, with_float, Real, Rows,
};
use crate::edge_index::Topology;

/// `[N, H]` node scores `Σ_c xw[n, h, c]·att[h, c]`.
pub(super) fn scores<T: Real>(xw: Rows<T>, att: &[T], h: usize, c: usize) -> Vec<T> {
    const ROWS: usize = 1024;
    let mut s = vec![T::from_f64(0.0); xw.len * h];
    s.par_chunks_mut(h * ROWS)
        .enumerate()
        .for_each(|(blk, chunk)| {
            for (r, o) in chunk.chunks_exact_mut(h).enumerate() {
                let row = xw.row(blk * ROWS + r);
                for (k, v) in o.iter_mut().enumerate() {
                    *v = dot(&row[k * c..(k + 1) * c], &att[k * c..(k + 1) * c]);
                }
            }
        });
    s
}

/// Attention `[M, H]` in CSR order from node scores:
/// `softmax_i(leaky_relu(s_src[j] + s_dst[i]))` per target and head.
pub(super) fn attention<T: Real>(
    t: &Topology,
    s_src: &[T],
    s_dst: &[T],
    h: usize,
    negative_slope: f64,
) -> Vec<T> {
    let slope = T::from_f64(negative_slope);
    let mut out = vec![T::from_f64(0.0); t.num_edges() * h];
    let blocks = node_blocks(&t.row_ptr);
    let chunks = split_blocks(&mut out, &blocks, |i| t.row_ptr[i] * h);
    blocks.into_par_iter().zip(chunks).for_each(|(b, chunk)| {
        let base = t.row_ptr[b.start];
        let (mut mx, mut sum) = (vec![T::from_f64(0.0); h], vec![T::from_f64(0.0); h]);
        for i in b {
            let (s0, s1) = (t.row_ptr[i], t.row_ptr[i + 1]);
            let seg = &mut chunk[(s0 - base) * h..(s1 - base) * h];
            let di = &s_dst[i * h..(i + 1) * h];
            for (o, e) in seg.chunks_exact_mut(h).zip(s0..s1) {
                let j = t.csr_src[e] as usize;
                for ((o, &sj), &d) in o.iter_mut().zip(&s_src[j * h..(j + 1) * h]).zip(di) {
                    *o = lrelu(sj + d, slope);
                }
            }
            softmax_segment(seg, h, &mut mx, &mut sum);
        }
    });
    out
}

/// The fused GATConv attention op; see the module docs.
pub(super) struct GatAttention {
    pub(super) topo: Arc<Topology>,
    pub(super) heads: usize,
    pub(super) negative_slope: f64,
}

impl GatAttention {
    fn check<T>(&self, xw: &Rows<T>, att_src: &[T], att_dst: &[T]) -> Result<usize> {
        expect_rows(xw, self.topo.num_nodes, "gat attention features")?;
        let hc = xw.width;
        if self.heads == 0
            || !hc.is_multiple_of(self.heads)
            || att_src.len() != hc
            || att_dst.len() != hc
        {
            bail!(
                "gat attention: {} features, {} heads, attention vectors of {} and {}",
                hc,
                self.heads,
                att_src.len(),
                att_dst.len()
            );
        }
        Ok(hc / self.heads)
    }

    fn fwd<T: Real>(&self, xw: Rows<T>, att_src: &[T], att_dst: &[T]) -> Result<Vec<T>> {
        let c = self.check(&xw, att_src, att_dst)?;
        let h = self.heads;
        let (s_src, s_dst) = (scores(xw, att_src, h, c), scores(xw, att_dst, h, c));
        Ok(attention(
            &self.topo,
            &s_src,
            &s_dst,
            h,
            self.negative_slope,
        ))
    }

    /// Returns `(d xw, d att_src, d att_dst)`; `d xw` is empty unless `need_x`.
    fn bwd_t<T: Real>(
        &self,
        xw: Rows<T>,
        att_src: &[T],
        att_dst: &[T],
        alpha: Rows<T>,
        g: Rows<T>,
        need_x: bool,
    ) -> Result<(Vec<T>, Vec<T>, Vec<T>)> {
        let t = &*self.topo;
        let c = self.check(&xw, att_src, att_dst)?;
        let h = self.heads;
        let zero = T::from_f64(0.0);
        let (s_src, s_dst) = (scores(xw, att_src, h, c), scores(xw, att_dst, h, c));
        let slope = T::from_f64(self.negative_slope);
        // dz = d(logit) through the softmax and the leaky ReLU, per edge; d a_dst per target.
        let mut dz = vec![zero; t.num_edges() * h];
        let mut d_dst = vec![zero; t.num_nodes * h];
        let blocks = node_blocks(&t.row_ptr);
        let dz_chunks = split_blocks(&mut dz, &blocks, |i| t.row_ptr[i] * h);
        let dd_chunks = split_blocks(&mut d_dst, &blocks, |i| i * h);
        blocks
            .into_par_iter()
            .zip(dz_chunks)
            .zip(dd_chunks)
            .for_each(|((b, dz), dd)| {
                let base = t.row_ptr[b.start];
                let mut acc = vec![zero; h];
                for (od, i) in dd.chunks_exact_mut(h).zip(b) {
                    let (s0, s1) = (t.row_ptr[i], t.row_ptr[i + 1]);
                    let seg = &mut dz[(s0 - base) * h..(s1 - base) * h];
                    softmax_segment_bwd(alpha.span(s0, s1), g.span(s0, s1), seg, h, &mut acc);
                    let di = &s_dst[i * h..(i + 1) * h];
                    for (o, e) in seg.chunks_exact_mut(h).zip(s0..s1) {
                        let j = t.csr_src[e] as usize;
                        let sj = &s_src[j * h..(j + 1) * h];
                        for k in 0..h {
                            o[k] *= lrelu_grad(sj[k] + di[k], slope);
                            od[k] += o[k];
                        }
                    }
                }
            });
        // d a_src per source.
        let mut d_src = vec![zero; t.num_nodes * h];
        let blocks = node_blocks(&t.col_ptr);
        let chunks = split_blocks(&mut d_src, &blocks, |j| j * h);
        blocks.into_par_iter().zip(chunks).for_each(|(b, chunk)| {
            for (o, j) in chunk.chunks_exact_mut(h).zip(b) {
                for q in t.col_ptr[j]..t.col_ptr[j + 1] {
                    let e = t.csc_edge[q] as usize;
                    for (o, &v) in o.iter_mut().zip(&dz[e * h..(e + 1) * h]) {
                        *o += v;
                    }
                }
            }
        });
        drop(dz);
        // Through the scores: d xw = d a_src ⊗ att_src + d a_dst ⊗ att_dst, and
        // d att[h, c] = Σ_n d a[n, h]·xw[n, h, c] (per-block partial sums).
        let hc = h * c;
        let mut dx = vec![zero; if need_x { t.num_nodes * hc } else { 0 }];
        let blocks = node_blocks(&t.row_ptr);
        let dx_chunks = split_blocks(&mut dx, &blocks, |n| if need_x { n * hc } else { 0 });
        let datt = blocks
            .into_par_iter()
            .zip(dx_chunks)
            .map(|(b, dxc)| {
                let mut acc = vec![zero; 2 * hc];
                let (acc_s, acc_d) = acc.split_at_mut(hc);
                for n in b.clone() {
                    let row = xw.row(n);
                    let (ds, dd) = (&d_src[n * h..(n + 1) * h], &d_dst[n * h..(n + 1) * h]);
                    for q in 0..hc {
                        let k = q / c;
                        acc_s[q] += ds[k] * row[q];
                        acc_d[q] += dd[k] * row[q];
                        if need_x {
                            dxc[(n - b.start) * hc + q] = ds[k] * att_src[q] + dd[k] * att_dst[q];
                        }
                    }
                }
                acc
            })
            .reduce(
                || vec![zero; 2 * hc],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            );
        let (da_s, da_d) = datt.split_at(hc);
        Ok((dx, da_s.to_vec(), da_d.to_vec()))
    }
}

impl CustomOp3 for GatAttention {
    fn name(&self) -> &'static str {
        "gat-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        with_float!(s1, self.name(), |T| {
            let xw = rows::<T>(s1, l1, "gat attention features")?;
            let a_s = dense_rows::<T>(s2, l2, "att_src")?;
            let a_d = dense_rows::<T>(s3, l3, "att_dst")?;
            let out = self.fwd(xw, a_s.span(0, a_s.len), a_d.span(0, a_d.len))?;
            let shape = Shape::from((self.topo.num_edges(), self.heads));
            Ok((T::to_cpu_storage_owned(out), shape))
        })
    }

    fn bwd(
        &self,
        xw: &Tensor,
        att_src: &Tensor,
        att_dst: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (x_st, x_l) = xw.storage_and_layout();
        let (s_st, s_l) = att_src.storage_and_layout();
        let (d_st, d_l) = att_dst.storage_and_layout();
        let (a_st, a_l) = res.storage_and_layout();
        let (g_st, g_l) = grad.storage_and_layout();
        let x_s = cpu(&x_st, "gat attention features")?;
        let s_s = cpu(&s_st, "att_src")?;
        let d_s = cpu(&d_st, "att_dst")?;
        let a_s = cpu(&a_st, "gat attention output")?;
        let g_s = cpu(&g_st, "gat attention grad")?;
        with_float!(x_s, self.name(), |T| {
            let a_src = dense_rows::<T>(s_s, s_l, "att_src")?;
            let a_dst = dense_rows::<T>(d_s, d_l, "att_dst")?;
            let (dx, ds, dd) = self.bwd_t(
                rows::<T>(x_s, x_l, "gat attention features")?,
                a_src.span(0, a_src.len),
                a_dst.span(0, a_dst.len),
                dense_rows::<T>(a_s, a_l, "alpha")?,
                dense_rows::<T>(g_s, g_l, "grad")?,
                xw.track_op(),
            )?;
            let dx = xw.track_op().then(|| tensor(dx, xw.dims())).transpose()?;
            let ds = att_src
                .track_op()
                .then(|| tensor(ds, att_src.dims()))
                .transpose()?;
            let dd = att_dst
                .track_op()
                .then(|| tensor(dd, att_dst.dims()))
                .transpose()?;
            Ok((dx, ds, dd))
        })
    }
}
