//! CLIP image and text embeddings (candle-transformers' `clip`), for the images members engage
//! with: the worker embeds every render it makes, and the persona encoder's ImageAlign
//! objective aligns members with the renders they liked (DESIGN.md §5).
//!
//! A model is a folder in the Hugging Face layout of `openai/clip-vit-base-patch32`:
//! `config.json` (with `projection_dim`, `text_config`, `vision_config`; missing keys take that
//! model's values) and `model.safetensors`. The text side uses the CLIP BPE bundled in the
//! binary ([`tokenizer`], which Stable Diffusion 1.x/2.x text encoders share). [`write_tiny`]
//! writes a tiny random model in the same layout for tests and benchmarks.
//!
//! This crate loads from a local folder only; resolving a Hugging Face repo id to a folder
//! (download, cache) is the application's job.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::clip::{self, text_model, vision_model};
use serde::{Deserialize, Serialize};

pub mod safety;
pub mod tokenizer;

use crate::tokenizer as clip_tokenizer;

/// CLIP's image normalization (RGB mean and standard deviation).
const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
const STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// Why CLIP cannot be loaded or run; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// A file is missing or unreadable.
    #[error("CLIP model {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The model failed (shapes, weights).
    #[error("CLIP: {0}")]
    Model(#[from] candle_core::Error),
    /// The tokenizer failed.
    #[error("CLIP tokenizer: {0}")]
    Tokenizer(String),
}

fn default_text() -> TextConfig {
    TextConfig {
        hidden_size: 512,
        intermediate_size: 2048,
        num_attention_heads: 8,
        num_hidden_layers: 12,
        max_position_embeddings: 77,
        vocab_size: 49_408,
    }
}

fn default_vision() -> VisionConfig {
    VisionConfig {
        hidden_size: 768,
        intermediate_size: 3072,
        num_attention_heads: 12,
        num_hidden_layers: 12,
        image_size: 224,
        patch_size: 32,
        num_channels: 3,
    }
}

fn default_projection() -> usize {
    512
}

/// `text_config` of `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    /// Width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Heads.
    pub num_attention_heads: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Context length.
    pub max_position_embeddings: usize,
    /// Vocabulary (49408 for the CLIP BPE).
    pub vocab_size: usize,
}

impl Default for TextConfig {
    fn default() -> Self {
        default_text()
    }
}

/// `vision_config` of `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    /// Width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Heads.
    pub num_attention_heads: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Input side (pixels).
    pub image_size: usize,
    /// Patch side (pixels).
    pub patch_size: usize,
    /// Colour channels.
    pub num_channels: usize,
}

impl Default for VisionConfig {
    fn default() -> Self {
        default_vision()
    }
}

/// `config.json` of a CLIP model (the keys zipp reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipFileConfig {
    /// Size of the shared embedding space.
    #[serde(default = "default_projection")]
    pub projection_dim: usize,
    /// The text tower.
    #[serde(default)]
    pub text_config: TextConfig,
    /// The vision tower.
    #[serde(default)]
    pub vision_config: VisionConfig,
}

impl ClipFileConfig {
    /// `openai/clip-vit-base-patch32`.
    pub fn vit_base_patch32() -> Self {
        Self {
            projection_dim: default_projection(),
            text_config: default_text(),
            vision_config: default_vision(),
        }
    }

    /// A tiny model with the real vocabulary (for tests and benchmarks).
    pub fn tiny() -> Self {
        Self {
            projection_dim: 16,
            text_config: TextConfig {
                hidden_size: 32,
                intermediate_size: 64,
                num_attention_heads: 2,
                num_hidden_layers: 2,
                max_position_embeddings: 77,
                vocab_size: 49_408,
            },
            vision_config: VisionConfig {
                hidden_size: 32,
                intermediate_size: 64,
                num_attention_heads: 2,
                num_hidden_layers: 2,
                image_size: 32,
                patch_size: 8,
                num_channels: 3,
            },
        }
    }

