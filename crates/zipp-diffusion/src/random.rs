//! Real-size architectures with random weights, for measuring speed and memory without the
//! multi-GB checkpoints (`bench_render`, `gpu_check`): SDXL's UNet and VAE configs next to
//! [`crate::tiny`]'s SD 1.5 ones, and FLUX.1's transformer and VAE.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::flux::{self as cflux, model::Config, WithForward};

use crate::SeededRng;

/// `stabilityai/stable-diffusion-xl-base-1.0`'s `unet/config.json` (the keys the loader reads).
pub const SDXL_UNET_CONFIG: &str = r#"{
  "_class_name": "UNet2DConditionModel",
  "act_fn": "silu", "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64,
  "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
  "block_out_channels": [320, 640, 1280], "center_input_sample": false,
  "cross_attention_dim": 2048,
  "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
  "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
  "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
  "out_channels": 4, "projection_class_embeddings_input_dim": 2816, "sample_size": 128,
  "transformer_layers_per_block": [1, 2, 10],
  "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
  "use_linear_projection": true
}"#;

/// SDXL's VAE (SD's architecture, its own scaling factor).
pub const SDXL_VAE_CONFIG: &str = r#"{
  "_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
  "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
  "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
  "out_channels": 3, "sample_size": 1024, "scaling_factor": 0.13025,
  "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
}"#;

/// FLUX.1's VAE: 16 latent channels, no quant convs, scaling and shift factors.
pub const FLUX_VAE_CONFIG: &str = r#"{
  "_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
  "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
  "force_upcast": true, "in_channels": 3, "latent_channels": 16, "layers_per_block": 2,
  "mid_block_add_attention": true, "norm_num_groups": 32, "out_channels": 3, "sample_size": 1024,
  "scaling_factor": 0.3611, "shift_factor": 0.1159,
  "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
  "use_post_quant_conv": false, "use_quant_conv": false
}"#;

/// A FLUX transformer of `config` with random weights.
pub struct RandomFlux {
    model: cflux::model::Flux,
    config: Config,
    device: Device,
    dtype: DType,
}

impl RandomFlux {
    /// FLUX.1-schnell's transformer (12B parameters: 24 GB in BF16) or a smaller `config`.
    pub fn new(config: Config, device: &Device, dtype: DType) -> anyhow::Result<Self> {
        let vm = VarMap::new();
        let model = cflux::model::Flux::new(&config, VarBuilder::from_varmap(&vm, dtype, device))?;
        Ok(Self {
            model,
            config,
            device: device.clone(),
            dtype,
        })
    }

    /// One transformer evaluation for `batch` images of `width`×`height` with `text_tokens`
    /// T5 tokens (256 for schnell).
    pub fn step(
        &self,
        batch: usize,
        width: u32,
        height: u32,
        text_tokens: usize,
    ) -> anyhow::Result<()> {
        let (h, w) = ((height / 16) as usize, (width / 16) as usize);
        let mut rng = SeededRng::new(3);
        let c = &self.config;
        let img = rng
            .normal_tensor((batch, h * w, c.in_channels), &self.device)?
            .to_dtype(self.dtype)?;
        let txt = rng
            .normal_tensor((batch, text_tokens, c.context_in_dim), &self.device)?
            .to_dtype(self.dtype)?;
        let vec = rng
            .normal_tensor((batch, c.vec_in_dim), &self.device)?
            .to_dtype(self.dtype)?;
        let ids: Vec<f32> = (0..h)
            .flat_map(|r| (0..w).flat_map(move |col| [0.0, r as f32, col as f32]))
            .collect();
        let img_ids = Tensor::from_vec(ids, (1, h * w, 3), &self.device)?
            .repeat((batch, 1, 1))?
            .to_dtype(self.dtype)?;
        let txt_ids = Tensor::zeros((batch, text_tokens, 3), self.dtype, &self.device)?;
        let t = Tensor::full(0.5f32, batch, &self.device)?.to_dtype(self.dtype)?;
        let g = Tensor::full(3.5f32, batch, &self.device)?.to_dtype(self.dtype)?;
        let out = self.model.forward(
            &img,
            &img_ids,
            &txt,
            &txt_ids,
            &t,
            &vec,
            c.guidance_embed.then_some(&g),
        )?;
        out.sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FLUX-shaped transformer steps (a small one: the real one is 24 GB).
    #[test]
    fn a_small_random_flux_steps() {
        let config = Config {
            in_channels: 64,
            vec_in_dim: 32,
            context_in_dim: 48,
            hidden_size: 32,
            mlp_ratio: 4.0,
            num_heads: 2,
            depth: 1,
            depth_single_blocks: 1,
            axes_dim: vec![4, 6, 6],
            theta: 10_000,
            qkv_bias: true,
            guidance_embed: true,
        };
        let flux = RandomFlux::new(config, &Device::Cpu, DType::F32).unwrap();
        flux.step(2, 64, 32, 8).unwrap();
    }
}
