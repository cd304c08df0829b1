//! Text-to-image generation with Stable Diffusion 1.x/2.x on candle.
//!
//! [`DiffusionModel::load`] reads a model directory in the Hugging Face
//! **diffusers layout** and builds every network from its `config.json`, so the
//! same code path loads a real checkpoint (e.g. `runwayml/stable-diffusion-v1-5`,
//! `stabilityai/stable-diffusion-2-1`) and the tiny test model written by
//! [`super::tiny`]:
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

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::stable_diffusion::{unet_2d, vae};
use serde_json::{Map, Value};
use tokenizers::Tokenizer;

use super::clip_tokenizer;

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

// ---------------------------------------------------------------------------
// Files and weights

/// Picks `<stem>.safetensors` or `<stem>.fp16.safetensors` in `dir`, preferring
/// the half-precision file when `prefer_fp16`; either is converted to the
/// requested dtype while loading.
fn weights_file(dir: &Path, stem: &str, prefer_fp16: bool) -> Result<PathBuf> {
    let full = dir.join(format!("{stem}.safetensors"));
    let half = dir.join(format!("{stem}.fp16.safetensors"));
    let found = if prefer_fp16 {
        [&half, &full]
    } else {
        [&full, &half]
    }
    .into_iter()
    .find(|p| p.is_file())
    .cloned();
    found.ok_or(DiffusionError::MissingFile { path: full })
}

/// Memory-maps a safetensors file as a [`VarBuilder`].
fn mmap_var_builder(file: &Path, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    // SAFETY: the mapping is only read while building the models (tensors are
    // copied into their own storage); the model files are not expected to be
    // modified while the bot loads them, which is the mmap contract.
    unsafe { VarBuilder::from_mmaped_safetensors(&[file], dtype, device) }
        .map_err(|e| weights_error(file, e))
}

/// Turns a candle loading error into [`DiffusionError::MissingTensor`] when
/// candle reports a missing tensor, else [`DiffusionError::Weights`].
fn weights_error(file: &Path, err: candle_core::Error) -> DiffusionError {
    fn missing(e: &candle_core::Error) -> Option<&str> {
        match e {
            candle_core::Error::CannotFindTensor { path } => Some(path.as_str()),
            candle_core::Error::WithBacktrace { inner, .. }
            | candle_core::Error::Context { inner, .. }
            | candle_core::Error::WithPath { inner, .. } => missing(inner),
            _ => None,
        }
    }
    match missing(&err) {
        Some(tensor) => DiffusionError::MissingTensor {
            file: file.to_path_buf(),
            tensor: tensor.to_string(),
        },
        None => DiffusionError::Weights {
            file: file.to_path_buf(),
            source: err,
        },
    }
}

/// Rejects pipelines this module cannot run (SDXL's second text encoder).
fn check_model_index(path: &Path) -> Result<()> {
    let c = JsonConfig::read(path)?;
    let class = c.opt_str("_class_name")?.unwrap_or_default();
    if c.has("text_encoder_2") || class.contains("XL") {
        return Err(DiffusionError::Unsupported {
            file: path.to_path_buf(),
            reason: format!(
                "pipeline `{class}` uses two text encoders (SDXL); only SD 1.x/2.x are supported"
            ),
        });
    }
    if class.contains("StableDiffusion3") || c.has("transformer") {
        return Err(DiffusionError::Unsupported {
            file: path.to_path_buf(),
            reason: format!(
                "pipeline `{class}` is transformer-based; only SD 1.x/2.x UNets are supported"
            ),
        });
    }
    Ok(())
}

/// Loads `tokenizer.json` if present, else builds CLIP's tokenizer from
/// `vocab.json` + `merges.txt`, and resolves the padding token id.
fn load_tokenizer(tok_dir: &Path) -> Result<(Tokenizer, u32)> {
    let json = tok_dir.join("tokenizer.json");
    let tokenizer = if json.is_file() {
        let mut t = Tokenizer::from_file(&json)
            .map_err(|e| DiffusionError::Tokenizer(format!("{}: {e}", json.display())))?;
        // encode_padded does its own truncation and padding.
        t.with_padding(None);
        t.with_truncation(None)
            .map_err(|e| DiffusionError::Tokenizer(format!("{}: {e}", json.display())))?;
        t
    } else {
        let vocab = tok_dir.join("vocab.json");
        let merges = tok_dir.join("merges.txt");
        for p in [&vocab, &merges] {
            if !p.is_file() {
                return Err(DiffusionError::MissingFile { path: p.clone() });
            }
        }
        clip_tokenizer::from_vocab_merges(&vocab, &merges)
            .map_err(|e| DiffusionError::Tokenizer(e.to_string()))?
    };

    // SD 1.x pads with <|endoftext|>, SD 2.x with "!"; the files say which.
    let mut pad_token = None;
    for name in ["special_tokens_map.json", "tokenizer_config.json"] {
        let path = tok_dir.join(name);
        if pad_token.is_none() && path.is_file() {
            let c = JsonConfig::read(&path)?;
            if let Some(v) = c.get("pad_token") {
                let content = match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => {
                        o.get("content").and_then(Value::as_str).map(str::to_string)
                    }
                    _ => None,
                };
                let content = content
                    .ok_or_else(|| c.bad("pad_token", "expected a string or {\"content\": ...}"))?;
                let id = tokenizer.token_to_id(&content).ok_or_else(|| {
                    c.bad(
                        "pad_token",
                        &format!("token {content:?} is not in the vocabulary"),
                    )
                })?;
                pad_token = Some(id);
            }
        }
    }
    let pad_id = match pad_token {
        Some(id) => id,
        None => tokenizer
            .token_to_id(clip_tokenizer::END_OF_TEXT)
            .ok_or_else(|| {
                DiffusionError::Tokenizer(format!(
                    "{}: vocabulary has no {} token",
                    tok_dir.display(),
                    clip_tokenizer::END_OF_TEXT
                ))
            })?,
    };
    Ok((tokenizer, pad_id))
}

// ---------------------------------------------------------------------------
// JSON config access

/// A parsed JSON object plus its path, so every error can name file and key.
pub(super) struct JsonConfig {
    file: PathBuf,
    map: Map<String, Value>,
}

impl JsonConfig {
    /// Reads and parses `path`; a missing file is [`DiffusionError::MissingFile`].
    pub(super) fn read(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(DiffusionError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| DiffusionError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| DiffusionError::BadConfig {
            file: path.to_path_buf(),
            reason: format!("invalid JSON: {e}"),
        })?;
        match value {
            Value::Object(map) => Ok(Self {
                file: path.to_path_buf(),
                map,
            }),
            _ => Err(DiffusionError::BadConfig {
                file: path.to_path_buf(),
                reason: "top level is not a JSON object".to_string(),
            }),
        }
    }

