//! The check a GPU machine runs before it serves (`deploy/gpu-check.sh`, the `gpu_check`
//! example): every diffusers parity fixture on the device (F16/BF16 tolerances on a GPU), then
//! real-size random-weight benchmarks of SD 1.5-, SDXL- and FLUX.1-sized models — denoiser step,
//! VAE decode and images/s at 512² and 1024², batch 1 and 4 — as one JSON object.
//!
//! `quick` shrinks it to a smoke test that runs on a CPU in seconds (two fixtures, the tiny
//! model's architecture, a small FLUX-shaped transformer, 64² images).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{DType, Device};
use candle_transformers::models::flux::model::Config;
use serde_json::{json, Value};

use crate::random::{RandomFlux, FLUX_VAE_CONFIG, SDXL_UNET_CONFIG, SDXL_VAE_CONFIG};
use crate::tiny::{self, RandomPipeline, SD15_UNET_CONFIG, SD15_VAE_CONFIG};

/// What to run.
#[derive(Debug, Clone)]
pub struct DeviceCheck {
    /// The folder of the parity fixtures (`tests/fixtures/sd`); its `heldout/` too.
    pub fixtures: PathBuf,
    /// The smoke test (see the module docs).
    pub quick: bool,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn timed(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let start = Instant::now();
    f()?;
    Ok(secs(start.elapsed()))
}

/// The fixture folders under `root` (and `root/heldout`), sorted.
fn fixtures(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in [root.to_path_buf(), root.join("heldout")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().join("parity.json").is_file() {
                    found.push(e.path());
                }
            }
        }
    }
    found.sort();
    found
}

fn parity(device: &Device, check: &DeviceCheck) -> Vec<Value> {
    let mut dirs = fixtures(&check.fixtures);
    if check.quick {
        dirs.retain(|d| d.ends_with("sd15-ddim") || d.ends_with("flux-schnell"));
    }
    dirs.iter()
        .map(|dir| {
            let name = dir
                .strip_prefix(&check.fixtures)
                .unwrap_or(dir)
                .display()
                .to_string();
            let started = Instant::now();
            match crate::parity::check_on(dir, device) {
                Ok(report) => {
                    let worst =
                        report
                            .stages
                            .iter()
                            .filter(|s| s.tolerance > 0.0)
                            .max_by(|a, b| {
                                (a.max_diff / a.tolerance).total_cmp(&(b.max_diff / b.tolerance))
                            });
                    json!({
                        "fixture": name,
                        "passed": report.passed(),
                        "stages": report.stages.len(),
                        "worst": worst.map(|s| json!({
                            "stage": s.name, "diff": s.max_diff, "tolerance": s.tolerance
                        })),
                        "failures": report.failures().iter().map(|s| json!({
                            "stage": s.name, "diff": s.max_diff, "tolerance": s.tolerance
                        })).collect::<Vec<_>>(),
                        "seconds": secs(started.elapsed()),
                    })
                }
                Err(error) => json!({"fixture": name, "passed": false, "error": error.to_string()}),
            }
        })
        .collect()
}

/// One model's rows: per size and batch, the denoiser step (`guided`: two evaluations per
/// image, as in one batch), the decode, and images/s over `steps` steps.
fn bench_rows(
    model: &str,
    steps: u32,
    guided: bool,
    sizes: &[u32],
    batches: &[usize],
    step: &dyn Fn(usize, u32) -> anyhow::Result<()>,
    decode: &dyn Fn(u32) -> anyhow::Result<()>,
) -> Vec<Value> {
    let mut rows = Vec::new();
    for &size in sizes {
        // Warm-up: kernel loading, autotuning.
        let _ = step(if guided { 2 } else { 1 }, size);
        let decode_s = timed(|| decode(size));
        for &batch in batches {
            let evals = if guided { 2 * batch } else { batch };
            let row = match (timed(|| step(evals, size)), &decode_s) {
                (Ok(step_s), Ok(decode_s)) => {
                    let per_batch = f64::from(steps) * step_s + batch as f64 * decode_s;
                    json!({
                        "model": model, "size": size, "batch": batch, "steps": steps,
                        "denoiser_step_s": step_s, "vae_decode_s": decode_s,
                        "images_per_s": batch as f64 / per_batch,
                    })
                }
                (Err(e), _) => json!({
                    "model": model, "size": size, "batch": batch, "error": e.to_string(),
                }),
                (_, Err(e)) => json!({
                    "model": model, "size": size, "batch": batch, "error": e.to_string(),
                }),
            };
            rows.push(row);
        }
    }
    rows
}

fn write_configs(dir: &Path, unet: &str, vae: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let (u, v) = (dir.join("unet.json"), dir.join("vae.json"));
    std::fs::write(&u, unet)?;
    std::fs::write(&v, vae)?;
    Ok((u, v))
}

