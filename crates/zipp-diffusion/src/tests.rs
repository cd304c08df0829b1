//! Tests of the whole pipeline on the tiny model written by
//! [`crate::tiny`] (loading, generating, every scheduler, errors that
//! name the file/key/tensor) and of parsing the real SD 1.5/2.1 configs.

use serde_json::Value;

use super::scheduler::Prediction;
use super::text_encoder::TextActivation;
use super::*;

const BPE_GZ: &str = zipp_clip::tokenizer::BUNDLED_BPE_GZ_PATH;

fn tiny_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::tiny::write_tiny_sd(dir.path(), Path::new(BPE_GZ)).unwrap();
    dir
}

fn params(seed: u64) -> GenerateParams {
    GenerateParams {
        prompt: "a photo of a cat".to_string(),
        negative_prompt: "blurry".to_string(),
        seed,
        width: 64,
        height: 64,
        steps: 3,
        guidance_scale: 7.5,
        init_image: None,
    }
}

fn load(dir: &Path) -> Result<DiffusionModel> {
    DiffusionModel::load(dir, &Device::Cpu)
}

#[test]
fn tiny_model_generates_deterministically() {
    let dir = tiny_dir();
    let model = load(dir.path()).unwrap();
    assert_eq!(model.default_size(), (64, 64));
    assert_eq!(model.scheduler_name(), "DDIM");

    let mut calls = Vec::new();
    let a = model
        .generate(&params(1), &mut |d, t| calls.push((d, t)))
        .unwrap();
    assert_eq!(calls, [(1, 3), (2, 3), (3, 3)]);
    assert_eq!(a.dimensions(), (64, 64));
    let first = a.get_pixel(0, 0);
    assert!(a.pixels().any(|p| p != first), "image is a single colour");

    let b = model.generate(&params(1), &mut |_, _| {}).unwrap();
    assert_eq!(
        a.as_raw(),
        b.as_raw(),
        "same seed must give the same pixels"
    );
    let c = model.generate(&params(2), &mut |_, _| {}).unwrap();
    assert_ne!(a.as_raw(), c.as_raw(), "different seeds must differ");
}

#[test]
fn generation_can_be_cancelled() {
    let dir = tiny_dir();
    let model = load(dir.path()).unwrap();
    let r = model.generate_cancellable(&params(1), &mut |done, _| done < 2);
    assert!(
        matches!(r, Err(DiffusionError::Cancelled { done: 2, total: 3 })),
        "{r:?}"
    );
}

/// Previews come every `every` steps but not after the last (the image follows it), at one pixel
/// per latent pixel, and leave the image unchanged; the projection is fitted once.
#[test]
fn previews_come_every_few_steps_and_change_nothing() {
    let dir = tiny_dir();
    let model = load(dir.path()).unwrap();
    let plain = model.generate(&params(1), &mut |_, _| {}).unwrap();
    let mut previews = Vec::new();
    let previewed = model
        .generate_previewed(&params(1), &mut |_, _| true, 1, &mut |done, image| {
            previews.push((done, image));
        })
        .unwrap();
    assert_eq!(plain.as_raw(), previewed.as_raw());
    let steps: Vec<u32> = previews.iter().map(|(d, _)| *d).collect();
    assert_eq!(steps, [1, 2], "every step but the last of 3");
    let latent_side = 64 / model.latent_factor();
    for (_, image) in &previews {
        assert_eq!(image.dimensions(), (latent_side, latent_side));
    }
    assert_ne!(previews[0].1.as_raw(), previews[1].1.as_raw());
    let fitted = model.latent_preview().unwrap().clone();
    assert_eq!(&fitted, model.latent_preview().unwrap(), "kept");
    let mut none = 0;
    model
        .generate_previewed(&params(1), &mut |_, _| true, 0, &mut |_, _| none += 1)
        .unwrap();
    assert_eq!(none, 0, "every = 0: no previews");
}

