//! The image safety checker's cost per render on this machine (issue 14's figure): the tiny test
//! checker and the real architecture (CLIP ViT-L/14 + 17/3 concepts, random weights: the same
//! arithmetic as `stable-diffusion-v1-5`'s `safety_checker`), one 512×512 render at a time as the
//! worker checks them, on the CPU.
//!
//! ```sh
//! cargo run --release -p zipp-clip --example bench_safety -- [--images 8]
//! ```
//! Prints one JSON line per checker: milliseconds per image (median, preprocessing included).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark or tool run by hand: its report is its output, and it may stop at the first error"
)]

use std::time::Instant;

use candle_core::Device;
use clap::Parser;
use zipp_clip::safety::{vit_large_patch14, write_checker, SafetyChecker};
use zipp_clip::ClipFileConfig;

#[derive(Parser)]
struct Args {
    /// Images per checker.
    #[arg(long, default_value_t = 8)]
    images: usize,
}

fn render(i: usize) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(512, 512, |x, y| {
        image::Rgb([
            (x as usize + i) as u8,
            (y as usize * 3 + i) as u8,
            (x ^ y) as u8,
        ])
    }))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    for (name, config) in [
        ("tiny", ClipFileConfig::tiny()),
        ("vit-l-14 (real size)", vit_large_patch14()),
    ] {
        let path = dir.path().join(name.split(' ').next().unwrap_or(name));
        write_checker(&path, &config, 17, 3, 0.5)?;
        let checker = SafetyChecker::load(&path, &Device::Cpu)?;
        checker.check(&[render(0)])?; // warm-up
        let mut ms = Vec::new();
        for i in 0..args.images {
            let image = render(i + 1);
            let started = Instant::now();
            checker.check(std::slice::from_ref(&image))?;
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{}",
            serde_json::json!({
                "checker": name,
                "ms_per_image_median": ms[ms.len() / 2],
                "ms_per_image_min": ms[0],
                "images": args.images,
                "threads": rayon::current_num_threads(),
            })
        );
    }
    Ok(())
}