    fn bad(&self, key: &str, reason: &str) -> DiffusionError {
        DiffusionError::BadConfig {
            file: self.file.clone(),
            reason: format!("key `{key}`: {reason}"),
        }
    }

    fn unsupported(&self, reason: String) -> DiffusionError {
        DiffusionError::Unsupported {
            file: self.file.clone(),
            reason,
        }
    }

    /// The value of `key`; JSON `null` counts as absent (diffusers writes
    /// unset options as null).
    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn value_usize(&self, key: &str, v: &Value) -> Result<usize> {
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.bad(key, &format!("expected a non-negative integer, got {v}")))
    }

    fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        self.get(key)
            .map_or(Ok(default), |v| self.value_usize(key, v))
    }

    fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| self.bad(key, &format!("expected a number, got {v}"))),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.bad(key, &format!("expected true or false, got {v}"))),
        }
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(key, &format!("expected a string, got {v}"))),
        }
    }

    fn str_or(&self, key: &str, default: &str) -> Result<String> {
        Ok(self.opt_str(key)?.unwrap_or_else(|| default.to_string()))
    }

    fn list<'a>(&'a self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(self.bad(key, &format!("expected a list, got {v}"))),
        }
    }

    fn usize_list_or(&self, key: &str, default: &[usize]) -> Result<Vec<usize>> {
        match self.list(key)? {
            None => Ok(default.to_vec()),
            Some(a) => a.iter().map(|v| self.value_usize(key, v)).collect(),
        }
    }

    fn f64_list(&self, key: &str) -> Result<Option<Vec<f64>>> {
        match self.list(key)? {
            None => Ok(None),
            Some(a) => a
                .iter()
                .map(|v| {
                    v.as_f64()
                        .ok_or_else(|| self.bad(key, &format!("expected numbers, got {v}")))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
        }
    }

    fn str_list_or(&self, key: &str, default: &[&str]) -> Result<Vec<String>> {
        match self.list(key)? {
            None => Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(a) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.bad(key, &format!("expected strings, got {v}")))
                })
                .collect(),
        }
    }

    /// A per-block integer that diffusers accepts either as one int or as a
    /// list with one entry per block.
    fn usize_per_block(&self, key: &str, n: usize, default: usize) -> Result<Vec<usize>> {
        match self.get(key) {
            None => Ok(vec![default; n]),
            Some(Value::Array(a)) => {
                if a.len() != n {
                    return Err(self.bad(
                        key,
                        &format!("has {} entries but there are {n} blocks", a.len()),
                    ));
                }
                a.iter().map(|v| self.value_usize(key, v)).collect()
            }
            Some(v) => Ok(vec![self.value_usize(key, v)?; n]),
        }
    }

    /// Like [`Self::usize_per_block`] but candle needs one value for all blocks.
    fn usize_uniform(&self, key: &str, n: usize, default: usize) -> Result<usize> {
        let v = self.usize_per_block(key, n, default)?;
        match v.first() {
            Some(&first) if v.iter().all(|&x| x == first) => Ok(first),
            Some(_) => Err(self.unsupported(format!(
                "`{key}` differs between blocks ({v:?}); candle needs one value"
            ))),
            None => Ok(default),
        }
    }

    /// Errors with [`DiffusionError::Unsupported`] if a string option is set
    /// to anything but `expected`.
    fn require_str(&self, key: &str, expected: &str) -> Result<()> {
        match self.opt_str(key)? {
            Some(v) if v != expected => {
                Err(self.unsupported(format!("`{key}` is {v:?}; only {expected:?} is supported")))
            }
            _ => Ok(()),
        }
    }

    fn require_absent(&self, keys: &[&str], what: &str) -> Result<()> {
        for key in keys {
            if let Some(v) = self.get(key) {
                return Err(self.unsupported(format!("`{key}` is set ({v}); {what}")));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// UNet

/// A UNet architecture parsed from `unet/config.json`.
#[derive(Debug)]
pub(super) struct UnetSpec {
    pub(super) config: unet_2d::UNet2DConditionModelConfig,
    pub(super) in_channels: usize,
    pub(super) out_channels: usize,
    /// (height, width) in latent pixels.
    pub(super) sample_size: (usize, usize),
}

const CROSS_DOWN: &str = "CrossAttnDownBlock2D";
const PLAIN_DOWN: &str = "DownBlock2D";
const CROSS_UP: &str = "CrossAttnUpBlock2D";
const PLAIN_UP: &str = "UpBlock2D";

/// Parses a diffusers `UNet2DConditionModel` config (defaults as in diffusers).
pub(super) fn parse_unet_config(path: &Path) -> Result<UnetSpec> {
    let c = JsonConfig::read(path)?;
    if let Some(class) = c.opt_str("_class_name")? {
        if class != "UNet2DConditionModel" {
            return Err(c.unsupported(format!(
                "UNet class {class:?}; expected UNet2DConditionModel"
            )));
        }
    }
    c.require_absent(
        &[
            "addition_embed_type",
            "class_embed_type",
            "num_class_embeds",
            "time_cond_proj_dim",
            "encoder_hid_dim",
            "encoder_hid_dim_type",
            "projection_class_embeddings_input_dim",
            "time_embedding_dim",
            "time_embedding_act_fn",
            "timestep_post_act",
            "cross_attention_norm",
            "reverse_transformer_layers_per_block",
        ],
        "only text-conditioned SD 1.x/2.x UNets are supported (SDXL, LCM, upscalers are not)",
    )?;
    if c.f64_or("resnet_out_scale_factor", 1.0)? != 1.0 {
        return Err(c.unsupported("`resnet_out_scale_factor` is not 1".to_string()));
    }
    for key in [
        "only_cross_attention",
        "dual_cross_attention",
        "resnet_skip_time_act",
        "mid_block_only_cross_attention",
    ] {
        let on = match c.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_bool() == Some(true)),
            Some(v) => return Err(c.bad(key, &format!("expected a boolean, got {v}"))),
        };
        if on {
            return Err(c.unsupported(format!("`{key}` is enabled")));
        }
    }
    c.require_str("act_fn", "silu")?;
    c.require_str("time_embedding_type", "positional")?;
    c.require_str("resnet_time_scale_shift", "default")?;
    c.require_str("mid_block_type", "UNetMidBlock2DCrossAttn")?;
    c.require_str("attention_type", "default")?;
    for key in ["conv_in_kernel", "conv_out_kernel"] {
        let k = c.usize_or(key, 3)?;
        if k != 3 {
            return Err(c.unsupported(format!("`{key}` is {k}; only 3 is supported")));
        }
    }

    let channels = c.usize_list_or("block_out_channels", &[320, 640, 1280, 1280])?;
    let n = channels.len();
    if n == 0 {
        return Err(c.bad("block_out_channels", "must not be empty"));
    }
    let down = c.str_list_or(
        "down_block_types",
        &[CROSS_DOWN, CROSS_DOWN, CROSS_DOWN, PLAIN_DOWN],
    )?;
    let up = c.str_list_or("up_block_types", &[PLAIN_UP, CROSS_UP, CROSS_UP, CROSS_UP])?;
    for (key, list) in [("down_block_types", &down), ("up_block_types", &up)] {
        if list.len() != n {
            return Err(c.bad(
                key,
                &format!(
                    "has {} entries but `block_out_channels` has {n}",
                    list.len()
                ),
            ));
        }
    }
    let mut cross = Vec::with_capacity(n);
    for (i, d) in down.iter().enumerate() {
        let is_cross = match d.as_str() {
            CROSS_DOWN => true,
            PLAIN_DOWN => false,
            other => {
                return Err(c.unsupported(format!(
                    "`down_block_types[{i}]` is {other:?}; only {CROSS_DOWN} and {PLAIN_DOWN} are supported"
                )))
            }
        };
        // candle mirrors the down blocks for the up path, so check the config
        // says the same thing.
        let expected_up = if is_cross { CROSS_UP } else { PLAIN_UP };
        if up[n - 1 - i] != expected_up {
            return Err(c.unsupported(format!(
                "`up_block_types[{}]` is {:?} but mirroring `down_block_types[{i}]` ({d}) needs {expected_up}",
                n - 1 - i,
                up[n - 1 - i]
            )));
        }
        cross.push(is_cross);
    }
    // diffusers' naming quirk: `attention_head_dim` is the number of heads
    // unless the newer `num_attention_heads` is given.
    let heads = if c.has("num_attention_heads") {
        c.usize_per_block("num_attention_heads", n, 8)?
    } else {
        c.usize_per_block("attention_head_dim", n, 8)?
    };
    let transformer_layers = c.usize_per_block("transformer_layers_per_block", n, 1)?;
    let layers_per_block = c.usize_uniform("layers_per_block", n, 2)?;
    let cross_attention_dim = c.usize_uniform("cross_attention_dim", n, 1280)?;
    let norm_num_groups = c.usize_or("norm_num_groups", 32)?;
    let in_channels = c.usize_or("in_channels", 4)?;
    let out_channels = c.usize_or("out_channels", 4)?;

    // Validate everything candle would otherwise panic or mis-build on.
    if norm_num_groups == 0 {
        return Err(c.bad("norm_num_groups", "must be positive"));
    }
    if layers_per_block == 0 {
        return Err(c.bad("layers_per_block", "must be positive"));
    }
    if cross_attention_dim == 0 {
        return Err(c.bad("cross_attention_dim", "must be positive"));
    }
    if in_channels == 0 || out_channels == 0 {
        return Err(c.bad("in_channels", "channel counts must be positive"));
    }
    let heads_key = if c.has("num_attention_heads") {
        "num_attention_heads"
    } else {
        "attention_head_dim"
    };
    for (i, &ch) in channels.iter().enumerate() {
        if ch == 0 || ch % norm_num_groups != 0 {
            return Err(c.bad(
                "block_out_channels",
                &format!("entry {i} ({ch}) must be a positive multiple of `norm_num_groups` ({norm_num_groups})"),
            ));
        }
        // The mid block uses the last block's head count, cross-attn or not.
        if cross[i] || i == n - 1 {
            if heads[i] == 0 || ch % heads[i] != 0 {
                return Err(c.bad(
                    heads_key,
                    &format!("block {i}: {} heads do not divide {ch} channels", heads[i]),
                ));
            }
            if transformer_layers[i] == 0 {
                return Err(c.bad("transformer_layers_per_block", "must be positive"));
            }
        }
    }
    if channels[0] % 2 != 0 {
        return Err(c.bad(
            "block_out_channels",
            "the first entry must be even (timestep embedding)",
        ));
    }
    if !cross[n - 1] && transformer_layers[n - 1] != 1 {
        return Err(c.unsupported(
            "a mid block with more than one transformer layer after a plain last block".to_string(),
        ));
    }
    let sample_size = match c.get("sample_size") {
        None => (64, 64),
        Some(Value::Array(a)) if a.len() == 2 => (
            c.value_usize("sample_size", &a[0])?,
            c.value_usize("sample_size", &a[1])?,
        ),
        Some(v) => {
            let s = c.value_usize("sample_size", v)?;
            (s, s)
        }
    };
    if sample_size.0 == 0 || sample_size.1 == 0 {
        return Err(c.bad("sample_size", "must be positive"));
    }

    let blocks = (0..n)
        .map(|i| unet_2d::BlockConfig {
            out_channels: channels[i],
            use_cross_attn: cross[i].then_some(transformer_layers[i]),
            attention_head_dim: heads[i],
        })
        .collect();
    let config = unet_2d::UNet2DConditionModelConfig {
        center_input_sample: c.bool_or("center_input_sample", false)?,
        flip_sin_to_cos: c.bool_or("flip_sin_to_cos", true)?,
        freq_shift: c.f64_or("freq_shift", 0.0)?,
        blocks,
        layers_per_block,
        downsample_padding: c.usize_or("downsample_padding", 1)?,
        mid_block_scale_factor: c.f64_or("mid_block_scale_factor", 1.0)?,
        norm_num_groups,
        norm_eps: c.f64_or("norm_eps", 1e-5)?,
        cross_attention_dim,
        sliced_attention_size: None,
        use_linear_projection: c.bool_or("use_linear_projection", false)?,
    };
    Ok(UnetSpec {
        config,
        in_channels,
        out_channels,
        sample_size,
    })
}

/// Builds the UNet from `vb` (weights file or a VarMap for random weights).
pub(super) fn build_unet(
    vb: VarBuilder,
    spec: &UnetSpec,
) -> candle_core::Result<unet_2d::UNet2DConditionModel> {
    unet_2d::UNet2DConditionModel::new(
        vb,
        spec.in_channels,
        spec.out_channels,
        false,
        spec.config.clone(),
    )
}

// ---------------------------------------------------------------------------
// VAE

/// A VAE (`AutoencoderKL`) parsed from `vae/config.json`.
#[derive(Debug)]
pub(super) struct VaeSpec {
    pub(super) config: vae::AutoEncoderKLConfig,
    pub(super) in_channels: usize,
    pub(super) scaling_factor: f64,
    pub(super) shift_factor: f64,
    pub(super) force_upcast: bool,
}

impl VaeSpec {
    /// Pixel size of one latent pixel: 2^(number of blocks - 1), 8 for SD.
    pub(super) fn scale_factor(&self) -> u32 {
        let downsamples = self.config.block_out_channels.len().saturating_sub(1);
        1u32 << downsamples.min(16)
    }
}

/// Parses a diffusers `AutoencoderKL` config (defaults as in diffusers).
pub(super) fn parse_vae_config(path: &Path) -> Result<VaeSpec> {
    let c = JsonConfig::read(path)?;
    if let Some(class) = c.opt_str("_class_name")? {
        if class != "AutoencoderKL" {
            return Err(c.unsupported(format!("VAE class {class:?}; expected AutoencoderKL")));
        }
    }
    c.require_str("act_fn", "silu")?;
    c.require_absent(
        &["latents_mean", "latents_std"],
        "per-channel latent statistics are not supported",
    )?;
    if !c.bool_or("mid_block_add_attention", true)? {
        return Err(c.unsupported("`mid_block_add_attention` is false".to_string()));
    }
    let channels = c.usize_list_or("block_out_channels", &[64])?;
    let n = channels.len();
    if n == 0 || n > 8 {
        return Err(c.bad("block_out_channels", "must have between 1 and 8 entries"));
    }
    for (key, expected) in [
        ("down_block_types", "DownEncoderBlock2D"),
        ("up_block_types", "UpDecoderBlock2D"),
    ] {
        let list = c.str_list_or(key, &vec![expected; n])?;
        if list.len() != n {
            return Err(c.bad(
                key,
                &format!(
                    "has {} entries but `block_out_channels` has {n}",
                    list.len()
                ),
            ));
        }
        if let Some(other) = list.iter().find(|t| *t != expected) {
            return Err(c.unsupported(format!(
                "`{key}` contains {other:?}; only {expected} is supported"
            )));
        }
    }
    let norm_num_groups = c.usize_or("norm_num_groups", 32)?;
    if norm_num_groups == 0 {
        return Err(c.bad("norm_num_groups", "must be positive"));
    }
    for (i, &ch) in channels.iter().enumerate() {
        if ch == 0 || ch % norm_num_groups != 0 {
            return Err(c.bad(
                "block_out_channels",
                &format!("entry {i} ({ch}) must be a positive multiple of `norm_num_groups` ({norm_num_groups})"),
            ));
        }
    }
    let layers_per_block = c.usize_or("layers_per_block", 1)?;
    let latent_channels = c.usize_or("latent_channels", 4)?;
    let in_channels = c.usize_or("in_channels", 3)?;
    let out_channels = c.usize_or("out_channels", 3)?;
    if layers_per_block == 0 {
        return Err(c.bad("layers_per_block", "must be positive"));
    }
    if latent_channels == 0 || in_channels == 0 {
        return Err(c.bad("latent_channels", "channel counts must be positive"));
    }
    if out_channels != 3 {
        return Err(c.unsupported(format!(
            "`out_channels` is {out_channels}; an RGB VAE (3) is required"
        )));
    }
    let scaling_factor = c.f64_or("scaling_factor", 0.18215)?;
    if scaling_factor == 0.0 {
        return Err(c.bad("scaling_factor", "must not be zero"));
    }
    let config = vae::AutoEncoderKLConfig {
        block_out_channels: channels,
        layers_per_block,
        latent_channels,
        norm_num_groups,
        use_quant_conv: c.bool_or("use_quant_conv", true)?,
        use_post_quant_conv: c.bool_or("use_post_quant_conv", true)?,
    };
    Ok(VaeSpec {
        config,
        in_channels,
        scaling_factor,
        shift_factor: c.f64_or("shift_factor", 0.0)?,
        // diffusers' SD pipelines only honour this flag when it is written out.
        force_upcast: c.bool_or("force_upcast", false)?,
    })
}

/// Builds the VAE from `vb`. candle's constructor also builds the encoder,
/// whose weights are in every diffusers VAE file.
pub(super) fn build_vae(vb: VarBuilder, spec: &VaeSpec) -> candle_core::Result<vae::AutoEncoderKL> {
    vae::AutoEncoderKL::new(vb, spec.in_channels, 3, spec.config.clone())
}

// ---------------------------------------------------------------------------
// CLIP text encoder

/// The MLP activation of a CLIP text encoder (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum TextActivation {
    /// `quick_gelu` (OpenAI CLIP, SD 1.x).
    QuickGelu,
    /// `gelu`: exact erf GELU (OpenCLIP ViT-H, SD 2.x).
    GeluErf,
    /// `gelu_new` / `gelu_pytorch_tanh`: tanh approximation.
    GeluTanh,
}

