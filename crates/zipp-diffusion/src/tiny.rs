//! A tiny random-weight Stable Diffusion model for tests and demos.
//!
//! [`write_tiny_sd`] writes a complete diffusers-layout model directory that
//! [`crate::DiffusionModel::load`] reads through exactly the same
//! code path as a real SD 1.5 checkpoint: `model_index.json`, every
//! `config.json` with diffusers/transformers key names, safetensors files with
//! the real tensor names, CLIP's real tokenizer (`vocab.json` + `merges.txt`
//! rebuilt from `bpe_simple_vocab_16e6.txt.gz`) and a DDIM scheduler config
//! with SD 1.5's betas.
//!
//! The networks are shrunk (UNet ≈ 0.8 M parameters with two blocks, VAE with
//! four blocks so the ×8 latent factor holds, a 64-wide two-layer text
//! encoder) and filled with seeded random values, so the files are identical
//! on every run and a 64×64 render takes a few tens of milliseconds. The
//! images are noise, but real noise: they change with the seed and prompt.

use std::path::Path;

use anyhow::Context as _;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde_json::json;

use crate::{self as diffusion, SeededRng};
use zipp_clip::tokenizer as clip_tokenizer;

/// Seed of the tiny model's weights (each tensor mixes in its own name).
const WEIGHT_SEED: u64 = 0x5d_71_4e_5e_ed;

/// Writes the tiny model into `dir` (created if needed), overwriting the files
/// it owns. `clip_bpe_gz` is CLIP's `bpe_simple_vocab_16e6.txt.gz`.
pub fn write_tiny_sd(dir: &Path, clip_bpe_gz: &Path) -> anyhow::Result<()> {
    for sub in ["unet", "vae", "text_encoder", "tokenizer", "scheduler"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    }

    write_json(
        &dir.join("model_index.json"),
        &json!({
            "_class_name": "StableDiffusionPipeline",
            "_diffusers_version": "0.30.0",
            "feature_extractor": [null, null],
            "requires_safety_checker": false,
            "safety_checker": [null, null],
            "scheduler": ["diffusers", "DDIMScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"]
        }),
    )?;

    // SD 1.5's UNet config, shrunk: two blocks (one with cross-attention),
    // 64-wide cross-attention to match the text encoder.
    let unet_cfg = dir.join("unet").join("config.json");
    write_json(
        &unet_cfg,
        &json!({
            "_class_name": "UNet2DConditionModel",
            "_diffusers_version": "0.30.0",
            "act_fn": "silu",
            "attention_head_dim": [2, 4],
            "block_out_channels": [32, 64],
            "center_input_sample": false,
            "cross_attention_dim": 64,
            "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
            "downsample_padding": 1,
            "flip_sin_to_cos": true,
            "freq_shift": 0,
            "in_channels": 4,
            "layers_per_block": 1,
            "mid_block_scale_factor": 1,
            "norm_eps": 1e-05,
            "norm_num_groups": 16,
            "out_channels": 4,
            "sample_size": 8,
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
            "use_linear_projection": false
        }),
    )?;

    // Four blocks keep SD's 8x pixel-to-latent factor.
    let vae_cfg = dir.join("vae").join("config.json");
    write_json(
        &vae_cfg,
        &json!({
            "_class_name": "AutoencoderKL",
            "_diffusers_version": "0.30.0",
            "act_fn": "silu",
            "block_out_channels": [16, 16, 32, 32],
            "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
            "in_channels": 3,
            "latent_channels": 4,
            "layers_per_block": 1,
            "norm_num_groups": 8,
            "out_channels": 3,
            "sample_size": 64,
            "scaling_factor": 0.18215,
            "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
        }),
    )?;

    // CLIP's real vocabulary size and context, so the real tokenizer fits.
    let text_cfg = dir.join("text_encoder").join("config.json");
    write_json(
        &text_cfg,
        &json!({
            "architectures": ["CLIPTextModel"],
            "attention_dropout": 0.0,
            "bos_token_id": clip_tokenizer::START_OF_TEXT_ID,
            "dropout": 0.0,
            "eos_token_id": clip_tokenizer::END_OF_TEXT_ID,
            "hidden_act": "quick_gelu",
            "hidden_size": 64,
            "initializer_factor": 1.0,
            "initializer_range": 0.02,
            "intermediate_size": 128,
            "layer_norm_eps": 1e-05,
            "max_position_embeddings": clip_tokenizer::MAX_LEN,
            "model_type": "clip_text_model",
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "pad_token_id": 1,
            "projection_dim": 64,
            "torch_dtype": "float32",
            "vocab_size": 49408
        }),
    )?;

    // SD 1.5's schedule with DDIM (the real model ships PNDM, which the
    // loader maps to DDIM anyway).
    write_json(
        &dir.join("scheduler").join("scheduler_config.json"),
        &json!({
            "_class_name": "DDIMScheduler",
            "_diffusers_version": "0.30.0",
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "beta_start": 0.00085,
            "clip_sample": false,
            "num_train_timesteps": 1000,
            "prediction_type": "epsilon",
            "set_alpha_to_one": false,
            "steps_offset": 1,
            "timestep_spacing": "leading",
            "trained_betas": null
        }),
    )?;

    write_tokenizer(&dir.join("tokenizer"), clip_bpe_gz)?;

    // Weights: build each network from the config just written (the same
    // parser the loader uses), let candle create every tensor it reads, then
    // overwrite the random ones with seeded values.
    let dev = Device::Cpu;
    {
        let spec = diffusion::parse_unet_config(&unet_cfg)?;
        let vm = VarMap::new();
        crate::unet::Unet::new(
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
            &spec.config,
            crate::AttentionBudget::default(),
        )?;
        save_seeded(
            &vm,
            &dir.join("unet").join("diffusion_pytorch_model.safetensors"),
        )?;
    }
    {
        let spec = diffusion::parse_vae_config(&vae_cfg)?;
        let vm = VarMap::new();
        crate::vae::Vae::new(
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
            &spec.config,
            crate::AttentionBudget::default(),
        )?;
        save_seeded(
            &vm,
            &dir.join("vae").join("diffusion_pytorch_model.safetensors"),
        )?;
    }
    {
        let spec = diffusion::parse_text_config(&text_cfg)?;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        diffusion::ClipTextEncoder::new(vb.pp("text_model"), vb.clone(), &spec)?;
        save_seeded(&vm, &dir.join("text_encoder").join("model.safetensors"))?;
    }
    Ok(())
}

fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// The `tokenizer/` folder of a diffusers SD 1.5 checkpoint.
fn write_tokenizer(dir: &Path, clip_bpe_gz: &Path) -> anyhow::Result<()> {
    clip_tokenizer::write_vocab_merges_from_bpe_gz(clip_bpe_gz, dir)?;
    let special = |content: &str| json!({"content": content, "lstrip": false, "normalized": true, "rstrip": false, "single_word": false});
    let sot = special(clip_tokenizer::START_OF_TEXT);
    let eot = special(clip_tokenizer::END_OF_TEXT);
    write_json(
        &dir.join("special_tokens_map.json"),
        &json!({
            "bos_token": sot,
            "eos_token": eot,
            "pad_token": clip_tokenizer::END_OF_TEXT,
            "unk_token": eot
        }),
    )?;
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "add_prefix_space": false,
            "bos_token": sot,
            "do_lower_case": true,
            "eos_token": eot,
            "errors": "replace",
            "model_max_length": clip_tokenizer::MAX_LEN,
            "pad_token": clip_tokenizer::END_OF_TEXT,
            "tokenizer_class": "CLIPTokenizer",
            "unk_token": eot
        }),
    )
}

/// Replaces every randomly initialised variable with seeded values and saves
/// the map. Constant-initialised variables (norm scales = 1, shifts = 0) are
/// already deterministic and kept.
fn save_seeded(vm: &VarMap, path: &Path) -> anyhow::Result<()> {
    {
        let vars = vm
            .data()
            .lock()
            .map_err(|_| anyhow::anyhow!("VarMap lock poisoned"))?;
        for (name, var) in vars.iter() {
            let t = var.as_tensor();
            let values = t.flatten_all()?.to_vec1::<f32>()?;
            if values.windows(2).all(|w| w[0] == w[1]) {
                continue;
            }
            let dims = t.dims();
            // He-uniform for weights (keeps activations O(1) through SiLU and
            // GroupNorm, so images use the full colour range); small biases.
            let bound = match dims {
                [_, rest @ ..] if !rest.is_empty() => {
                    (6.0 / rest.iter().product::<usize>().max(1) as f64).sqrt()
                }
                _ => 0.05,
            };
            let mut rng = SeededRng::new(WEIGHT_SEED ^ fnv1a(name));
            let data: Vec<f32> = (0..values.len())
                .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
                .collect();
            var.set(&Tensor::from_vec(data, dims, &Device::Cpu)?)?;
        }
    }
    vm.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// SD 1.5's `unet/config.json` (runwayml/stable-diffusion-v1-5), for
/// benchmarks and config tests.
pub const SD15_UNET_CONFIG: &str = r#"{
  "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0",
  "act_fn": "silu", "attention_head_dim": 8,
  "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false,
  "cross_attention_dim": 768,
  "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
  "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05,
  "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
}"#;

