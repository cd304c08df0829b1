//! Rendering: text-to-image and image-to-image generation on a loaded
//! [`DiffusionModel`] (validation, the denoising loop with guidance and
//! cancellation, the VAE encode of an init image, post-processing) and the
//! peak-memory estimate a worker checks before it starts.

use candle_core::{DType, IndexOp, Tensor};

use crate::{
    Conditioning, DiffusionError, DiffusionModel, GenerateParams, Result, Schedule, SeededRng,
    MAX_SIDE,
};

impl DiffusionModel {
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
        self.generate_previewed(params, progress, 0, &mut |_, _| {})
    }

    /// Like [`Self::generate_cancellable`], and every `every` steps (0: never; never after the
    /// last, which the decoded image follows) `preview(done, image)` gets the current latents
    /// projected to RGB ([`Self::latent_preview`]: one pixel per latent pixel, no VAE).
    pub fn generate_previewed(
        &self,
        params: &GenerateParams,
        progress: &mut dyn FnMut(u32, u32) -> bool,
        every: u32,
        preview: &mut dyn FnMut(u32, image::RgbImage),
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
                let noised = self.add_noise(&schedule, first, &x0, &noise)?;
                (first, noised)
            }
        };
        let projection = if every > 0 {
            Some(self.latent_preview()?)
        } else {
            None
        };
        let mut observe = |done: u32, total: u32, latents: &Tensor| -> Result<()> {
            if let Some(projection) = projection {
                if done.is_multiple_of(every) && done < total {
                    preview(done, projection.project(latents)?);
                }
            }
            Ok(())
        };
        let latents = self.denoise(
            &schedule,
            first,
            latents,
            &cond,
            params.guidance_scale,
            &mut rng,
            progress,
            &mut observe,
        )?;
        let decoded = self.decode_latents(&latents)?;
        to_rgb(&decoded, params.width, params.height)
    }

    /// Denoising from step `first` (0 for text-to-image, where `start` is
    /// noise already multiplied by `init_noise_sigma`; img2img's start step
    /// with its noised latents) to the final latents, with the seed-0
    /// generator for ancestral samplers: what [`parity::check`] compares end
    /// to end.
    pub fn denoise_from(
        &self,
        schedule: &Schedule,
        first: usize,
        start: Tensor,
        cond: &Conditioning,
        guidance_scale: f64,
    ) -> Result<Tensor> {
        let mut rng = SeededRng::new(0);
        self.denoise(
            schedule,
            first,
            start,
            cond,
            guidance_scale,
            &mut rng,
            &mut |_, _| true,
            &mut |_, _, _| Ok(()),
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
        observe: &mut dyn FnMut(u32, u32, &Tensor) -> Result<()>,
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
            observe(done, total, &latents)?;
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
        let pixels = self.image_to_pixels(&img)?;
        let z = match self.encode_pixels(&pixels)? {
            (mean, Some(std)) => {
                let eps = rng.normal_tensor(mean.shape(), &self.device)?;
                (mean + (std * eps)?)?
            }
            (latents, None) => latents,
        };
        self.scale_latents(&z)
    }

    /// An RGB image → pixels `[1, 3, H, W]` in [-1, 1] (diffusers'
    /// `VaeImageProcessor.preprocess`: `2·x/255 − 1`).
    pub fn image_to_pixels(&self, img: &image::RgbImage) -> Result<Tensor> {
        let (width, height) = img.dimensions();
        Ok(Tensor::from_vec(
            img.as_raw().clone(),
            (height as usize, width as usize, 3),
            &self.device,
        )?
        .permute((2, 0, 1))?
        .to_dtype(DType::F32)?
        .affine(2.0 / 255.0, -1.0)?
        .unsqueeze(0)?)
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
        let vae_ch0 = self.vae_full_res_channels as u64;
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
pub(crate) fn to_rgb(decoded: &Tensor, width: u32, height: u32) -> Result<image::RgbImage> {
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
