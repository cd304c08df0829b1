//! The Stable Diffusion safety checker (`CompVis/stable-diffusion-safety-checker`, diffusers'
//! `StableDiffusionSafetyChecker`): CLIP ViT-L/14's vision tower and projection, and 17 concept
//! plus 3 "special care" embeddings with one threshold each. An image is flagged when its
//! projected embedding's cosine similarity to a concept passes that concept's threshold (after
//! diffusers' rounding to 3 decimals, and its +0.01 on every threshold once a special-care concept
//! matched).
//!
//! A checker is a folder in the layout diffusers saves (`safety_checker/` of a pipeline):
//! `config.json` (a CLIP config; only `projection_dim` and `vision_config` are read) and
//! `model.safetensors` with `vision_model.vision_model.*` (as on the hub; `vision_model.*` as
//! transformers 5 saves it), `visual_projection.weight`,
//! `concept_embeds`, `special_care_embeds`, `concept_embeds_weights`,
//! `special_care_embeds_weights`. [`write_tiny_checker`] writes a tiny random one whose thresholds
//! make its verdicts known (tests).

use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Module, VarBuilder};
use candle_transformers::models::clip::vision_model;

use crate::{pixels, ClipError, ClipFileConfig};

/// One image's verdict, with the scores diffusers computes (similarity minus threshold, plus
/// the special-care adjustment, rounded to 3 decimals; positive means matched).
#[derive(Debug, Clone, PartialEq)]
pub struct SafetyVerdict {
    /// Whether the image is flagged (a concept matched).
    pub nsfw: bool,
    /// Per concept.
    pub concept_scores: Vec<f32>,
    /// Per special-care concept.
    pub special_scores: Vec<f32>,
}

/// A loaded safety checker.
pub struct SafetyChecker {
    vision: vision_model::ClipVisionTransformer,
    projection: candle_nn::Linear,
    concepts: Tensor,
    concept_thresholds: Vec<f32>,
    special: Tensor,
    special_thresholds: Vec<f32>,
    image_size: usize,
    device: Device,
}

impl std::fmt::Debug for SafetyChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetyChecker")
            .field("image_size", &self.image_size)
            .field("concepts", &self.concept_thresholds.len())
            .field("special", &self.special_thresholds.len())
            .finish_non_exhaustive()
    }
}

