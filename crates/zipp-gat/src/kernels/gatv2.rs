//! Fused CPU custom op for GATv2 logits with edge features, forward and exact backward.
//!
//! For edge `e = j → i` and head `h`:
//! `logit[e, h] = Σ_c att[h, c] · leaky_relu(xl[j, h, c] + xr[i, h, c] + (W_e · ea[e])[h, c])`.
//! PyG materialises `lin_edge(edge_attr)` and the pre-activation as `[M, H, C]` tensors; here
//! both are recomputed per edge in an `H·C` scratch row (the edge projection costs `H·C·D` with
//! a small edge dimension `D`), so memory stays `O(N·H·C + M·(H + D))`.
//!
//! Operands: `xlr = [lin_l(x) | lin_r(x)]` `[N, 2·H·C]` (one matmul in the layer), edge features
//! `ea` `[M, D]` in CSR order, and `params = [W_e | att]` `[H·C, D + 1]` (packed so that one
//! custom op can return all parameter gradients). Without edge features the op takes just
//! `(xlr, params)` with `D = 0`.

use std::sync::Arc;

use candle_core::{
    bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType,
};
use rayon::prelude::*;

use super::cpu::{
    cpu, lrelu, lrelu_grad, node_blocks, rows, split_blocks, tensor, with_float, Real, Rows,
};
use crate::edge_index::Topology;

/// The GATv2 logits op; see the module docs. Implements `CustomOp3` (with edge features) and,
/// through [`Gatv2LogitsNoEdge`], `CustomOp2`.
pub(super) struct Gatv2Logits {
    pub(super) topo: Arc<Topology>,
    pub(super) heads: usize,
    pub(super) negative_slope: f64,
}

/// [`Gatv2Logits`] for layers without edge features (`edge_dim = None`).
pub(super) struct Gatv2LogitsNoEdge(pub(super) Gatv2Logits);

/// `params` unpacked: the edge projection transposed to `[D][H·C]` (so the per-edge projection
/// is a sum of contiguous `axpy`s) and the attention vector `[H·C]`.
struct Params<T> {
    hc: usize,
    d: usize,
    w_t: Vec<T>,
    att: Vec<T>,
}

impl<T: Real> Params<T> {
    fn new(p: Rows<T>) -> Result<Self> {
        if p.width == 0 {
            bail!("gatv2 logits: empty parameter pack");
        }
        let (hc, d) = (p.len, p.width - 1);
        let mut w_t = vec![T::from_f64(0.0); d * hc];
        let mut att = vec![T::from_f64(0.0); hc];
        for k in 0..hc {
            let r = p.row(k);
            for dd in 0..d {
                w_t[dd * hc + k] = r[dd];
            }
            att[k] = r[d];
        }
        Ok(Self { hc, d, w_t, att })
    }

    /// `pre = xl + xr + W_e · ea` into the scratch row.
    #[inline]
    fn preact(&self, pre: &mut [T], xl: &[T], xr: &[T], ea: Option<&[T]>) {
        for ((p, &a), &b) in pre.iter_mut().zip(xl).zip(xr) {
            *p = a + b;
        }
        if let Some(ea) = ea {
            for (dd, &v) in ea.iter().enumerate() {
                for (p, &w) in pre
                    .iter_mut()
                    .zip(&self.w_t[dd * self.hc..(dd + 1) * self.hc])
                {
                    *p += v * w;
                }
            }
        }
    }
}

impl Gatv2Logits {
    fn check<T>(&self, xlr: &Rows<T>, ea: Option<&Rows<T>>, p: &Params<T>) -> Result<()> {
        let t = &*self.topo;
        if xlr.len != t.num_nodes || xlr.width != 2 * p.hc {
            bail!(
                "gatv2 logits: xlr must be [{}, {}], got [{}, {}]",
                t.num_nodes,
                2 * p.hc,
                xlr.len,
                xlr.width
            );
        }
        if self.heads == 0 || !p.hc.is_multiple_of(self.heads) {
            bail!("gatv2 logits: {} channels for {} heads", p.hc, self.heads);
        }
        match ea {
            Some(ea) if ea.len != t.num_edges() || ea.width != p.d => bail!(
                "gatv2 logits: edge features must be [{}, {}], got [{}, {}]",
                t.num_edges(),
                p.d,
                ea.len,
                ea.width
            ),
            None if p.d != 0 => bail!("gatv2 logits: edge features missing"),
            _ => Ok(()),
        }
    }

