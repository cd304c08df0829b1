//! Text-to-image (and image-to-image) generation with Stable Diffusion 1.x,
//! 2.x and XL on candle, matching Hugging Face diffusers stage by stage.
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

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor};
use tokenizers::Tokenizer;

use zipp_clip::tokenizer as clip_tokenizer;

mod attention;
mod config;
mod files;
mod json;
pub mod parity;
mod rng;
mod scheduler;
#[cfg(test)]
mod tests;
mod text_encoder;
pub mod tiny;
mod unet;
mod vae;

pub use attention::AttentionBudget;
use files::{
    check_model_index, load_tokenizer, mmap_var_builder, weights_error, weights_file, PipelineKind,
};
use scheduler::{parse_scheduler_config, Plan, SchedulerSpec};
pub use unet::AddedConditioning;

// Re-exported for `tiny`, which builds its random-weight models with them.
pub(crate) use config::{parse_unet_config, parse_vae_config};
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
    /// that runs (`steps · strength` steps, at least one). 1 ignores the
    /// image's content apart from its colours' average; 0.3 is a subtle
    /// variation.
    pub strength: f64,
}

/// What the UNet is conditioned on: the text embeddings `[b, 77, D]`
/// (unconditional first when guided) and, for SDXL, the added conditioning.
#[derive(Debug, Clone)]
pub struct Conditioning {
    /// `encoder_hidden_states`.
    pub context: Tensor,
    /// SDXL's `added_cond_kwargs` (`text_embeds`, `time_ids`).
    pub added: Option<AddedConditioning>,
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

/// One text encoder with its tokenizer.
struct TextBranch {
    tokenizer: Tokenizer,
    pad_id: u32,
    max_tokens: usize,
    encoder: ClipTextEncoder,
}

impl TextBranch {
    fn load(dir: &Path, encoder_dir: &str, tokenizer_dir: &str, device: &Device) -> Result<Self> {
        let enc_dir = dir.join(encoder_dir);
        let spec = parse_text_config(&enc_dir.join("config.json"))?;
        let (tokenizer, pad_id) = load_tokenizer(&dir.join(tokenizer_dir))?;
        let file = weights_file(&enc_dir, "model", false)?;
        let root = mmap_var_builder(&file, DType::F32, device)?;
        // HF CLIPTextModel files prefix everything with `text_model.`;
        // accept bare names too, as some conversions drop the prefix.
        let vb = if root.contains_tensor("text_model.embeddings.token_embedding.weight") {
            root.pp("text_model")
        } else if root.contains_tensor("embeddings.token_embedding.weight") {
            root.clone()
        } else {
            return Err(DiffusionError::MissingTensor {
                file,
                tensor: "text_model.embeddings.token_embedding.weight".to_string(),
            });
        };
        let encoder = ClipTextEncoder::new(vb, root, &spec).map_err(|e| weights_error(&file, e))?;
        Ok(Self {
            tokenizer,
            pad_id,
            max_tokens: spec.max_position_embeddings,
            encoder,
        })
    }

    fn ids(&self, text: &str) -> Result<Vec<u32>> {
        clip_tokenizer::encode_padded(&self.tokenizer, text, self.max_tokens, self.pad_id)
            .map_err(|e| DiffusionError::Tokenizer(e.to_string()))
    }
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
    vae: vae::Vae,
    vae_config: vae::VaeConfig,
    vae_scale: u32,
    scaling_factor: f64,
    shift_factor: f64,
    scheduler: SchedulerSpec,
    /// UNet sample size in latent pixels, (height, width).
    sample_size: (usize, usize),
    budget: AttentionBudget,
    weights_bytes: u64,
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
        let kind = check_model_index(&dir.join("model_index.json"))?;

        let unet_cfg_path = dir.join("unet").join("config.json");
        let unet_spec = parse_unet_config(&unet_cfg_path)?;
        let vae_spec = parse_vae_config(&dir.join("vae").join("config.json"))?;
        let scheduler =
            parse_scheduler_config(&dir.join("scheduler").join("scheduler_config.json"))?;

        let branches: &[(&str, &str)] = match kind {
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
            (PipelineKind::StableDiffusion, None) => {}
        }
        let latent_channels = vae_spec.config.latent_channels;
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
        let vae_dtype = if on_gpu && !vae_spec.force_upcast {
            DType::F16
        } else {
            DType::F32
        };

