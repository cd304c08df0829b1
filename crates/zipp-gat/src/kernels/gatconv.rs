//! The whole GATConv message passing as one op, for the paths that do not report attention
//! (training, embedding): `(xw [N, H·C], att [2, H, C] = [att_src; att_dst], bias)` →
//! `out [N, H·C | C]`, the same math as [`super::attention`] followed by
//! [`super::aggregate`].
//!
//! Keeping attention internal means candle's autograd sees one node instead of two: no
//! `[M, H]` attention tensor, no gradient for it, and `xw` receives a single gradient instead
//! of two that autograd would add up (each `[N, H·C]` temporary costs an allocation, page
//! faults and a pass over memory). The forward saves the attention and node scores for the
//! backward (`[M, H] + 2·[N, H]` values); the backward is exact.

use std::sync::{Arc, OnceLock};

use candle_core::WithDType;
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::aggregate::{Aggregate, Dims};
use super::attention::{attention, scores};
use super::cpu::{
    axpy, cpu, dense_rows, dot, lrelu_grad, node_blocks, rows, softmax_segment_bwd, split_blocks,
    tensor, with_float, Real, Rows,
};
use crate::edge_index::Topology;

/// The fused GATConv op; `CustomOp2` over `(xw, att)`, `CustomOp3` with a bias through
/// [`GatConvBias`].
pub(super) struct GatConv {
    pub(super) topo: Arc<Topology>,
    pub(super) heads: usize,
    pub(super) concat: bool,
    pub(super) negative_slope: f64,
    /// `[alpha, s_src, s_dst]` from the forward, for the backward.
    pub(super) saved: OnceLock<[CpuStorage; 3]>,
}

/// [`GatConv`] with a bias operand.
pub(super) struct GatConvBias(pub(super) GatConv);

impl GatConv {
    fn agg(&self) -> Aggregate {
        Aggregate {
            topo: self.topo.clone(),
            concat: self.concat,
        }
    }

    /// Scores and attention for `xw`; `att` is `[att_src | att_dst]`, `2·H·C` values.
    fn attention<T: Real>(&self, xw: Rows<T>, att: &[T]) -> Result<(Vec<T>, Vec<T>, Vec<T>)> {
        let (h, hc) = (self.heads, xw.width);
        if h == 0 || hc % h != 0 || att.len() != 2 * hc || xw.len != self.topo.num_nodes {
            bail!(
                "gat conv: xw [{}, {hc}] with {h} heads and {} attention values",
                xw.len,
                att.len()
            );
        }
        let c = hc / h;
        let s_src = scores(xw, &att[..hc], h, c);
        let s_dst = scores(xw, &att[hc..], h, c);
        let alpha = attention(&self.topo, &s_src, &s_dst, h, self.negative_slope);
        Ok((s_src, s_dst, alpha))
    }

    fn fwd<T: Real>(&self, xw: Rows<T>, att: &[T], bias: Option<Rows<T>>) -> Result<Vec<T>> {
        let (s_src, s_dst, alpha) = self.attention(xw, att)?;
        let out = self
            .agg()
            .fwd(Rows::dense_from(&alpha, self.heads), xw, bias)?;
        // Only the first forward through this op value is saved; candle runs each once.
        let _ = self.saved.set([
            T::to_cpu_storage_owned(alpha),
            T::to_cpu_storage_owned(s_src),
            T::to_cpu_storage_owned(s_dst),
        ]);
        Ok(out)
    }

