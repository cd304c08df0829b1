//! Batched rendering: every image of a batch is the image rendered alone (so a grid rendered
//! in one batch is the grid rendered one by one), for Stable Diffusion (guided, with SDXL's
//! added conditioning, with an ancestral sampler's per-image noise) and FLUX.

use std::path::Path;

use candle_core::Device;

use crate::{DiffusionError, GenerateParams, InitImage, LoadOptions, Pipeline};

fn fixture_model(case: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sd")
        .join(case)
        .join("model")
}

fn params(
    prompt: &str,
    negative: &str,
    seed: u64,
    (w, h): (u32, u32),
    guidance: f64,
) -> GenerateParams {
    GenerateParams {
        prompt: prompt.to_string(),
        negative_prompt: negative.to_string(),
        seed,
        width: w,
        height: h,
        steps: 3,
        guidance_scale: guidance,
        init_image: None,
    }
}

/// Renders `batch` together and one by one; they must agree to within one level per pixel
/// (batched matrix products may round differently).
fn batch_equals_singles(model: &Pipeline, batch: &[GenerateParams]) {
    let mut calls = 0;
    let together = model
        .generate_batch(batch, &mut |_, _| {
            calls += 1;
            true
        })
        .unwrap();
    assert_eq!(
        calls, batch[0].steps,
        "one progress call per step for the whole batch"
    );
    assert_eq!(together.len(), batch.len());
    for (p, got) in batch.iter().zip(&together) {
        let alone = model
            .generate_previewed(p, &mut |_, _| true, 0, &mut |_, _| {})
            .unwrap();
        assert_eq!(got.dimensions(), alone.dimensions());
        let worst = got
            .as_raw()
            .iter()
            .zip(alone.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);
        assert!(worst <= 1, "seed {}: differs by {worst} levels", p.seed);
    }
    assert_ne!(
        together[0], together[1],
        "different prompts and seeds differ"
    );
}

fn load(dir: &Path) -> Pipeline {
    Pipeline::load_with(dir, &Device::Cpu, &LoadOptions::default()).unwrap()
}

#[test]
fn a_batch_of_stable_diffusion_images_is_each_image_alone() {
    let dir = tempfile::tempdir().unwrap();
    crate::tiny::write_tiny_sd(
        dir.path(),
        Path::new(zipp_clip::tokenizer::BUNDLED_BPE_GZ_PATH),
    )
    .unwrap();
    let batch = [
        params("a red cat", "blurry", 1, (64, 64), 7.5),
        params("a blue dog on a hill", "", 2, (64, 64), 7.5),
        params("a house", "dark", 3, (64, 64), 7.5),
    ];
    batch_equals_singles(&load(dir.path()), &batch);
    // An ancestral sampler draws step noise per image, from that image's seed.
    std::fs::write(
        dir.path().join("scheduler/scheduler_config.json"),
        r#"{"_class_name":"EulerAncestralDiscreteScheduler","beta_schedule":"scaled_linear","beta_start":0.00085,"beta_end":0.012}"#,
    )
    .unwrap();
    batch_equals_singles(&load(dir.path()), &batch);
}

#[test]
fn a_batch_of_sdxl_images_is_each_image_alone() {
    let model = load(&fixture_model("sdxl-euler"));
    batch_equals_singles(
        &model,
        &[
            params("un café à Paris", "", 4, (96, 64), 5.0),
            params("a lighthouse at night", "fog", 5, (96, 64), 5.0),
        ],
    );
}

#[test]
fn a_batch_of_flux_images_is_each_image_alone() {
    let model = load(&fixture_model("flux-schnell"));
    batch_equals_singles(
        &model,
        &[
            params("a red fox in the snow", "", 6, (96, 64), 0.0),
            params("東京の夜, neon", "", 7, (96, 64), 0.0),
        ],
    );
}

/// A batch is one size, step count and guidance scale, and text-to-image only.
#[test]
fn a_mixed_batch_is_refused() {
    for case in ["sdxl-euler", "flux-schnell"] {
        let model = load(&fixture_model(case));
        let a = params("a", "", 1, (96, 64), 5.0);
        let mut other_size = params("b", "", 2, (64, 64), 5.0);
        let mixed = model.generate_batch(&[a.clone(), other_size.clone()], &mut |_, _| true);
        assert!(
            matches!(mixed, Err(DiffusionError::InvalidParams(_))),
            "{case}: {mixed:?}"
        );
        other_size.width = 96;
        other_size.init_image = Some(InitImage {
            image: image::RgbImage::new(96, 64),
            strength: 0.5,
        });
        let mixed = model.generate_batch(&[a, other_size], &mut |_, _| true);
        assert!(
            matches!(mixed, Err(DiffusionError::InvalidParams(_))),
            "{case}: {mixed:?}"
        );
        assert!(model
            .generate_batch(&[], &mut |_, _| true)
            .unwrap()
            .is_empty());
    }
}