    fn fwd<T: Real>(&self, xlr: Rows<T>, ea: Option<Rows<T>>, p: Rows<T>) -> Result<Vec<T>> {
        let p = Params::new(p)?;
        self.check(&xlr, ea.as_ref(), &p)?;
        let t = &*self.topo;
        let (h, hc) = (self.heads, p.hc);
        let c = hc / h;
        let slope = T::from_f64(self.negative_slope);
        let mut out = vec![T::from_f64(0.0); t.num_edges() * h];
        let blocks = node_blocks(&t.row_ptr);
        let chunks = split_blocks(&mut out, &blocks, |i| t.row_ptr[i] * h);
        blocks.into_par_iter().zip(chunks).for_each(|(b, chunk)| {
            let base = t.row_ptr[b.start];
            let mut pre = vec![T::from_f64(0.0); hc];
            for i in b {
                let xr = &xlr.row(i)[hc..];
                for e in t.row_ptr[i]..t.row_ptr[i + 1] {
                    let xl = &xlr.row(t.csr_src[e] as usize)[..hc];
                    p.preact(&mut pre, xl, xr, ea.map(|a| a.row(e)));
                    for k in 0..h {
                        let mut s = T::from_f64(0.0);
                        for (&v, &a) in pre[k * c..(k + 1) * c].iter().zip(&p.att[k * c..]) {
                            s += a * lrelu(v, slope);
                        }
                        chunk[(e - base) * h + k] = s;
                    }
                }
            }
        });
        Ok(out)
    }

    /// Writes the gradient of the pre-activation, `g[e, h(k)] · att[k] · lrelu'(pre[k])`, to
    /// `dpre`.
    #[inline]
    fn dpre<T: Real>(&self, dpre: &mut [T], pre: &[T], g: &[T], att: &[T], slope: T) {
        let c = pre.len() / self.heads;
        for (k, (d, (&v, &a))) in dpre.iter_mut().zip(pre.iter().zip(att)).enumerate() {
            *d = g[k / c] * a * lrelu_grad(v, slope);
        }
    }

    /// The exact backward. Pass 1 walks targets (CSR): `d xr`, `d ea` and the parameter
    /// gradients (per-block partial sums, then a reduction). Pass 2 walks sources (CSC) and
    /// recomputes the pre-activation to get `d xl` without storing `[M, H·C]`.
    fn bwd_t<T: Real>(
        &self,
        xlr: Rows<T>,
        ea: Option<Rows<T>>,
        p_rows: Rows<T>,
        g: Rows<T>,
        need_x: bool,
        need_ea: bool,
    ) -> Result<(Vec<T>, Vec<T>, Vec<T>)> {
        let p = Params::new(p_rows)?;
        self.check(&xlr, ea.as_ref(), &p)?;
        let t = &*self.topo;
        let (hc, d) = (p.hc, p.d);
        let slope = T::from_f64(self.negative_slope);
        let zero = T::from_f64(0.0);
        let need_ea = need_ea && ea.is_some();

        let mut dx = vec![zero; if need_x { t.num_nodes * 2 * hc } else { 0 }];
        let mut dea = vec![zero; if need_ea { t.num_edges() * d } else { 0 }];
        let blocks = node_blocks(&t.row_ptr);
        let dx_chunks = split_blocks(&mut dx, &blocks, |i| if need_x { i * 2 * hc } else { 0 });
        let de_chunks = split_blocks(&mut dea, &blocks, |i| {
            if need_ea {
                t.row_ptr[i] * d
            } else {
                0
            }
        });
        // Partial parameter gradients per block: [d W_e^T (D·HC) | d att (HC)].
        let dparams = blocks
            .into_par_iter()
            .zip(dx_chunks)
            .zip(de_chunks)
            .map(|((b, dxc), dec)| {
                let base = t.row_ptr[b.start];
                let mut acc = vec![zero; (d + 1) * hc];
                let mut pre = vec![zero; hc];
                let mut dp = vec![zero; hc];
                for i in b.clone() {
                    let xr = &xlr.row(i)[hc..];
                    for e in t.row_ptr[i]..t.row_ptr[i + 1] {
                        let xl = &xlr.row(t.csr_src[e] as usize)[..hc];
                        let ea_e = ea.map(|a| a.row(e));
                        p.preact(&mut pre, xl, xr, ea_e);
                        let ge = g.row(e);
                        self.dpre(&mut dp, &pre, ge, &p.att, slope);
                        let c = hc / self.heads;
                        let (dw, datt) = acc.split_at_mut(d * hc);
                        for (k, (da, &v)) in datt.iter_mut().zip(&pre).enumerate() {
                            *da += ge[k / c] * lrelu(v, slope);
                        }
                        if need_x {
                            let o = &mut dxc[(i - b.start) * 2 * hc + hc..][..hc];
                            for (o, &v) in o.iter_mut().zip(&dp) {
                                *o += v;
                            }
                        }
                        if let Some(ea_e) = ea_e {
                            for (dd, &v) in ea_e.iter().enumerate() {
                                let w = &mut dw[dd * hc..(dd + 1) * hc];
                                for (o, &q) in w.iter_mut().zip(&dp) {
                                    *o += q * v;
                                }
                                if need_ea {
                                    let wt = &p.w_t[dd * hc..(dd + 1) * hc];
                                    let mut s = zero;
                                    for (&q, &w) in dp.iter().zip(wt) {
                                        s += q * w;
                                    }
                                    dec[(e - base) * d + dd] = s;
                                }
                            }
                        }
                    }
                }
                acc
            })
            .reduce(
                || vec![zero; (d + 1) * hc],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            );

        if need_x {
            let blocks = node_blocks(&t.col_ptr);
            let chunks = split_blocks(&mut dx, &blocks, |j| j * 2 * hc);
            blocks.into_par_iter().zip(chunks).for_each(|(b, chunk)| {
                let mut pre = vec![zero; hc];
                let mut dp = vec![zero; hc];
                for (o, j) in chunk.chunks_exact_mut(2 * hc).zip(b) {
                    let xl = &xlr.row(j)[..hc];
                    for q in t.col_ptr[j]..t.col_ptr[j + 1] {
                        let e = t.csc_edge[q] as usize;
                        let xr = &xlr.row(t.csc_dst[q] as usize)[hc..];
                        p.preact(&mut pre, xl, xr, ea.map(|a| a.row(e)));
                        self.dpre(&mut dp, &pre, g.row(e), &p.att, slope);
                        for (o, &v) in o[..hc].iter_mut().zip(&dp) {
                            *o += v;
                        }
                    }
                }
            });
        }

        // Repack to the `[H·C, D + 1]` layout of `params`.
        let mut dpar = vec![zero; hc * (d + 1)];
        for k in 0..hc {
            for dd in 0..d {
                dpar[k * (d + 1) + dd] = dparams[dd * hc + k];
            }
            dpar[k * (d + 1) + d] = dparams[d * hc + k];
        }
        Ok((dx, dea, dpar))
    }

