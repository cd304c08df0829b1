//! FLUX's sampler settings: diffusers' `FlowMatchEulerDiscreteScheduler` (the sigmas; the Euler
//! step itself is one line in the denoising loop).

use std::path::Path;

use crate::json::JsonConfig;
use crate::Result;

/// `FlowMatchEulerDiscreteScheduler`'s settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct FlowMatch {
    pub(super) train_steps: usize,
    shift: f64,
    dynamic: bool,
    base_shift: f64,
    max_shift: f64,
    base_seq_len: f64,
    max_seq_len: f64,
}

impl FlowMatch {
    pub(super) fn parse(path: &Path) -> Result<Self> {
        let c = JsonConfig::read(path)?;
        let class = c.str_or("_class_name", "FlowMatchEulerDiscreteScheduler")?;
        if class != "FlowMatchEulerDiscreteScheduler" {
            return Err(c.unsupported(format!(
                "scheduler `{class}`: FLUX runs FlowMatchEulerDiscreteScheduler"
            )));
        }
        for key in [
            "use_karras_sigmas",
            "use_exponential_sigmas",
            "use_beta_sigmas",
            "stochastic_sampling",
            "invert_sigmas",
        ] {
            if c.bool_or(key, false)? {
                return Err(c.unsupported(format!("`{key}` is not supported")));
            }
        }
        if c.has("shift_terminal") {
            return Err(c.unsupported("`shift_terminal` is not supported".to_string()));
        }
        Ok(Self {
            train_steps: c.usize_or("num_train_timesteps", 1000)?.max(1),
            shift: c.f64_or("shift", 1.0)?,
            dynamic: c.bool_or("use_dynamic_shifting", false)?,
            base_shift: c.f64_or("base_shift", 0.5)?,
            max_shift: c.f64_or("max_shift", 1.15)?,
            base_seq_len: c.usize_or("base_image_seq_len", 256)? as f64,
            max_seq_len: c.usize_or("max_image_seq_len", 4096)? as f64,
        })
    }

    /// `n + 1` sigmas, the last 0, for an image of `image_seq_len` packed tokens (diffusers
    /// rounds them to F32; so do we).
    pub(super) fn sigmas(&self, n: usize, image_seq_len: usize) -> Vec<f64> {
        let f32r = |x: f64| f64::from(x as f32);
        let mu = {
            let m = (self.max_shift - self.base_shift) / (self.max_seq_len - self.base_seq_len);
            image_seq_len as f64 * m + (self.base_shift - m * self.base_seq_len)
        };
        let mut sigmas: Vec<f64> = (0..n)
            .map(|i| {
                let s = if n == 1 {
                    1.0
                } else {
                    1.0 + (1.0 / n as f64 - 1.0) * i as f64 / (n - 1) as f64
                };
                let s = f32r(s);
                f32r(if self.dynamic {
                    mu.exp() / (mu.exp() + (1.0 / s - 1.0))
                } else {
                    self.shift * s / (1.0 + (self.shift - 1.0) * s)
                })
            })
            .collect();
        sigmas.push(0.0);
        sigmas
    }
}
