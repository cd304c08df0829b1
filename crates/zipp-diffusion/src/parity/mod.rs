//! Parity with Hugging Face diffusers, checked stage by stage.
//!
//! A fixture folder (made by `make_sd_fixture.py`, see the fixtures' README)
//! holds a tiny random-weight pipeline saved by diffusers (`model/`), the call
//! parameters (`parity.json`) and every intermediate tensor of diffusers' run
//! (`parity.safetensors`). [`check`] loads `model/` through
//! [`DiffusionModel::load`] — the loader members' models go through — and
//! compares:
//!
//! * **stage checks**, each stage fed diffusers' own inputs for that stage:
//!   token ids, prompt embeddings (each half), pooled embeddings and time ids
//!   (SDXL), timesteps and sigmas, the starting latents, and for every step
//!   the UNet input, the UNet output, the guided output and one scheduler
//!   step; the VAE decode of the final latents and the post-processed image;
//! * **end to end**: our whole pipeline from the prompt and `latents_init`,
//!   compared on the final latents and the image.
//!
//! Tolerances are the fixtures' README's: 1e-4 per stage in F32, 2e-3 on the
//! image, exact token ids and DDIM timesteps, 1e-6 relative on Euler
//! timesteps and sigmas, and 1e-4 · max(1, |latents|) end to end (a random
//! UNet inflates latents to |x| ≈ 10–25, and rounding grows with them).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, IndexOp, Tensor};
use serde_json::Value;

use crate::files::{check_model_index, PipelineKind};
use crate::{AddedConditioning, Conditioning, DiffusionError, DiffusionModel};

mod flux;

/// One compared quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct StageResult {
    /// The stage, named after the fixture tensor it is compared with
    /// (`noise_pred_0`, `e2e:image`, ...).
    pub name: String,
    /// Largest absolute difference (relative for Euler timesteps/sigmas).
    pub max_diff: f64,
    /// The bound it must stay within.
    pub tolerance: f64,
}

impl StageResult {
    /// Whether the stage is within its tolerance.
    pub fn passed(&self) -> bool {
        self.max_diff <= self.tolerance
    }
}

/// Every stage of one fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The fixture's `case` (e.g. `sd15-ddim`).
    pub case: String,
    /// Stages in pipeline order.
    pub stages: Vec<StageResult>,
}

impl Report {
    /// Whether every stage passed.
    pub fn passed(&self) -> bool {
        self.stages.iter().all(StageResult::passed)
    }

    /// The stages that did not pass.
    pub fn failures(&self) -> Vec<&StageResult> {
        self.stages.iter().filter(|s| !s.passed()).collect()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.case)?;
        for s in &self.stages {
            writeln!(
                f,
                "  {:<24} {:>12.3e}  (≤ {:.0e})  {}",
                s.name,
                s.max_diff,
                s.tolerance,
                if s.passed() { "ok" } else { "FAIL" }
            )?;
        }
        write!(
            f,
            "  {}",
            if self.passed() {
                "all stages within tolerance"
            } else {
                "OUT OF TOLERANCE"
            }
        )
    }
}

/// Why a fixture could not be checked at all (as opposed to a stage failing).
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// Reading or loading something failed.
    #[error(transparent)]
    Diffusion(#[from] DiffusionError),
    /// The fixture itself is incomplete or malformed.
    #[error("fixture {0}")]
    Fixture(String),
}

impl From<candle_core::Error> for ParityError {
    fn from(e: candle_core::Error) -> Self {
        Self::Diffusion(DiffusionError::Candle(e))
    }
}

type Result<T> = std::result::Result<T, ParityError>;

const RELATIVE: f64 = 1e-6;

/// The bounds of one run: the README's in F32 (CPU); on a GPU, where the denoiser and VAE run
/// in F16 (FLUX: BF16), 2e-2 per stage (× max(1, |x|) end to end) and on the image (5 levels).
#[derive(Debug, Clone, Copy)]
struct Tolerance {
    stage: f64,
    image: f64,
}

impl Tolerance {
    fn for_device(device: &Device) -> Self {
        if device.is_cpu() {
            Self {
                stage: 1e-4,
                image: 2e-3,
            }
        } else {
            Self {
                stage: 2e-2,
                image: 2e-2,
            }
        }
    }
}

struct Fixture {
    tensors: HashMap<String, Tensor>,
    json: Value,
}

