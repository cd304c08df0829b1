//! FLUX.1 (schnell and dev) on candle-transformers' `flux` module, matching diffusers'
//! `FluxPipeline` stage by stage.
//!
//! A diffusers folder (`black-forest-labs/FLUX.1-schnell`'s layout) holds everything:
//!
//! ```text
//! model_index.json            "_class_name": "FluxPipeline"
//! scheduler/scheduler_config.json   FlowMatchEulerDiscreteScheduler
//! text_encoder/, tokenizer/   CLIP ViT-L: its pooled output → the transformer's `vector_in`
//! text_encoder_2/, tokenizer_2/     T5 v1.1 XXL (sharded), tokenizer.json: hidden states → `txt_in`
//! transformer/                config.json + diffusion_pytorch_model*.safetensors (sharded)
//! vae/                        AutoencoderKL, 16 latent channels, scaling and shift factors
//! ```
//!
//! [`LoadOptions::transformer`](crate::LoadOptions) replaces `transformer/` with Black Forest
//! Labs' single file (`flux1-schnell.safetensors`) or a GGUF of it (`*.gguf`, quantized: Q8_0,
//! Q4_K… for smaller GPUs); the folder still gives the text encoders, the VAE and the scheduler.
//!
//! The pipeline: latents of 16 channels at 1/8 of the image, packed in 2×2 patches into a
//! sequence of `(H/16)·(W/16)` tokens of 64 features; image ids `[0, row, col]`, text ids zero;
//! sigmas `linspace(1, 1/n, n)` (shifted by `shift`, or by `mu` from the image's token count
//! when `use_dynamic_shifting`), then 0; each step `x += (σₙ₊₁ − σₙ) · v` with the transformer
//! given `t = σ`; FLUX.1-dev's distilled guidance goes in as the `guidance` embedding. No
//! classifier-free guidance (no negative prompt). Decoding: unpack, `z / scaling + shift`, VAE.
//!
//! Precision: on CPU everything is F32; on CUDA the transformer and T5 run in BF16 (FLUX's
//! own dtype; F16 overflows in it), CLIP in F32, the VAE as its `force_upcast` says.

mod schedule;
mod text;
pub(crate) mod weights;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::flux::{self as cflux, model::Config, WithForward};

use crate::conditioning::TextBranch;
use crate::files::{check_model_index, weights_error, weights_files, PipelineKind};
use crate::json::JsonConfig;
use crate::{vae, DiffusionError, GenerateParams, LoadOptions, Result, SeededRng, MAX_SIDE};
use schedule::FlowMatch;
use text::T5Branch;

/// The transformer, full precision or quantized.
pub(crate) enum Transformer {
    Full(Box<cflux::model::Flux>),
    Quantized(Box<cflux::quantized_model::Flux>),
}

impl Transformer {
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        img: &Tensor,
        img_ids: &Tensor,
        txt: &Tensor,
        txt_ids: &Tensor,
        t: &Tensor,
        vec: &Tensor,
        guidance: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        match self {
            Self::Full(m) => m.forward(img, img_ids, txt, txt_ids, t, vec, guidance),
            Self::Quantized(m) => m.forward(img, img_ids, txt, txt_ids, t, vec, guidance),
        }
    }
}

/// A loaded FLUX.1 pipeline. Load once and share it: [`FluxModel::generate_previewed`] takes
/// `&self`, and the type is `Send + Sync`.
pub struct FluxModel {
    device: Device,
    dtype: DType,
    clip: TextBranch,
    t5: T5Branch,
    transformer: Transformer,
    config: Config,
    vae: vae::Autoencoder,
    vae_dtype: DType,
    vae_full_res_channels: usize,
    vae_scale: u32,
    latent_channels: usize,
    scaling_factor: f64,
    shift_factor: f64,
    scheduler: FlowMatch,
    native: u32,
    weights_bytes: u64,
}

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FluxModel>();
};

impl std::fmt::Debug for FluxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FluxModel")
            .field("device", &self.device)
            .field("dtype", &self.dtype)
            .field("guidance_embed", &self.config.guidance_embed)
            .finish_non_exhaustive()
    }
}

