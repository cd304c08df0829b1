//! FLUX against diffusers' fixtures, and the ways a member's or an operator's files reach it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::{DiffusionError, FluxModel, GenerateParams, LoadOptions, Pipeline};

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sd")
        .join(case)
}

fn parity(case: &str) -> crate::parity::Report {
    let report = crate::parity::check(&fixture(case)).unwrap();
    assert!(report.passed(), "{report}");
    for stage in [
        "prompt_embeds",
        "pooled_prompt_embeds",
        "noise_pred_0",
        "e2e:image",
    ] {
        assert!(
            report.stages.iter().any(|s| s.name == stage),
            "{stage} was not compared"
        );
    }
    report
}

#[test]
fn parity_flux_schnell() {
    parity("flux-schnell");
}

/// Other shapes: three heads of 16 with rotary axes (4, 6, 6), two double blocks and one
/// single, a truncated T5 prompt, a portrait image.
#[test]
fn parity_heldout_flux_other_shapes() {
    parity("heldout/flux-schnell-v1");
}

/// Copies a fixture's model folder so a test can break one file of it.
fn model_copy(case: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(case).join("model"), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The largest absolute difference of two tensors of one shape.
fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs()?.max_all()?.to_scalar::<f32>())
        .unwrap()
}

fn params(width: u32, height: u32, steps: u32) -> GenerateParams {
    GenerateParams {
        prompt: "a red fox in the snow".to_string(),
        negative_prompt: String::new(),
        seed: 7,
        width,
        height,
        steps,
        guidance_scale: 0.0,
        init_image: None,
    }
}

fn load(dir: &Path, options: &LoadOptions) -> FluxModel {
    match Pipeline::load_with(dir, &Device::Cpu, options).unwrap() {
        Pipeline::Flux(m) => *m,
        other => panic!("expected a FLUX pipeline, got {other:?}"),
    }
}

/// The rotary axes split read wrong (same sum, other split) is caught at the first velocity.
#[test]
fn parity_catches_wrong_rotary_axes() {
    let dir = model_copy("flux-schnell");
    let cfg = dir.path().join("transformer/config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let swapped = text.replace(
        "\"axes_dims_rope\": [\n    2,\n    2,\n    4\n  ]",
        "\"axes_dims_rope\": [4, 2, 2]",
    );
    assert_ne!(text, swapped, "the fixture's config changed shape");
    std::fs::write(&cfg, swapped).unwrap();
    let theirs = load(
        &fixture("flux-schnell").join("model"),
        &LoadOptions::default(),
    );
    let ours = load(dir.path(), &LoadOptions::default());
    let cond = theirs.encode_prompt("a fox").unwrap();
    let x = Tensor::randn(0f32, 1.0, (1, 24, 64), &Device::Cpu).unwrap();
    let ids = theirs.image_ids(8, 12).unwrap();
    let a = theirs.predict(&x, &ids, 0.5, &cond, 0.0).unwrap();
    let b = ours.predict(&x, &ids, 0.5, &cond, 0.0).unwrap();
    let diff = max_diff(&a, &b);
    assert!(diff > 1e-3, "a wrong rotary split went unnoticed ({diff})");
}

/// A render through the same entry point the worker uses: the requested size, the same image
/// for the same seed, another for another seed; img2img and cancellation work; sizes FLUX
/// cannot take are refused with a reason.
#[test]
fn renders_deterministically_and_refuses_bad_sizes() {
    let model = load(
        &fixture("flux-schnell").join("model"),
        &LoadOptions::default(),
    );
    assert_eq!(model.latent_factor(), 16);
    let mut calls = 0;
    let a = model
        .generate_previewed(&params(96, 64, 2), &mut |_, _| {
            calls += 1;
            true
        })
        .unwrap();
    assert_eq!(a.dimensions(), (96, 64));
    assert_eq!(calls, 2);
    let again = model
        .generate_previewed(&params(96, 64, 2), &mut |_, _| true)
        .unwrap();
    assert_eq!(a, again);
    let mut other = params(96, 64, 2);
    other.seed = 8;
    assert_ne!(
        a,
        model.generate_previewed(&other, &mut |_, _| true).unwrap()
    );

    let mut i2i = params(96, 64, 4);
    i2i.init_image = Some(crate::InitImage {
        image: a.clone(),
        strength: 0.5,
    });
    let mut steps = 0;
    let b = model
        .generate_previewed(&i2i, &mut |_, _| {
            steps += 1;
            true
        })
        .unwrap();
    assert_eq!(
        (b.dimensions(), steps),
        ((96, 64), 2),
        "strength 0.5 runs half the steps"
    );

    let cancelled = model.generate_previewed(&params(96, 64, 3), &mut |_, _| false);
    assert!(matches!(
        cancelled,
        Err(DiffusionError::Cancelled { done: 1, total: 3 })
    ));
    for (w, h) in [(72, 64), (0, 64), (4096, 64)] {
        let err = model.generate_previewed(&params(w, h, 1), &mut |_, _| true);
        assert!(
            matches!(err, Err(DiffusionError::InvalidParams(_))),
            "{w}x{h}: {err:?}"
        );
    }
    // A bigger image needs more memory, quadratically in its tokens.
    assert!(model.estimate_peak_bytes(2048, 2048, 1) > 4 * model.estimate_peak_bytes(512, 512, 1));
    assert!(model.estimate_peak_bytes(512, 512, 4) > model.estimate_peak_bytes(512, 512, 1));
}

