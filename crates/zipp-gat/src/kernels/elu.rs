//! ELU as one fused op. candle's own `elu` forward is fine, but its backward builds about ten
//! full-size temporaries (masks, dtype casts, products); between two GAT layers that is
//! `[N, H·C]` each, so this op's single-pass backward matters for training speed.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::cpu::{cpu, rows, tensor, with_float, Real};

/// Elements per rayon task.
const GRAIN: usize = 1 << 15;

/// `elu(x) = x` for `x > 0`, else `alpha·(eˣ − 1)`.
pub(super) struct Elu {
    pub(super) alpha: f64,
}

impl Elu {
    fn fwd<T: Real>(&self, x: &[T]) -> Vec<T> {
        let (zero, one, alpha) = (T::from_f64(0.0), T::from_f64(1.0), T::from_f64(self.alpha));
        let mut out = vec![zero; x.len()];
        out.par_chunks_mut(GRAIN)
            .zip(x.par_chunks(GRAIN))
            .for_each(|(o, x)| {
                for (o, &v) in o.iter_mut().zip(x) {
                    // Branch-free (signs are random, so a branch mispredicts half the time):
                    // exp of min(v, 0) for every element, then a select.
                    let neg = alpha * ((if v < zero { v } else { zero }).exp() - one);
                    *o = if v > zero { v } else { neg };
                }
            });
        out
    }

    /// `g · (1 if x > 0 else y + alpha)`, with `y = elu(x)` the forward output.
    fn bwd_t<T: Real>(&self, x: &[T], y: &[T], g: &[T]) -> Vec<T> {
        let (zero, alpha) = (T::from_f64(0.0), T::from_f64(self.alpha));
        let mut out = vec![zero; x.len()];
        out.par_chunks_mut(GRAIN)
            .zip(x.par_chunks(GRAIN))
            .zip(y.par_chunks(GRAIN).zip(g.par_chunks(GRAIN)))
            .for_each(|((o, x), (y, g))| {
                for (((o, &x), &y), &g) in o.iter_mut().zip(x).zip(y).zip(g) {
                    *o = if x > zero { g } else { g * (y + alpha) };
                }
            });
        out
    }
}

/// A contiguous tensor's elements.
fn flat<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [T]> {
    let r = rows::<T>(s, l, what)?;
    r.dense()
}

impl CustomOp1 for Elu {
    fn name(&self) -> &'static str {
        "gat-elu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        with_float!(s, self.name(), |T| {
            let x = flat::<T>(s, l, "elu input")?;
            Ok((T::to_cpu_storage_owned(self.fwd(x)), l.shape().clone()))
        })
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let (x_st, x_l) = arg.storage_and_layout();
        let (y_st, y_l) = res.storage_and_layout();
        let (g_st, g_l) = grad.storage_and_layout();
        let x_s = cpu(&x_st, "elu input")?;
        let y_s = cpu(&y_st, "elu output")?;
        let g_s = cpu(&g_st, "elu grad")?;
        let out = with_float!(x_s, self.name(), |T| {
            let v = self.bwd_t(
                flat::<T>(x_s, x_l, "elu input")?,
                flat::<T>(y_s, y_l, "elu output")?,
                flat::<T>(g_s, g_l, "elu grad")?,
            );
            tensor(v, arg.dims())?
        });
        Ok(Some(out))
    }
}