/// The conditioning of one prompt.
#[derive(Debug, Clone)]
pub struct FluxConditioning {
    /// T5's hidden states `[1, L, D]` (the transformer's `encoder_hidden_states`).
    pub t5: Tensor,
    /// CLIP's pooled output `[1, P]` (`pooled_projections`).
    pub pooled: Tensor,
}

impl FluxModel {
    /// Loads a FLUX.1 pipeline from a diffusers-layout folder (see the module docs).
    pub fn load_with(dir: &Path, device: &Device, options: &LoadOptions) -> Result<Self> {
        let index = dir.join("model_index.json");
        if check_model_index(&index)? != PipelineKind::Flux {
            return Err(DiffusionError::Unsupported {
                file: index,
                reason: "not a FluxPipeline".to_string(),
            });
        }
        let scheduler = FlowMatch::parse(&dir.join("scheduler").join("scheduler_config.json"))?;
        let on_gpu = !device.is_cpu();
        let dtype = if on_gpu { DType::BF16 } else { DType::F32 };
        let folder_cfg = dir.join("transformer").join("config.json");
        let folder_config = if folder_cfg.is_file() {
            Some(weights::parse_transformer_config(&folder_cfg)?)
        } else {
            None
        };
        // The encoders first: their sizes are checked against the transformer's before its
        // (large) weights are read.
        let guidance = folder_config.as_ref().is_some_and(|c| c.guidance_embed);
        let mut t5 = T5Branch::load(dir, dtype, device, if guidance { 512 } else { 256 })?;
        let clip = TextBranch::load(dir, "text_encoder", "tokenizer", device)?;
        let check = |config: &Config, file: &Path| -> Result<()> {
            let mismatch = |what: &str, theirs: usize, ours: usize| DiffusionError::BadConfig {
                file: file.to_path_buf(),
                reason: format!(
                    "the transformer takes {ours} {what} but the text encoder gives {theirs}"
                ),
            };
            if t5.hidden != config.context_in_dim {
                return Err(mismatch("T5 features", t5.hidden, config.context_in_dim));
            }
            if clip.hidden() != config.vec_in_dim {
                return Err(mismatch(
                    "pooled CLIP features",
                    clip.hidden(),
                    config.vec_in_dim,
                ));
            }
            Ok(())
        };
        if let (Some(config), None) = (&folder_config, &options.transformer) {
            check(config, &folder_cfg)?;
        }
        let (transformer, config, transformer_bytes) = match &options.transformer {
            None => {
                let config = folder_config.ok_or(DiffusionError::MissingFile {
                    path: folder_cfg.clone(),
                })?;
                let files =
                    weights_files(&dir.join("transformer"), "diffusion_pytorch_model", false)?;
                let tensors = weights::load_diffusers(&files, dtype, device)?;
                let vb = candle_nn::VarBuilder::from_tensors(tensors, dtype, device);
                let model = cflux::model::Flux::new(&config, vb)
                    .map_err(|e| weights_error(&files[0], e))?;
                let bytes = files.iter().map(|f| crate::loaded_bytes(f, dtype)).sum();
                (Transformer::Full(Box::new(model)), config, bytes)
            }
            Some(file) => {
                let axes = folder_config.map(|c| c.axes_dim);
                weights::load_single_file(file, dtype, device, axes)?
            }
        };
        if let Some(file) = &options.transformer {
            check(&config, file)?;
        }
        if config.guidance_embed != guidance {
            t5.set_max_tokens(if config.guidance_embed { 512 } else { 256 })?;
        }
        let vae_dir = options.vae.clone().unwrap_or_else(|| dir.join("vae"));
        let vae_cfg = vae_dir.join("config.json");
        let spec = vae::AutoencoderSpec::parse(&vae_cfg)?;
        if spec.latent_channels * 4 != config.in_channels {
            return Err(DiffusionError::BadConfig {
                file: vae_cfg,
                reason: format!(
                    "{} latent channels packed in 2×2 patches make {} features, but the \
                     transformer takes {}",
                    spec.latent_channels,
                    spec.latent_channels * 4,
                    config.in_channels
                ),
            });
        }
        let native = JsonConfig::read(&vae_cfg)?.usize_or("sample_size", 1024)?;
        let native = u32::try_from(native).unwrap_or(1024).clamp(16, MAX_SIDE);
        let loaded_vae = crate::load_vae(&vae_dir, spec, device, options.budget)?;
        let clip_bytes = weights_files(&dir.join("text_encoder"), "model", false)
            .map(|f| f.iter().map(|f| crate::loaded_bytes(f, DType::F32)).sum())
            .unwrap_or(0);
        Ok(Self {
            device: device.clone(),
            dtype,
            weights_bytes: transformer_bytes + t5.bytes + clip_bytes + loaded_vae.bytes,
            clip,
            t5,
            transformer,
            config,
            vae_dtype: loaded_vae.dtype,
            vae_full_res_channels: loaded_vae.spec.full_res_channels,
            vae_scale: loaded_vae.spec.scale,
            latent_channels: loaded_vae.spec.latent_channels,
            scaling_factor: loaded_vae.spec.scaling_factor,
            shift_factor: loaded_vae.spec.shift_factor,
            vae: loaded_vae.model,
            scheduler,
            native,
        })
    }

