//! Text-to-image (and image-to-image) generation with Stable Diffusion 1.x,
//! 2.x and XL, and FLUX.1 ([`flux`]), on candle, matching Hugging Face
//! diffusers stage by stage. [`Pipeline::load_with`] picks the family from
//! the folder's `model_index.json`.
//!
//! [`DiffusionModel::load`] reads a model directory in the Hugging Face
//! **diffusers layout** and builds every network from its `config.json`, so the
//! same code path loads a real checkpoint (e.g. `stable-diffusion-v1-5/stable-diffusion-v1-5`,
//! `stabilityai/stable-diffusion-xl-base-1.0`) and the tiny test model written
//! by [`tiny`]:
//!
//! ```text
//! model_index.json
//! unet/config.json          unet/diffusion_pytorch_model[.fp16].safetensors
//! vae/config.json           vae/diffusion_pytorch_model[.fp16].safetensors
//! text_encoder/config.json  text_encoder/model[.fp16].safetensors
//! tokenizer/tokenizer.json  or  tokenizer/vocab.json + tokenizer/merges.txt
//!                           (+ special_tokens_map.json / tokenizer_config.json for pad_token)
//! text_encoder_2/, tokenizer_2/   (SDXL: the second encoder, with its projection)
//! scheduler/scheduler_config.json
//! ```
//!
//! Loading never touches the network. Missing files, malformed configs,
//! unsupported architectures and missing or mis-shaped tensors are reported as
//! [`DiffusionError`]s that name the file (and key or tensor); nothing panics
//! on bad input.
//!
//! # Parity with diffusers
//! [`parity::check`] runs a fixture made by diffusers itself (tiny random
//! weights saved by `save_pretrained`, every intermediate tensor recorded)
//! through this crate's loader and pipeline and reports the largest difference
//! per stage; the `sd_parity` example prints it. The UNet (`unet.rs`), the VAE
//! (`vae.rs`) and the chunked attention are ours, on candle's building blocks:
//! candle-transformers' UNet cannot load what diffusers saves (see `unet.rs`).
//!
//! # SDXL
//! Both text encoders run; the UNet is conditioned on their penultimate
//! hidden states side by side, and through its added `text_time` embedding on
//! the second encoder's pooled, projected output and the size/crop ids
//! `[H, W, 0, 0, H, W]`. With no negative prompt the unconditional embeddings
//! are zeros (`force_zeros_for_empty_prompt`). The VAE's `scaling_factor` is
//! read from its config (0.13025 for SDXL).
//!
//! # Memory
//! Attention walks its queries in chunks within an [`AttentionBudget`], so a
//! 2048² image never materializes a whole score matrix, and
//! [`DiffusionModel::estimate_peak_bytes`] predicts a render's peak memory
//! so a worker can refuse what cannot fit before it starts.
//!
//! # Precision
//! On CPU everything runs in F32. On CUDA the UNet and VAE run in F16 (the
//! `.fp16.safetensors` files are used when present, otherwise the F32 weights
//! are converted while loading); attention softmax is always F32. The CLIP
//! text encoders always run in F32: they run once per image, so this costs
//! little and avoids F16 overflow in their layer norms. A VAE whose config
//! says `"force_upcast": true` (SD 2.x, SDXL's original VAE) stays F32; the
//! fp16-fix SDXL VAE says false and runs in F16.
//!
//! # Schedulers
//! `scheduler/scheduler_config.json` selects the sampler by `_class_name`:
//! `DDIMScheduler`, `DDPMScheduler`, `EulerDiscreteScheduler` and
//! `EulerAncestralDiscreteScheduler` are implemented here following diffusers
//! (beta schedule, `timestep_spacing` leading/trailing/linspace, `steps_offset`,
//! `prediction_type`, `clip_sample`, `rescale_betas_zero_snr`). Any other
//! class — notably `PNDMScheduler`, the default of SD 1.5 — falls back to DDIM
//! with the same training betas, which gives comparable images at the same
//! step counts. [`DiffusionModel::scheduler_name`] says which sampler is in
//! use. Karras sigmas and dynamic thresholding are not implemented and ignored.
//!
//! # Determinism
//! All randomness (initial latents, the VAE encoder's sample for img2img and
//! the per-step noise of ancestral samplers) comes from a small seeded
//! generator on the host, so a given seed produces the same image on every run
//! of the same build and device.
//!
//! Inpainting, upscaling and other conditioning variants are rejected with
//! [`DiffusionError::Unsupported`].

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use tokenizers::Tokenizer;

