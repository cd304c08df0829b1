//! Any pipeline this crate runs, chosen by the folder's `model_index.json`: Stable Diffusion
//! 1.x/2.x/XL ([`DiffusionModel`]) or FLUX.1 ([`FluxModel`]). What a render worker needs is the
//! same for both.

use std::path::Path;

use candle_core::Device;

use crate::files::{check_model_index, PipelineKind};
use crate::{DiffusionModel, FluxModel, GenerateParams, LoadOptions, Result};

/// A loaded pipeline of either family.
#[derive(Debug)]
pub enum Pipeline {
    /// Stable Diffusion 1.x, 2.x, XL (and Turbo).
    StableDiffusion(Box<DiffusionModel>),
    /// FLUX.1 schnell or dev.
    Flux(Box<FluxModel>),
}

impl Pipeline {
    /// Loads the diffusers folder `dir`, whichever family its `model_index.json` names.
    pub fn load_with(dir: &Path, device: &Device, options: &LoadOptions) -> Result<Self> {
        match check_model_index(&dir.join("model_index.json"))? {
            PipelineKind::Flux => Ok(Self::Flux(Box::new(FluxModel::load_with(
                dir, device, options,
            )?))),
            _ => Ok(Self::StableDiffusion(Box::new(DiffusionModel::load_with(
                dir, device, options,
            )?))),
        }
    }

    /// The native image size `(width, height)`.
    pub fn default_size(&self) -> (u32, u32) {
        match self {
            Self::StableDiffusion(m) => m.default_size(),
            Self::Flux(m) => m.default_size(),
        }
    }

    /// Image sides must be multiples of this (8 for SD, 16 for FLUX).
    pub fn latent_factor(&self) -> u32 {
        match self {
            Self::StableDiffusion(m) => m.latent_factor(),
            Self::Flux(m) => m.latent_factor(),
        }
    }

    /// Predicted peak memory in bytes of rendering `images` images of `width`×`height` at once
    /// with this guidance scale (above 1 Stable Diffusion runs its UNet on two per image; FLUX
    /// never does).
    pub fn estimate_peak_bytes(
        &self,
        width: u32,
        height: u32,
        guidance_scale: f64,
        images: usize,
    ) -> u64 {
        let images = images.max(1);
        match self {
            Self::StableDiffusion(m) => {
                let per_image = if guidance_scale > 1.0 { 2 } else { 1 };
                m.estimate_peak_bytes(width, height, per_image * images)
            }
            Self::Flux(m) => m.estimate_peak_bytes(width, height, images),
        }
    }

    /// Renders several text-to-image images of one size, step count and guidance scale in one
    /// batch (see [`DiffusionModel::generate_batch`]).
    pub fn generate_batch(
        &self,
        params: &[GenerateParams],
        progress: &mut dyn FnMut(u32, u32) -> bool,
    ) -> Result<Vec<image::RgbImage>> {
        match self {
            Self::StableDiffusion(m) => m.generate_batch(params, progress),
            Self::Flux(m) => m.generate_batch(params, progress),
        }
    }

    /// Renders one image: see [`DiffusionModel::generate_previewed`] (FLUX sends no previews).
    pub fn generate_previewed(
        &self,
        params: &GenerateParams,
        progress: &mut dyn FnMut(u32, u32) -> bool,
        every: u32,
        preview: &mut dyn FnMut(u32, image::RgbImage),
    ) -> Result<image::RgbImage> {
        match self {
            Self::StableDiffusion(m) => m.generate_previewed(params, progress, every, preview),
            Self::Flux(m) => m.generate_previewed(params, progress),
        }
    }
}