    /// T5's context length: 256 for FLUX.1-schnell, 512 for dev (what Black Forest Labs'
    /// reference code uses; diffusers defaults to 512).
    pub fn set_max_sequence_length(&mut self, tokens: usize) -> Result<()> {
        self.t5.set_max_tokens(tokens)
    }

    /// The native size `(width, height)`: the VAE's `sample_size` (1024 for FLUX.1).
    pub fn default_size(&self) -> (u32, u32) {
        (self.native, self.native)
    }

    /// Sizes must be multiples of this: 16 pixels (the VAE's 8 times the 2×2 packing).
    pub fn latent_factor(&self) -> u32 {
        self.vae_scale * 2
    }

    /// Whether the transformer takes FLUX.1-dev's guidance embedding.
    pub fn guidance_embedded(&self) -> bool {
        self.config.guidance_embed
    }

    /// Token ids for CLIP (77) and T5 (`max_sequence_length`).
    pub fn token_ids(&self, text: &str) -> Result<(Vec<u32>, Vec<u32>)> {
        Ok((self.clip.ids(text)?, self.t5.ids(text)?))
    }

    /// The prompt's conditioning (F32).
    pub fn encode_prompt(&self, prompt: &str) -> Result<FluxConditioning> {
        let ids = self.clip.ids(prompt)?;
        let n = ids.len();
        let ids = Tensor::from_vec(ids, (1, n), &self.device)?;
        let pooled = self.clip.encoder.forward_all(&ids)?.pooled_hidden;
        let t5 = self.t5.encode(prompt, &self.device)?;
        Ok(FluxConditioning { t5, pooled })
    }

    /// The sigmas (n + 1, ending at 0) of an `steps`-step render at `width`×`height`.
    pub fn sigmas(&self, steps: u32, width: u32, height: u32) -> Vec<f64> {
        let seq = (width / 16) as usize * (height / 16) as usize;
        self.scheduler.sigmas(steps as usize, seq)
    }

    /// Image position ids `[h/2·w/2, 3]` (`[0, row, col]`) for latents of `h`×`w`.
    pub fn image_ids(&self, h: usize, w: usize) -> Result<Tensor> {
        let ids: Vec<f32> = (0..h / 2)
            .flat_map(|r| (0..w / 2).flat_map(move |c| [0.0, r as f32, c as f32]))
            .collect();
        Ok(Tensor::from_vec(ids, (h / 2 * w / 2, 3), &self.device)?)
    }

