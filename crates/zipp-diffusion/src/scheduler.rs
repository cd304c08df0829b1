//! Schedulers (samplers): `scheduler/scheduler_config.json` parsing, beta
//! schedules, the per-generation timestep plan and the DDIM, DDPM and
//! Euler (ancestral) denoising steps.

use std::path::Path;

use candle_core::Tensor;

use super::json::JsonConfig;
use super::rng::SeededRng;
use super::{DiffusionError, Result};

// ---------------------------------------------------------------------------
// Schedulers

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Prediction {
    Epsilon,
    Velocity,
    Sample,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Spacing {
    Leading,
    Trailing,
    Linspace,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SamplerKind {
    /// Deterministic DDIM (eta = 0). `final_alpha` is the alpha product used
    /// past the last timestep (`set_alpha_to_one`).
    Ddim { final_alpha: f64 },
    /// Ancestral DDPM; `large_variance` selects `fixed_large` over `fixed_small`.
    Ddpm { large_variance: bool },
    /// Euler (k-diffusion) sampler, optionally ancestral.
    Euler { ancestral: bool },
}

/// Scheduler settings parsed from `scheduler_config.json`.
#[derive(Debug)]
pub(super) struct SchedulerSpec {
    pub(super) name: String,
    kind: SamplerKind,
    pub(super) alphas_cumprod: Vec<f64>,
    spacing: Spacing,
    steps_offset: usize,
    pub(super) prediction: Prediction,
    pub(super) clip_sample: Option<f64>,
}

/// The per-generation schedule: timesteps fed to the UNet and, for Euler
/// samplers, the matching sigmas (one more than timesteps, ending at 0).
pub(super) struct Plan {
    pub(super) timesteps: Vec<f64>,
    sigmas: Vec<f64>,
    pub(super) init_noise_sigma: f64,
    /// `num_train_timesteps / steps`, DDIM's distance to the previous timestep.
    pub(super) step_ratio: usize,
}

impl Plan {
    /// Euler sigmas (empty for DDIM/DDPM).
    pub(super) fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// The first step an image-to-image render of `strength` runs (diffusers'
    /// `get_timesteps`: the last `⌊steps · strength⌋` steps), keeping at least
    /// one step.
    pub(super) fn img2img_start(&self, strength: f64) -> usize {
        let n = self.timesteps.len();
        let init = ((n as f64 * strength).floor() as usize).min(n);
        n.saturating_sub(init).min(n.saturating_sub(1))
    }

    pub(super) fn scale_model_input(&self, x: &Tensor, i: usize) -> candle_core::Result<Tensor> {
        match self.sigmas.get(i) {
            Some(&sigma) => x.affine(1.0 / (sigma * sigma + 1.0).sqrt(), 0.0),
            None => Ok(x.clone()),
        }
    }
}

/// Parses a diffusers scheduler config; see the [`diffusion`](super) module docs
/// for what is supported.
pub(super) fn parse_scheduler_config(path: &Path) -> Result<SchedulerSpec> {
    let c = JsonConfig::read(path)?;
    let class = c.str_or("_class_name", "DDIMScheduler")?;
    let euler_default_spacing = matches!(
        class.as_str(),
        "EulerDiscreteScheduler" | "EulerAncestralDiscreteScheduler"
    );
    let (kind, name, clip_default) = match class.as_str() {
        "DDIMScheduler" => (
            SamplerKind::Ddim { final_alpha: 0.0 },
            "DDIM".to_string(),
            true,
        ),
        "DDPMScheduler" => {
            let large = match c.str_or("variance_type", "fixed_small")?.as_str() {
                "fixed_small" | "fixed_small_log" => false,
                "fixed_large" | "fixed_large_log" => true,
                other => {
                    return Err(c.unsupported(format!(
                        "DDPM `variance_type` {other:?} (learned variances need a different UNet)"
                    )))
                }
            };
            (
                SamplerKind::Ddpm {
                    large_variance: large,
                },
                "DDPM".to_string(),
                true,
            )
        }
        "EulerDiscreteScheduler" => (
            SamplerKind::Euler { ancestral: false },
            "Euler".to_string(),
            false,
        ),
        "EulerAncestralDiscreteScheduler" => (
            SamplerKind::Euler { ancestral: true },
            "Euler ancestral".to_string(),
            false,
        ),
        other => (
            SamplerKind::Ddim { final_alpha: 0.0 },
            format!("DDIM (fallback for {other})"),
            // PNDM and the multistep solvers never clip; keep that behaviour.
            false,
        ),
    };

    let train_steps = c.usize_or("num_train_timesteps", 1000)?;
    if train_steps == 0 || train_steps > 100_000 {
        return Err(c.bad("num_train_timesteps", "must be between 1 and 100000"));
    }
    let mut betas = match c.f64_list("trained_betas")? {
        Some(b) => {
            if b.len() != train_steps {
                return Err(c.bad(
                    "trained_betas",
                    &format!(
                        "has {} entries, expected `num_train_timesteps` = {train_steps}",
                        b.len()
                    ),
                ));
            }
            b
        }
        None => {
            let start = c.f64_or("beta_start", 0.0001)?;
            let end = c.f64_or("beta_end", 0.02)?;
            match c.str_or("beta_schedule", "linear")?.as_str() {
                "linear" => linspace(start, end, train_steps),
                "scaled_linear" => linspace(start.sqrt(), end.sqrt(), train_steps)
                    .into_iter()
                    .map(|b| b * b)
                    .collect(),
                "squaredcos_cap_v2" => cosine_betas(train_steps),
                other => {
                    return Err(c.bad(
                        "beta_schedule",
                        &format!("{other:?} is not linear, scaled_linear or squaredcos_cap_v2"),
                    ))
                }
            }
        }
    };
    if betas.iter().any(|b| !(0.0..1.0).contains(b)) {
        return Err(c.bad("beta_start", "betas must lie in [0, 1)"));
    }
    if c.bool_or("rescale_betas_zero_snr", false)? {
        betas = rescale_zero_terminal_snr(&betas);
    }
    let mut alphas_cumprod = Vec::with_capacity(train_steps);
    let mut acc = 1.0;
    for b in &betas {
        acc *= 1.0 - b;
        alphas_cumprod.push(acc);
    }
    if matches!(kind, SamplerKind::Euler { .. }) {
        // As diffusers does for zero-SNR schedules: avoid an infinite sigma.
        if let Some(last) = alphas_cumprod.last_mut() {
            if *last <= 0.0 {
                *last = 2f64.powi(-24);
            }
        }
    }
    let kind = match kind {
        SamplerKind::Ddim { .. } => {
            let to_one = c.bool_or("set_alpha_to_one", class == "DDIMScheduler")?;
            SamplerKind::Ddim {
                final_alpha: if to_one { 1.0 } else { alphas_cumprod[0] },
            }
        }
        k => k,
    };
    let spacing = match c
        .str_or(
            "timestep_spacing",
            if euler_default_spacing {
                "linspace"
            } else {
                "leading"
            },
        )?
        .as_str()
    {
        "leading" => Spacing::Leading,
        "trailing" => Spacing::Trailing,
        "linspace" => Spacing::Linspace,
        other => {
            return Err(c.bad(
                "timestep_spacing",
                &format!("{other:?} is not leading, trailing or linspace"),
            ))
        }
    };
    let prediction = match c.str_or("prediction_type", "epsilon")?.as_str() {
        "epsilon" => Prediction::Epsilon,
        "v_prediction" => Prediction::Velocity,
        "sample" => Prediction::Sample,
        other => {
            return Err(c.bad(
                "prediction_type",
                &format!("{other:?} is not epsilon, v_prediction or sample"),
            ))
        }
    };
    let clip_sample = if c.bool_or("clip_sample", clip_default)? {
        Some(c.f64_or("clip_sample_range", 1.0)?)
    } else {
        None
    };
    Ok(SchedulerSpec {
        name,
        kind,
        alphas_cumprod,
        spacing,
        steps_offset: c.usize_or("steps_offset", 0)?,
        prediction,
        clip_sample,
    })
}

fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n < 2 {
        return vec![start; n];
    }
    (0..n)
        .map(|i| start + (end - start) * i as f64 / (n - 1) as f64)
        .collect()
}

/// diffusers' `betas_for_alpha_bar` with the cosine schedule.
fn cosine_betas(n: usize) -> Vec<f64> {
    let alpha_bar = |t: f64| {
        ((t + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
            .cos()
            .powi(2)
    };
    (0..n)
        .map(|i| {
            let t1 = i as f64 / n as f64;
            let t2 = (i + 1) as f64 / n as f64;
            (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999)
        })
        .collect()
}

/// diffusers' `rescale_zero_terminal_snr` (arXiv:2305.08891, Algorithm 1).
fn rescale_zero_terminal_snr(betas: &[f64]) -> Vec<f64> {
    let mut acc = 1.0;
    let mut sqrt_ac: Vec<f64> = betas
        .iter()
        .map(|b| {
            acc *= 1.0 - b;
            acc.sqrt()
        })
        .collect();
    let (Some(&first), Some(&last)) = (sqrt_ac.first(), sqrt_ac.last()) else {
        return betas.to_vec();
    };
    if (first - last).abs() < f64::EPSILON {
        return betas.to_vec();
    }
    for s in &mut sqrt_ac {
        *s = (*s - last) * first / (first - last);
    }
    let ac: Vec<f64> = sqrt_ac.iter().map(|s| s * s).collect();
    let mut out = Vec::with_capacity(ac.len());
    out.push(1.0 - ac[0]);
    for w in ac.windows(2) {
        out.push(1.0 - w[1] / w[0]);
    }
    out
}

impl SchedulerSpec {
    pub(super) fn train_steps(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// Alpha product at an integer timestep, clamped into range (leading
    /// spacing with `steps_offset` can reach `num_train_timesteps`).
    fn alpha(&self, t: f64) -> f64 {
        let last = self.train_steps() - 1;
        let i = (t.max(0.0) as usize).min(last);
        self.alphas_cumprod[i]
    }

    /// Timesteps for `n` inference steps, as diffusers' `set_timesteps`.
    pub(super) fn plan(&self, n: usize) -> Result<Plan> {
        let big_n = self.train_steps();
        if n == 0 || n > big_n {
            return Err(DiffusionError::InvalidParams(format!(
                "steps {n} must be between 1 and {big_n}"
            )));
        }
        let is_euler = matches!(self.kind, SamplerKind::Euler { .. });
        let mut timesteps: Vec<f64> = match self.spacing {
            Spacing::Leading => {
                let ratio = big_n / n;
                (0..n)
                    .rev()
                    .map(|s| (s * ratio + self.steps_offset) as f64)
                    .collect()
            }
            Spacing::Trailing => {
                let ratio = big_n as f64 / n as f64;
                (0..n)
                    .map(|k| (big_n as f64 - k as f64 * ratio).round() - 1.0)
                    .collect()
            }
            Spacing::Linspace => linspace(0.0, (big_n - 1) as f64, n)
                .into_iter()
                .rev()
                .collect(),
        };
        if !is_euler {
            // DDIM/DDPM use integer timesteps.
            for t in &mut timesteps {
                *t = t.round();
            }
        }
        let (sigmas, init_noise_sigma) = if is_euler {
            let full: Vec<f64> = self
                .alphas_cumprod
                .iter()
                .map(|a| ((1.0 - a) / a).sqrt())
                .collect();
            let interp = |t: f64| {
                let t = t.clamp(0.0, (big_n - 1) as f64);
                let lo = t.floor() as usize;
                let hi = (lo + 1).min(big_n - 1);
                let frac = t - lo as f64;
                full[lo] * (1.0 - frac) + full[hi] * frac
            };
            let mut s: Vec<f64> = timesteps.iter().map(|&t| interp(t)).collect();
            let max = s.iter().copied().fold(0.0, f64::max);
            s.push(0.0);
            let init = match self.spacing {
                Spacing::Linspace | Spacing::Trailing => max,
                Spacing::Leading => (max * max + 1.0).sqrt(),
            };
            (s, init)
        } else {
            (Vec::new(), 1.0)
        };
        Ok(Plan {
            timesteps,
            sigmas,
            init_noise_sigma,
            step_ratio: big_n / n,
        })
    }

    /// Noises clean latents `x0` to the level of step `i` (diffusers'
    /// `add_noise`): `√ᾱ·x0 + √(1−ᾱ)·ε` for DDIM/DDPM, `x0 + σ·ε` for Euler.
    pub(super) fn add_noise(
        &self,
        plan: &Plan,
        i: usize,
        x0: &Tensor,
        noise: &Tensor,
    ) -> candle_core::Result<Tensor> {
        match self.kind {
            SamplerKind::Euler { .. } => x0 + (noise * plan.sigmas[i])?,
            _ => {
                let a = self.alpha(plan.timesteps[i]);
                (x0 * a.sqrt())? + (noise * (1.0 - a).sqrt())?
            }
        }
    }

    /// x0 and epsilon predictions from the model output (DDIM/DDPM form).
    fn x0_eps(
        &self,
        out: &Tensor,
        sample: &Tensor,
        a_t: f64,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (sa, sb) = (a_t.sqrt(), (1.0 - a_t).sqrt());
        let (x0, eps) = match self.prediction {
            Prediction::Epsilon => (((sample - (out * sb)?)? / sa)?, out.clone()),
            Prediction::Velocity => (
                ((sample * sa)? - (out * sb)?)?,
                ((out * sa)? + (sample * sb)?)?,
            ),
            Prediction::Sample => (out.clone(), ((sample - (out * sa)?)? / sb)?),
        };
        let x0 = match self.clip_sample {
            Some(r) => x0.clamp(-r as f32, r as f32)?,
            None => x0,
        };
        Ok((x0, eps))
    }

    /// One denoising step `i` of `plan`: returns the less noisy sample.
    pub(super) fn step(
        &self,
        plan: &Plan,
        i: usize,
        out: &Tensor,
        sample: &Tensor,
        rng: &mut SeededRng,
    ) -> candle_core::Result<Tensor> {
        let t = plan.timesteps[i];
        match self.kind {
            SamplerKind::Ddim { final_alpha } => {
                let a_t = self.alpha(t);
                let prev = t - plan.step_ratio as f64;
                let a_prev = if prev >= 0.0 {
                    self.alpha(prev)
                } else {
                    final_alpha
                };
                let (x0, eps) = self.x0_eps(out, sample, a_t)?;
                (x0 * a_prev.sqrt())? + (eps * (1.0 - a_prev).sqrt())?
            }
            SamplerKind::Ddpm { large_variance } => {
                let a_t = self.alpha(t);
                let a_prev = plan.timesteps.get(i + 1).map_or(1.0, |&p| self.alpha(p));
                let (beta_t, beta_prev) = (1.0 - a_t, 1.0 - a_prev);
                let cur_alpha = a_t / a_prev;
                let cur_beta = 1.0 - cur_alpha;
                let (x0, _) = self.x0_eps(out, sample, a_t)?;
                let c0 = a_prev.sqrt() * cur_beta / beta_t;
                let ct = cur_alpha.sqrt() * beta_prev / beta_t;
                let mean = ((x0 * c0)? + (sample * ct)?)?;
                if t > 0.0 {
                    let var = if large_variance {
                        cur_beta
                    } else {
                        (beta_prev / beta_t * cur_beta).max(1e-20)
                    };
                    let noise = rng.normal_tensor(sample.shape(), sample.device())?;
                    mean + (noise * var.sqrt())?
                } else {
                    Ok(mean)
                }
            }
            SamplerKind::Euler { ancestral } => {
                let sigma = plan.sigmas[i];
                let sigma_next = plan.sigmas[i + 1];
                let x0 = match self.prediction {
                    Prediction::Epsilon => (sample - (out * sigma)?)?,
                    Prediction::Velocity => {
                        let s2 = sigma * sigma + 1.0;
                        ((out * (-sigma / s2.sqrt()))? + (sample / s2)?)?
                    }
                    Prediction::Sample => out.clone(),
                };
                let derivative = ((sample - x0)? / sigma)?;
                if ancestral {
                    let up = (sigma_next.powi(2) * (sigma.powi(2) - sigma_next.powi(2))
                        / sigma.powi(2))
                    .max(0.0)
                    .sqrt();
                    let down = (sigma_next.powi(2) - up * up).max(0.0).sqrt();
                    let prev = (sample + (derivative * (down - sigma))?)?;
                    let noise = rng.normal_tensor(sample.shape(), sample.device())?;
                    prev + (noise * up)?
                } else {
                    sample + (derivative * (sigma_next - sigma))?
                }
            }
        }
    }
}
