//! Measures the diffusion pipeline's speed on this machine.
//!
//! ```text
//! cargo run --release -p zipp-diffusion --example bench_render -- [--runs N] [--size PX] [--cuda]
//!                                              [--tiny-only] [--no-vae] [--configs DIR]
//!                                              [--cpu-profile] [--batch N]
//! ```
//!
//! 1. The tiny random model (written to a temporary directory): full 64×64
//!    renders with 4 and 20 steps, median of `--runs` (default 5).
//! 2. A real-size UNet and VAE with random weights, built from SD 1.5's
//!    diffusers configs (or `DIR/unet/config.json` + `DIR/vae/config.json`)
//!    through the loader's own config parsers: one UNet step at `--size`
//!    (default 512) with batch 2 (classifier-free guidance) and batch 1, and one
//!    VAE decode. F32 on CPU, F16 with `--cuda` (needs the `cuda` feature).
//!
//! Batching (`--batch N`, default 4; 1 skips it): images/s of N images rendered in one batch
//! (`generate_batch`) against one by one, on the tiny model end to end and, at real size, as
//! guided UNet steps of batch 2N against 2.
//!
//! `--cpu-profile` instead compares, at `--size`, the CPU profile (SD-Turbo:
//! SD 2.1's UNet, one step without guidance, decoded by TAESD) with SD 1.5
//! (25 guided steps, its KL VAE), both with random weights at real sizes:
//! UNet step, decode, the seconds per image they add up to, and peak RSS.
//! The text encoders (once per image, well under a second) are left out.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark or tool run by hand: its report is its output, and it may stop at the first error"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use zipp_diffusion::tiny::{self, RandomPipeline};
use zipp_diffusion::{select_device, DiffusionModel, GenerateParams};

const BPE: &str = zipp_clip::tokenizer::BUNDLED_BPE_GZ_PATH;

struct Args {
    runs: usize,
    size: u32,
    cuda: bool,
    tiny_only: bool,
    vae: bool,
    configs: Option<PathBuf>,
    cpu_profile: bool,
    batch: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        runs: 5,
        size: 512,
        cuda: false,
        tiny_only: false,
        vae: true,
        configs: None,
        cpu_profile: false,
        batch: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--runs" => a.runs = it.next().context("--runs N")?.parse()?,
            "--size" => a.size = it.next().context("--size PX")?.parse()?,
            "--cuda" => a.cuda = true,
            "--tiny-only" => a.tiny_only = true,
            "--no-vae" => a.vae = false,
            "--configs" => a.configs = Some(it.next().context("--configs DIR")?.into()),
            "--cpu-profile" => a.cpu_profile = true,
            "--batch" => a.batch = it.next().context("--batch N")?.parse()?,
            other => bail!("unknown argument {other:?} (see the example's doc comment)"),
        }
    }
    if a.runs == 0 {
        bail!("--runs must be positive");
    }
    Ok(a)
}