mod attention;
mod conditioning;
mod config;
pub mod device_check;
mod error;
mod files;
pub mod flux;
mod generate;
mod json;
pub mod parity;
mod pipeline;
mod preview;
pub mod random;
mod rng;
mod scheduler;
mod taesd;
/// Width and height for the aspect ratio `ratio` (width:height) with about the pixel count of
/// the model's `native` size: each side a multiple of 64 pixels (8 latent pixels: the buckets
/// Stable Diffusion and FLUX models are trained and fine-tuned on; FLUX's `latent_factor` of
/// 16 divides it) for models of 512 pixels and more, of `latent_factor` for smaller (test)
/// models; never below one such multiple.
pub fn aspect_size(native: (u32, u32), ratio: (u32, u32), latent_factor: u32) -> (u32, u32) {
    let (a, b) = (f64::from(ratio.0.max(1)), f64::from(ratio.1.max(1)));
    let area = f64::from(native.0) * f64::from(native.1);
    let step = if native.0.min(native.1) >= 512 {
        (latent_factor.max(1) * 8).min(64).max(latent_factor.max(1))
    } else {
        latent_factor.max(1)
    };
    let height = (area * b / a).sqrt();
    let width = height * a / b;
    let snap = |v: f64| ((v / f64::from(step)).round() as u32).max(1) * step;
    (snap(width), snap(height))
}

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod tests;
mod text_encoder;
pub mod tiny;
mod unet;
mod vae;

pub use attention::AttentionBudget;
pub use conditioning::Conditioning;
use conditioning::TextBranch;
pub use error::DiffusionError;
use files::{check_model_index, mmap_var_builder, weights_error, weights_file, PipelineKind};
pub use flux::{FluxConditioning, FluxModel};
pub use pipeline::Pipeline;
pub use preview::LatentPreview;
use scheduler::{parse_scheduler_config, Plan, SchedulerSpec};
pub use unet::AddedConditioning;

// Re-exported for `tiny`, which builds its random-weight models with them.
pub(crate) use config::{parse_unet_config, parse_vae_config};
pub(crate) use rng::SeededRng;
pub(crate) use text_encoder::{parse_text_config, ClipTextEncoder};

/// Largest accepted image side in pixels; larger requests are
/// [`DiffusionError::InvalidParams`] rather than an out-of-memory abort.
pub const MAX_SIDE: u32 = 2048;

type Result<T> = std::result::Result<T, DiffusionError>;

/// What to render. `width`/`height` are in pixels and must be multiples of 8
/// (the VAE's downscaling factor).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateParams {
    /// The prompt; truncated to the text encoder's 77-token context.
    pub prompt: String,
    /// Prompt to steer away from; only used when `guidance_scale > 1`.
    pub negative_prompt: String,
    /// Seed for all random noise; the same seed gives the same image.
    pub seed: u64,
    /// Output width in pixels.
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// Number of denoising steps (1 ..= the scheduler's training steps).
    pub steps: u32,
    /// Classifier-free guidance scale; values above 1 enable guidance (two
    /// UNet evaluations per step), 7.5 is the usual SD default.
    pub guidance_scale: f64,
    /// Image-to-image: start from this image instead of pure noise.
    pub init_image: Option<InitImage>,
}

/// The starting point of an image-to-image render (diffusers'
/// `StableDiffusionImg2ImgPipeline` semantics).
#[derive(Debug, Clone, PartialEq)]
pub struct InitImage {
    /// The image; resized to the requested size if it differs.
    pub image: image::RgbImage,
    /// How much to change it, in (0, 1]: the share of the denoising schedule
    /// that runs (`steps · strength` steps, at least one). Near 1 little of
    /// the image survives; 0.3 is a subtle variation.
    pub strength: f64,
}

/// A denoising schedule for a number of steps (diffusers' `set_timesteps`).
pub struct Schedule {
    plan: Plan,
}

impl Schedule {
    /// The timesteps fed to the UNet, first to last.
    pub fn timesteps(&self) -> &[f64] {
        &self.plan.timesteps
    }

    /// Euler samplers' sigmas (one more than the timesteps, ending at 0);
    /// empty for DDIM/DDPM.
    pub fn sigmas(&self) -> &[f64] {
        self.plan.sigmas()
    }

    /// `init_noise_sigma`: what unit-variance starting noise is scaled by.
    pub fn init_noise_sigma(&self) -> f64 {
        self.plan.init_noise_sigma
    }
}