    /// The transformer's velocity for packed latents `[b, seq, C·4]` at `sigma` (F32 in/out;
    /// `cond` holds `b` prompts).
    pub fn predict(
        &self,
        packed: &Tensor,
        image_ids: &Tensor,
        sigma: f64,
        cond: &FluxConditioning,
        guidance: f64,
    ) -> Result<Tensor> {
        let (b, txt_len, _) = cond.t5.dims3()?;
        let txt_ids = Tensor::zeros((b, txt_len, 3), self.dtype, &self.device)?;
        let t = Tensor::full(sigma as f32, b, &self.device)?.to_dtype(self.dtype)?;
        let g = Tensor::full(guidance as f32, b, &self.device)?.to_dtype(self.dtype)?;
        let img_ids = image_ids
            .unsqueeze(0)?
            .repeat((b, 1, 1))?
            .to_dtype(self.dtype)?;
        let out = self.transformer.forward(
            &packed.to_dtype(self.dtype)?,
            &img_ids,
            &cond.t5.to_dtype(self.dtype)?,
            &txt_ids,
            &t,
            &cond.pooled.to_dtype(self.dtype)?,
            self.config.guidance_embed.then_some(&g),
        )?;
        Ok(out.to_dtype(DType::F32)?)
    }

    /// Several text-to-image renders in one batch (one transformer call per step for all):
    /// each its own prompt and seed, all of one size and step count.
    pub fn generate_batch(
        &self,
        params: &[GenerateParams],
        progress: &mut dyn FnMut(u32, u32) -> bool,
    ) -> Result<Vec<image::RgbImage>> {
        let Some(first) = params.first() else {
            return Ok(Vec::new());
        };
        crate::generate::check_batch(params, |p| self.validate(p))?;
        let conds = params
            .iter()
            .map(|p| self.encode_prompt(&p.prompt))
            .collect::<Result<Vec<_>>>()?;
        let cond = FluxConditioning {
            t5: Tensor::cat(&conds.iter().map(|c| &c.t5).collect::<Vec<_>>(), 0)?,
            pooled: Tensor::cat(&conds.iter().map(|c| &c.pooled).collect::<Vec<_>>(), 0)?,
        };
        let (h, w) = (
            (first.height / self.vae_scale) as usize,
            (first.width / self.vae_scale) as usize,
        );
        let noise = params
            .iter()
            .map(|p| {
                SeededRng::new(p.seed).normal_tensor((1, self.latent_channels, h, w), &self.device)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mut latents = pack(&Tensor::cat(&noise, 0)?)?;
        let sigmas = self.sigmas(first.steps, first.width, first.height);
        let image_ids = self.image_ids(h, w)?;
        let total = u32::try_from(sigmas.len() - 1).unwrap_or(u32::MAX);
        for i in 0..sigmas.len() - 1 {
            let v = self.predict(&latents, &image_ids, sigmas[i], &cond, first.guidance_scale)?;
            latents = (latents + (v * (sigmas[i + 1] - sigmas[i]))?)?;
            let done = u32::try_from(i + 1).unwrap_or(total);
            if !progress(done, total) {
                return Err(DiffusionError::Cancelled { done, total });
            }
        }
        let decoded = self.decode_packed(&latents, first.width, first.height)?;
        (0..params.len())
            .map(|j| crate::generate::to_rgb(&decoded.narrow(0, j, 1)?, first.width, first.height))
            .collect()
    }

    /// The VAE decode of packed final latents for a `width`×`height` image: `[1, 3, H, W]`
    /// roughly in [-1, 1].
    pub fn decode_packed(&self, packed: &Tensor, width: u32, height: u32) -> Result<Tensor> {
        let z = unpack(
            packed,
            (height / self.vae_scale) as usize,
            (width / self.vae_scale) as usize,
        )?;
        let z = z.affine(1.0 / self.scaling_factor, self.shift_factor)?;
        Ok(self
            .vae
            .decode(&z.to_dtype(self.vae_dtype)?)?
            .to_dtype(DType::F32)?)
    }

    /// Renders one image (see [`crate::DiffusionModel::generate_previewed`]; FLUX sends no
    /// previews). An init image makes it image-to-image (diffusers' `FluxImg2ImgPipeline`).
    pub fn generate_previewed(
        &self,
        params: &GenerateParams,
        progress: &mut dyn FnMut(u32, u32) -> bool,
    ) -> Result<image::RgbImage> {
        self.validate(params)?;
        let cond = self.encode_prompt(&params.prompt)?;
        let (h, w) = (
            (params.height / self.vae_scale) as usize,
            (params.width / self.vae_scale) as usize,
        );
        let sigmas = self.sigmas(params.steps, params.width, params.height);
        let n = sigmas.len() - 1;
        let mut rng = SeededRng::new(params.seed);
        let noise = rng.normal_tensor((1, self.latent_channels, h, w), &self.device)?;
        let (first, mut latents) = match &params.init_image {
            None => (0, pack(&noise)?),
            Some(init) => {
                // diffusers' get_timesteps: the last ⌊n·strength⌋ steps run (at least one).
                let run = ((n as f64 * init.strength) as usize).clamp(1, n);
                let first = n - run;
                let img = if init.image.dimensions() == (params.width, params.height) {
                    init.image.clone()
                } else {
                    image::imageops::resize(
                        &init.image,
                        params.width,
                        params.height,
                        image::imageops::FilterType::Lanczos3,
                    )
                };
                let pixels = crate::generate::rgb_to_pixels(&img, &self.device)?;
                let (mean, std) = self.vae.encode(&pixels.to_dtype(self.vae_dtype)?)?;
                let mean = mean.to_dtype(DType::F32)?;
                let z = match std {
                    Some(std) => {
                        let eps = rng.normal_tensor(mean.shape(), &self.device)?;
                        (mean + (std.to_dtype(DType::F32)? * eps)?)?
                    }
                    None => mean,
                };
                let x0 = ((z - self.shift_factor)? * self.scaling_factor)?;
                let s = sigmas[first];
                // scale_noise: σ·noise + (1 − σ)·x0.
                let start = ((&noise * s)? + (x0 * (1.0 - s))?)?;
                (first, pack(&start)?)
            }
        };
        let image_ids = self.image_ids(h, w)?;
        let total = u32::try_from(n - first).unwrap_or(u32::MAX);
        for i in first..n {
            let v = self.predict(
                &latents,
                &image_ids,
                sigmas[i],
                &cond,
                params.guidance_scale,
            )?;
            latents = (latents + (v * (sigmas[i + 1] - sigmas[i]))?)?;
            let done = u32::try_from(i + 1 - first).unwrap_or(total);
            if !progress(done, total) {
                return Err(DiffusionError::Cancelled { done, total });
            }
        }
        let decoded = self.decode_packed(&latents, params.width, params.height)?;
        crate::generate::to_rgb(&decoded, params.width, params.height)
    }

    /// Predicted peak memory in bytes of rendering `images` `width`×`height` images at once:
    /// the weights plus the larger of the transformer's working set (its attention scores are
    /// materialized whole: heads × tokens², twice, with the softmax) and the VAE decoder's.
    pub fn estimate_peak_bytes(&self, width: u32, height: u32, images: usize) -> u64 {
        let images = images.max(1) as u64;
        let elt = self.dtype.size_in_bytes() as u64;
        let tokens = self.t5.max_tokens() as u64 + u64::from(width / 16) * u64::from(height / 16);
        let c = &self.config;
        let hidden = c.hidden_size as u64;
        let mlp = (c.hidden_size as f64 * c.mlp_ratio) as u64;
        let scores = 2 * c.num_heads as u64 * tokens * tokens * elt;
        let activations = 4 * tokens * (3 * hidden + mlp) * elt;
        let full = u64::from(width) * u64::from(height);
        let vae =
            6 * self.vae_full_res_channels as u64 * full * self.vae_dtype.size_in_bytes() as u64;
        self.weights_bytes + images * (scores + activations).max(vae)
    }

    fn validate(&self, p: &GenerateParams) -> Result<()> {
        p.check(self.latent_factor(), self.scheduler.train_steps)
    }
}

/// `[b, c, h, w]` → `[b, h/2·w/2, c·4]` (2×2 patches, channels outermost in a patch).
pub fn pack(x: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    Ok(x.reshape((b, c, h / 2, 2, w / 2, 2))?
        .permute((0, 2, 4, 1, 3, 5))?
        .reshape((b, h / 2 * w / 2, c * 4))?)
}

/// The inverse of [`pack`] for latents of `h`×`w`.
pub fn unpack(x: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let (b, _, f) = x.dims3()?;
    Ok(x.reshape((b, h / 2, w / 2, f / 4, 2, 2))?
        .permute((0, 3, 1, 4, 2, 5))?
        .reshape((b, f / 4, h, w))?)
}

#[cfg(test)]
mod tests;
