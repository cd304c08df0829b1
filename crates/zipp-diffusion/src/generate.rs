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
            std::slice::from_mut(&mut rng),
            progress,
            &mut observe,
        )?;
        let decoded = self.decode_latents(&latents)?;
        to_rgb(&decoded, params.width, params.height)
    }

    /// Renders several text-to-image images in one batch (one UNet call per step for all of
    /// them): each its own prompt, negative prompt and seed, all of one size, step count and
    /// guidance scale. Each image equals the one [`Self::generate_cancellable`] renders for
    /// its parameters (up to the rounding of batched matrix products).
    pub fn generate_batch(
        &self,
        params: &[GenerateParams],
        progress: &mut dyn FnMut(u32, u32) -> bool,
    ) -> Result<Vec<image::RgbImage>> {
        let Some(first) = params.first() else {
            return Ok(Vec::new());
        };
        if params.len() == 1 {
            return Ok(vec![self.generate_cancellable(first, progress)?]);
        }
        check_batch(params, |p| self.validate(p))?;
        let guided = first.guidance_scale > 1.0;
        let conds = params
            .iter()
            .map(|p| {
                let negative = Some(p.negative_prompt.as_str()).filter(|n| !n.trim().is_empty());
                self.encode_prompt(&p.prompt, negative, guided, p.width, p.height)
            })
            .collect::<Result<Vec<_>>>()?;
        let halves = if guided { 2 } else { 1 };
        let stack = |part: &dyn Fn(&Conditioning) -> Option<Tensor>| -> Result<Option<Tensor>> {
            let mut rows = Vec::with_capacity(conds.len() * halves);
            for half in 0..halves {
                for c in &conds {
                    match part(c) {
                        Some(t) => rows.push(t.i(half..half + 1)?),
                        None => return Ok(None),
                    }
                }
            }
            Ok(Some(Tensor::cat(&rows, 0)?))
        };
        let context = stack(&|c| Some(c.context.clone()))?
            .ok_or_else(|| DiffusionError::InvalidParams("no conditioning".to_string()))?;
        let added = match (
            stack(&|c| c.added.as_ref().map(|a| a.text_embeds.clone()))?,
            stack(&|c| c.added.as_ref().map(|a| a.time_ids.clone()))?,
        ) {
            (Some(text_embeds), Some(time_ids)) => Some(crate::AddedConditioning {
                text_embeds,
                time_ids,
            }),
            _ => None,
        };
        let cond = Conditioning { context, added };
        let schedule = self.schedule(first.steps)?;
        let (h, w) = (
            (first.height / self.vae_scale) as usize,
            (first.width / self.vae_scale) as usize,
        );
        let mut rngs: Vec<SeededRng> = params.iter().map(|p| SeededRng::new(p.seed)).collect();
        let noise = rngs
            .iter_mut()
            .map(|rng| rng.normal_tensor((1, self.latent_channels, h, w), &self.device))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let latents = (Tensor::cat(&noise, 0)? * schedule.plan.init_noise_sigma)?;
        let latents = self.denoise(
            &schedule,
            0,
            latents,
            &cond,
            first.guidance_scale,
            &mut rngs,
            progress,
            &mut |_, _, _| Ok(()),
        )?;
        let decoded = self.decode_latents(&latents)?;
        (0..params.len())
            .map(|j| to_rgb(&decoded.i(j..j + 1)?, first.width, first.height))
            .collect()
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
            std::slice::from_mut(&mut rng),
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
        rngs: &mut [SeededRng],
        progress: &mut dyn FnMut(u32, u32) -> bool,
        observe: &mut dyn FnMut(u32, u32, &Tensor) -> Result<()>,
    ) -> Result<Tensor> {
        // `n` images at once; with guidance the UNet sees all their unconditional halves, then
        // all their conditional ones.
        let n = latents.dim(0)?;
        let guided = cond.context.dim(0)? == 2 * n;
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
                let uncond = out.i(0..n)?;
                let text = out.i(n..2 * n)?;
                (&uncond + ((text - &uncond)? * guidance_scale)?)?
            } else {
                out
            };
            // Each image steps with its own generator (ancestral samplers draw step noise), so
            // an image of a batch is the image rendered alone.
            latents = if n == 1 {
                self.scheduler
                    .step(&schedule.plan, i, &out, &latents, &mut rngs[0])?
            } else {
                let stepped = rngs
                    .iter_mut()
                    .enumerate()
                    .map(|(j, rng)| {
                        self.scheduler.step(
                            &schedule.plan,
                            i,
                            &out.i(j..j + 1)?,
                            &latents.i(j..j + 1)?,
                            rng,
                        )
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Tensor::cat(&stepped, 0)?
            };
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
        rgb_to_pixels(img, &self.device)
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
        p.check(self.vae_scale, self.scheduler.train_steps())
    }
}

impl GenerateParams {
    /// The checks every pipeline makes: sides positive multiples of `step` and at most
    /// [`MAX_SIDE`], 1 ..= `max_steps` steps, a finite guidance scale ≥ 0, an init image with
    /// pixels and a strength in (0, 1].
    pub(crate) fn check(&self, step: u32, max_steps: usize) -> Result<()> {
        let bad = |m: String| Err(DiffusionError::InvalidParams(m));
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v % step != 0 {
                return bad(format!("{name} {v} must be a positive multiple of {step}"));
            }
            if v > MAX_SIDE {
                return bad(format!("{name} {v} exceeds the maximum of {MAX_SIDE}"));
            }
        }
        if self.steps == 0 || self.steps as usize > max_steps {
            return bad(format!(
                "steps {} must be between 1 and {max_steps}",
                self.steps
            ));
        }
        if !self.guidance_scale.is_finite() || self.guidance_scale < 0.0 {
            return bad(format!(
                "guidance_scale {} must be a finite number >= 0",
                self.guidance_scale
            ));
        }
        if let Some(init) = &self.init_image {
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

/// A batch's parameters, each checked by `check`, must share a size, step count and guidance
/// scale, and render from noise (text-to-image).
pub(crate) fn check_batch(
    params: &[GenerateParams],
    check: impl Fn(&GenerateParams) -> Result<()>,
) -> Result<()> {
    let Some(first) = params.first() else {
        return Ok(());
    };
    for p in params {
        check(p)?;
        let same = (p.width, p.height, p.steps) == (first.width, first.height, first.steps)
            && p.guidance_scale == first.guidance_scale;
        if !same || p.init_image.is_some() {
            return Err(DiffusionError::InvalidParams(
                "a batch renders text-to-image images of one size, step count and guidance \
                 scale"
                    .to_string(),
            ));
        }
    }
    Ok(())
}

/// An RGB image → pixels `[1, 3, H, W]` in [-1, 1] on `device` (diffusers'
/// `VaeImageProcessor.preprocess`: `2·x/255 − 1`).
pub(crate) fn rgb_to_pixels(img: &image::RgbImage, device: &candle_core::Device) -> Result<Tensor> {
    let (width, height) = img.dimensions();
    Ok(Tensor::from_vec(
        img.as_raw().clone(),
        (height as usize, width as usize, 3),
        device,
    )?
    .permute((2, 0, 1))?
    .to_dtype(DType::F32)?
    .affine(2.0 / 255.0, -1.0)?
    .unsqueeze(0)?)
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