/// Picks the compute device: CUDA device 0 when `cuda` is true, else the CPU.
///
/// Asking for CUDA in a build without the crate's `cuda` feature, or on a
/// machine where CUDA cannot be initialised, is a [`DiffusionError::Device`].
pub fn select_device(cuda: bool) -> Result<Device> {
    if !cuda {
        return Ok(Device::Cpu);
    }
    if !candle_core::utils::cuda_is_available() {
        return Err(DiffusionError::Device(
            "CUDA was requested but this binary was built without the `cuda` feature \
             (rebuild with `--features cuda`)"
                .to_string(),
        ));
    }
    Device::new_cuda(0)
        .map_err(|e| DiffusionError::Device(format!("cannot open CUDA device 0: {e}")))
}

/// A loaded Stable Diffusion pipeline: tokenizer(s), text encoder(s), UNet,
/// VAE and scheduler settings. Load once and share it;
/// [`DiffusionModel::generate`] takes `&self` and the type is `Send + Sync`.
pub struct DiffusionModel {
    device: Device,
    unet_dtype: DType,
    vae_dtype: DType,
    kind: PipelineKind,
    /// One branch for SD 1.x/2.x, two for SDXL.
    text: Vec<TextBranch>,
    unet: unet::Unet,
    unet_config: unet::UnetConfig,
    latent_channels: usize,
    vae: vae::Autoencoder,
    /// Channels of the decoder's full-resolution feature map (its working set).
    vae_full_res_channels: usize,
    vae_scale: u32,
    scaling_factor: f64,
    shift_factor: f64,
    scheduler: SchedulerSpec,
    /// UNet sample size in latent pixels, (height, width).
    sample_size: (usize, usize),
    budget: AttentionBudget,
    weights_bytes: u64,
    /// The latent → RGB projection for live previews, fitted on first use.
    preview: std::sync::OnceLock<LatentPreview>,
}

// The worker shares one model between threads; fail the build, not the bot,
// if a future candle type breaks this.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DiffusionModel>();
};

impl std::fmt::Debug for DiffusionModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiffusionModel")
            .field("device", &self.device)
            .field("kind", &self.kind)
            .field("unet_dtype", &self.unet_dtype)
            .field("vae_dtype", &self.vae_dtype)
            .field("scheduler", &self.scheduler.name)
            .field("default_size", &self.default_size())
            .finish_non_exhaustive()
    }
}

/// How to load a model: [`DiffusionModel::load_with`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// How attention is chunked.
    pub budget: AttentionBudget,
    /// An autoencoder to decode (and encode) with instead of the model's own
    /// `vae/`: a folder with `config.json` and
    /// `diffusion_pytorch_model.safetensors`, such as TAESD
    /// (`madebyollin/taesd`, an `AutoencoderTiny`) or the fp16-fix SDXL VAE
    /// (`madebyollin/sdxl-vae-fp16-fix`, an `AutoencoderKL`). Its latent
    /// channels and scale must match the model's.
    pub vae: Option<std::path::PathBuf>,
    /// FLUX only: a transformer to use instead of the folder's `transformer/`: Black Forest
    /// Labs' single `.safetensors` file or a quantized `.gguf` of it.
    pub transformer: Option<std::path::PathBuf>,
}

/// A loaded autoencoder and what the pipeline needs to know about it.
struct LoadedVae {
    model: vae::Autoencoder,
    spec: vae::AutoencoderSpec,
    dtype: DType,
    bytes: u64,
}

/// Reads the weights in `dir` of the autoencoder `spec` (parsed from `dir/config.json`).
fn load_vae(
    dir: &Path,
    spec: vae::AutoencoderSpec,
    device: &Device,
    budget: AttentionBudget,
) -> Result<LoadedVae> {
    // TAESD has no F16 overflow to guard against; a KL VAE says so in `force_upcast`.
    let dtype = if device.is_cpu() || spec.force_upcast {
        DType::F32
    } else {
        DType::F16
    };
    let file = weights_file(dir, "diffusion_pytorch_model", dtype == DType::F16)?;
    let vb = mmap_var_builder(&file, dtype, device)?;
    let model = spec
        .build(vb, budget)
        .map_err(|e| weights_error(&file, e))?;
    Ok(LoadedVae {
        model,
        spec,
        dtype,
        bytes: loaded_bytes(&file, dtype),
    })
}

