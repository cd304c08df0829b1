//! Text-to-image generation with Stable Diffusion 1.x/2.x on candle.
//!
//! [`DiffusionModel::load`] reads a model directory in the Hugging Face
//! **diffusers layout** and builds every network from its `config.json`, so the
//! same code path loads a real checkpoint (e.g. `runwayml/stable-diffusion-v1-5`,
//! `stabilityai/stable-diffusion-2-1`) and the tiny test model written by
//! [`tiny`]:
//!
//! ```text
//! model_index.json
//! unet/config.json          unet/diffusion_pytorch_model[.fp16].safetensors
//! vae/config.json           vae/diffusion_pytorch_model[.fp16].safetensors
//! text_encoder/config.json  text_encoder/model[.fp16].safetensors
//! tokenizer/tokenizer.json  or  tokenizer/vocab.json + tokenizer/merges.txt
//!                           (+ special_tokens_map.json / tokenizer_config.json for pad_token)
//! scheduler/scheduler_config.json
//! ```
//!
//! Loading never touches the network. Missing files, malformed configs,
//! unsupported architectures and missing or mis-shaped tensors are reported as
//! [`DiffusionError`]s that name the file (and key or tensor); nothing panics
//! on bad input.
//!
//! # Precision
//! On CPU everything runs in F32. On CUDA the UNet and VAE run in F16 (the
//! `.fp16.safetensors` files are used when present, otherwise the F32 weights
//! are converted while loading). The CLIP text encoder always runs in F32: it
//! runs once per image, so this costs little and avoids F16 overflow in its
//! layer norms. A VAE whose config says `"force_upcast": true` also stays F32.
//!
//! # Schedulers
//! `scheduler/scheduler_config.json` selects the sampler by `_class_name`:
//! `DDIMScheduler`, `DDPMScheduler`, `EulerDiscreteScheduler` and
//! `EulerAncestralDiscreteScheduler` are implemented here following diffusers
//! (beta schedule, `timestep_spacing`, `steps_offset`, `prediction_type`,
//! `clip_sample`, `rescale_betas_zero_snr`). Any other class — notably
//! `PNDMScheduler`, the default of SD 1.5 — falls back to DDIM with the same
//! training betas, which gives comparable images at the same step counts.
//! [`DiffusionModel::scheduler_name`] says which sampler is in use.
//! Karras sigmas and dynamic thresholding are not implemented and ignored.
//!
//! # Determinism
//! All randomness (initial latents and the per-step noise of ancestral
//! samplers) comes from a small seeded generator on the host, so a given seed
//! produces the same image on every run of the same build and device.
//!
//! SDXL (two text encoders), inpainting, upscaling and other conditioning
//! variants are rejected with [`DiffusionError::Unsupported`].

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_transformers::models::stable_diffusion::{unet_2d, vae};
use tokenizers::Tokenizer;

use zipp_clip::tokenizer as clip_tokenizer;

mod config;
mod files;
mod json;
mod rng;
mod scheduler;
#[cfg(test)]
mod tests;
mod text_encoder;
pub mod tiny;

use files::{check_model_index, load_tokenizer, mmap_var_builder, weights_error, weights_file};
use scheduler::{parse_scheduler_config, SchedulerSpec};

// Re-exported for `tiny`, which builds its random-weight models with them.
pub(crate) use config::{build_unet, build_vae, parse_unet_config, parse_vae_config};
pub(crate) use rng::SeededRng;
pub(crate) use text_encoder::{parse_text_config, ClipTextEncoder};

/// Largest accepted image side in pixels; larger requests are
/// [`DiffusionError::InvalidParams`] rather than an out-of-memory abort.
pub const MAX_SIDE: u32 = 2048;