        let unet_file = weights_file(&dir.join("unet"), "diffusion_pytorch_model", on_gpu)?;
        let unet = {
            let vb = mmap_var_builder(&unet_file, unet_dtype, device)?;
            unet::Unet::new(vb, unet_cfg, budget).map_err(|e| weights_error(&unet_file, e))?
        };

        let vae_file = weights_file(
            &dir.join("vae"),
            "diffusion_pytorch_model",
            on_gpu && vae_dtype == DType::F16,
        )?;
        let vae_model = {
            let vb = mmap_var_builder(&vae_file, vae_dtype, device)?;
            vae::Vae::new(vb, &vae_spec.config, budget).map_err(|e| weights_error(&vae_file, e))?
        };
        let mut weights_bytes =
            loaded_bytes(&unet_file, unet_dtype) + loaded_bytes(&vae_file, vae_dtype);
        for (enc, _) in [("text_encoder", 0), ("text_encoder_2", 1)] {
            if let Ok(f) = weights_file(&dir.join(enc), "model", false) {
                weights_bytes += loaded_bytes(&f, DType::F32);
            }
        }

        Ok(Self {
            device: device.clone(),
            unet_dtype,
            vae_dtype,
            kind,
            text,
            unet,
            unet_config: unet_spec.config,
            latent_channels,
            vae: vae_model,
            vae_config: vae_spec.config.clone(),
            vae_scale: vae_spec.scale_factor(),
            scaling_factor: vae_spec.scaling_factor,
            shift_factor: vae_spec.shift_factor,
            scheduler,
            sample_size: unet_spec.sample_size,
            budget,
            weights_bytes,
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

    /// Whether this is an SDXL pipeline (two text encoders).
    pub fn is_sdxl(&self) -> bool {
        matches!(self.kind, PipelineKind::StableDiffusionXl { .. })
    }

    /// Human-readable name of the sampler in use, e.g.
    /// `"DDIM (fallback for PNDMScheduler)"`, for logs.
    pub fn scheduler_name(&self) -> &str {
        &self.scheduler.name
    }

    /// The (first) tokenizer, e.g. for [`clip_tokenizer::count_tokens`] on prompts.
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

    /// Token ids of `text` for each tokenizer (one for SD, two for SDXL),
    /// padded and truncated to the encoders' context as diffusers does.
    pub fn token_ids(&self, text: &str) -> Result<Vec<Vec<u32>>> {
        self.text.iter().map(|t| t.ids(text)).collect()
    }

    /// Encodes the prompt (and, with guidance, the negative prompt first) as
    /// the UNet's conditioning for a `width`×`height` image. No negative
    /// prompt encodes "" (SD 1.x/2.x) or is all zeros (SDXL with
    /// `force_zeros_for_empty_prompt`), as diffusers does.
    pub fn encode_prompt(
        &self,
        prompt: &str,
        negative_prompt: Option<&str>,
        guided: bool,
        width: u32,
        height: u32,
    ) -> Result<Conditioning> {
        let cond = self.encode_one(prompt)?;
        let (context, pooled) = if guided {
            let zeros = matches!(
                self.kind,
                PipelineKind::StableDiffusionXl {
                    force_zeros_for_empty_prompt: true
                }
            ) && negative_prompt.is_none();
            let uncond = if zeros {
                (
                    cond.0.zeros_like()?,
                    cond.1.as_ref().map(Tensor::zeros_like).transpose()?,
                )
            } else {
                self.encode_one(negative_prompt.unwrap_or(""))?
            };
            let context = Tensor::cat(&[&uncond.0, &cond.0], 0)?;
            let pooled = match (uncond.1, cond.1) {
                (Some(u), Some(c)) => Some(Tensor::cat(&[&u, &c], 0)?),
                _ => None,
            };
            (context, pooled)
        } else {
            cond
        };
        let added = match pooled {
            Some(text_embeds) => {
                let b = text_embeds.dim(0)?;
                let (h, w) = (height as f32, width as f32);
                let row = [h, w, 0.0, 0.0, h, w];
                let ids: Vec<f32> = (0..b).flat_map(|_| row).collect();
                Some(AddedConditioning {
                    text_embeds,
                    time_ids: Tensor::from_vec(ids, (b, 6), &self.device)?,
                })
            }
            None => None,
        };
        Ok(Conditioning { context, added })
    }

    /// One text's embeddings `[1, 77, D]` and, for SDXL, its pooled vector.
    fn encode_one(&self, text: &str) -> Result<(Tensor, Option<Tensor>)> {
        match self.kind {
            PipelineKind::StableDiffusion => {
                let branch = &self.text[0];
                let ids =
                    Tensor::from_vec(branch.ids(text)?, (1, branch.max_tokens), &self.device)?;
                Ok((branch.encoder.forward_all(&ids)?.last, None))
            }
            PipelineKind::StableDiffusionXl { .. } => {
                let mut parts = Vec::with_capacity(2);
                let mut pooled = None;
                for branch in &self.text {
                    let ids =
                        Tensor::from_vec(branch.ids(text)?, (1, branch.max_tokens), &self.device)?;
                    let out = branch.encoder.forward_all(&ids)?;
                    parts.push(out.penultimate);
                    if out.pooled.is_some() {
                        pooled = out.pooled;
                    }
                }
                let pooled = pooled.ok_or_else(|| DiffusionError::Unsupported {
                    file: PathBuf::from("text_encoder_2/config.json"),
                    reason: "the second text encoder has no projection \
                                 (CLIPTextModelWithProjection expected)"
                        .to_string(),
                })?;
                Ok((Tensor::cat(&parts, 2)?, Some(pooled)))
            }
        }
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
        let guided = params.guidance_scale > 1.0;
        // An empty negative prompt is "no negative prompt".
        let negative = Some(params.negative_prompt.as_str()).filter(|n| !n.trim().is_empty());
        let cond = self.encode_prompt(
            &params.prompt,
            negative,
            guided,
            params.width,
            params.height,
        )?;
        let schedule = self.schedule(params.steps)?;
        let mut rng = SeededRng::new(params.seed);
        let latent_h = (params.height / self.vae_scale) as usize;
        let latent_w = (params.width / self.vae_scale) as usize;
        let shape = (1, self.latent_channels, latent_h, latent_w);
        let (first, latents) = match &params.init_image {
            None => {
                let noise = rng.normal_tensor(shape, &self.device)?;
                (0, (noise * schedule.plan.init_noise_sigma)?)
            }
            Some(init) => {
                let first = schedule.plan.img2img_start(init.strength);
                let x0 = self.encode_image(&init.image, params.width, params.height, &mut rng)?;
                let noise = rng.normal_tensor(shape, &self.device)?;
                let noised = self
                    .scheduler
                    .add_noise(&schedule.plan, first, &x0, &noise)?;
                (first, noised)
            }
        };
        let latents = self.denoise(
            &schedule,
            first,
            latents,
            &cond,
            params.guidance_scale,
            &mut rng,
            progress,
        )?;
        let decoded = self.decode_latents(&latents)?;
        to_rgb(&decoded, params.width, params.height)
    }

    /// Text-to-image denoising from `start` (noise already multiplied by
    /// `init_noise_sigma`) to the final latents, with the seed-0 generator for
    /// ancestral samplers: what [`parity::check`] compares end to end.
    pub fn denoise_from(
        &self,
        schedule: &Schedule,
        start: Tensor,
        cond: &Conditioning,
        guidance_scale: f64,
    ) -> Result<Tensor> {
        let mut rng = SeededRng::new(0);
        self.denoise(
            schedule,
            0,
            start,
            cond,
            guidance_scale,
            &mut rng,
            &mut |_, _| true,
        )
    }

    /// The denoising loop from step `first` (0 for text-to-image): returns
    /// the final latents. `progress(done, total)` counts the steps that run.
    #[allow(clippy::too_many_arguments)]
    fn denoise(
        &self,
        schedule: &Schedule,
        first: usize,
        mut latents: Tensor,
        cond: &Conditioning,
        guidance_scale: f64,
        rng: &mut SeededRng,
        progress: &mut dyn FnMut(u32, u32) -> bool,
    ) -> Result<Tensor> {
        let guided = cond.context.dim(0)? == 2;
        let steps = &schedule.plan.timesteps[first..];
        let total = u32::try_from(steps.len()).unwrap_or(u32::MAX);
        for (k, &t) in steps.iter().enumerate() {
            let i = first + k;
            let model_in = if guided {
                Tensor::cat(&[&latents, &latents], 0)?
            } else {
                latents.clone()
            };
            let model_in = schedule.plan.scale_model_input(&model_in, i)?;
            let out = self.predict(&model_in, t, cond)?;
            let out = if guided {
                let uncond = out.i(0..1)?;
                let text = out.i(1..2)?;
                (&uncond + ((text - &uncond)? * guidance_scale)?)?
            } else {
                out
            };
            latents = self
                .scheduler
                .step(&schedule.plan, i, &out, &latents, rng)?;
            let done = u32::try_from(k + 1).unwrap_or(total);
            if !progress(done, total) {
                return Err(DiffusionError::Cancelled { done, total });
            }
        }
        Ok(latents)
    }

    /// An RGB image → scaled latents (a sample of the VAE's distribution, with
    /// `rng`), resized to `width`×`height` first.
    fn encode_image(
        &self,
        img: &image::RgbImage,
        width: u32,
        height: u32,
        rng: &mut SeededRng,
    ) -> Result<Tensor> {
        let img = if img.dimensions() == (width, height) {
            img.clone()
        } else {
            image::imageops::resize(img, width, height, image::imageops::FilterType::Lanczos3)
        };
        let pixels = Tensor::from_vec(
            img.into_raw(),
            (height as usize, width as usize, 3),
            &self.device,
        )?
        .permute((2, 0, 1))?
        .to_dtype(DType::F32)?
        .affine(2.0 / 255.0, -1.0)?
        .unsqueeze(0)?;
        let (mean, std) = self.vae.encode(&pixels.to_dtype(self.vae_dtype)?)?;
        let (mean, std) = (mean.to_dtype(DType::F32)?, std.to_dtype(DType::F32)?);
        let eps = rng.normal_tensor(mean.shape(), &self.device)?;
        let z = (mean + (std * eps)?)?;
        // diffusers: (z - shift_factor) * scaling_factor.
        Ok(((z - self.shift_factor)? * self.scaling_factor)?)
    }

    /// Predicted peak memory in bytes of a render at `width`×`height` with
    /// `batch` images per UNet call (2 with guidance): the weights, plus the
    /// larger of the UNet's and the VAE decoder's working sets. Deliberately
    /// generous (it counts every skip connection and several temporaries of
    /// the largest feature map), so an accepted job fits.
    pub fn estimate_peak_bytes(&self, width: u32, height: u32, batch: usize) -> u64 {
        let (h, w) = (
            (height / self.vae_scale) as u64,
            (width / self.vae_scale) as u64,
        );
        let b = batch.max(1) as u64;
        let unet_elt = self.unet_dtype.size_in_bytes() as u64;
        let vae_elt = self.vae_dtype.size_in_bytes() as u64;
        let cfg = &self.unet_config;
        let mut skips = 0u64;
        let mut largest = 0u64;
        let mut tokens_ff = 0u64;
        for (level, block) in cfg.down.iter().enumerate() {
            let px = (h >> level).max(1) * (w >> level).max(1);
            let map = b * block.out_channels as u64 * px;
            skips += map * (cfg.layers_per_block as u64 + 1);
            largest = largest.max(map * 2);
            if block.cross_attention {
                // GEGLU's hidden layer: 8·C per token.
                tokens_ff = tokens_ff.max(b * px * 8 * block.out_channels as u64);
            }
        }
        let attention = 2 * self.budget.0 as u64;
        let unet = (skips + 6 * largest + 2 * tokens_ff) * unet_elt + attention;
        let vae_ch0 = self.vae_config.block_out_channels[0] as u64;
        let full = u64::from(width) * u64::from(height);
        let vae = 6 * vae_ch0 * full * vae_elt + attention;
        self.weights_bytes + unet.max(vae)
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
        if let Some(init) = &p.init_image {
            if !(init.strength > 0.0 && init.strength <= 1.0) {
                return bad(format!("strength {} must be in (0, 1]", init.strength));
            }
            let (w, h) = init.image.dimensions();
            if w == 0 || h == 0 {
                return bad("the init image is empty".to_string());
            }
        }
        Ok(())
    }
}

/// `[1, 3, H, W]` in [-1, 1] → an RGB image (`clamp(x/2 + 0.5)`, rounded).
fn to_rgb(decoded: &Tensor, width: u32, height: u32) -> Result<image::RgbImage> {
    let img = ((decoded / 2.0)? + 0.5)?.clamp(0f32, 1f32)?;
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