fn bench(device: &Device, check: &DeviceCheck, scratch: &Path) -> anyhow::Result<Vec<Value>> {
    let half = if device.is_cpu() {
        DType::F32
    } else {
        DType::F16
    };
    let (sizes, batches): (&[u32], &[usize]) = if check.quick {
        (&[64], &[1, 2])
    } else {
        (&[512, 1024], &[1, 4])
    };
    let mut rows = Vec::new();
    let sd: Vec<(&str, u32, PathBuf, PathBuf)> = if check.quick {
        let dir = scratch.join("tiny");
        tiny::write_tiny_sd(&dir, Path::new(zipp_clip::tokenizer::BUNDLED_BPE_GZ_PATH))?;
        vec![(
            "tiny-sd",
            4,
            dir.join("unet/config.json"),
            dir.join("vae/config.json"),
        )]
    } else {
        let (u15, v15) = write_configs(&scratch.join("sd15"), SD15_UNET_CONFIG, SD15_VAE_CONFIG)?;
        let (uxl, vxl) = write_configs(&scratch.join("sdxl"), SDXL_UNET_CONFIG, SDXL_VAE_CONFIG)?;
        vec![("sd15", 25, u15, v15), ("sdxl", 30, uxl, vxl)]
    };
    for (name, steps, unet, vae) in sd {
        let pipe = RandomPipeline::from_configs(&unet, &vae, device, half, Default::default())?;
        rows.extend(bench_rows(
            name,
            steps,
            true,
            sizes,
            batches,
            &|evals, size| pipe.unet_step(evals, size, size),
            &|size| pipe.vae_decode(size, size),
        ));
    }
    // FLUX.1: BF16 transformer, F32 VAE (its config forces the upcast).
    let (flux_name, flux_config, text_tokens) = if check.quick {
        let config = Config {
            in_channels: 64,
            vec_in_dim: 32,
            context_in_dim: 32,
            hidden_size: 32,
            mlp_ratio: 4.0,
            num_heads: 2,
            depth: 1,
            depth_single_blocks: 2,
            axes_dim: vec![2, 2, 12],
            theta: 10_000,
            qkv_bias: true,
            guidance_embed: false,
        };
        ("small-flux", config, 16)
    } else if device.is_cpu() {
        rows.push(
            json!({"model": "flux-schnell", "skipped": "12B parameters: 48 GB in F32 on a CPU"}),
        );
        return Ok(rows);
    } else {
        ("flux-schnell", Config::schnell(), 256)
    };
    let flux_dtype = if device.is_cpu() {
        DType::F32
    } else {
        DType::BF16
    };
    let flux = RandomFlux::new(flux_config, device, flux_dtype)?;
    let (_, v) = write_configs(&scratch.join("flux"), SD15_UNET_CONFIG, FLUX_VAE_CONFIG)?;
    let vae = crate::vae::AutoencoderSpec::parse(&v)?;
    let vm = candle_nn::VarMap::new();
    let vae = vae.build(
        candle_nn::VarBuilder::from_varmap(&vm, DType::F32, device),
        Default::default(),
    )?;
    let decode = |size: u32| -> anyhow::Result<()> {
        let lat = (size / 8) as usize;
        let z = crate::SeededRng::new(2).normal_tensor((1, 16, lat, lat), device)?;
        vae.decode(&z)?.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    };
    rows.extend(bench_rows(
        flux_name,
        4,
        false,
        sizes,
        batches,
        &|batch, size| flux.step(batch, size, size, text_tokens),
        &decode,
    ));
    Ok(rows)
}

/// Runs the check on `device`: `{"device", "parity": [...], "bench": [...], "passed", "seconds"}`.
pub fn run(device: &Device, check: &DeviceCheck) -> anyhow::Result<Value> {
    let started = Instant::now();
    let scratch = std::env::temp_dir().join(format!("zipp-device-check-{}", std::process::id()));
    let parity = parity(device, check);
    let bench = bench(device, check, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let passed = parity.iter().all(|p| p["passed"] == true);
    Ok(json!({
        "device": format!("{device:?}"),
        "quick": check.quick,
        "parity": parity,
        "bench": bench?,
        "passed": passed,
        "seconds": secs(started.elapsed()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smoke run on the CPU: both families' fixtures pass, and every benchmark row has its
    /// figures.
    #[test]
    fn the_quick_check_runs_on_a_cpu() {
        let check = DeviceCheck {
            fixtures: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sd"),
            quick: true,
        };
        let out = run(&Device::Cpu, &check).unwrap();
        assert_eq!(out["passed"], true, "{out:#}");
        assert_eq!(out["parity"].as_array().map(Vec::len), Some(2), "{out:#}");
        let bench = out["bench"].as_array().unwrap();
        assert_eq!(
            bench.len(),
            4,
            "two models × one size × two batches: {out:#}"
        );
        for row in bench {
            assert!(
                row["images_per_s"].as_f64().is_some_and(|v| v > 0.0),
                "{row}"
            );
        }
    }
}