/// The size of `image` as a PNG, encoded as the worker encodes previews (best compression,
/// adaptive filters: `render::png::encode_png` of the bot crate, which this engine crate must
/// not depend on).
fn png_bytes(image: &image::RgbImage) -> usize {
    use image::ImageEncoder as _;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(
        image.as_raw(),
        image.width(),
        image.height(),
        image::ExtendedColorType::Rgb8,
    )
    .map_or(0, |()| out.len())
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    let v = f()?;
    Ok((v, start.elapsed()))
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let device = select_device(args.cuda)?;
    println!("device: {device:?}");
    if args.cpu_profile {
        return cpu_profile(&device, args.size);
    }

    // 1. Tiny model, end to end.
    let dir = std::env::temp_dir().join(format!("zipp-bench-tiny-{}", std::process::id()));
    tiny::write_tiny_sd(&dir, std::path::Path::new(BPE))?;
    let (model, load) = timed(|| Ok(DiffusionModel::load(&dir, &device)?))?;
    println!(
        "tiny model: load {:.1} ms ({})",
        ms(load),
        model.scheduler_name()
    );
    let tiny_params = |steps| GenerateParams {
        prompt: "a photo of a cat".into(),
        negative_prompt: String::new(),
        seed: 7,
        width: 64,
        height: 64,
        steps,
        guidance_scale: 7.5,
        init_image: None,
    };
    for steps in [4, 20] {
        let params = tiny_params(steps);
        model.generate(&params, &mut |_, _| {})?; // warm-up
        let mut times = Vec::with_capacity(args.runs);
        for _ in 0..args.runs {
            times.push(timed(|| Ok(model.generate(&params, &mut |_, _| {})?))?.1);
        }
        println!(
            "tiny model: 64x64, {steps:>2} steps, CFG: median {:.1} ms over {} runs",
            ms(median(times)),
            args.runs
        );
    }
    // Live previews: 20 steps with a preview every 5 (projected and PNG-encoded, as the worker
    // does) against none, interleaved; then one preview of a 512×512 render's latents.
    let params = tiny_params(20);
    model.latent_preview()?; // fitted once per model, at the first preview
    let (mut plain, mut previewed, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.runs {
        plain.push(timed(|| Ok(model.generate(&params, &mut |_, _| {})?))?.1);
        previewed.push(
            timed(|| {
                Ok(
                    model.generate_previewed(&params, &mut |_, _| true, 5, &mut |_, image| {
                        bytes.push(png_bytes(&image));
                    })?,
                )
            })?
            .1,
        );
    }
    let (plain, previewed) = (ms(median(plain)), ms(median(previewed)));
    println!(
        "tiny model: 64x64, 20 steps, a preview every 5: median {previewed:.1} ms against \
         {plain:.1} ms without ({:+.2} ms per render), {:.0} bytes per preview",
        previewed - plain,
        bytes.iter().sum::<usize>() as f64 / bytes.len().max(1) as f64
    );
    let fit = zipp_diffusion::LatentPreview {
        weights: vec![
            [0.3, 0.2, 0.3],
            [0.3, 0.5, 0.2],
            [-0.3, 0.2, 0.3],
            [-0.2, -0.3, -0.7],
        ],
        bias: [0.5, 0.5, 0.5],
    };
    let latents = candle_core::Tensor::randn(0f32, 1.0, (1, 4, 64, 64), &candle_core::Device::Cpu)?;
    let (image, took) = timed(|| Ok(fit.project(&latents)?))?;
    let png = png_bytes(&image);
    println!(
        "preview of a 512x512 render (64x64 latents, random): projection {:.2} ms, {} bytes as PNG \
         (noise: an upper bound)",
        ms(took),
        png
    );
    if args.batch > 1 {
        let n = args.batch;
        let batch: Vec<GenerateParams> = (0..n as u64)
            .map(|i| GenerateParams {
                seed: 7 + i,
                ..tiny_params(20)
            })
            .collect();
        model.generate_batch(&batch, &mut |_, _| true)?; // warm-up
        let (mut together, mut alone) = (Vec::new(), Vec::new());
        for _ in 0..args.runs {
            together.push(timed(|| Ok(model.generate_batch(&batch, &mut |_, _| true)?))?.1);
            alone.push(
                timed(|| {
                    for p in &batch {
                        model.generate(p, &mut |_, _| {})?;
                    }
                    Ok(())
                })?
                .1,
            );
        }
        let (together, alone) = (median(together), median(alone));
        println!(
            "tiny model: 64x64, 20 steps, CFG, {n} images: batch of {n} {:.1} images/s, one by \
             one {:.1} images/s ({:.2}x)",
            n as f64 / together.as_secs_f64(),
            n as f64 / alone.as_secs_f64(),
            alone.as_secs_f64() / together.as_secs_f64()
        );
    }
    drop(model);
    let _ = std::fs::remove_dir_all(&dir);
    if args.tiny_only {
        return Ok(());
    }

    // 2. Real-size architecture with random weights.
    let cfg_dir = std::env::temp_dir().join(format!("zipp-bench-cfg-{}", std::process::id()));
    let (unet_cfg, vae_cfg) = match &args.configs {
        Some(d) => (d.join("unet/config.json"), d.join("vae/config.json")),
        None => {
            std::fs::create_dir_all(&cfg_dir)?;
            let u = cfg_dir.join("unet.json");
            let v = cfg_dir.join("vae.json");
            std::fs::write(&u, tiny::SD15_UNET_CONFIG)?;
            std::fs::write(&v, tiny::SD15_VAE_CONFIG)?;
            (u, v)
        }
    };
    let dtype = if device.is_cpu() {
        candle_core::DType::F32
    } else {
        candle_core::DType::F16
    };
    let (pipe, build) = timed(|| {
        RandomPipeline::from_configs(&unet_cfg, &vae_cfg, &device, dtype, Default::default())
    })?;
    let _ = std::fs::remove_dir_all(&cfg_dir);
    println!(
        "real-size UNet+VAE ({}) built with random {dtype:?} weights in {:.1} s",
        unet_cfg.display(),
        build.as_secs_f64()
    );
    let s = args.size;
    if !device.is_cpu() {
        pipe.unet_step(1, s, s)?; // warm-up: kernel loading, cuDNN autotuning
    }
    for batch in [2, 1] {
        let ((), t) = timed(|| pipe.unet_step(batch, s, s))?;
        println!(
            "UNet step {s}x{s}, batch {batch}{}: {:.2} s",
            if batch == 2 { " (CFG)" } else { "" },
            t.as_secs_f64()
        );
    }
    if args.batch > 1 {
        let n = args.batch;
        let ((), one) = timed(|| pipe.unet_step(2, s, s))?;
        let ((), many) = timed(|| pipe.unet_step(2 * n, s, s))?;
        println!(
            "UNet step {s}x{s}, CFG: {n} images in one batch {:.2} s ({:.3} images·steps/s), one \
             image {:.2} s ({:.3}): {:.2}x",
            many.as_secs_f64(),
            n as f64 / many.as_secs_f64(),
            one.as_secs_f64(),
            1.0 / one.as_secs_f64(),
            n as f64 * one.as_secs_f64() / many.as_secs_f64()
        );
    }
    if args.vae {
        let ((), t) = timed(|| pipe.vae_decode(s, s))?;
        println!("VAE decode {s}x{s}: {:.2} s", t.as_secs_f64());
    }
    Ok(())
}

/// The CPU profile against SD 1.5, each at real size with random weights.
fn cpu_profile(device: &candle_core::Device, s: u32) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("zipp-bench-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cases = [
        (
            "sd-turbo + TAESD",
            tiny::SD21_UNET_CONFIG,
            tiny::TAESD_CONFIG,
            1u32,
            1usize,
        ),
        (
            "sd15 + KL VAE",
            tiny::SD15_UNET_CONFIG,
            tiny::SD15_VAE_CONFIG,
            25,
            2,
        ),
    ];
    for (name, unet, vae, steps, batch) in cases {
        let (u, v) = (dir.join("unet.json"), dir.join("vae.json"));
        std::fs::write(&u, unet)?;
        std::fs::write(&v, vae)?;
        let pipe = RandomPipeline::from_configs(
            &u,
            &v,
            device,
            candle_core::DType::F32,
            Default::default(),
        )?;
        let ((), step) = timed(|| pipe.unet_step(batch, s, s))?;
        let ((), decode) = timed(|| pipe.vae_decode(s, s))?;
        let total = step.as_secs_f64() * f64::from(steps) + decode.as_secs_f64();
        println!(
            "{name}: {s}x{s} UNet step (batch {batch}) {:.2} s x {steps} + decode {:.2} s = \
             {total:.1} s per image; peak RSS so far {:.2} GiB",
            step.as_secs_f64(),
            decode.as_secs_f64(),
            peak_rss_gib()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// This process's peak resident memory (Linux `VmHWM`), in GiB; 0 elsewhere.
fn peak_rss_gib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