/// Everything that can go wrong while loading a model or generating an image.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// A required file of the model directory does not exist.
    #[error("missing model file {path}")]
    MissingFile {
        /// The file that was expected.
        path: PathBuf,
    },
    /// A JSON config file is malformed or has an invalid value.
    #[error("bad config {file}: {reason}")]
    BadConfig {
        /// The config file.
        file: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// The model is valid but uses an architecture this pipeline cannot run.
    #[error("unsupported model ({file}): {reason}")]
    Unsupported {
        /// The file that revealed it.
        file: PathBuf,
        /// Which feature is unsupported.
        reason: String,
    },
    /// A tensor the architecture needs is absent from a weights file.
    #[error("tensor `{tensor}` is missing from {file}")]
    MissingTensor {
        /// The weights file.
        file: PathBuf,
        /// The tensor name.
        tensor: String,
    },
    /// A weights file could not be read or does not fit the config (wrong
    /// shape, corrupt safetensors header, ...). The message names the tensor
    /// where candle reports one.
    #[error("cannot load weights from {file}: {source}")]
    Weights {
        /// The weights file.
        file: PathBuf,
        /// The underlying candle error.
        source: candle_core::Error,
    },
    /// A file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The tokenizer could not be built or failed to encode a prompt.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The requested compute device is not available in this build or machine.
    #[error("device unavailable: {0}")]
    Device(String),
    /// A tensor operation failed while generating.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// The generation parameters are out of range.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// [`DiffusionModel::generate_cancellable`]'s callback asked to stop.
    #[error("generation cancelled after {done} of {total} steps")]
    Cancelled {
        /// Steps completed before stopping.
        done: u32,
        /// Steps requested.
        total: u32,
    },
}

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

/// A loaded Stable Diffusion pipeline: tokenizer, text encoder, UNet, VAE and
/// scheduler settings. Load once and share it; [`DiffusionModel::generate`]
/// takes `&self` and the type is `Send + Sync`.
pub struct DiffusionModel {
    device: Device,
    unet_dtype: DType,
    vae_dtype: DType,
    tokenizer: Tokenizer,
    pad_id: u32,
    max_tokens: usize,
    text_encoder: ClipTextEncoder,
    unet: unet_2d::UNet2DConditionModel,
    latent_channels: usize,
    vae: vae::AutoEncoderKL,
    vae_scale: u32,
    scaling_factor: f64,
    shift_factor: f64,
    scheduler: SchedulerSpec,
    /// UNet sample size in latent pixels, (height, width).
    sample_size: (usize, usize),
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
            .field("unet_dtype", &self.unet_dtype)
            .field("vae_dtype", &self.vae_dtype)
            .field("scheduler", &self.scheduler.name)
            .field("default_size", &self.default_size())
            .finish_non_exhaustive()
    }
}

impl DiffusionModel {
    /// Loads a Stable Diffusion 1.x/2.x model from a diffusers-layout directory.
    ///
    /// Uses F32 on CPU and F16 for the UNet and VAE on CUDA (see the module
    /// docs). Reads only local files.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        check_model_index(&dir.join("model_index.json"))?;

        let unet_cfg_path = dir.join("unet").join("config.json");
        let vae_cfg_path = dir.join("vae").join("config.json");
        let text_cfg_path = dir.join("text_encoder").join("config.json");
        let unet_spec = parse_unet_config(&unet_cfg_path)?;
        let vae_spec = parse_vae_config(&vae_cfg_path)?;
        let text_spec = parse_text_config(&text_cfg_path)?;
        let scheduler =
            parse_scheduler_config(&dir.join("scheduler").join("scheduler_config.json"))?;

        // Cross-checks between components, before any weights are read.
        if unet_spec.config.cross_attention_dim != text_spec.hidden_size {
            return Err(DiffusionError::BadConfig {
                file: unet_cfg_path,
                reason: format!(
                    "`cross_attention_dim` is {} but the text encoder's `hidden_size` ({}) is {}",
                    unet_spec.config.cross_attention_dim,
                    text_cfg_path.display(),
                    text_spec.hidden_size
                ),
            });
        }
        let latent_channels = vae_spec.config.latent_channels;
        if unet_spec.in_channels != latent_channels || unet_spec.out_channels != latent_channels {
            return Err(DiffusionError::Unsupported {
                file: unet_cfg_path,
                reason: format!(
                    "UNet `in_channels`/`out_channels` are {}/{} but the VAE has {} latent \
                     channels; only text-to-image UNets are supported (not inpainting or \
                     image-conditioned ones)",
                    unet_spec.in_channels, unet_spec.out_channels, latent_channels
                ),
            });
        }

        let tok_dir = dir.join("tokenizer");
        let (tokenizer, pad_id) = load_tokenizer(&tok_dir)?;