/// A `CLIPTextModel` architecture parsed from `text_encoder/config.json`.
#[derive(Debug)]
pub(super) struct TextSpec {
    pub(super) vocab_size: usize,
    pub(super) hidden_size: usize,
    pub(super) intermediate_size: usize,
    pub(super) num_hidden_layers: usize,
    pub(super) num_attention_heads: usize,
    pub(super) max_position_embeddings: usize,
    pub(super) activation: TextActivation,
    pub(super) layer_norm_eps: f64,
}

/// Parses a transformers `CLIPTextConfig`.
pub(super) fn parse_text_config(path: &Path) -> Result<TextSpec> {
    let c = JsonConfig::read(path)?;
    if let Some(arch) = c.list("architectures")? {
        let ok = arch
            .iter()
            .any(|a| a.as_str().is_some_and(|s| s.starts_with("CLIPTextModel")));
        if !ok {
            return Err(c.unsupported(format!(
                "text encoder architectures {arch:?}; only CLIPTextModel is supported"
            )));
        }
    }
    let activation = match c.str_or("hidden_act", "quick_gelu")?.as_str() {
        "quick_gelu" => TextActivation::QuickGelu,
        "gelu" => TextActivation::GeluErf,
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => TextActivation::GeluTanh,
        other => {
            return Err(c.bad(
                "hidden_act",
                &format!("{other:?} is not one of quick_gelu, gelu, gelu_new"),
            ))
        }
    };
    let spec = TextSpec {
        vocab_size: c.usize_or("vocab_size", 49408)?,
        hidden_size: c.usize_or("hidden_size", 512)?,
        intermediate_size: c.usize_or("intermediate_size", 2048)?,
        num_hidden_layers: c.usize_or("num_hidden_layers", 12)?,
        num_attention_heads: c.usize_or("num_attention_heads", 8)?,
        max_position_embeddings: c.usize_or("max_position_embeddings", 77)?,
        activation,
        layer_norm_eps: c.f64_or("layer_norm_eps", 1e-5)?,
    };
    for (key, v) in [
        ("vocab_size", spec.vocab_size),
        ("hidden_size", spec.hidden_size),
        ("intermediate_size", spec.intermediate_size),
        ("num_hidden_layers", spec.num_hidden_layers),
        ("num_attention_heads", spec.num_attention_heads),
    ] {
        if v == 0 {
            return Err(c.bad(key, "must be positive"));
        }
    }
    if spec.hidden_size % spec.num_attention_heads != 0 {
        return Err(c.bad(
            "num_attention_heads",
            &format!(
                "{} heads do not divide `hidden_size` {}",
                spec.num_attention_heads, spec.hidden_size
            ),
        ));
    }
    if spec.max_position_embeddings < 2 {
        return Err(c.bad("max_position_embeddings", "must be at least 2"));
    }
    Ok(spec)
}