    /// Returns `(d xw, d att)`; `d xw` is empty unless `need_x`.
    fn bwd_t<T: Real>(
        &self,
        xw: Rows<T>,
        att: &[T],
        g: Rows<T>,
        need_x: bool,
    ) -> Result<(Vec<T>, Vec<T>)> {
        let t = &*self.topo;
        let Some([alpha, s_src, s_dst]) = self.saved.get() else {
            bail!("gat conv: backward before forward");
        };
        let alpha = T::cpu_storage_as_slice(alpha)?;
        let (s_src, s_dst) = (
            T::cpu_storage_as_slice(s_src)?,
            T::cpu_storage_as_slice(s_dst)?,
        );
        let agg = self.agg();
        let alpha_rows = Rows::dense_from(alpha, self.heads);
        let d = agg.dims(&alpha_rows, &xw, None)?;
        let Dims { h, c, .. } = d;
        let hc = h * c;
        let zero = T::from_f64(0.0);
        let slope = T::from_f64(self.negative_slope);

        // Pass 1 (targets): dα = ⟨g_i, x_j⟩, then through the softmax and the leaky ReLU to
        // dz per edge; d s_dst per target.
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
                let (mut acc, mut da) = (vec![zero; h], Vec::new());
                for (od, i) in dd.chunks_exact_mut(h).zip(b) {
                    let (s0, s1) = (t.row_ptr[i], t.row_ptr[i + 1]);
                    let gi = g.row(i);
                    da.clear();
                    for e in s0..s1 {
                        let xj = xw.row(t.csr_src[e] as usize);
                        for k in 0..h {
                            let (gk, scale) = agg.grad_part(gi, k, &d);
                            da.push(scale * dot(gk, &xj[k * c..(k + 1) * c]));
                        }
                    }
                    let seg = &mut dz[(s0 - base) * h..(s1 - base) * h];
                    softmax_segment_bwd(&alpha[s0 * h..s1 * h], &da, seg, h, &mut acc);
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

        // Pass 2 (sources): d xw[j] = Σ_{j→i} α·g_i + d s_src[j] ⊗ att_src + d s_dst[j] ⊗ att_dst,
        // with d s_src[j] = Σ_{j→i} dz; d att from per-block partial sums.
        let (att_src, att_dst) = att.split_at(hc);
        let mut dx = vec![zero; if need_x { t.num_nodes * hc } else { 0 }];
        let blocks = node_blocks(&t.col_ptr);
        let dx_chunks = split_blocks(&mut dx, &blocks, |j| if need_x { j * hc } else { 0 });
        let datt = blocks
            .into_par_iter()
            .zip(dx_chunks)
            .map(|(b, dxc)| {
                let mut acc = vec![zero; 2 * hc];
                let mut ds = vec![zero; h];
                for j in b.clone() {
                    ds.fill(zero);
                    let mut o = if need_x {
                        Some(&mut dxc[(j - b.start) * hc..(j - b.start + 1) * hc])
                    } else {
                        None
                    };
                    for q in t.col_ptr[j]..t.col_ptr[j + 1] {
                        let e = t.csc_edge[q] as usize;
                        for (s, &v) in ds.iter_mut().zip(&dz[e * h..(e + 1) * h]) {
                            *s += v;
                        }
                        if let Some(o) = o.as_deref_mut() {
                            let gi = g.row(t.csc_dst[q] as usize);
                            for (k, &a) in alpha[e * h..(e + 1) * h].iter().enumerate() {
                                let (gk, scale) = agg.grad_part(gi, k, &d);
                                axpy(&mut o[k * c..(k + 1) * c], a * scale, gk);
                            }
                        }
                    }
                    let row = xw.row(j);
                    let dd = &d_dst[j * h..(j + 1) * h];
                    let (acc_s, acc_d) = acc.split_at_mut(hc);
                    for k in 0..h {
                        let r = k * c..(k + 1) * c;
                        axpy(&mut acc_s[r.clone()], ds[k], &row[r.clone()]);
                        axpy(&mut acc_d[r.clone()], dd[k], &row[r.clone()]);
                        if let Some(o) = o.as_deref_mut() {
                            axpy(&mut o[r.clone()], ds[k], &att_src[r.clone()]);
                            axpy(&mut o[r.clone()], dd[k], &att_dst[r]);
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
        Ok((dx, datt))
    }

    fn cpu_fwd_any(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        with_float!(s1, "gat-conv", |T| {
            let xw = rows::<T>(s1, l1, "gat conv features")?;
            let att = dense_rows::<T>(s2, l2, "gat conv attention vectors")?.dense()?;
            let bias = match bias {
                Some((s, l)) => Some(dense_rows::<T>(s, l, "gat conv bias")?),
                None => None,
            };
            let out = self.fwd(xw, att, bias)?;
            let width = if self.concat {
                xw.width
            } else {
                xw.width / self.heads
            };
            Ok((T::to_cpu_storage_owned(out), Shape::from((xw.len, width))))
        })
    }

    fn bwd_any(
        &self,
        xw: &Tensor,
        att: &Tensor,
        bias: Option<&Tensor>,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (x_st, x_l) = xw.storage_and_layout();
        let (a_st, a_l) = att.storage_and_layout();
        let (g_st, g_l) = grad.storage_and_layout();
        let x_s = cpu(&x_st, "gat conv features")?;
        let a_s = cpu(&a_st, "gat conv attention vectors")?;
        let g_s = cpu(&g_st, "gat conv grad")?;
        with_float!(x_s, "gat-conv", |T| {
            let x = rows::<T>(x_s, x_l, "gat conv features")?;
            let a = dense_rows::<T>(a_s, a_l, "gat conv attention vectors")?.dense()?;
            let g = dense_rows::<T>(g_s, g_l, "gat conv grad")?;
            let (dx, datt) = self.bwd_t(x, a, g, xw.track_op())?;
            let dx = xw.track_op().then(|| tensor(dx, xw.dims())).transpose()?;
            let datt = att
                .track_op()
                .then(|| tensor(datt, att.dims()))
                .transpose()?;
            let db = match bias {
                Some(b) if b.track_op() => Some(tensor(self.agg().bwd_bias(g), b.dims())?),
                _ => None,
            };
            Ok((dx, datt, db))
        })
    }
}

impl CustomOp2 for GatConv {
    fn name(&self) -> &'static str {
        "gat-conv"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu_fwd_any(s1, l1, s2, l2, None)
    }

    fn bwd(
        &self,
        xw: &Tensor,
        att: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, datt, _) = self.bwd_any(xw, att, None, grad)?;
        Ok((dx, datt))
    }
}

impl CustomOp3 for GatConvBias {
    fn name(&self) -> &'static str {
        "gat-conv"
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
        self.0.cpu_fwd_any(s1, l1, s2, l2, Some((s3, l3)))
    }

    fn bwd(
        &self,
        xw: &Tensor,
        att: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.0.bwd_any(xw, att, Some(bias), grad)
    }
}