        let on_gpu = !device.is_cpu();
        let unet_dtype = if on_gpu { DType::F16 } else { DType::F32 };
        let vae_dtype = if on_gpu && !vae_spec.force_upcast {
            DType::F16
        } else {
            DType::F32
        };

        let text_file = weights_file(&dir.join("text_encoder"), "model", false)?;
        let text_encoder = {
            let vb = mmap_var_builder(&text_file, DType::F32, device)?;
            // HF CLIPTextModel files prefix everything with `text_model.`;
            // accept bare names too, as some conversions drop the prefix.
            let vb = if vb.contains_tensor("text_model.embeddings.token_embedding.weight") {
                vb.pp("text_model")
            } else if vb.contains_tensor("embeddings.token_embedding.weight") {
                vb
            } else {
                return Err(DiffusionError::MissingTensor {
                    file: text_file,
                    tensor: "text_model.embeddings.token_embedding.weight".to_string(),
                });
            };
            ClipTextEncoder::new(vb, &text_spec).map_err(|e| weights_error(&text_file, e))?
        };

        let unet_file = weights_file(&dir.join("unet"), "diffusion_pytorch_model", on_gpu)?;
        let unet = {
            let vb = mmap_var_builder(&unet_file, unet_dtype, device)?;
            build_unet(vb, &unet_spec).map_err(|e| weights_error(&unet_file, e))?
        };

        let vae_file = weights_file(
            &dir.join("vae"),
            "diffusion_pytorch_model",
            on_gpu && vae_dtype == DType::F16,
        )?;
        let vae_model = {
            let vb = mmap_var_builder(&vae_file, vae_dtype, device)?;
            build_vae(vb, &vae_spec).map_err(|e| weights_error(&vae_file, e))?
        };