/// SD 2.1's (and SD-Turbo's) `unet/config.json` (stabilityai/sd-turbo).
pub const SD21_UNET_CONFIG: &str = r#"{
  "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.24.0.dev0",
  "act_fn": "silu", "attention_head_dim": [5, 10, 20, 20],
  "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false,
  "cross_attention_dim": 1024,
  "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
  "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05,
  "norm_num_groups": 32, "out_channels": 4, "sample_size": 64, "use_linear_projection": true,
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
}"#;

/// SD 1.5's `vae/config.json` (runwayml/stable-diffusion-v1-5).
pub const SD15_VAE_CONFIG: &str = r#"{
  "_class_name": "AutoencoderKL", "_diffusers_version": "0.6.0", "act_fn": "silu",
  "block_out_channels": [128, 256, 512, 512],
  "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
  "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
  "out_channels": 3, "sample_size": 512,
  "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
}"#;

/// TAESD's `config.json` (madebyollin/taesd, an `AutoencoderTiny`).
pub const TAESD_CONFIG: &str = r#"{
  "_class_name": "AutoencoderTiny", "_diffusers_version": "0.20.0", "act_fn": "relu",
  "decoder_block_out_channels": [64, 64, 64, 64], "encoder_block_out_channels": [64, 64, 64, 64],
  "force_upcast": false, "in_channels": 3, "latent_channels": 4, "latent_magnitude": 3,
  "latent_shift": 0.5, "num_decoder_blocks": [3, 3, 3, 1], "num_encoder_blocks": [1, 3, 3, 3],
  "out_channels": 3, "scaling_factor": 1.0, "upsampling_scaling_factor": 2
}"#;

/// Writes a tiny random-weight TAESD-layout autoencoder into `dir`
/// (`config.json` + `diffusion_pytorch_model.safetensors`, 8 channels wide),
/// for a catalog entry's `vae` in tests and demos.
pub fn write_tiny_taesd(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cfg = dir.join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(TAESD_CONFIG)?;
    config["decoder_block_out_channels"] = json!([8, 8, 8, 8]);
    config["encoder_block_out_channels"] = json!([8, 8, 8, 8]);
    config["num_decoder_blocks"] = json!([1, 1, 1, 1]);
    config["num_encoder_blocks"] = json!([1, 1, 1, 1]);
    write_json(&cfg, &config)?;
    let spec = crate::vae::AutoencoderSpec::parse(&cfg)?;
    let vm = VarMap::new();
    spec.build(
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
        crate::AttentionBudget::default(),
    )?;
    save_seeded(&vm, &dir.join("diffusion_pytorch_model.safetensors"))
}

/// A UNet and VAE with (unseeded) random weights, built from diffusers
/// `config.json` files through the loader's own parsers. Used to measure the
/// speed of real-size architectures without their multi-GB weights.
pub struct RandomPipeline {
    unet: crate::unet::Unet,
    vae: crate::vae::Autoencoder,
    device: Device,
    dtype: DType,
    cross_attention_dim: usize,
    text_time: Option<crate::unet::TextTime>,
    latent_channels: usize,
    vae_scale: u32,
}

impl RandomPipeline {
    /// Builds both networks in `dtype` on `device` (about 3.4 GB of F32
    /// weights for SD 1.5's UNet), attention chunked to `budget`. The
    /// autoencoder config may be a KL VAE's or TAESD's.
    pub fn from_configs(
        unet_config: &Path,
        vae_config: &Path,
        device: &Device,
        dtype: DType,
        budget: crate::AttentionBudget,
    ) -> anyhow::Result<Self> {
        let unet_spec = diffusion::parse_unet_config(unet_config)?;
        let vae_spec = crate::vae::AutoencoderSpec::parse(vae_config)?;
        let vm = VarMap::new();
        let unet = crate::unet::Unet::new(
            VarBuilder::from_varmap(&vm, dtype, device),
            &unet_spec.config,
            budget,
        )?;
        let vm = VarMap::new();
        let vae = vae_spec.build(VarBuilder::from_varmap(&vm, dtype, device), budget)?;
        Ok(Self {
            unet,
            vae,
            device: device.clone(),
            dtype,
            cross_attention_dim: unet_spec.config.cross_attention_dim,
            text_time: unet_spec.config.text_time,
            latent_channels: vae_spec.latent_channels,
            vae_scale: vae_spec.scale,
        })
    }