    pub(crate) fn candle(&self) -> clip::ClipConfig {
        let t = &self.text_config;
        let v = &self.vision_config;
        clip::ClipConfig {
            text_config: text_model::ClipTextConfig {
                vocab_size: t.vocab_size,
                embed_dim: t.hidden_size,
                activation: text_model::Activation::QuickGelu,
                intermediate_size: t.intermediate_size,
                max_position_embeddings: t.max_position_embeddings,
                pad_with: None,
                num_hidden_layers: t.num_hidden_layers,
                num_attention_heads: t.num_attention_heads,
                projection_dim: self.projection_dim,
            },
            vision_config: vision_model::ClipVisionConfig {
                embed_dim: v.hidden_size,
                activation: text_model::Activation::QuickGelu,
                intermediate_size: v.intermediate_size,
                num_hidden_layers: v.num_hidden_layers,
                num_attention_heads: v.num_attention_heads,
                projection_dim: self.projection_dim,
                num_channels: v.num_channels,
                image_size: v.image_size,
                patch_size: v.patch_size,
            },
            logit_scale_init_value: 2.6592,
            image_size: v.image_size,
        }
    }
}

/// A loaded CLIP model.
pub struct ClipEmbedder {
    model: clip::ClipModel,
    config: ClipFileConfig,
    tokenizer: tokenizers::Tokenizer,
    device: Device,
}