    /// Shared backward for both arities; `ea` is `None` without edge features.
    fn bwd_any(
        &self,
        xlr: &Tensor,
        ea: Option<&Tensor>,
        params: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (x_st, x_l) = xlr.storage_and_layout();
        let (p_st, p_l) = params.storage_and_layout();
        let (g_st, g_l) = grad.storage_and_layout();
        let ea_guard = ea.map(|t| t.storage_and_layout());
        let x_s = cpu(&x_st, "gatv2 xlr")?;
        let p_s = cpu(&p_st, "gatv2 params")?;
        let g_s = cpu(&g_st, "gatv2 grad")?;
        let ea_s = match &ea_guard {
            Some((st, l)) => Some((cpu(st, "gatv2 edge features")?, *l)),
            None => None,
        };
        let need_x = xlr.track_op();
        let need_ea = ea.is_some_and(|t| t.track_op());
        with_float!(x_s, "gatv2-logits", |T| {
            let ea_rows = match ea_s {
                Some((s, l)) => Some(rows::<T>(s, l, "gatv2 edge features")?),
                None => None,
            };
            let (dx, dea, dp) = self.bwd_t(
                rows::<T>(x_s, x_l, "gatv2 xlr")?,
                ea_rows,
                rows::<T>(p_s, p_l, "gatv2 params")?,
                rows::<T>(g_s, g_l, "gatv2 grad")?,
                need_x,
                need_ea,
            )?;
            let dx = need_x.then(|| tensor(dx, xlr.dims())).transpose()?;
            let dea = match ea {
                Some(ea) if need_ea => Some(tensor(dea, ea.dims())?),
                _ => None,
            };
            let dp = params
                .track_op()
                .then(|| tensor(dp, params.dims()))
                .transpose()?;
            Ok((dx, dea, dp))
        })
    }
}

impl CustomOp3 for Gatv2Logits {
    fn name(&self) -> &'static str {
        "gatv2-logits"
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
            let out = self.fwd(
                rows::<T>(s1, l1, "gatv2 xlr")?,
                Some(rows::<T>(s2, l2, "gatv2 edge features")?),
                rows::<T>(s3, l3, "gatv2 params")?,
            )?;
            let shape = Shape::from((self.topo.num_edges(), self.heads));
            Ok((T::to_cpu_storage_owned(out), shape))
        })
    }

    fn bwd(
        &self,
        xlr: &Tensor,
        ea: &Tensor,
        params: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.bwd_any(xlr, Some(ea), params, grad)
    }
}

impl CustomOp2 for Gatv2LogitsNoEdge {
    fn name(&self) -> &'static str {
        "gatv2-logits"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        with_float!(s1, self.name(), |T| {
            let out = self.0.fwd(
                rows::<T>(s1, l1, "gatv2 xlr")?,
                None,
                rows::<T>(s2, l2, "gatv2 params")?,
            )?;
            let shape = Shape::from((self.0.topo.num_edges(), self.0.heads));
            Ok((T::to_cpu_storage_owned(out), shape))
        })
    }

    fn bwd(
        &self,
        xlr: &Tensor,
        params: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, _, dp) = self.0.bwd_any(xlr, None, params, grad)?;
        Ok((dx, dp))
    }
}