/// BFL's names for the fixture's transformer (what `flux1-schnell.safetensors` holds).
fn bfl_tensors() -> HashMap<String, Tensor> {
    let dir = fixture("flux-schnell").join("model/transformer");
    crate::flux::weights::load_diffusers(
        &[dir.join("diffusion_pytorch_model.safetensors")],
        DType::F32,
        &Device::Cpu,
    )
    .unwrap()
}

fn velocity(model: &FluxModel) -> Tensor {
    let cond = model.encode_prompt("a fox").unwrap();
    let x = Tensor::arange(0f32, 24.0 * 64.0, &Device::Cpu)
        .unwrap()
        .affine(1.0 / 800.0, -1.0)
        .unwrap()
        .reshape((1, 24, 64))
        .unwrap();
    let ids = model.image_ids(8, 12).unwrap();
    model.predict(&x, &ids, 0.75, &cond, 0.0).unwrap()
}

/// Black Forest Labs' single file (also under ComfyUI's prefix) and a GGUF of it give the
/// folder's model.
#[test]
fn single_file_and_gguf_transformers_match_the_folder() {
    let folder = load(
        &fixture("flux-schnell").join("model"),
        &LoadOptions::default(),
    );
    let expected = velocity(&folder);
    let tmp = tempfile::tempdir().unwrap();
    let tensors = bfl_tensors();

    let single = tmp.path().join("flux1-tiny.safetensors");
    candle_core::safetensors::save(&tensors, &single).unwrap();
    let prefixed: HashMap<String, Tensor> = tensors
        .iter()
        .map(|(k, v)| (format!("model.diffusion_model.{k}"), v.clone()))
        .collect();
    let comfy = tmp.path().join("flux1-tiny-comfy.safetensors");
    candle_core::safetensors::save(&prefixed, &comfy).unwrap();

    let gguf = tmp.path().join("flux1-tiny-f32.gguf");
    {
        use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        let q: Vec<(String, QTensor)> = names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    QTensor::quantize(&tensors[*n], GgmlDType::F32).unwrap(),
                )
            })
            .collect();
        let refs: Vec<(&str, &QTensor)> = q.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut f = std::fs::File::create(&gguf).unwrap();
        gguf_file::write(&mut f, &[], &refs).unwrap();
    }

    for file in [&single, &comfy, &gguf] {
        let options = LoadOptions {
            transformer: Some(file.clone()),
            ..LoadOptions::default()
        };
        let model = load(&fixture("flux-schnell").join("model"), &options);
        let got = velocity(&model);
        let diff = max_diff(&got, &expected);
        assert!(diff < 1e-4, "{}: differs by {diff}", file.display());
    }
}

/// What an operator can get wrong in a FLUX folder is named, never a panic.
#[test]
fn broken_folders_are_named() {
    let dir = model_copy("flux-schnell");
    std::fs::remove_file(dir.path().join("tokenizer_2/tokenizer.json")).unwrap();
    match Pipeline::load_with(dir.path(), &Device::Cpu, &LoadOptions::default()) {
        Err(DiffusionError::MissingFile { path }) => {
            assert_eq!(path, dir.path().join("tokenizer_2/tokenizer.json"))
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }

    let dir = model_copy("flux-schnell");
    let cfg = dir.path().join("transformer/config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("\"joint_attention_dim\": 32", "\"joint_attention_dim\": 48"),
    )
    .unwrap();
    assert!(matches!(
        Pipeline::load_with(dir.path(), &Device::Cpu, &LoadOptions::default()),
        Err(DiffusionError::BadConfig { .. })
    ));

    let options = LoadOptions {
        transformer: Some(dir.path().join("no-such.gguf")),
        ..LoadOptions::default()
    };
    assert!(matches!(
        Pipeline::load_with(
            &fixture("flux-schnell").join("model"),
            &Device::Cpu,
            &options
        ),
        Err(DiffusionError::MissingFile { .. })
    ));
    // A Stable Diffusion folder refuses a transformer file.
    assert!(matches!(
        Pipeline::load_with(&fixture("sd15-ddim").join("model"), &Device::Cpu, &options),
        Err(DiffusionError::InvalidParams(_))
    ));
}