impl Fixture {
    fn get(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| ParityError::Fixture(format!("has no tensor `{name}`")))
    }

    fn f32(&self, name: &str) -> Result<Tensor> {
        Ok(self.get(name)?.to_dtype(DType::F32)?)
    }

    fn num(&self, key: &str) -> Result<f64> {
        self.json
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| ParityError::Fixture(format!("parity.json has no number `{key}`")))
    }

    fn max_abs(&self, name: &str) -> f64 {
        self.json
            .pointer(&format!("/tensors/{name}/max_abs"))
            .and_then(Value::as_f64)
            .unwrap_or(1.0)
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    if a.dims() != b.dims() {
        return Err(ParityError::Fixture(format!(
            "shape {:?} differs from ours {:?}",
            b.dims(),
            a.dims()
        )));
    }
    let d = (a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f64>()?;
    Ok(d)
}

fn ids_diff(ours: &[u32], theirs: &Tensor) -> Result<f64> {
    let theirs: Vec<i64> = theirs.to_dtype(DType::I64)?.flatten_all()?.to_vec1()?;
    let differ =
        ours.len() != theirs.len() || ours.iter().zip(&theirs).any(|(&a, &b)| i64::from(a) != b);
    Ok(if differ { 1.0 } else { 0.0 })
}

fn relative_diff(ours: &[f64], theirs: &Tensor) -> Result<f64> {
    let theirs: Vec<f64> = theirs.to_dtype(DType::F64)?.to_vec1()?;
    if ours.len() != theirs.len() {
        return Ok(f64::INFINITY);
    }
    Ok(ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-12))
        .fold(0.0, f64::max))
}

/// The largest difference of two sigma schedules, relative to each sigma and absolute below 1
/// (the last sigma is 0); infinite when their lengths differ.
fn sigma_diff(ours: &[f64], theirs: &Tensor) -> Result<f64> {
    let theirs: Vec<f64> = theirs.to_dtype(DType::F64)?.to_vec1()?;
    if ours.len() != theirs.len() {
        return Ok(f64::INFINITY);
    }
    Ok(ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max))
}

/// Checks the fixture in `dir` (holding `model/`, `parity.json`,
/// `parity.safetensors`) on the CPU.
pub fn check(dir: &Path) -> Result<Report> {
    check_on(dir, &Device::Cpu)
}