fn file_error(path: &Path, reason: impl ToString) -> ClipError {
    ClipError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl SafetyChecker {
    /// Loads `dir/config.json` and `dir/model.safetensors` on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ClipError> {
        let config_path = dir.join("config.json");
        let text =
            std::fs::read_to_string(&config_path).map_err(|e| file_error(&config_path, e))?;
        let config: ClipFileConfig =
            serde_json::from_str(&text).map_err(|e| file_error(&config_path, e))?;
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(file_error(&weights, "missing"));
        }
        // SAFETY: memory-mapped read-only; the file must not change while loaded.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, device) }
            .map_err(|e| file_error(&weights, e))?;
        Self::from_vb(vb, &config, device).map_err(|e| file_error(&weights, e))
    }

    fn from_vb(
        vb: VarBuilder,
        config: &ClipFileConfig,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let candle = config.candle().vision_config;
        // The hub's checker (saved by transformers 4) nests the tower as
        // `vision_model.vision_model.*`; transformers 5 saves it as `vision_model.*`.
        // candle draws a *random* class embedding when the file has none: require it.
        let tower = if vb.contains_tensor("vision_model.vision_model.embeddings.class_embedding") {
            vb.pp("vision_model").pp("vision_model")
        } else if vb.contains_tensor("vision_model.embeddings.class_embedding") {
            vb.pp("vision_model")
        } else {
            candle_core::bail!("no vision_model.vision_model.embeddings.class_embedding")
        };
        let vision = vision_model::ClipVisionTransformer::new(tower, &candle)?;
        let (hidden, proj) = (config.vision_config.hidden_size, config.projection_dim);
        let projection = candle_nn::linear_no_bias(hidden, proj, vb.pp("visual_projection"))?;
        let concepts = vb.get_unchecked("concept_embeds")?;
        let special = vb.get_unchecked("special_care_embeds")?;
        let (n, d) = concepts.dims2()?;
        let (m, d2) = special.dims2()?;
        if d != proj || d2 != proj {
            candle_core::bail!("concept embeddings of width {d}/{d2}, projection {proj}");
        }
        let concept_thresholds = vb.get(n, "concept_embeds_weights")?.to_vec1::<f32>()?;
        let special_thresholds = vb.get(m, "special_care_embeds_weights")?.to_vec1::<f32>()?;
        Ok(Self {
            vision,
            projection,
            concepts: unit_rows(&concepts)?,
            concept_thresholds,
            special: unit_rows(&special)?,
            special_thresholds,
            image_size: config.vision_config.image_size,
            device: device.clone(),
        })
    }

    /// The projected image embeddings (before normalization), one row per image: for parity
    /// checks.
    pub fn image_embeds(&self, images: &[image::DynamicImage]) -> Result<Tensor, ClipError> {
        let batch = images
            .iter()
            .map(|i| pixels(i, self.image_size, &self.device))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = Tensor::stack(&batch, 0)?;
        let pooled = self.vision.forward(&batch)?;
        Ok(self.projection.forward(&pooled)?)
    }

    /// Checks `images` as diffusers' `StableDiffusionSafetyChecker.forward` does.
    pub fn check(&self, images: &[image::DynamicImage]) -> Result<Vec<SafetyVerdict>, ClipError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let embeds = unit_rows(&self.image_embeds(images)?)?;
        let special = embeds.matmul(&self.special.t()?)?.to_vec2::<f32>()?;
        let concepts = embeds.matmul(&self.concepts.t()?)?.to_vec2::<f32>()?;
        Ok(special
            .iter()
            .zip(&concepts)
            .map(|(special, concepts)| self.verdict(special, concepts))
            .collect())
    }

    fn verdict(&self, special: &[f32], concepts: &[f32]) -> SafetyVerdict {
        // Python's round(x, 3) on the float32 value as a double.
        let round3 = |x: f64| ((x * 1000.0).round() / 1000.0) as f32;
        let mut adjustment = 0.0_f64;
        let mut special_scores = Vec::with_capacity(special.len());
        for (cos, threshold) in special.iter().zip(&self.special_thresholds) {
            let score = round3(f64::from(*cos) - f64::from(*threshold) + adjustment);
            special_scores.push(score);
            if score > 0.0 {
                adjustment = 0.01;
            }
        }
        let concept_scores: Vec<f32> = concepts
            .iter()
            .zip(&self.concept_thresholds)
            .map(|(cos, threshold)| round3(f64::from(*cos) - f64::from(*threshold) + adjustment))
            .collect();
        SafetyVerdict {
            nsfw: concept_scores.iter().any(|&s| s > 0.0),
            concept_scores,
            special_scores,
        }
    }
}

/// Rows scaled to unit length (torch's `F.normalize`, eps 1e-12).
fn unit_rows(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)
}

/// Writes a random safety checker with `config`'s vision tower into `dir`, with `concepts`
/// concept and `special` special-care embeddings whose thresholds are all `threshold` (cosine
/// similarities lie in [-1, 1]: -2 flags every image, 2 none).
pub fn write_checker(
    dir: &Path,
    config: &ClipFileConfig,
    concepts: usize,
    special: usize,
    threshold: f32,
) -> Result<(), ClipError> {
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let device = Device::Cpu;
    let varmap = candle_nn::VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let proj = config.projection_dim;
    let init = candle_nn::Init::Randn {
        mean: 0.0,
        stdev: 1.0,
    };
    // Created first: candle's tower would draw an unsaved random one.
    vb.get_with_hints(
        config.vision_config.hidden_size,
        "vision_model.vision_model.embeddings.class_embedding",
        init,
    )?;
    vision_model::ClipVisionTransformer::new(
        vb.pp("vision_model").pp("vision_model"),
        &config.candle().vision_config,
    )?;
    candle_nn::linear_no_bias(
        config.vision_config.hidden_size,
        proj,
        vb.pp("visual_projection"),
    )?;
    vb.get_with_hints((concepts, proj), "concept_embeds", init)?;
    vb.get_with_hints((special, proj), "special_care_embeds", init)?;
    let constant = candle_nn::Init::Const(f64::from(threshold));
    vb.get_with_hints(concepts, "concept_embeds_weights", constant)?;
    vb.get_with_hints(special, "special_care_embeds_weights", constant)?;
    let weights = dir.join("model.safetensors");
    varmap.save(&weights).map_err(|e| file_error(&weights, e))?;
    let config_path = dir.join("config.json");
    let json = serde_json::to_string_pretty(config).map_err(|e| file_error(&config_path, e))?;
    std::fs::write(&config_path, json).map_err(|e| file_error(&config_path, e))
}

