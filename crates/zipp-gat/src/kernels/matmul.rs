//! `a · bᵀ` whose backward computes only the gradients that are needed. candle's own matmul
//! backward always computes both operands' gradients; for a layer's `x · Wᵀ` with constant
//! input features that wastes an `[N, F]` product plus two autograd temporaries per step.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

/// `[m, k] · [n, k]ᵀ → [m, n]`, forward by candle's CPU matmul.
pub(super) struct MatmulT;

impl CustomOp2 for MatmulT {
    fn name(&self) -> &'static str {
        "matmul-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k != k2 {
            bail!("matmul_t: [{m}, {k}] · [{n}, {k2}]ᵀ");
        }
        let out = s1.matmul(s2, (1, m, n, k), l1, &l2.transpose(0, 1)?)?;
        Ok((out, Shape::from((m, n))))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let da = a.track_op().then(|| grad.matmul(b)).transpose()?;
        let db = b.track_op().then(|| grad.t()?.matmul(a)).transpose()?;
        Ok((da, db))
    }
}