        Ok(Self {
            device: device.clone(),
            unet_dtype,
            vae_dtype,
            tokenizer,
            pad_id,
            max_tokens: text_spec.max_position_embeddings,
            text_encoder,
            unet,
            latent_channels,
            vae: vae_model,
            vae_scale: vae_spec.scale_factor(),
            scaling_factor: vae_spec.scaling_factor,
            shift_factor: vae_spec.shift_factor,
            scheduler,
            sample_size: unet_spec.sample_size,
        })
    }

    /// The model's native image size, `(width, height)` in pixels: the UNet's
    /// `sample_size` times the VAE factor (512×512 for SD 1.5, 768×768 for SD 2.1).
    pub fn default_size(&self) -> (u32, u32) {
        let to_px = |latent: usize| {
            u32::try_from(latent)
                .unwrap_or(u32::MAX / 8)
                .saturating_mul(self.vae_scale)
        };
        (to_px(self.sample_size.1), to_px(self.sample_size.0))
    }

    /// Human-readable name of the sampler in use, e.g.
    /// `"DDIM (fallback for PNDMScheduler)"`, for logs.
    pub fn scheduler_name(&self) -> &str {
        &self.scheduler.name
    }

    /// The tokenizer, e.g. for [`clip_tokenizer::count_tokens`] on prompts.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Renders one image. `progress(done, total)` is called after each
    /// denoising step (the VAE decode follows the last call).
    ///
    /// Synchronous and CPU/GPU-bound: call it from a blocking thread.
    pub fn generate(
        &self,
        params: &GenerateParams,
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<image::RgbImage> {
        self.generate_cancellable(params, &mut |done, total| {
            progress(done, total);
            true
        })
    }

    /// Like [`Self::generate`], but stops with [`DiffusionError::Cancelled`]
    /// as soon as `progress` returns false (checked after every step).
    pub fn generate_cancellable(
        &self,
        params: &GenerateParams,
        progress: &mut dyn FnMut(u32, u32) -> bool,
    ) -> Result<image::RgbImage> {
        self.validate(params)?;
        let use_cfg = params.guidance_scale > 1.0;
        // diffusers' order: unconditional (negative) first, then the prompt.
        let context = if use_cfg {
            self.encode_prompts(&[&params.negative_prompt, &params.prompt])?
        } else {
            self.encode_prompts(&[&params.prompt])?
        };
        let context = context.to_dtype(self.unet_dtype)?;

        let plan = self.scheduler.plan(params.steps as usize)?;
        let mut rng = SeededRng::new(params.seed);
        let latent_h = (params.height / self.vae_scale) as usize;
        let latent_w = (params.width / self.vae_scale) as usize;
        let shape = (1, self.latent_channels, latent_h, latent_w);
        let mut latents = (rng.normal_tensor(shape, &self.device)? * plan.init_noise_sigma)?;

        let total = params.steps;
        for (i, &t) in plan.timesteps.iter().enumerate() {
            let model_in = if use_cfg {
                Tensor::cat(&[&latents, &latents], 0)?
            } else {
                latents.clone()
            };
            let model_in = plan.scale_model_input(&model_in, i)?;
            let noise_pred = self
                .unet
                .forward(&model_in.to_dtype(self.unet_dtype)?, t, &context)?
                .to_dtype(DType::F32)?;
            let noise_pred = if use_cfg {
                let uncond = noise_pred.i(0..1)?;
                let text = noise_pred.i(1..2)?;
                (&uncond + ((text - &uncond)? * params.guidance_scale)?)?
            } else {
                noise_pred
            };
            latents = self
                .scheduler
                .step(&plan, i, &noise_pred, &latents, &mut rng)?;
            let done = u32::try_from(i + 1).unwrap_or(total);
            if !progress(done, total) {
                return Err(DiffusionError::Cancelled { done, total });
            }
        }

        self.decode(&latents, params.width, params.height)
    }

    fn validate(&self, p: &GenerateParams) -> Result<()> {
        let bad = |m: String| Err(DiffusionError::InvalidParams(m));
        for (name, v) in [("width", p.width), ("height", p.height)] {
            if v == 0 || v % self.vae_scale != 0 {
                return bad(format!(
                    "{name} {v} must be a positive multiple of {}",
                    self.vae_scale
                ));
            }
            if v > MAX_SIDE {
                return bad(format!("{name} {v} exceeds the maximum of {MAX_SIDE}"));
            }
        }
        let max_steps = self.scheduler.train_steps();
        if p.steps == 0 || p.steps as usize > max_steps {
            return bad(format!(
                "steps {} must be between 1 and {max_steps}",
                p.steps
            ));
        }
        if !p.guidance_scale.is_finite() || p.guidance_scale < 0.0 {
            return bad(format!(
                "guidance_scale {} must be a finite number >= 0",
                p.guidance_scale
            ));
        }
        Ok(())
    }

    /// Tokenizes and encodes prompts in one batch to `[n, 77, hidden]` (F32).
    fn encode_prompts(&self, texts: &[&str]) -> Result<Tensor> {
        let mut ids = Vec::with_capacity(texts.len() * self.max_tokens);
        for text in texts {
            let row =
                clip_tokenizer::encode_padded(&self.tokenizer, text, self.max_tokens, self.pad_id)
                    .map_err(|e| DiffusionError::Tokenizer(e.to_string()))?;
            ids.extend(row);
        }
        let ids = Tensor::from_vec(ids, (texts.len(), self.max_tokens), &self.device)?;
        Ok(self.text_encoder.forward(&ids)?)
    }

    fn decode(&self, latents: &Tensor, width: u32, height: u32) -> Result<image::RgbImage> {
        // diffusers: latents / scaling_factor + shift_factor.
        let latents = latents.affine(1.0 / self.scaling_factor, self.shift_factor)?;
        let img = self
            .vae
            .decode(&latents.to_dtype(self.vae_dtype)?)?
            .to_dtype(DType::F32)?;
        let img = ((img / 2.0)? + 0.5)?.clamp(0f32, 1f32)?;
        let img = (img * 255.0)?.round()?.to_dtype(DType::U8)?;
        let (_, c, h, w) = img.dims4()?;
        if c != 3 || h != height as usize || w != width as usize {
            return Err(DiffusionError::Candle(candle_core::Error::Msg(format!(
                "VAE produced a {c}x{h}x{w} image, expected 3x{height}x{width}"
            ))));
        }
        let pixels = img
            .i(0)?
            .permute((1, 2, 0))?
            .flatten_all()?
            .to_vec1::<u8>()?;
        image::RgbImage::from_raw(width, height, pixels).ok_or_else(|| {
            DiffusionError::Candle(candle_core::Error::Msg(
                "decoded pixel buffer has the wrong length".to_string(),
            ))
        })
    }
}