struct ClipLayer {
    q_proj: candle_nn::Linear,
    k_proj: candle_nn::Linear,
    v_proj: candle_nn::Linear,
    out_proj: candle_nn::Linear,
    layer_norm1: candle_nn::LayerNorm,
    layer_norm2: candle_nn::LayerNorm,
    fc1: candle_nn::Linear,
    fc2: candle_nn::Linear,
}

/// CLIP's text transformer returning the final-layer-normed hidden states
/// `[batch, tokens, hidden]` that Stable Diffusion conditions on.
///
/// Written here rather than using candle's: `stable_diffusion::clip::Config`
/// has private fields (no way to build it from a config.json), and
/// `models::clip::text_model` only supports `quick_gelu`, while SD 2.x needs
/// `gelu`. Tensor names are Hugging Face's (`embeddings.token_embedding`,
/// `encoder.layers.N.self_attn.q_proj`, ...).
pub(super) struct ClipTextEncoder {
    token_embedding: candle_nn::Embedding,
    position_embedding: candle_nn::Embedding,
    layers: Vec<ClipLayer>,
    final_layer_norm: candle_nn::LayerNorm,
    heads: usize,
    activation: TextActivation,
}

impl ClipTextEncoder {
    /// Builds the encoder; `vb` points at the `text_model` prefix.
    pub(super) fn new(vb: VarBuilder, spec: &TextSpec) -> candle_core::Result<Self> {
        let d = spec.hidden_size;
        let emb = vb.pp("embeddings");
        let token_embedding = candle_nn::embedding(spec.vocab_size, d, emb.pp("token_embedding"))?;
        let position_embedding = candle_nn::embedding(
            spec.max_position_embeddings,
            d,
            emb.pp("position_embedding"),
        )?;
        let ln = |vb: VarBuilder| candle_nn::layer_norm(d, spec.layer_norm_eps, vb);
        let layers_vb = vb.pp("encoder").pp("layers");
        let layers = (0..spec.num_hidden_layers)
            .map(|i| {
                let l = layers_vb.pp(i.to_string());
                let attn = l.pp("self_attn");
                Ok(ClipLayer {
                    q_proj: candle_nn::linear(d, d, attn.pp("q_proj"))?,
                    k_proj: candle_nn::linear(d, d, attn.pp("k_proj"))?,
                    v_proj: candle_nn::linear(d, d, attn.pp("v_proj"))?,
                    out_proj: candle_nn::linear(d, d, attn.pp("out_proj"))?,
                    layer_norm1: ln(l.pp("layer_norm1"))?,
                    layer_norm2: ln(l.pp("layer_norm2"))?,
                    fc1: candle_nn::linear(d, spec.intermediate_size, l.pp("mlp").pp("fc1"))?,
                    fc2: candle_nn::linear(spec.intermediate_size, d, l.pp("mlp").pp("fc2"))?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            token_embedding,
            position_embedding,
            layers,
            final_layer_norm: ln(vb.pp("final_layer_norm"))?,
            heads: spec.num_attention_heads,
            activation: spec.activation,
        })
    }

    /// `ids`: `[batch, tokens]` u32 → hidden states `[batch, tokens, hidden]`.
    pub(super) fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (_, len) = ids.dims2()?;
        let dev = ids.device();
        let positions = Tensor::arange(0u32, len as u32, dev)?;
        let mut xs = self
            .token_embedding
            .forward(ids)?
            .broadcast_add(&self.position_embedding.forward(&positions)?)?;
        // Causal mask: token i attends to tokens 0..=i, as in CLIP training.
        let mask: Vec<f32> = (0..len)
            .flat_map(|i| (0..len).map(move |j| if j > i { f32::MIN } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (len, len), dev)?.to_dtype(xs.dtype())?;
        for layer in &self.layers {
            xs = self.layer_forward(layer, &xs, &mask)?;
        }
        self.final_layer_norm.forward(&xs)
    }

    fn layer_forward(
        &self,
        l: &ClipLayer,
        xs: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (b, len, d) = xs.dims3()?;
        let head_dim = d / self.heads;
        let h = l.layer_norm1.forward(xs)?;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((b, len, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split((l.q_proj.forward(&h)? * (head_dim as f64).powf(-0.5))?)?;
        let k = split(l.k_proj.forward(&h)?)?;
        let v = split(l.v_proj.forward(&h)?)?;
        let att = q.matmul(&k.t()?.contiguous()?)?.broadcast_add(mask)?;
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let o = att.matmul(&v)?.transpose(1, 2)?.reshape((b, len, d))?;
        let xs = (l.out_proj.forward(&o)? + xs)?;
        let h = l.fc1.forward(&l.layer_norm2.forward(&xs)?)?;
        let h = match self.activation {
            TextActivation::QuickGelu => (&h * candle_nn::ops::sigmoid(&(&h * 1.702)?)?)?,
            TextActivation::GeluErf => h.gelu_erf()?,
            TextActivation::GeluTanh => h.gelu()?,
        };
        xs + l.fc2.forward(&h)?
    }
}

// ---------------------------------------------------------------------------
// Schedulers

#[derive(Debug, Clone, Copy, PartialEq)]
enum Prediction {
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
    name: String,
    kind: SamplerKind,
    alphas_cumprod: Vec<f64>,
    spacing: Spacing,
    steps_offset: usize,
    prediction: Prediction,
    clip_sample: Option<f64>,
}

/// The per-generation schedule: timesteps fed to the UNet and, for Euler
/// samplers, the matching sigmas (one more than timesteps, ending at 0).
struct Plan {
    timesteps: Vec<f64>,
    sigmas: Vec<f64>,
    init_noise_sigma: f64,
    /// `num_train_timesteps / steps`, DDIM's distance to the previous timestep.
    step_ratio: usize,
}

impl Plan {
    fn scale_model_input(&self, x: &Tensor, i: usize) -> candle_core::Result<Tensor> {
        match self.sigmas.get(i) {
            Some(&sigma) => x.affine(1.0 / (sigma * sigma + 1.0).sqrt(), 0.0),
            None => Ok(x.clone()),
        }
    }
}

/// Parses a diffusers scheduler config; see the module docs for what is supported.
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
    fn train_steps(&self) -> usize {
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
    fn plan(&self, n: usize) -> Result<Plan> {
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
    fn step(
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

// ---------------------------------------------------------------------------
// Seeded randomness

/// SplitMix64 with Box–Muller normals: tiny, fast and identical on every
/// platform, so a seed reproduces an image regardless of device (candle's CPU
/// RNG cannot be seeded).
pub(super) struct SeededRng {
    state: u64,
    spare: Option<f64>,
}

impl SeededRng {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(super) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal.
    pub(super) fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1], so ln is finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }

    /// An F32 tensor of standard normals, generated on the host.
    pub(super) fn normal_tensor<S: Into<candle_core::Shape>>(
        &mut self,
        shape: S,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let shape = shape.into();
        let data: Vec<f32> = (0..shape.elem_count())
            .map(|_| self.normal() as f32)
            .collect();
        Tensor::from_vec(data, shape, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BPE_GZ: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/clip/bpe_simple_vocab_16e6.txt.gz"
    );

    fn tiny_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        super::super::tiny::write_tiny_sd(dir.path(), Path::new(BPE_GZ)).unwrap();
        dir
    }

    fn params(seed: u64) -> GenerateParams {
        GenerateParams {
            prompt: "a photo of a cat".to_string(),
            negative_prompt: "blurry".to_string(),
            seed,
            width: 64,
            height: 64,
            steps: 3,
            guidance_scale: 7.5,
        }
    }

    fn load(dir: &Path) -> Result<DiffusionModel> {
        DiffusionModel::load(dir, &Device::Cpu)
    }

    #[test]
    fn tiny_model_generates_deterministically() {
        let dir = tiny_dir();
        let model = load(dir.path()).unwrap();
        assert_eq!(model.default_size(), (64, 64));
        assert_eq!(model.scheduler_name(), "DDIM");

        let mut calls = Vec::new();
        let a = model
            .generate(&params(1), &mut |d, t| calls.push((d, t)))
            .unwrap();
        assert_eq!(calls, [(1, 3), (2, 3), (3, 3)]);
        assert_eq!(a.dimensions(), (64, 64));
        let first = a.get_pixel(0, 0);
        assert!(a.pixels().any(|p| p != first), "image is a single colour");

        let b = model.generate(&params(1), &mut |_, _| {}).unwrap();
        assert_eq!(
            a.as_raw(),
            b.as_raw(),
            "same seed must give the same pixels"
        );
        let c = model.generate(&params(2), &mut |_, _| {}).unwrap();
        assert_ne!(a.as_raw(), c.as_raw(), "different seeds must differ");
    }

    #[test]
    fn generation_can_be_cancelled() {
        let dir = tiny_dir();
        let model = load(dir.path()).unwrap();
        let r = model.generate_cancellable(&params(1), &mut |done, _| done < 2);
        assert!(
            matches!(r, Err(DiffusionError::Cancelled { done: 2, total: 3 })),
            "{r:?}"
        );
    }

    #[test]
    fn tiny_model_handles_sizes_and_no_guidance() {
        let dir = tiny_dir();
        let model = load(dir.path()).unwrap();
        // 72 px is 9 latent pixels: odd, so the UNet must pad its upsampling.
        let mut p = params(3);
        p.width = 72;
        p.height = 40;
        p.guidance_scale = 1.0;
        p.steps = 2;
        let img = model.generate(&p, &mut |_, _| {}).unwrap();
        assert_eq!(img.dimensions(), (72, 40));
    }

    #[test]
    fn rejects_invalid_params() {
        let dir = tiny_dir();
        let model = load(dir.path()).unwrap();
        let cases = [
            GenerateParams {
                width: 60,
                ..params(0)
            },
            GenerateParams {
                height: 0,
                ..params(0)
            },
            GenerateParams {
                steps: 0,
                ..params(0)
            },
            GenerateParams {
                steps: 5000,
                ..params(0)
            },
            GenerateParams {
                width: MAX_SIDE + 8,
                ..params(0)
            },
            GenerateParams {
                guidance_scale: f64::NAN,
                ..params(0)
            },
        ];
        for p in cases {
            match model.generate(&p, &mut |_, _| {}) {
                Err(DiffusionError::InvalidParams(_)) => {}
                other => panic!("{p:?}: expected InvalidParams, got {other:?}"),
            }
        }
    }

    #[test]
    fn every_scheduler_runs() {
        let dir = tiny_dir();
        let sched = dir.path().join("scheduler/scheduler_config.json");
        let configs = [
            (
                r#"{"_class_name":"PNDMScheduler","beta_schedule":"scaled_linear","beta_start":0.00085,"beta_end":0.012,"steps_offset":1,"skip_prk_steps":true}"#,
                "DDIM (fallback for PNDMScheduler)",
            ),
            (
                r#"{"_class_name":"EulerAncestralDiscreteScheduler","beta_schedule":"scaled_linear","beta_start":0.00085,"beta_end":0.012}"#,
                "Euler ancestral",
            ),
            (
                r#"{"_class_name":"EulerDiscreteScheduler","prediction_type":"v_prediction","timestep_spacing":"trailing"}"#,
                "Euler",
            ),
            (
                r#"{"_class_name":"DDPMScheduler","beta_schedule":"squaredcos_cap_v2","clip_sample":false}"#,
                "DDPM",
            ),
            (
                r#"{"_class_name":"DDIMScheduler","prediction_type":"v_prediction","rescale_betas_zero_snr":true,"timestep_spacing":"trailing"}"#,
                "DDIM",
            ),
        ];
        for (json, name) in configs {
            std::fs::write(&sched, json).unwrap();
            let model = load(dir.path()).unwrap();
            assert_eq!(model.scheduler_name(), name);
            let a = model.generate(&params(5), &mut |_, _| {}).unwrap();
            let b = model.generate(&params(5), &mut |_, _| {}).unwrap();
            assert_eq!(a.as_raw(), b.as_raw(), "{name} must be deterministic");
        }
    }

    #[test]
    fn ddim_timesteps_match_diffusers() {
        let dir = tiny_dir();
        let spec =
            parse_scheduler_config(&dir.path().join("scheduler/scheduler_config.json")).unwrap();
        // SD 1.5 settings: leading spacing, steps_offset 1.
        let plan = spec.plan(4).unwrap();
        assert_eq!(plan.timesteps, [751.0, 501.0, 251.0, 1.0]);
        assert_eq!(plan.step_ratio, 250);
        // scaled_linear 0.00085..0.012: alphas_cumprod[0] = 1 - 0.00085.
        assert!((spec.alphas_cumprod[0] - 0.99915).abs() < 1e-9);
        assert!((spec.alphas_cumprod[999] - 0.004_660_098_5).abs() < 1e-9);
    }

    #[test]
    fn missing_file_is_named() {
        for rel in [
            "model_index.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
            "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/model.safetensors",
            "tokenizer/merges.txt",
            "scheduler/scheduler_config.json",
        ] {
            let dir = tiny_dir();
            std::fs::remove_file(dir.path().join(rel)).unwrap();
            match load(dir.path()) {
                Err(DiffusionError::MissingFile { path }) => {
                    assert_eq!(path, dir.path().join(rel), "{rel}")
                }
                other => panic!("{rel}: expected MissingFile, got {other:?}"),
            }
        }
    }

    #[test]
    fn corrupt_config_is_named() {
        let dir = tiny_dir();
        let cfg = dir.path().join("vae/config.json");
        std::fs::write(&cfg, "{ not json").unwrap();
        match load(dir.path()) {
            Err(DiffusionError::BadConfig { file, reason }) => {
                assert_eq!(file, cfg);
                assert!(reason.contains("invalid JSON"), "{reason}");
            }
            other => panic!("expected BadConfig, got {other:?}"),
        }

        let dir = tiny_dir();
        let cfg = dir.path().join("unet/config.json");
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
        v["layers_per_block"] = Value::from("two");
        std::fs::write(&cfg, v.to_string()).unwrap();
        match load(dir.path()) {
            Err(DiffusionError::BadConfig { file, reason }) => {
                assert_eq!(file, cfg);
                assert!(reason.contains("layers_per_block"), "{reason}");
            }
            other => panic!("expected BadConfig, got {other:?}"),
        }

        // Heads that do not divide the channels would make candle panic.
        v["layers_per_block"] = Value::from(1);
        v["attention_head_dim"] = serde_json::json!([3, 4]);
        std::fs::write(&cfg, v.to_string()).unwrap();
        match load(dir.path()) {
            Err(DiffusionError::BadConfig { reason, .. }) => {
                assert!(reason.contains("attention_head_dim"), "{reason}")
            }
            other => panic!("expected BadConfig, got {other:?}"),
        }
    }

    #[test]
    fn mismatched_components_are_reported() {
        let dir = tiny_dir();
        let cfg = dir.path().join("text_encoder/config.json");
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
        v["hidden_size"] = Value::from(128);
        std::fs::write(&cfg, v.to_string()).unwrap();
        match load(dir.path()) {
            Err(DiffusionError::BadConfig { file, reason }) => {
                assert_eq!(file, dir.path().join("unet/config.json"));
                assert!(reason.contains("cross_attention_dim"), "{reason}");
            }
            other => panic!("expected BadConfig, got {other:?}"),
        }
    }

    #[test]
    fn missing_tensor_is_named() {
        let dir = tiny_dir();
        let file = dir.path().join("unet/diffusion_pytorch_model.safetensors");
        let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
        let victim = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight";
        assert!(tensors.remove(victim).is_some());
        candle_core::safetensors::save(&tensors, &file).unwrap();
        match load(dir.path()) {
            Err(DiffusionError::MissingTensor { file: f, tensor }) => {
                assert_eq!(f, file);
                assert_eq!(tensor, victim);
            }
            other => panic!("expected MissingTensor, got {other:?}"),
        }
    }

    #[test]
    fn wrong_shape_and_corrupt_weights_are_named() {
        let dir = tiny_dir();
        let file = dir.path().join("vae/diffusion_pytorch_model.safetensors");
        let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
        let name = "decoder.conv_in.weight";
        tensors.insert(
            name.to_string(),
            Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&tensors, &file).unwrap();
        match load(dir.path()) {
            Err(e @ DiffusionError::Weights { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(name) && msg.contains("vae"), "{msg}");
            }
            other => panic!("expected Weights, got {other:?}"),
        }

        let dir = tiny_dir();
        let file = dir.path().join("text_encoder/model.safetensors");
        std::fs::write(&file, b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!").unwrap();
        match load(dir.path()) {
            Err(DiffusionError::Weights { file: f, .. }) => assert_eq!(f, file),
            other => panic!("expected Weights, got {other:?}"),
        }
    }

    #[test]
    fn sdxl_is_unsupported() {
        let dir = tiny_dir();
        let idx = dir.path().join("model_index.json");
        std::fs::write(
            &idx,
            r#"{"_class_name":"StableDiffusionXLPipeline","text_encoder_2":["transformers","CLIPTextModelWithProjection"]}"#,
        )
        .unwrap();
        match load(dir.path()) {
            Err(DiffusionError::Unsupported { file, .. }) => assert_eq!(file, idx),
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn real_sd_configs_parse() {
        // Verbatim configs of runwayml/stable-diffusion-v1-5 and
        // stabilityai/stable-diffusion-2-1 (unet, vae, text encoder, scheduler).
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let u15 =
            parse_unet_config(&write("u15.json", super::super::tiny::SD15_UNET_CONFIG)).unwrap();
        assert_eq!(u15.config.blocks.len(), 4);
        assert_eq!(u15.config.blocks[0].attention_head_dim, 8);
        assert_eq!(u15.config.blocks[0].use_cross_attn, Some(1));
        assert_eq!(u15.config.blocks[3].use_cross_attn, None);
        assert_eq!(u15.config.cross_attention_dim, 768);
        assert!(!u15.config.use_linear_projection);
        assert_eq!(u15.sample_size, (64, 64));

        let u21 = parse_unet_config(&write("u21.json", SD21_UNET)).unwrap();
        let heads: Vec<_> = u21
            .config
            .blocks
            .iter()
            .map(|b| b.attention_head_dim)
            .collect();
        assert_eq!(heads, [5, 10, 20, 20]);
        assert!(u21.config.use_linear_projection);
        assert_eq!(u21.config.cross_attention_dim, 1024);
        assert_eq!(u21.sample_size, (96, 96));

        // A config re-saved by a recent diffusers lists every option, mostly null.
        let modern = parse_unet_config(&write("u21m.json", SD21_UNET_MODERN)).unwrap();
        assert_eq!(modern.config.blocks[2].attention_head_dim, 20);
        assert_eq!(modern.config.blocks[2].use_cross_attn, Some(1));

        let v = parse_vae_config(&write("vae.json", super::super::tiny::SD15_VAE_CONFIG)).unwrap();
        assert_eq!(v.config.block_out_channels, [128, 256, 512, 512]);
        assert_eq!(v.scale_factor(), 8);
        assert!((v.scaling_factor - 0.18215).abs() < 1e-12);

        let t15 = parse_text_config(&write("t15.json", SD15_TEXT)).unwrap();
        assert_eq!((t15.hidden_size, t15.num_hidden_layers), (768, 12));
        assert_eq!(t15.activation, TextActivation::QuickGelu);
        let t21 = parse_text_config(&write("t21.json", SD21_TEXT)).unwrap();
        assert_eq!((t21.hidden_size, t21.num_hidden_layers), (1024, 23));
        assert_eq!(t21.activation, TextActivation::GeluErf);

        let s15 = parse_scheduler_config(&write("s15.json", SD15_SCHEDULER)).unwrap();
        assert_eq!(s15.name, "DDIM (fallback for PNDMScheduler)");
        assert_eq!(s15.clip_sample, None);
        let s21 = parse_scheduler_config(&write("s21.json", SD21_SCHEDULER)).unwrap();
        assert_eq!(s21.name, "DDIM");
        assert_eq!(s21.prediction, Prediction::Velocity);
        assert_eq!(s21.clip_sample, None);

        let sdxl = parse_unet_config(&write("uxl.json", SDXL_UNET));
        assert!(
            matches!(sdxl, Err(DiffusionError::Unsupported { .. })),
            "{sdxl:?}"
        );
    }

    #[test]
    fn seeded_rng_is_standard_normal() {
        let mut rng = SeededRng::new(42);
        let xs: Vec<f64> = (0..20_000).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
        let mut again = SeededRng::new(42);
        assert_eq!(again.normal(), xs[0]);
    }

    const SD21_UNET: &str = r#"{
      "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.10.0.dev0",
      "act_fn": "silu", "attention_head_dim": [5, 10, 20, 20],
      "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false,
      "cross_attention_dim": 1024,
      "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
      "downsample_padding": 1, "dual_cross_attention": false, "flip_sin_to_cos": true,
      "freq_shift": 0, "in_channels": 4, "layers_per_block": 2, "mid_block_scale_factor": 1,
      "norm_eps": 1e-05, "norm_num_groups": 32, "num_class_embeds": null,
      "only_cross_attention": false, "out_channels": 4, "sample_size": 96,
      "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
      "upcast_attention": true, "use_linear_projection": true
    }"#;

    const SD21_UNET_MODERN: &str = r#"{
      "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.30.0",
      "sample_size": 96, "in_channels": 4, "out_channels": 4, "center_input_sample": false,
      "flip_sin_to_cos": true, "freq_shift": 0,
      "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
      "mid_block_type": "UNetMidBlock2DCrossAttn",
      "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
      "only_cross_attention": false, "block_out_channels": [320, 640, 1280, 1280],
      "layers_per_block": 2, "downsample_padding": 1, "mid_block_scale_factor": 1,
      "dropout": 0.0, "act_fn": "silu", "norm_num_groups": 32, "norm_eps": 1e-05,
      "cross_attention_dim": 1024, "transformer_layers_per_block": 1,
      "reverse_transformer_layers_per_block": null, "encoder_hid_dim": null,
      "encoder_hid_dim_type": null, "attention_head_dim": [5, 10, 20, 20],
      "num_attention_heads": null, "dual_cross_attention": false,
      "use_linear_projection": true, "class_embed_type": null, "addition_embed_type": null,
      "addition_time_embed_dim": null, "num_class_embeds": null, "upcast_attention": true,
      "resnet_time_scale_shift": "default", "resnet_skip_time_act": false,
      "resnet_out_scale_factor": 1.0, "time_embedding_type": "positional",
      "time_embedding_dim": null, "time_embedding_act_fn": null, "timestep_post_act": null,
      "time_cond_proj_dim": null, "conv_in_kernel": 3, "conv_out_kernel": 3,
      "projection_class_embeddings_input_dim": null, "attention_type": "default",
      "class_embeddings_concat": false, "mid_block_only_cross_attention": null,
      "cross_attention_norm": null, "addition_embed_type_num_heads": 64
    }"#;

    const SDXL_UNET: &str = r#"{
      "_class_name": "UNet2DConditionModel", "addition_embed_type": "text_time",
      "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
      "block_out_channels": [320, 640, 1280], "cross_attention_dim": 2048,
      "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
      "projection_class_embeddings_input_dim": 2816, "sample_size": 128,
      "transformer_layers_per_block": [1, 2, 10],
      "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
      "use_linear_projection": true
    }"#;

    const SD15_TEXT: &str = r#"{
      "_name_or_path": "openai/clip-vit-large-patch14", "architectures": ["CLIPTextModel"],
      "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2,
      "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0,
      "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
      "max_position_embeddings": 77, "model_type": "clip_text_model",
      "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1,
      "projection_dim": 768, "torch_dtype": "float32", "transformers_version": "4.22.0.dev0",
      "vocab_size": 49408
    }"#;

    const SD21_TEXT: &str = r#"{
      "architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0,
      "dropout": 0.0, "eos_token_id": 2, "hidden_act": "gelu", "hidden_size": 1024,
      "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 4096,
      "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "model_type": "clip_text_model",
      "num_attention_heads": 16, "num_hidden_layers": 23, "pad_token_id": 1,
      "projection_dim": 512, "torch_dtype": "float32", "vocab_size": 49408
    }"#;

    const SD15_SCHEDULER: &str = r#"{
      "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
      "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
      "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
      "trained_betas": null, "clip_sample": false
    }"#;

    const SD21_SCHEDULER: &str = r#"{
      "_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", "beta_end": 0.012,
      "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": false,
      "num_train_timesteps": 1000, "prediction_type": "v_prediction",
      "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
      "trained_betas": null
    }"#;
}