/// Bytes a weights file will take once loaded as `dtype`.
fn loaded_bytes(file: &Path, dtype: DType) -> u64 {
    let on_disk = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let stored = if file.to_string_lossy().ends_with(".fp16.safetensors") {
        2
    } else {
        4
    };
    on_disk / stored * dtype.size_in_bytes() as u64
}

impl DiffusionModel {
    /// Loads a Stable Diffusion 1.x/2.x/XL model from a diffusers-layout
    /// directory, with the default [`AttentionBudget`].
    ///
    /// Uses F32 on CPU and F16 for the UNet and VAE on CUDA (see the module
    /// docs). Reads only local files.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        Self::load_with_budget(dir, device, AttentionBudget::default())
    }

    /// Like [`Self::load`], with attention chunked to `budget`.
    pub fn load_with_budget(dir: &Path, device: &Device, budget: AttentionBudget) -> Result<Self> {
        Self::load_with(
            dir,
            device,
            &LoadOptions {
                budget,
                ..LoadOptions::default()
            },
        )
    }

    /// Like [`Self::load`], with [`LoadOptions`] (attention budget, another
    /// autoencoder).
    pub fn load_with(dir: &Path, device: &Device, options: &LoadOptions) -> Result<Self> {
        let budget = options.budget;
        let kind = check_model_index(&dir.join("model_index.json"))?;

        let unet_cfg_path = dir.join("unet").join("config.json");
        let unet_spec = parse_unet_config(&unet_cfg_path)?;
        let scheduler =
            parse_scheduler_config(&dir.join("scheduler").join("scheduler_config.json"))?;

        if options.transformer.is_some() {
            return Err(DiffusionError::InvalidParams(
                "a `transformer` file replaces a FLUX model's transformer; Stable Diffusion has \
                 a UNet"
                    .to_string(),
            ));
        }
        let branches: &[(&str, &str)] = match kind {
            PipelineKind::Flux => {
                return Err(DiffusionError::Unsupported {
                    file: dir.join("model_index.json"),
                    reason: "a FLUX pipeline: load it with `Pipeline::load_with` or `FluxModel`"
                        .to_string(),
                })
            }
            PipelineKind::StableDiffusion => &[("text_encoder", "tokenizer")],
            PipelineKind::StableDiffusionXl { .. } => &[
                ("text_encoder", "tokenizer"),
                ("text_encoder_2", "tokenizer_2"),
            ],
        };

        // Cross-checks between components, before any weights are read.
        let mut context_dim = 0;
        for (encoder, _) in branches {
            context_dim += parse_text_config(&dir.join(encoder).join("config.json"))?.hidden_size;
        }
        let unet_cfg = &unet_spec.config;
        if unet_cfg.cross_attention_dim != context_dim {
            return Err(DiffusionError::BadConfig {
                file: unet_cfg_path,
                reason: format!(
                    "`cross_attention_dim` is {} but the text encoder(s) give {context_dim} \
                     features per token",
                    unet_cfg.cross_attention_dim
                ),
            });
        }
        match (kind, unet_cfg.text_time) {
            (PipelineKind::StableDiffusionXl { .. }, Some(tt)) => {
                let spec2 = parse_text_config(&dir.join("text_encoder_2").join("config.json"))?;
                let pooled = spec2.projection_dim.unwrap_or(spec2.hidden_size);
                if tt.input_dim != pooled + 6 * tt.time_embed_dim {
                    return Err(DiffusionError::BadConfig {
                        file: unet_cfg_path,
                        reason: format!(
                            "`projection_class_embeddings_input_dim` is {} but the pooled text \
                             embedding ({pooled}) and six time ids ({} each) make {}",
                            tt.input_dim,
                            tt.time_embed_dim,
                            pooled + 6 * tt.time_embed_dim
                        ),
                    });
                }
            }
            (PipelineKind::StableDiffusionXl { .. }, None) => {
                return Err(DiffusionError::Unsupported {
                    file: unet_cfg_path,
                    reason: "an SDXL pipeline whose UNet has no `text_time` added \
                             conditioning"
                        .to_string(),
                })
            }
            (PipelineKind::StableDiffusion, Some(_)) => {
                return Err(DiffusionError::Unsupported {
                    file: unet_cfg_path,
                    reason: "a UNet with `text_time` conditioning needs an SDXL pipeline \
                             (text_encoder_2)"
                        .to_string(),
                })
            }
            (PipelineKind::StableDiffusion, None) | (PipelineKind::Flux, _) => {}
        }
        let vae_dir = options.vae.clone().unwrap_or_else(|| dir.join("vae"));
        let vae_cfg_path = vae_dir.join("config.json");
        let vae_spec = vae::AutoencoderSpec::parse(&vae_cfg_path)?;
        let latent_channels = vae_spec.latent_channels;
        if options.vae.is_some() {
            // Another autoencoder must speak the model's latents.
            let reason = if vae_spec.scale != 8 {
                Some(format!(
                    "this autoencoder scales images by {}, Stable Diffusion's by 8",
                    vae_spec.scale
                ))
            } else if latent_channels != unet_cfg.in_channels {
                Some(format!(
                    "this autoencoder has {latent_channels} latent channels but the model's UNet \
                     takes {}",
                    unet_cfg.in_channels
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(DiffusionError::BadConfig {
                    file: vae_cfg_path,
                    reason,
                });
            }
        }
        if unet_cfg.in_channels != latent_channels || unet_cfg.out_channels != latent_channels {
            return Err(DiffusionError::Unsupported {
                file: unet_cfg_path,
                reason: format!(
                    "UNet `in_channels`/`out_channels` are {}/{} but the VAE has {} latent \
                     channels; only text-to-image UNets are supported (not inpainting or \
                     image-conditioned ones)",
                    unet_cfg.in_channels, unet_cfg.out_channels, latent_channels
                ),
            });
        }

        let text = branches
            .iter()
            .map(|(encoder, tokenizer)| TextBranch::load(dir, encoder, tokenizer, device))
            .collect::<Result<Vec<_>>>()?;

        let on_gpu = !device.is_cpu();
        let unet_dtype = if on_gpu { DType::F16 } else { DType::F32 };

        let loaded_vae = load_vae(&vae_dir, vae_spec, device, budget)?;
        let unet_file = weights_file(&dir.join("unet"), "diffusion_pytorch_model", on_gpu)?;
        let unet = {
            let vb = mmap_var_builder(&unet_file, unet_dtype, device)?;
            unet::Unet::new(vb, unet_cfg, budget).map_err(|e| weights_error(&unet_file, e))?
        };

        let mut weights_bytes = loaded_bytes(&unet_file, unet_dtype) + loaded_vae.bytes;
        for (encoder, _) in branches {
            if let Ok(f) = weights_file(&dir.join(encoder), "model", false) {
                weights_bytes += loaded_bytes(&f, DType::F32);
            }
        }

        Ok(Self {
            device: device.clone(),
            unet_dtype,
            vae_dtype: loaded_vae.dtype,
            kind,
            text,
            unet,
            unet_config: unet_spec.config,
            latent_channels,
            vae: loaded_vae.model,
            vae_full_res_channels: loaded_vae.spec.full_res_channels,
            vae_scale: loaded_vae.spec.scale,
            scaling_factor: loaded_vae.spec.scaling_factor,
            shift_factor: loaded_vae.spec.shift_factor,
            scheduler,
            sample_size: unet_spec.sample_size,
            budget,
            weights_bytes,
            preview: std::sync::OnceLock::new(),
        })
    }

    /// The model's native image size, `(width, height)` in pixels: the UNet's
    /// `sample_size` times the VAE factor (512×512 for SD 1.5, 768×768 for
    /// SD 2.1, 1024×1024 for SDXL).
    pub fn default_size(&self) -> (u32, u32) {
        let to_px = |latent: usize| {
            u32::try_from(latent)
                .unwrap_or(u32::MAX / 8)
                .saturating_mul(self.vae_scale)
        };
        (to_px(self.sample_size.1), to_px(self.sample_size.0))
    }

    /// Pixels per latent pixel (8 for every SD model): sizes must be
    /// multiples of it.
    pub fn latent_factor(&self) -> u32 {
        self.vae_scale
    }

    /// The size for the aspect ratio `ratio` (width:height): see [`aspect_size`].
    pub fn aspect_size(&self, ratio: (u32, u32)) -> (u32, u32) {
        let (w, h) = self.default_size();
        aspect_size((w, h), ratio, self.vae_scale)
    }

    /// Whether this is an SDXL pipeline (two text encoders).
    pub fn is_sdxl(&self) -> bool {
        matches!(self.kind, PipelineKind::StableDiffusionXl { .. })
    }

    /// Human-readable name of the sampler in use, e.g.
    /// `"DDIM (fallback for PNDMScheduler)"`, for logs.
    pub fn scheduler_name(&self) -> &str {
        &self.scheduler.name
    }

    /// The (first) tokenizer, e.g. for `zipp_clip::tokenizer::count_tokens` on prompts.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.text[0].tokenizer
    }

    /// The VAE's `scaling_factor` (0.18215 for SD 1.x/2.x, 0.13025 for SDXL).
    pub fn scaling_factor(&self) -> f64 {
        self.scaling_factor
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The timesteps and sigmas of a `steps`-step render.
    pub fn schedule(&self, steps: u32) -> Result<Schedule> {
        Ok(Schedule {
            plan: self.scheduler.plan(steps as usize)?,
        })
    }

    /// `scale_model_input` of step `i`: identity for DDIM/DDPM, `x / √(σ²+1)`
    /// for Euler.
    pub fn scale_model_input(&self, schedule: &Schedule, x: &Tensor, i: usize) -> Result<Tensor> {
        Ok(schedule.plan.scale_model_input(x, i)?)
    }

    /// The UNet's prediction for `x` `[b, c, h, w]` (F32 in and out).
    pub fn predict(&self, x: &Tensor, timestep: f64, cond: &Conditioning) -> Result<Tensor> {
        let added = match &cond.added {
            Some(a) => Some(AddedConditioning {
                text_embeds: a.text_embeds.to_dtype(self.unet_dtype)?,
                time_ids: a.time_ids.clone(),
            }),
            None => None,
        };
        if self.unet.needs_added_conditioning() != added.is_some() {
            return Err(DiffusionError::InvalidParams(
                "the conditioning does not match the model (SDXL needs pooled embeddings)"
                    .to_string(),
            ));
        }
        Ok(self
            .unet
            .forward(
                &x.to_dtype(self.unet_dtype)?,
                timestep,
                &cond.context.to_dtype(self.unet_dtype)?,
                added.as_ref(),
            )?
            .to_dtype(DType::F32)?)
    }

    /// One scheduler step `i` from `sample` with the (guided) model output.
    /// Ancestral samplers draw their step noise from a generator seeded with
    /// `seed` (deterministic samplers ignore it).
    pub fn scheduler_step(
        &self,
        schedule: &Schedule,
        i: usize,
        model_output: &Tensor,
        sample: &Tensor,
        seed: u64,
    ) -> Result<Tensor> {
        let mut rng = SeededRng::new(seed);
        Ok(self
            .scheduler
            .step(&schedule.plan, i, model_output, sample, &mut rng)?)
    }

    /// Whether images are decoded by a tiny autoencoder (TAESD).
    pub fn has_tiny_autoencoder(&self) -> bool {
        matches!(self.vae, vae::Autoencoder::Tiny(_))
    }

    /// img2img's first step for `strength` (diffusers' `get_timesteps`): the
    /// last ⌊steps·strength⌋ steps run, at least one.
    pub fn img2img_start(&self, schedule: &Schedule, strength: f64) -> usize {
        schedule.plan.img2img_start(strength)
    }

    /// The autoencoder's encoding of pixels `[b, 3, H, W]` in [-1, 1]: the
    /// latent distribution's `(mean, std)`, `std` `None` when the encoding is
    /// exact (TAESD). Unscaled; see [`Self::scale_latents`].
    pub fn encode_pixels(&self, pixels: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let (mean, std) = self.vae.encode(&pixels.to_dtype(self.vae_dtype)?)?;
        let std = match std {
            Some(s) => Some(s.to_dtype(DType::F32)?),
            None => None,
        };
        Ok((mean.to_dtype(DType::F32)?, std))
    }

    /// Autoencoder latents → the UNet's: `(z − shift_factor) · scaling_factor`.
    pub fn scale_latents(&self, z: &Tensor) -> Result<Tensor> {
        Ok(((z - self.shift_factor)? * self.scaling_factor)?)
    }

    /// The clean latents `x0` noised to step `first` (diffusers' `add_noise`).
    pub fn add_noise(
        &self,
        schedule: &Schedule,
        first: usize,
        x0: &Tensor,
        noise: &Tensor,
    ) -> Result<Tensor> {
        Ok(self.scheduler.add_noise(&schedule.plan, first, x0, noise)?)
    }

    /// The VAE decode of final latents (divided by `scaling_factor`, plus
    /// `shift_factor`): the image `[b, 3, H, W]` roughly in [-1, 1], before
    /// clamping.
    pub fn decode_latents(&self, latents: &Tensor) -> Result<Tensor> {
        let z = latents.affine(1.0 / self.scaling_factor, self.shift_factor)?;
        Ok(self
            .vae
            .decode(&z.to_dtype(self.vae_dtype)?)?
            .to_dtype(DType::F32)?)
    }
}