    /// One UNet evaluation on `batch` latents for a `width`×`height` image
    /// (batch 2 is one classifier-free-guided step).
    pub fn unet_step(&self, batch: usize, width: u32, height: u32) -> anyhow::Result<()> {
        let (h, w) = (
            (height / self.vae_scale) as usize,
            (width / self.vae_scale) as usize,
        );
        let mut rng = SeededRng::new(1);
        let x = rng
            .normal_tensor((batch, self.latent_channels, h, w), &self.device)?
            .to_dtype(self.dtype)?;
        let ctx = rng
            .normal_tensor(
                (batch, clip_tokenizer::MAX_LEN, self.cross_attention_dim),
                &self.device,
            )?
            .to_dtype(self.dtype)?;
        // SDXL-style UNets also take the pooled text embedding and size ids.
        let added = match self.text_time {
            Some(tt) => Some(crate::AddedConditioning {
                text_embeds: rng
                    .normal_tensor((batch, tt.input_dim - 6 * tt.time_embed_dim), &self.device)?
                    .to_dtype(self.dtype)?,
                time_ids: Tensor::from_vec(
                    [height, width, 0, 0, height, width]
                        .repeat(batch)
                        .into_iter()
                        .map(|v| v as f32)
                        .collect::<Vec<_>>(),
                    (batch, 6),
                    &self.device,
                )?,
            }),
            None => None,
        };
        let out = self.unet.forward(&x, 500.0, &ctx, added.as_ref())?;
        // Force completion on asynchronous devices before the timer stops.
        out.sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        Ok(())
    }

    /// One VAE decode of a `width`×`height` image.
    pub fn vae_decode(&self, width: u32, height: u32) -> anyhow::Result<()> {
        let (h, w) = (
            (height / self.vae_scale) as usize,
            (width / self.vae_scale) as usize,
        );
        let z = SeededRng::new(2)
            .normal_tensor((1, self.latent_channels, h, w), &self.device)?
            .to_dtype(self.dtype)?;
        let img = self.vae.decode(&z)?;
        img.sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        Ok(())
    }
}

/// FNV-1a, to derive a stable per-tensor seed from its name.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BPE_GZ: &str = zipp_clip::tokenizer::BUNDLED_BPE_GZ_PATH;

    #[test]
    fn writes_the_diffusers_layout_deterministically() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_tiny_sd(a.path(), Path::new(BPE_GZ)).unwrap();
        write_tiny_sd(b.path(), Path::new(BPE_GZ)).unwrap();
        for rel in [
            "model_index.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
            "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "tokenizer/vocab.json",
            "tokenizer/merges.txt",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "scheduler/scheduler_config.json",
        ] {
            let x = std::fs::read(a.path().join(rel)).unwrap();
            let y = std::fs::read(b.path().join(rel)).unwrap();
            assert!(!x.is_empty(), "{rel} is empty");
            // safetensors may order entries differently; compare tensors.
            if rel.ends_with(".safetensors") {
                let tx = candle_core::safetensors::load(a.path().join(rel), &Device::Cpu).unwrap();
                let ty = candle_core::safetensors::load(b.path().join(rel), &Device::Cpu).unwrap();
                assert_eq!(tx.len(), ty.len());
                for (k, v) in &tx {
                    let w = &ty[k];
                    let d = (v - w).unwrap().abs().unwrap().max_all().unwrap();
                    assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0, "{rel}: {k}");
                }
            } else {
                assert_eq!(x, y, "{rel} differs between runs");
            }
        }
        // Real HF tensor names.
        let te = candle_core::safetensors::load(
            a.path().join("text_encoder/model.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        assert!(te.contains_key("text_model.embeddings.token_embedding.weight"));
        assert!(te.contains_key("text_model.encoder.layers.1.mlp.fc2.bias"));
        let unet = candle_core::safetensors::load(
            a.path().join("unet/diffusion_pytorch_model.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        assert!(
            unet.contains_key("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight")
        );
        let params: usize = unet.values().map(|t| t.elem_count()).sum();
        assert!(
            (500_000..1_500_000).contains(&params),
            "{params} UNet parameters"
        );
    }
}
