//! Fused attention-weighted aggregation with the head merge and bias of a GAT layer:
//! `out[i] = merge_h(Σ_{e = j→i} α[e, h] · x[j, h, :]) + bias`, where `merge` concatenates the
//! heads (`[N, H·C]`) or averages them (`[N, C]`). Forward and exact backward; folding the
//! merge and the bias in saves candle's autograd several `[N, H·C]` temporaries per step.

use std::sync::Arc;

use candle_core::WithDType;
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu::{
    axpy, cpu, dense_rows, dot, expect_rows, node_blocks, rows, split_blocks, tensor, with_float,
    Real, Rows,
};
use crate::edge_index::Topology;

/// The aggregation op; see the module docs. `CustomOp2` over `(alpha, x)`, and `CustomOp3`
/// over `(alpha, x, bias)` through [`AggregateBias`].
pub(super) struct Aggregate {
    pub(super) topo: Arc<Topology>,
    pub(super) concat: bool,
}

/// [`Aggregate`] with a bias operand.
pub(super) struct AggregateBias(pub(super) Aggregate);

/// Operand sizes: heads, channels per head, output width.
pub(super) struct Dims {
    pub(super) h: usize,
    pub(super) c: usize,
    pub(super) out: usize,
}

impl Aggregate {
    pub(super) fn dims<T>(
        &self,
        alpha: &Rows<T>,
        x: &Rows<T>,
        bias: Option<&Rows<T>>,
    ) -> Result<Dims> {
        expect_rows(alpha, self.topo.num_edges(), "aggregate attention")?;
        expect_rows(x, self.topo.num_nodes, "aggregate features")?;
        let h = alpha.width;
        if h == 0 || !x.width.is_multiple_of(h) {
            bail!(
                "aggregate: feature width {} is not a multiple of {h} heads",
                x.width
            );
        }
        let c = x.width / h;
        let out = if self.concat { h * c } else { c };
        if let Some(b) = bias {
            if b.len * b.width != out {
                bail!(
                    "aggregate: bias has {} elements, expected {out}",
                    b.len * b.width
                );
            }
        }
        Ok(Dims { h, c, out })
    }

    pub(super) fn fwd<T: Real>(
        &self,
        alpha: Rows<T>,
        x: Rows<T>,
        bias: Option<Rows<T>>,
    ) -> Result<Vec<T>> {
        let t = &*self.topo;
        let Dims { h, c, out: w } = self.dims(&alpha, &x, bias.as_ref())?;
        let inv_h = T::from_f64(1.0 / h as f64);
        let bias = bias.map(|b| b.span(0, b.len));
        let mut out = vec![T::from_f64(0.0); t.num_nodes * w];
        let blocks = node_blocks(&t.row_ptr);
        let chunks = split_blocks(&mut out, &blocks, |i| i * w);
        blocks.into_par_iter().zip(chunks).for_each(|(b, chunk)| {
            for (o, i) in chunk.chunks_exact_mut(w).zip(b) {
                for e in t.row_ptr[i]..t.row_ptr[i + 1] {
                    let xj = x.row(t.csr_src[e] as usize);
                    for (k, &a) in alpha.row(e).iter().enumerate() {
                        let xs = &xj[k * c..(k + 1) * c];
                        if self.concat {
                            axpy(&mut o[k * c..(k + 1) * c], a, xs);
                        } else {
                            axpy(o, a * inv_h, xs);
                        }
                    }
                }
                if let Some(bias) = bias {
                    for (v, &bv) in o.iter_mut().zip(bias) {
                        *v += bv;
                    }
                }
            }
        });
        Ok(out)
    }