#[test]
fn tiny_model_handles_sizes_and_no_guidance() {
    let dir = tiny_dir();
    let model = load(dir.path()).unwrap();
    // 72 px is 9 latent pixels: odd, so the UNet must pad its upsampling.
    let mut p = params(3);
    p.width = 72;
    p.height = 40;
    p.guidance_scale = 1.0;
    p.steps = 2;
    let img = model.generate(&p, &mut |_, _| {}).unwrap();
    assert_eq!(img.dimensions(), (72, 40));
}

#[test]
fn rejects_invalid_params() {
    let dir = tiny_dir();
    let model = load(dir.path()).unwrap();
    let cases = [
        GenerateParams {
            width: 60,
            ..params(0)
        },
        GenerateParams {
            height: 0,
            ..params(0)
        },
        GenerateParams {
            steps: 0,
            ..params(0)
        },
        GenerateParams {
            steps: 5000,
            ..params(0)
        },
        GenerateParams {
            width: MAX_SIDE + 8,
            ..params(0)
        },
        GenerateParams {
            guidance_scale: f64::NAN,
            ..params(0)
        },
    ];
    for p in cases {
        match model.generate(&p, &mut |_, _| {}) {
            Err(DiffusionError::InvalidParams(_)) => {}
            other => panic!("{p:?}: expected InvalidParams, got {other:?}"),
        }
    }
}

#[test]
fn every_scheduler_runs() {
    let dir = tiny_dir();
    let sched = dir.path().join("scheduler/scheduler_config.json");
    let configs = [
        (
            r#"{"_class_name":"PNDMScheduler","beta_schedule":"scaled_linear","beta_start":0.00085,"beta_end":0.012,"steps_offset":1,"skip_prk_steps":true}"#,
            "DDIM (fallback for PNDMScheduler)",
        ),
        (
            r#"{"_class_name":"EulerAncestralDiscreteScheduler","beta_schedule":"scaled_linear","beta_start":0.00085,"beta_end":0.012}"#,
            "Euler ancestral",
        ),
        (
            r#"{"_class_name":"EulerDiscreteScheduler","prediction_type":"v_prediction","timestep_spacing":"trailing"}"#,
            "Euler",
        ),
        (
            r#"{"_class_name":"DDPMScheduler","beta_schedule":"squaredcos_cap_v2","clip_sample":false}"#,
            "DDPM",
        ),
        (
            r#"{"_class_name":"DDIMScheduler","prediction_type":"v_prediction","rescale_betas_zero_snr":true,"timestep_spacing":"trailing"}"#,
            "DDIM",
        ),
    ];
    for (json, name) in configs {
        std::fs::write(&sched, json).unwrap();
        let model = load(dir.path()).unwrap();
        assert_eq!(model.scheduler_name(), name);
        let a = model.generate(&params(5), &mut |_, _| {}).unwrap();
        let b = model.generate(&params(5), &mut |_, _| {}).unwrap();
        assert_eq!(a.as_raw(), b.as_raw(), "{name} must be deterministic");
    }
}

#[test]
fn ddim_timesteps_match_diffusers() {
    let dir = tiny_dir();
    let spec = parse_scheduler_config(&dir.path().join("scheduler/scheduler_config.json")).unwrap();
    // SD 1.5 settings: leading spacing, steps_offset 1.
    let plan = spec.plan(4).unwrap();
    assert_eq!(plan.timesteps, [751.0, 501.0, 251.0, 1.0]);
    assert_eq!(plan.step_ratio, 250);
    // scaled_linear 0.00085..0.012: alphas_cumprod[0] = 1 - 0.00085.
    assert!((spec.alphas_cumprod[0] - 0.99915).abs() < 1e-9);
    assert!((spec.alphas_cumprod[999] - 0.004_660_098_5).abs() < 1e-9);
}

#[test]
fn missing_file_is_named() {
    for rel in [
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
    ] {
        let dir = tiny_dir();
        std::fs::remove_file(dir.path().join(rel)).unwrap();
        match load(dir.path()) {
            Err(DiffusionError::MissingFile { path }) => {
                assert_eq!(path, dir.path().join(rel), "{rel}")
            }
            other => panic!("{rel}: expected MissingFile, got {other:?}"),
        }
    }
}

