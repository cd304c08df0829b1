//! Fused softmax cross-entropy (`mean_b(logsumexp(x_b) − x_b[label_b])`), the loss of the
//! encoder's InfoNCE objective. candle's `log_softmax` + `nll` builds about ten `[B, K]`
//! temporaries across forward and backward; with `B = K = 4096` each is 64 MiB. Here the
//! forward keeps one log-sum-exp per row (reused by the backward, which then needs a single
//! pass of exponentials) and the backward writes one `[B, K]` gradient.

use std::sync::OnceLock;

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::cpu::{cpu, dense_rows, tensor, with_float, Real, Rows};

/// Rows per rayon task.
const ROWS: usize = 16;

/// The op over `[B, K]` logits, holding the `B` class labels.
pub(super) struct CrossEntropy {
    pub(super) labels: Vec<u32>,
    /// `max + log Σ exp(x − max)` per row, set by the forward for the backward.
    pub(super) lse: OnceLock<Vec<f64>>,
}

impl CrossEntropy {
    fn check<T>(&self, x: &Rows<T>) -> Result<()> {
        if x.len != self.labels.len() || x.len == 0 {
            bail!(
                "cross entropy: {} rows but {} labels",
                x.len,
                self.labels.len()
            );
        }
        if let Some(l) = self.labels.iter().find(|&&l| l as usize >= x.width) {
            bail!(
                "cross entropy: label {l} out of range for {} classes",
                x.width
            );
        }
        Ok(())
    }

    /// `(max, log Σ exp(x − max))` of one row.
    #[inline]
    fn lse<T: Real>(row: &[T]) -> (T, T) {
        let m = row.iter().fold(row[0], |m, &v| if v > m { v } else { m });
        let s = row.iter().fold(T::from_f64(0.0), |s, &v| s + (v - m).exp());
        (m, T::from_f64(s.to_f64().ln()))
    }

    fn fwd<T: Real>(&self, x: Rows<T>) -> Result<T> {
        self.check(&x)?;
        let lse: Vec<f64> = (0..x.len)
            .into_par_iter()
            .with_min_len(ROWS)
            .map(|b| {
                let (m, l) = Self::lse(x.row(b));
                (m + l).to_f64()
            })
            .collect();
        let total: f64 = lse
            .iter()
            .zip(&self.labels)
            .enumerate()
            .map(|(b, (&l, &y))| l - x.row(b)[y as usize].to_f64())
            .sum();
        // A second forward through the same op value would compute the same rows.
        let _ = self.lse.set(lse);
        Ok(T::from_f64(total / x.len as f64))
    }

    /// `d x[b, k] = g/B · (softmax(x_b)[k] − [k = label_b])`.
    fn bwd_t<T: Real>(&self, x: Rows<T>, g: T) -> Result<Vec<T>> {
        self.check(&x)?;
        let Some(lse) = self.lse.get() else {
            bail!("cross entropy: backward before forward");
        };
        let scale = g / T::from_f64(x.len as f64);
        let mut out = vec![T::from_f64(0.0); x.len * x.width];
        out.par_chunks_mut(x.width)
            .with_min_len(ROWS)
            .enumerate()
            .for_each(|(b, o)| {
                let l = T::from_f64(lse[b]);
                for (o, &v) in o.iter_mut().zip(x.row(b)) {
                    *o = scale * (v - l).exp();
                }
                o[self.labels[b] as usize] -= scale;
            });
        Ok(out)
    }
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "softmax-cross-entropy"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        with_float!(s, self.name(), |T| {
            let loss = self.fwd(dense_rows::<T>(s, l, "cross entropy logits")?)?;
            Ok((T::to_cpu_storage_owned(vec![loss]), Shape::from(())))
        })
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        let (x_st, x_l) = arg.storage_and_layout();
        let x_s = cpu(&x_st, "cross entropy logits")?;
        let out = with_float!(x_s, self.name(), |T| {
            let x = dense_rows::<T>(x_s, x_l, "cross entropy logits")?;
            tensor(self.bwd_t(x, T::from_f64(g))?, arg.dims())?
        });
        Ok(Some(out))
    }
}