    /// The head-`k` slice of output-gradient row `gi` and its scale (1/H when averaging).
    #[inline]
    pub(super) fn grad_part<'a, T: Real>(&self, gi: &'a [T], k: usize, d: &Dims) -> (&'a [T], T) {
        if self.concat {
            (&gi[k * d.c..(k + 1) * d.c], T::from_f64(1.0))
        } else {
            (gi, T::from_f64(1.0 / d.h as f64))
        }
    }

    /// `dα[e, h] = ⟨g[i, h], x[j, h, :]⟩` (CSR walk).
    fn bwd_alpha<T: Real>(&self, x: Rows<T>, g: Rows<T>, d: &Dims) -> Vec<T> {
        let t = &*self.topo;
        let mut out = vec![T::from_f64(0.0); t.num_edges() * d.h];
        let blocks = node_blocks(&t.row_ptr);
        let chunks = split_blocks(&mut out, &blocks, |i| t.row_ptr[i] * d.h);
        blocks.into_par_iter().zip(chunks).for_each(|(b, chunk)| {
            let base = t.row_ptr[b.start];
            for i in b {
                let gi = g.row(i);
                for e in t.row_ptr[i]..t.row_ptr[i + 1] {
                    let xj = x.row(t.csr_src[e] as usize);
                    for k in 0..d.h {
                        let (gk, scale) = self.grad_part(gi, k, d);
                        chunk[(e - base) * d.h + k] = scale * dot(gk, &xj[k * d.c..(k + 1) * d.c]);
                    }
                }
            }
        });
        out
    }

    /// `dx[j, h, :] = Σ_{e = j→i} α[e, h] · g[i, h]` (CSC walk).
    fn bwd_x<T: Real>(&self, alpha: Rows<T>, g: Rows<T>, d: &Dims) -> Vec<T> {
        let t = &*self.topo;
        let hc = d.h * d.c;
        let mut out = vec![T::from_f64(0.0); t.num_nodes * hc];
        let blocks = node_blocks(&t.col_ptr);
        let chunks = split_blocks(&mut out, &blocks, |j| j * hc);
        blocks.into_par_iter().zip(chunks).for_each(|(b, chunk)| {
            for (o, j) in chunk.chunks_exact_mut(hc).zip(b) {
                for q in t.col_ptr[j]..t.col_ptr[j + 1] {
                    let a = alpha.row(t.csc_edge[q] as usize);
                    let gi = g.row(t.csc_dst[q] as usize);
                    for (k, &ak) in a.iter().enumerate() {
                        let (gk, scale) = self.grad_part(gi, k, d);
                        axpy(&mut o[k * d.c..(k + 1) * d.c], ak * scale, gk);
                    }
                }
            }
        });
        out
    }

    /// `d bias = Σ_i g[i]` (per-block partial sums, then a reduction).
    pub(super) fn bwd_bias<T: Real>(&self, g: Rows<T>) -> Vec<T> {
        let w = g.width;
        let zero = T::from_f64(0.0);
        node_blocks(&self.topo.row_ptr)
            .into_par_iter()
            .map(|b| {
                let mut acc = vec![zero; w];
                for i in b {
                    for (a, &v) in acc.iter_mut().zip(g.row(i)) {
                        *a += v;
                    }
                }
                acc
            })
            .reduce(
                || vec![zero; w],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            )
    }

    fn cpu_fwd_any(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        with_float!(s1, "gat-aggregate", |T| {
            let alpha = dense_rows::<T>(s1, l1, "aggregate attention")?;
            let x = rows::<T>(s2, l2, "aggregate features")?;
            let bias = match bias {
                Some((s, l)) => Some(dense_rows::<T>(s, l, "aggregate bias")?),
                None => None,
            };
            let d = self.dims(&alpha, &x, bias.as_ref())?;
            let out = self.fwd(alpha, x, bias)?;
            Ok((T::to_cpu_storage_owned(out), Shape::from((x.len, d.out))))
        })
    }

    fn bwd_any(
        &self,
        alpha: &Tensor,
        x: &Tensor,
        bias: Option<&Tensor>,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (a_st, a_l) = alpha.storage_and_layout();
        let (x_st, x_l) = x.storage_and_layout();
        let (g_st, g_l) = grad.storage_and_layout();
        let a_s = cpu(&a_st, "aggregate attention")?;
        let x_s = cpu(&x_st, "aggregate features")?;
        let g_s = cpu(&g_st, "aggregate grad")?;
        with_float!(a_s, "gat-aggregate", |T| {
            let a = dense_rows::<T>(a_s, a_l, "aggregate attention")?;
            let xr = rows::<T>(x_s, x_l, "aggregate features")?;
            let g = dense_rows::<T>(g_s, g_l, "aggregate grad")?;
            let d = self.dims(&a, &xr, None)?;
            let da = alpha
                .track_op()
                .then(|| tensor(self.bwd_alpha(xr, g, &d), alpha.dims()))
                .transpose()?;
            let dx = x
                .track_op()
                .then(|| tensor(self.bwd_x(a, g, &d), x.dims()))
                .transpose()?;
            let db = match bias {
                Some(b) if b.track_op() => Some(tensor(self.bwd_bias(g), b.dims())?),
                _ => None,
            };
            Ok((da, dx, db))
        })
    }
}

impl CustomOp2 for Aggregate {
    fn name(&self) -> &'static str {
        "gat-aggregate"
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
        alpha: &Tensor,
        x: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (da, dx, _) = self.bwd_any(alpha, x, None, grad)?;
        Ok((da, dx))
    }
}

impl CustomOp3 for AggregateBias {
    fn name(&self) -> &'static str {
        "gat-aggregate"
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
        alpha: &Tensor,
        x: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.0.bwd_any(alpha, x, Some(bias), grad)
    }
}