/// [`check`] on `device`; on a GPU the pipeline runs in half precision, with the wider
/// tolerances of [`Tolerance`].
pub fn check_on(dir: &Path, device: &Device) -> Result<Report> {
    let device = device.clone();
    let tol = Tolerance::for_device(&device);
    let json_path = dir.join("parity.json");
    let text = std::fs::read_to_string(&json_path)
        .map_err(|e| ParityError::Fixture(format!("cannot read {}: {e}", json_path.display())))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| ParityError::Fixture(format!("{}: {e}", json_path.display())))?;
    let tensors = candle_core::safetensors::load(dir.join("parity.safetensors"), &device)?;
    let fx = Fixture { tensors, json };

    let case = fx
        .json
        .get("case")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let prompt = fx
        .json
        .get("prompt")
        .and_then(Value::as_str)
        .ok_or_else(|| ParityError::Fixture("parity.json has no `prompt`".to_string()))?
        .to_string();
    if check_model_index(&dir.join("model").join("model_index.json"))? == PipelineKind::Flux {
        return flux::check(dir, &fx, case, &prompt, &device, tol);
    }
    let model = DiffusionModel::load(&dir.join("model"), &device)?;
    let negative = fx
        .json
        .get("negative_prompt")
        .and_then(Value::as_str)
        .map(str::to_string);
    let guidance = fx.num("guidance_scale")?;
    let steps = fx.num("num_inference_steps")? as u32;
    let width = fx.num("width")? as u32;
    let height = fx.num("height")? as u32;
    let mut stages = Vec::new();
    let mut push = |name: &str, max_diff: f64, tolerance: f64| {
        stages.push(StageResult {
            name: name.to_string(),
            max_diff,
            tolerance,
        })
    };

    // Tokenizers.
    let cond_ids = model.token_ids(&prompt)?;
    let uncond_ids = model.token_ids(negative.as_deref().unwrap_or(""))?;
    for (k, suffix) in ["", "_2"].iter().enumerate().take(cond_ids.len()) {
        push(
            &format!("cond_input_ids{suffix}"),
            ids_diff(&cond_ids[k], fx.get(&format!("cond_input_ids{suffix}"))?)?,
            0.0,
        );
        push(
            &format!("uncond_input_ids{suffix}"),
            ids_diff(
                &uncond_ids[k],
                fx.get(&format!("uncond_input_ids{suffix}"))?,
            )?,
            0.0,
        );
    }

    // Text encoders.
    let guided = guidance > 1.0;
    let cond = model.encode_prompt(&prompt, negative.as_deref(), guided, width, height)?;
    let ref_embeds = fx.f32("prompt_embeds")?;
    let n_halves = ref_embeds.dim(0)?;
    for (half, name) in ["prompt_embeds[uncond]", "prompt_embeds[cond]"]
        .iter()
        .enumerate()
        .take(n_halves)
    {
        push(
            name,
            max_abs_diff(
                &cond.context.i(half..half + 1)?,
                &ref_embeds.i(half..half + 1)?,
            )?,
            tol.stage,
        );
    }
    if let Some(added) = &cond.added {
        push(
            "pooled_prompt_embeds",
            max_abs_diff(&added.text_embeds, &fx.f32("pooled_prompt_embeds")?)?,
            tol.stage,
        );
        push(
            "add_time_ids",
            max_abs_diff(&added.time_ids, &fx.f32("add_time_ids")?)?,
            tol.stage,
        );
    }

    // Schedule.
    let schedule = model.schedule(steps)?;
    let ref_t = fx.get("timesteps")?;
    if ref_t.dtype() == DType::I64 {
        let theirs: Vec<i64> = ref_t.to_vec1()?;
        let differ = theirs.len() != schedule.timesteps().len()
            || theirs
                .iter()
                .zip(schedule.timesteps())
                .any(|(&a, &b)| a as f64 != b);
        push("timesteps", if differ { 1.0 } else { 0.0 }, 0.0);
    } else {
        push(
            "timesteps",
            relative_diff(schedule.timesteps(), ref_t)?,
            RELATIVE,
        );
    }
    if let Ok(ref_sigmas) = fx.get("sigmas") {
        let diff = sigma_diff(schedule.sigmas(), ref_sigmas)?;
        push("sigmas", diff, RELATIVE);
    }
    push(
        "init_noise_sigma",
        (schedule.init_noise_sigma() - fx.num("init_noise_sigma")?).abs()
            / fx.num("init_noise_sigma")?.abs().max(1.0),
        RELATIVE,
    );
    // img2img's start: the encoded init image noised to its first step.
    let img2img = fx.json.get("strength").and_then(Value::as_f64);
    let (first, start) = match img2img {
        None => {
            let latents_init = fx.f32("latents_init")?;
            let start = (&latents_init * schedule.init_noise_sigma())?;
            push(
                "latents_start",
                max_abs_diff(&start, &fx.f32("latents_start")?)?,
                tol.stage,
            );
            (0, start)
        }
        Some(strength) => img2img_start(&model, &fx, &schedule, strength, &mut push, tol)?,
    };

    // Each step, fed diffusers' inputs.
    let ref_cond = Conditioning {
        context: ref_embeds.clone(),
        added: match fx.get("pooled_prompt_embeds") {
            Ok(p) => Some(AddedConditioning {
                text_embeds: p.to_dtype(DType::F32)?,
                time_ids: fx.f32("add_time_ids")?,
            }),
            Err(_) => None,
        },
    };
    let mut prev = fx.f32("latents_start")?;
    for (i, &t) in schedule.timesteps().iter().enumerate().skip(first) {
        let doubled = if n_halves == 2 {
            Tensor::cat(&[&prev, &prev], 0)?
        } else {
            prev.clone()
        };
        let unet_in = model.scale_model_input(&schedule, &doubled, i)?;
        push(
            &format!("unet_in_{i}"),
            max_abs_diff(&unet_in, &fx.f32(&format!("unet_in_{i}"))?)?,
            tol.stage,
        );
        let ref_in = fx.f32(&format!("unet_in_{i}"))?;
        let pred = model.predict(&ref_in, t, &ref_cond)?;
        push(
            &format!("noise_pred_{i}"),
            max_abs_diff(&pred, &fx.f32(&format!("noise_pred_{i}"))?)?,
            tol.stage,
        );
        let ref_pred = fx.f32(&format!("noise_pred_{i}"))?;
        let guided_out = if n_halves == 2 {
            let u = ref_pred.i(0..1)?;
            let c = ref_pred.i(1..2)?;
            (&u + ((c - &u)? * guidance)?)?
        } else {
            ref_pred
        };
        push(
            &format!("noise_pred_guided_{i}"),
            max_abs_diff(&guided_out, &fx.f32(&format!("noise_pred_guided_{i}"))?)?,
            tol.stage,
        );
        let ref_guided = fx.f32(&format!("noise_pred_guided_{i}"))?;
        let next = model.scheduler_step(&schedule, i, &ref_guided, &prev, 0)?;
        let name = format!("latents_{i}");
        push(&name, max_abs_diff(&next, &fx.f32(&name)?)?, tol.stage);
        prev = fx.f32(&name)?;
    }

    // VAE and post-processing, from diffusers' final latents.
    let decoded = model.decode_latents(&fx.f32("latents_final")?)?;
    push(
        "decoded",
        max_abs_diff(&decoded, &fx.f32("decoded")?)?,
        tol.stage,
    );
    let image = postprocess(&fx.f32("decoded")?)?;
    push("image", max_abs_diff(&image, &fx.f32("image")?)?, tol.image);

    // End to end: ours from the prompt and the starting noise.
    let final_latents = model.denoise_from(&schedule, first, start, &cond, guidance)?;
    let e2e = tol.stage * fx.max_abs("latents_final").max(1.0);
    push(
        "e2e:latents_final",
        max_abs_diff(&final_latents, &fx.f32("latents_final")?)?,
        e2e,
    );
    let image = postprocess(&model.decode_latents(&final_latents)?)?;
    push(
        "e2e:image",
        max_abs_diff(&image, &fx.f32("image")?)?,
        tol.image,
    );

    Ok(Report { case, stages })
}