/// [`write_checker`] with [`ClipFileConfig::tiny`]'s vision tower, 17 + 3 concepts.
pub fn write_tiny_checker(dir: &Path, threshold: f32) -> Result<(), ClipError> {
    write_checker(dir, &ClipFileConfig::tiny(), 17, 3, threshold)
}

/// [`ClipFileConfig`] of the real checker: CLIP ViT-L/14 (1024 wide, 24 layers, 16 heads,
/// 224 px, 14 px patches), projected to 768.
pub fn vit_large_patch14() -> ClipFileConfig {
    let mut config = ClipFileConfig::vit_base_patch32();
    config.projection_dim = 768;
    config.vision_config = crate::VisionConfig {
        hidden_size: 1024,
        intermediate_size: 4096,
        num_attention_heads: 16,
        num_hidden_layers: 24,
        image_size: 224,
        patch_size: 14,
        num_channels: 3,
    };
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(seed: u8) -> image::DynamicImage {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(48, 40, |x, y| {
            image::Rgb([
                (x as u8).wrapping_mul(seed),
                (y as u8).wrapping_add(seed),
                seed,
            ])
        }))
    }

    #[test]
    fn thresholds_decide_the_verdict() -> Result<(), ClipError> {
        let dir = tempfile::tempdir().map_err(|e| file_error(Path::new("tmp"), e))?;
        for (threshold, flagged) in [(-2.0, true), (2.0, false)] {
            let path = dir.path().join(format!("t{threshold}"));
            write_tiny_checker(&path, threshold)?;
            let checker = SafetyChecker::load(&path, &Device::Cpu)?;
            let verdicts = checker.check(&[image(3), image(200)])?;
            assert_eq!(verdicts.len(), 2);
            for verdict in verdicts {
                assert_eq!(verdict.nsfw, flagged, "{verdict:?}");
                assert_eq!(verdict.concept_scores.len(), 17);
                assert_eq!(verdict.special_scores.len(), 3);
            }
        }
        Ok(())
    }

    #[test]
    fn a_written_checker_loads_the_same_every_time() -> Result<(), ClipError> {
        let dir = tempfile::tempdir().map_err(|e| file_error(Path::new("tmp"), e))?;
        write_tiny_checker(dir.path(), 0.0)?;
        let embeds = |_| -> Result<Vec<Vec<f32>>, ClipError> {
            let checker = SafetyChecker::load(dir.path(), &Device::Cpu)?;
            Ok(checker.image_embeds(&[image(9)])?.to_vec2::<f32>()?)
        };
        assert_eq!(embeds(0)?, embeds(1)?, "no weight is drawn at load time");
        Ok(())
    }

    #[test]
    fn a_wrong_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = SafetyChecker::load(dir.path(), &Device::Cpu).unwrap_err();
        assert!(error.to_string().contains("config.json"), "{error}");
        crate::write_tiny(dir.path()).expect("a CLIP model, not a checker");
        let error = SafetyChecker::load(dir.path(), &Device::Cpu).unwrap_err();
        assert!(error.to_string().contains("model.safetensors"), "{error}");
    }
}