impl std::fmt::Debug for ClipEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipEmbedder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ClipEmbedder {
    /// Loads `dir/config.json` and `dir/model.safetensors` on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ClipError> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| ClipError::File {
            path: config_path.clone(),
            reason: e.to_string(),
        })?;
        let config: ClipFileConfig = serde_json::from_str(&text).map_err(|e| ClipError::File {
            path: config_path.clone(),
            reason: e.to_string(),
        })?;
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(ClipError::File {
                path: weights,
                reason: "missing".to_owned(),
            });
        }
        // SAFETY: the file is memory-mapped read-only; it must not change while loaded (as for
        // every candle model).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, device) }
            .map_err(|e| ClipError::File {
                path: weights.clone(),
                reason: e.to_string(),
            })?;
        let model = clip::ClipModel::new(vb, &config.candle()).map_err(|e| ClipError::File {
            path: weights,
            reason: e.to_string(),
        })?;
        let tokenizer =
            clip_tokenizer::bundled().map_err(|e| ClipError::Tokenizer(e.to_string()))?;
        Ok(Self {
            model,
            config,
            tokenizer,
            device: device.clone(),
        })
    }

    /// Size of the embeddings.
    pub fn dim(&self) -> usize {
        self.config.projection_dim
    }

    /// The model's configuration.
    pub fn config(&self) -> &ClipFileConfig {
        &self.config
    }

    /// Unit-norm embeddings of `images`, one row each.
    pub fn embed_images(&self, images: &[image::DynamicImage]) -> Result<Vec<Vec<f32>>, ClipError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let pixels = images
            .iter()
            .map(|i| pixels(i, self.config.vision_config.image_size, &self.device))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = Tensor::stack(&pixels, 0)?;
        let features = clip::div_l2_norm(&self.model.get_image_features(&batch)?)?;
        Ok(features.to_vec2::<f32>()?)
    }

    /// Unit-norm embeddings of `texts` (77 tokens, truncated), one row each.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClipError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let len = self.config.text_config.max_position_embeddings;
        let ids = texts
            .iter()
            .map(|t| {
                clip_tokenizer::encode_padded(&self.tokenizer, t, len, 49_407)
                    .map_err(|e| ClipError::Tokenizer(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let flat: Vec<u32> = ids.concat();
        let input = Tensor::from_vec(flat, (texts.len(), len), &self.device)?;
        let features = clip::div_l2_norm(&self.model.get_text_features(&input)?)?;
        Ok(features.to_vec2::<f32>()?)
    }
}

/// CLIP's preprocessing: the shorter side resized to the input size (bicubic), centre crop,
/// RGB scaled to [0, 1] and normalized; `[3, S, S]`.
pub(crate) fn pixels(
    image: &image::DynamicImage,
    side: usize,
    device: &Device,
) -> Result<Tensor, ClipError> {
    let side = side as u32;
    let (w, h) = (image.width().max(1), image.height().max(1));
    let scale = side as f32 / w.min(h) as f32;
    let (rw, rh) = (
        ((w as f32 * scale).round() as u32).max(side),
        ((h as f32 * scale).round() as u32).max(side),
    );
    // An image already at the input size is used as it is (no resampling).
    let resized = if (w, h) == (rw, rh) {
        image.to_rgb8()
    } else {
        image
            .resize_exact(rw, rh, image::imageops::FilterType::CatmullRom)
            .to_rgb8()
    };
    let (x0, y0) = ((rw - side) / 2, (rh - side) / 2);
    let cropped = image::imageops::crop_imm(&resized, x0, y0, side, side).to_image();
    let s = side as usize;
    let mut data = vec![0f32; 3 * s * s];
    for (x, y, px) in cropped.enumerate_pixels() {
        for c in 0..3 {
            data[c * s * s + y as usize * s + x as usize] =
                (f32::from(px.0[c]) / 255.0 - MEAN[c]) / STD[c];
        }
    }
    Ok(Tensor::from_vec(data, (3, s, s), device)?)
}

/// Writes a CLIP model with random weights and `config` into `dir` (created), in the layout
/// [`ClipEmbedder::load`] reads.
pub fn write_model(dir: &Path, config: &ClipFileConfig) -> Result<(), ClipError> {
    std::fs::create_dir_all(dir).map_err(|e| ClipError::File {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let device = Device::Cpu;
    let varmap = candle_nn::VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    // Created first: candle's vision tower would draw an unsaved random one when absent.
    vb.get_with_hints(
        config.vision_config.hidden_size,
        "vision_model.embeddings.class_embedding",
        candle_nn::Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        },
    )?;
    clip::ClipModel::new(vb, &config.candle())?;
    let weights = dir.join("model.safetensors");
    varmap.save(&weights).map_err(|e| ClipError::File {
        path: weights,
        reason: e.to_string(),
    })?;
    let config_path = dir.join("config.json");
    let file_error = |reason: String| ClipError::File {
        path: config_path.clone(),
        reason,
    };
    let json = serde_json::to_string_pretty(config).map_err(|e| file_error(e.to_string()))?;
    std::fs::write(&config_path, json).map_err(|e| file_error(e.to_string()))
}

/// [`write_model`] with [`ClipFileConfig::tiny`].
pub fn write_tiny(dir: &Path) -> Result<(), ClipError> {
    write_model(dir, &ClipFileConfig::tiny())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(r: u8, g: u8, b: u8, w: u32, h: u32) -> image::DynamicImage {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(w, h, image::Rgb([r, g, b])))
    }

    #[test]
    fn tiny_model_round_trips_and_embeds() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_tiny(dir.path()).expect("written");
        let clip = ClipEmbedder::load(dir.path(), &Device::Cpu).expect("loads");
        assert_eq!(clip.dim(), 16);
        let images = [
            solid(255, 0, 0, 64, 48),
            solid(0, 0, 255, 20, 90),
            solid(255, 0, 0, 64, 48),
        ];
        let e = clip.embed_images(&images).expect("images");
        assert_eq!(e.len(), 3);
        for v in &e {
            assert_eq!(v.len(), 16);
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        }
        assert_eq!(e[0], e[2], "deterministic");
        assert_ne!(e[0], e[1], "different images differ");
        let t = clip
            .embed_texts(&[
                "neon city at night",
                "a watercolor garden",
                &"long ".repeat(200),
            ])
            .expect("texts");
        assert_eq!((t.len(), t[0].len()), (3, 16));
        assert_ne!(t[0], t[1]);
        assert!(clip.embed_images(&[]).expect("empty").is_empty());
    }

    #[test]
    fn broken_models_are_named_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = ClipEmbedder::load(dir.path(), &Device::Cpu).expect_err("empty dir");
        assert!(e.to_string().contains("config.json"), "{e}");
        write_tiny(dir.path()).expect("written");
        std::fs::write(dir.path().join("config.json"), "{ nope").expect("write");
        let e = ClipEmbedder::load(dir.path(), &Device::Cpu).expect_err("bad json");
        assert!(e.to_string().contains("config.json"), "{e}");
        // A config that does not fit the weights names the weights file.
        let mut other = ClipFileConfig::tiny();
        other.projection_dim = 8;
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_string(&other).expect("json"),
        )
        .expect("write");
        let e = ClipEmbedder::load(dir.path(), &Device::Cpu).expect_err("shape mismatch");
        assert!(e.to_string().contains("model.safetensors"), "{e}");
        std::fs::remove_file(dir.path().join("model.safetensors")).expect("rm");
        let e = ClipEmbedder::load(dir.path(), &Device::Cpu).expect_err("no weights");
        assert!(e.to_string().contains("model.safetensors"), "{e}");
    }
}