/// img2img's stages up to the first denoising step, each fed diffusers'
/// inputs: the init image's pixels, the autoencoder's distribution, the
/// scaled sample, the noised start. Returns the first step and our own start
/// for the end-to-end run: from the RGB8 image, with diffusers' draws (the
/// distribution's ε and the noise), since the generators differ.
fn img2img_start(
    model: &DiffusionModel,
    fx: &Fixture,
    schedule: &crate::Schedule,
    strength: f64,
    push: &mut impl FnMut(&str, f64, f64),
    tol: Tolerance,
) -> Result<(usize, Tensor)> {
    let first = model.img2img_start(schedule, strength);
    let expected = fx.num("first_step")? as usize;
    push("first_step", if first == expected { 0.0 } else { 1.0 }, 0.0);
    let init = fx.f32("init_image")?;
    let (_, _, h, w) = init.dims4()?;
    let rgb: Vec<u8> = (init.i(0)?.permute((1, 2, 0))? * 255.0)?
        .round()?
        .to_dtype(DType::U8)?
        .flatten_all()?
        .to_vec1()?;
    let image = image::RgbImage::from_raw(w as u32, h as u32, rgb)
        .ok_or_else(|| ParityError::Fixture("init_image has the wrong size".to_string()))?;
    let pixels = model.image_to_pixels(&image)?;
    push(
        "image_in",
        max_abs_diff(&pixels, &fx.f32("image_in")?)?,
        tol.stage,
    );
    let (mean, std) = model.encode_pixels(&fx.f32("image_in")?)?;
    push(
        "latent_mean",
        max_abs_diff(&mean, &fx.f32("latent_mean")?)?,
        tol.stage,
    );
    let ref_mean = fx.f32("latent_mean")?;
    let ref_sample = fx.f32("latent_sample")?;
    let eps = match &std {
        Some(std) => {
            push(
                "latent_std",
                max_abs_diff(std, &fx.f32("latent_std")?)?,
                tol.stage,
            );
            Some(((&ref_sample - &ref_mean)? / fx.f32("latent_std")?)?)
        }
        None => None,
    };
    push(
        "init_latents",
        max_abs_diff(&model.scale_latents(&ref_sample)?, &fx.f32("init_latents")?)?,
        tol.stage,
    );
    let noise = fx.f32("init_noise")?;
    let noised = model.add_noise(schedule, first, &fx.f32("init_latents")?, &noise)?;
    push(
        "latents_start",
        max_abs_diff(&noised, &fx.f32("latents_start")?)?,
        tol.stage,
    );

    let (ours_mean, ours_std) = model.encode_pixels(&pixels)?;
    let z = match (ours_std, eps) {
        (Some(std), Some(eps)) => (ours_mean + (std * eps)?)?,
        _ => ours_mean,
    };
    let start = model.add_noise(schedule, first, &model.scale_latents(&z)?, &noise)?;
    Ok((first, start))
}

/// diffusers' `output_type="pt"`: `clamp(x · 0.5 + 0.5, 0, 1)`.
fn postprocess(decoded: &Tensor) -> Result<Tensor> {
    Ok(decoded.affine(0.5, 0.5)?.clamp(0f32, 1f32)?)
}
