//! CLIP image-embedding throughput on this machine (issue 5's figure): the tiny test model and
//! the real-size architecture (`openai/clip-vit-base-patch32`, random weights: the same
//! arithmetic as the real model), 512×512 renders in batches, on the CPU.
//!
//! ```sh
//! cargo run --release -p zipp-clip --example bench_clip -- [--images 32] [--batch 8]
//! ```
//! Prints one JSON line per model: images/s (median of batches, preprocessing included) and
//! text embeddings/s.

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
use zipp_clip::{write_model, ClipEmbedder, ClipFileConfig};

#[derive(Parser)]
struct Args {
    /// Images per model.
    #[arg(long, default_value_t = 32)]
    images: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
}

fn render(i: usize) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(512, 512, |x, y| {
        image::Rgb([
            (x as usize + i) as u8,
            (y as usize * 3 + i) as u8,
            ((x ^ y) as usize) as u8,
        ])
    }))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let images: Vec<_> = (0..args.images).map(render).collect();
    let texts: Vec<String> = (0..args.images)
        .map(|i| format!("#channel-{i} neon rain city night chrome"))
        .collect();
    for (name, config) in [
        ("tiny", ClipFileConfig::tiny()),
        ("vit-base-patch32", ClipFileConfig::vit_base_patch32()),
    ] {
        let dir = tempfile::tempdir()?;
        write_model(dir.path(), &config)?;
        let clip = ClipEmbedder::load(dir.path(), &Device::Cpu)?;
        clip.embed_images(&images[..1])?; // warm-up
        let mut rates = Vec::new();
        for chunk in images.chunks(args.batch) {
            let started = Instant::now();
            clip.embed_images(chunk)?;
            rates.push(chunk.len() as f64 / started.elapsed().as_secs_f64());
        }
        rates.sort_by(f64::total_cmp);
        let started = Instant::now();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        clip.embed_texts(&refs)?;
        let text_rate = refs.len() as f64 / started.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({
                "model": name, "image_size": config.vision_config.image_size,
                "batch": args.batch, "images": args.images,
                "images_per_s": rates[rates.len() / 2], "texts_per_s": text_rate,
                "threads": rayon::current_num_threads(),
            })
        );
    }
    Ok(())
}