#[test]
fn corrupt_config_is_named() {
    let dir = tiny_dir();
    let cfg = dir.path().join("vae/config.json");
    std::fs::write(&cfg, "{ not json").unwrap();
    match load(dir.path()) {
        Err(DiffusionError::BadConfig { file, reason }) => {
            assert_eq!(file, cfg);
            assert!(reason.contains("invalid JSON"), "{reason}");
        }
        other => panic!("expected BadConfig, got {other:?}"),
    }

    let dir = tiny_dir();
    let cfg = dir.path().join("unet/config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["layers_per_block"] = Value::from("two");
    std::fs::write(&cfg, v.to_string()).unwrap();
    match load(dir.path()) {
        Err(DiffusionError::BadConfig { file, reason }) => {
            assert_eq!(file, cfg);
            assert!(reason.contains("layers_per_block"), "{reason}");
        }
        other => panic!("expected BadConfig, got {other:?}"),
    }

    // Heads that do not divide the channels would make candle panic.
    v["layers_per_block"] = Value::from(1);
    v["attention_head_dim"] = serde_json::json!([3, 4]);
    std::fs::write(&cfg, v.to_string()).unwrap();
    match load(dir.path()) {
        Err(DiffusionError::BadConfig { reason, .. }) => {
            assert!(reason.contains("attention_head_dim"), "{reason}")
        }
        other => panic!("expected BadConfig, got {other:?}"),
    }
}

#[test]
fn mismatched_components_are_reported() {
    let dir = tiny_dir();
    let cfg = dir.path().join("text_encoder/config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["hidden_size"] = Value::from(128);
    std::fs::write(&cfg, v.to_string()).unwrap();
    match load(dir.path()) {
        Err(DiffusionError::BadConfig { file, reason }) => {
            assert_eq!(file, dir.path().join("unet/config.json"));
            assert!(reason.contains("cross_attention_dim"), "{reason}");
        }
        other => panic!("expected BadConfig, got {other:?}"),
    }
}

#[test]
fn missing_tensor_is_named() {
    let dir = tiny_dir();
    let file = dir.path().join("unet/diffusion_pytorch_model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    let victim = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight";
    assert!(tensors.remove(victim).is_some());
    candle_core::safetensors::save(&tensors, &file).unwrap();
    match load(dir.path()) {
        Err(DiffusionError::MissingTensor { file: f, tensor }) => {
            assert_eq!(f, file);
            assert_eq!(tensor, victim);
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn wrong_shape_and_corrupt_weights_are_named() {
    let dir = tiny_dir();
    let file = dir.path().join("vae/diffusion_pytorch_model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    let name = "decoder.conv_in.weight";
    tensors.insert(
        name.to_string(),
        Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &file).unwrap();
    match load(dir.path()) {
        Err(e @ DiffusionError::Weights { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(name) && msg.contains("vae"), "{msg}");
        }
        other => panic!("expected Weights, got {other:?}"),
    }

    let dir = tiny_dir();
    let file = dir.path().join("text_encoder/model.safetensors");
    std::fs::write(&file, b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!").unwrap();
    match load(dir.path()) {
        Err(DiffusionError::Weights { file: f, .. }) => assert_eq!(f, file),
        other => panic!("expected Weights, got {other:?}"),
    }
}

#[test]
fn sdxl_without_its_second_encoder_names_the_file() {
    let dir = tiny_dir();
    let idx = dir.path().join("model_index.json");
    std::fs::write(
        &idx,
        r#"{"_class_name":"StableDiffusionXLPipeline","text_encoder":["transformers","CLIPTextModel"],"text_encoder_2":["transformers","CLIPTextModelWithProjection"]}"#,
    )
    .unwrap();
    match load(dir.path()) {
        Err(DiffusionError::MissingFile { path }) => {
            assert_eq!(path, dir.path().join("text_encoder_2").join("config.json"))
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
}

/// The diffusers parity fixtures (`tests/fixtures/sd`, made by diffusers'
/// own pipelines): every stage within the README's tolerances.
fn parity(case: &str) {
    let report = parity_report(case);
    // Every step and the end-to-end image were compared.
    assert!(report.stages.iter().any(|s| s.name == "noise_pred_0"));
    assert!(report.stages.iter().any(|s| s.name == "e2e:image"));
}

/// The fixture's report, which must pass.
fn parity_report(case: &str) -> crate::parity::Report {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sd")
        .join(case);
    let report = crate::parity::check(&dir).unwrap();
    assert!(report.passed(), "{report}");
    report
}

/// The checker finds a loader bug: a VAE scaling factor read wrong leaves
/// the UNet stages intact and fails the decode and the image.
#[test]
fn parity_catches_a_wrong_vae_scaling_factor() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sd/sd15-ddim");
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&src, dir.path());
    let cfg = dir.path().join("model/vae/config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("0.18215"));
    std::fs::write(&cfg, text.replace("0.18215", "0.2")).unwrap();
    let report = crate::parity::check(dir.path()).unwrap();
    let failed: Vec<&str> = report.failures().iter().map(|s| s.name.as_str()).collect();
    assert!(failed.contains(&"decoded"), "{report}");
    assert!(failed.contains(&"e2e:image"), "{report}");
    assert!(
        !failed.iter().any(|n| n.starts_with("noise_pred")),
        "{report}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn parity_heldout_sd2_three_blocks() {
    parity("heldout/sd2-v-euler-v1");
}

#[test]
fn parity_heldout_sdxl_three_blocks() {
    parity("heldout/sdxl-euler-v1");
}

/// transformers makes SD 2.x's pad token `!` a special token: each `!` is
/// id 0 on its own (ids from transformers 5.25's CLIPTokenizer).
#[test]
fn sd2_pad_token_is_matched_before_bpe() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sd/sd2-v-euler/model");
    let model = DiffusionModel::load(&dir, &Device::Cpu).unwrap();
    let ids = model.token_ids("wow!! a!b").unwrap();
    assert_eq!(ids[0][..8], [49406, 2781, 0, 0, 320, 0, 321, 49407]);
}

#[test]
fn parity_sd15_ddim() {
    parity("sd15-ddim");
}

#[test]
fn parity_sd2_v_prediction_euler() {
    parity("sd2-v-euler");
}

#[test]
fn parity_sdxl_euler() {
    parity("sdxl-euler");
}

#[test]
fn real_sd_configs_parse() {
    // Verbatim configs of runwayml/stable-diffusion-v1-5 and
    // stabilityai/stable-diffusion-2-1 (unet, vae, text encoder, scheduler).
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let u15 = parse_unet_config(&write("u15.json", crate::tiny::SD15_UNET_CONFIG)).unwrap();
    assert_eq!(u15.config.down.len(), 4);
    assert_eq!(u15.config.down[0].heads, 8);
    assert!(u15.config.down[0].cross_attention);
    assert!(!u15.config.down[3].cross_attention);
    assert!(u15.config.up[0].heads == 8 && !u15.config.up[0].cross_attention);
    assert_eq!(u15.config.cross_attention_dim, 768);
    assert!(!u15.config.use_linear_projection);
    assert_eq!(u15.sample_size, (64, 64));

    let u21 = parse_unet_config(&write("u21.json", SD21_UNET)).unwrap();
    let heads: Vec<_> = u21.config.down.iter().map(|b| b.heads).collect();
    assert_eq!(heads, [5, 10, 20, 20]);
    // Up blocks take the reversed per-block lists, the mid block the last.
    let up_heads: Vec<_> = u21.config.up.iter().map(|b| b.heads).collect();
    assert_eq!(up_heads, [20, 20, 10, 5]);
    assert_eq!(u21.config.mid_heads, 20);
    assert!(u21.config.use_linear_projection);
    assert_eq!(u21.config.cross_attention_dim, 1024);
    assert_eq!(u21.sample_size, (96, 96));

    // A config re-saved by a recent diffusers lists every option, mostly null.
    let modern = parse_unet_config(&write("u21m.json", SD21_UNET_MODERN)).unwrap();
    assert_eq!(modern.config.down[2].heads, 20);
    assert!(modern.config.down[2].cross_attention);
    assert_eq!(modern.config.down[2].transformer_layers, 1);

    let v = parse_vae_config(&write("vae.json", crate::tiny::SD15_VAE_CONFIG)).unwrap();
    assert_eq!(v.config.block_out_channels, [128, 256, 512, 512]);
    assert_eq!(v.scale_factor(), 8);
    assert!((v.scaling_factor - 0.18215).abs() < 1e-12);

    let t15 = parse_text_config(&write("t15.json", SD15_TEXT)).unwrap();
    assert_eq!((t15.hidden_size, t15.num_hidden_layers), (768, 12));
    assert_eq!(t15.activation, TextActivation::QuickGelu);
    let t21 = parse_text_config(&write("t21.json", SD21_TEXT)).unwrap();
    assert_eq!((t21.hidden_size, t21.num_hidden_layers), (1024, 23));
    assert_eq!(t21.activation, TextActivation::GeluErf);

    let s15 = parse_scheduler_config(&write("s15.json", SD15_SCHEDULER)).unwrap();
    assert_eq!(s15.name, "DDIM (fallback for PNDMScheduler)");
    assert_eq!(s15.clip_sample, None);
    let s21 = parse_scheduler_config(&write("s21.json", SD21_SCHEDULER)).unwrap();
    assert_eq!(s21.name, "DDIM");
    assert_eq!(s21.prediction, Prediction::Velocity);
    assert_eq!(s21.clip_sample, None);

    // SDXL base: plain first block, 10 transformer layers deep at the
    // bottom (mid block too), pooled text + 6 time ids of 256 each.
    let sdxl = parse_unet_config(&write("uxl.json", SDXL_UNET))
        .unwrap()
        .config;
    let down: Vec<_> = sdxl
        .down
        .iter()
        .map(|b| (b.cross_attention, b.heads, b.transformer_layers))
        .collect();
    assert_eq!(down, [(false, 5, 1), (true, 10, 2), (true, 20, 10)]);
    assert_eq!((sdxl.mid_heads, sdxl.mid_transformer_layers), (20, 10));
    assert_eq!(sdxl.cross_attention_dim, 2048);
    let tt = sdxl.text_time.unwrap();
    assert_eq!((tt.time_embed_dim, tt.input_dim), (256, 2816));
}

const SD21_UNET: &str = r#"{
  "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.10.0.dev0",
  "act_fn": "silu", "attention_head_dim": [5, 10, 20, 20],
  "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false,
  "cross_attention_dim": 1024,
  "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  "downsample_padding": 1, "dual_cross_attention": false, "flip_sin_to_cos": true,
  "freq_shift": 0, "in_channels": 4, "layers_per_block": 2, "mid_block_scale_factor": 1,
  "norm_eps": 1e-05, "norm_num_groups": 32, "num_class_embeds": null,
  "only_cross_attention": false, "out_channels": 4, "sample_size": 96,
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
  "upcast_attention": true, "use_linear_projection": true
}"#;

const SD21_UNET_MODERN: &str = r#"{
  "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.30.0",
  "sample_size": 96, "in_channels": 4, "out_channels": 4, "center_input_sample": false,
  "flip_sin_to_cos": true, "freq_shift": 0,
  "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  "mid_block_type": "UNetMidBlock2DCrossAttn",
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
  "only_cross_attention": false, "block_out_channels": [320, 640, 1280, 1280],
  "layers_per_block": 2, "downsample_padding": 1, "mid_block_scale_factor": 1,
  "dropout": 0.0, "act_fn": "silu", "norm_num_groups": 32, "norm_eps": 1e-05,
  "cross_attention_dim": 1024, "transformer_layers_per_block": 1,
  "reverse_transformer_layers_per_block": null, "encoder_hid_dim": null,
  "encoder_hid_dim_type": null, "attention_head_dim": [5, 10, 20, 20],
  "num_attention_heads": null, "dual_cross_attention": false,
  "use_linear_projection": true, "class_embed_type": null, "addition_embed_type": null,
  "addition_time_embed_dim": null, "num_class_embeds": null, "upcast_attention": true,
  "resnet_time_scale_shift": "default", "resnet_skip_time_act": false,
  "resnet_out_scale_factor": 1.0, "time_embedding_type": "positional",
  "time_embedding_dim": null, "time_embedding_act_fn": null, "timestep_post_act": null,
  "time_cond_proj_dim": null, "conv_in_kernel": 3, "conv_out_kernel": 3,
  "projection_class_embeddings_input_dim": null, "attention_type": "default",
  "class_embeddings_concat": false, "mid_block_only_cross_attention": null,
  "cross_attention_norm": null, "addition_embed_type_num_heads": 64
}"#;

const SDXL_UNET: &str = r#"{
  "_class_name": "UNet2DConditionModel", "addition_embed_type": "text_time",
  "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
  "block_out_channels": [320, 640, 1280], "cross_attention_dim": 2048,
  "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
  "projection_class_embeddings_input_dim": 2816, "sample_size": 128,
  "transformer_layers_per_block": [1, 2, 10],
  "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
  "use_linear_projection": true
}"#;

const SD15_TEXT: &str = r#"{
  "_name_or_path": "openai/clip-vit-large-patch14", "architectures": ["CLIPTextModel"],
  "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2,
  "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0,
  "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
  "max_position_embeddings": 77, "model_type": "clip_text_model",
  "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1,
  "projection_dim": 768, "torch_dtype": "float32", "transformers_version": "4.22.0.dev0",
  "vocab_size": 49408
}"#;

const SD21_TEXT: &str = r#"{
  "architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0,
  "dropout": 0.0, "eos_token_id": 2, "hidden_act": "gelu", "hidden_size": 1024,
  "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 4096,
  "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "model_type": "clip_text_model",
  "num_attention_heads": 16, "num_hidden_layers": 23, "pad_token_id": 1,
  "projection_dim": 512, "torch_dtype": "float32", "vocab_size": 49408
}"#;

const SD15_SCHEDULER: &str = r#"{
  "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
  "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
  "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
  "trained_betas": null, "clip_sample": false
}"#;

const SD21_SCHEDULER: &str = r#"{
  "_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", "beta_end": 0.012,
  "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": false,
  "num_train_timesteps": 1000, "prediction_type": "v_prediction",
  "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
  "trained_betas": null
}"#;

#[test]
fn aspect_sizes_keep_the_pixel_count_on_the_model_grid() {
    use crate::aspect_size;
    // SD 1.5 (512², factor 8): multiples of 64, about 262 144 pixels.
    let cases = [
        ((1, 1), (512, 512)),
        ((4, 3), (576, 448)),
        ((3, 4), (448, 576)),
        ((3, 2), (640, 448)),
        ((2, 3), (448, 640)),
        ((16, 9), (704, 384)),
        ((9, 16), (384, 704)),
    ];
    for (ratio, size) in cases {
        assert_eq!(aspect_size((512, 512), ratio, 8), size, "{ratio:?}");
        let (w, h) = size;
        let pixels = f64::from(w * h) / 262_144.0;
        assert!((0.85..=1.15).contains(&pixels), "{ratio:?}: {pixels}");
    }
    // SDXL (1024²): its usual buckets.
    assert_eq!(aspect_size((1024, 1024), (16, 9), 8), (1344, 768));
    // FLUX (16 pixels per packed latent): the same 64-pixel buckets.
    assert_eq!(aspect_size((1024, 1024), (16, 9), 16), (1344, 768));
    assert_eq!(aspect_size((1024, 1024), (2, 3), 16), (832, 1280));
    assert_eq!(aspect_size((1024, 1024), (1, 1), 8), (1024, 1024));
    // A tiny test model (64²): multiples of its latent factor, never zero.
    assert_eq!(aspect_size((64, 64), (16, 9), 8), (88, 48));
    assert_eq!(aspect_size((8, 8), (16, 9), 8), (8, 8));
}

/// SD-Turbo: trailing Euler, no guidance (batch 1), decoded by TAESD.
#[test]
fn parity_sd_turbo_with_tiny_autoencoder() {
    parity("sd-turbo-taesd");
}

/// SDXL-Turbo: one ancestral step, no guidance.
#[test]
fn parity_sdxl_turbo() {
    parity("sdxl-turbo");
}

/// img2img: the VAE encoder's distribution, the scaled sample, add_noise and
/// the last steps of the schedule.
#[test]
fn parity_sd15_img2img() {
    let report = parity_report("sd15-img2img");
    for stage in ["latent_mean", "latent_std", "latents_start", "e2e:image"] {
        assert!(report.stages.iter().any(|s| s.name == stage), "{report}");
    }
    // Only the last steps ran: step 0 was never compared.
    assert!(!report.stages.iter().any(|s| s.name == "noise_pred_0"));
}

/// A catalog's `vae`: the tiny model decoded (and img2img-encoded) by a
/// TAESD-layout autoencoder instead of its own VAE.
#[test]
fn another_autoencoder_replaces_the_models_vae() {
    let dir = tiny_dir();
    let taesd = tempfile::tempdir().unwrap();
    crate::tiny::write_tiny_taesd(taesd.path()).unwrap();
    let own = load(dir.path()).unwrap();
    assert!(!own.has_tiny_autoencoder());
    let options = LoadOptions {
        vae: Some(taesd.path().to_path_buf()),
        ..Default::default()
    };
    let tiny = DiffusionModel::load_with(dir.path(), &Device::Cpu, &options).unwrap();
    assert!(tiny.has_tiny_autoencoder());
    assert_eq!(tiny.scaling_factor(), 1.0);
    // The same denoising, another decoder.
    let p = GenerateParams {
        guidance_scale: 0.0,
        steps: 1,
        ..params(3)
    };
    let a = own.generate(&p, &mut |_, _| {}).unwrap();
    let b = tiny.generate(&p, &mut |_, _| {}).unwrap();
    assert_eq!(b.dimensions(), (64, 64));
    assert_ne!(a.as_raw(), b.as_raw());
    // TAESD's working set is far smaller than the KL decoder's at a large size.
    assert!(tiny.estimate_peak_bytes(2048, 2048, 1) < own.estimate_peak_bytes(2048, 2048, 1));
    // img2img through TAESD's (deterministic) encoder.
    let img2img = GenerateParams {
        init_image: Some(InitImage {
            image: b.clone(),
            strength: 0.5,
        }),
        steps: 2,
        ..p
    };
    let c = tiny.generate(&img2img, &mut |_, _| {}).unwrap();
    assert_eq!(c.dimensions(), (64, 64));
}

/// An autoencoder that does not fit the model is named, not loaded.
#[test]
fn a_mismatched_autoencoder_is_refused_by_name() {
    let dir = tiny_dir();
    let taesd = tempfile::tempdir().unwrap();
    crate::tiny::write_tiny_taesd(taesd.path()).unwrap();
    let cfg = taesd.path().join("config.json");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    json["latent_channels"] = 16.into();
    std::fs::write(&cfg, json.to_string()).unwrap();
    let options = LoadOptions {
        vae: Some(taesd.path().to_path_buf()),
        ..Default::default()
    };
    let err = DiffusionModel::load_with(dir.path(), &Device::Cpu, &options).unwrap_err();
    assert!(err.to_string().contains("latent"), "{err}");

    // A TAESD config that changes its width between blocks (diffusers cannot run it).
    json["latent_channels"] = 4.into();
    json["decoder_block_out_channels"] = serde_json::json!([8, 8, 16, 16]);
    std::fs::write(&cfg, json.to_string()).unwrap();
    let err = DiffusionModel::load_with(dir.path(), &Device::Cpu, &options).unwrap_err();
    assert!(
        matches!(&err, DiffusionError::BadConfig { file, .. } if *file == cfg),
        "{err}"
    );
}

/// TAESD's real config parses to its published architecture.
#[test]
fn real_taesd_config_parses() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, crate::tiny::TAESD_CONFIG).unwrap();
    let spec = crate::vae::AutoencoderSpec::parse(&cfg).unwrap();
    assert_eq!(spec.scale, 8);
    assert_eq!(spec.latent_channels, 4);
    assert_eq!(spec.scaling_factor, 1.0);
    assert_eq!(spec.full_res_channels, 64);
}
