//! Writes the tiny random-weight Stable Diffusion model used by tests and demos.
//!
//! ```text
//! cargo run --example make_tiny_models -- DIR [--clip-bpe PATH]
//! ```
//!
//! The model goes to `DIR/tiny-sd` in the diffusers layout; `--clip-bpe` points
//! at CLIP's `bpe_simple_vocab_16e6.txt.gz` (default: the copy bundled in
//! `crates/zipp-clip/data/`).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark or tool run by hand: its report is its output, and it may stop at the first error"
)]

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

const DEFAULT_BPE: &str = zipp_clip::tokenizer::BUNDLED_BPE_GZ_PATH;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut out_dir: Option<PathBuf> = None;
    let mut bpe = PathBuf::from(DEFAULT_BPE);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--clip-bpe" => {
                bpe = args
                    .next()
                    .map(PathBuf::from)
                    .context("--clip-bpe needs a path")?
            }
            "-h" | "--help" => {
                println!("usage: make_tiny_models DIR [--clip-bpe PATH]");
                return Ok(());
            }
            _ if out_dir.is_none() && !arg.starts_with('-') => out_dir = Some(PathBuf::from(arg)),
            _ => {
                bail!("unexpected argument {arg:?}; usage: make_tiny_models DIR [--clip-bpe PATH]")
            }
        }
    }
    let Some(out_dir) = out_dir else {
        bail!("usage: make_tiny_models DIR [--clip-bpe PATH]");
    };
    let target = out_dir.join("tiny-sd");
    zipp_diffusion::tiny::write_tiny_sd(&target, &bpe)
        .with_context(|| format!("writing the tiny SD model to {}", target.display()))?;
    println!("wrote tiny Stable Diffusion model to {}:", target.display());
    list_files(&target, &target)?;
    // A tiny image safety checker in the real layout that flags nothing (every threshold 2;
    // cosine similarities are at most 1): the worker starts without downloading the real one.
    let checker = out_dir.join("safety-tiny");
    zipp_clip::safety::write_tiny_checker(&checker, 2.0)
        .with_context(|| format!("writing the tiny safety checker to {}", checker.display()))?;
    println!(
        "wrote a tiny safety checker that flags nothing to {} (ZIPP_RENDER__SAFETY_CHECKER)",
        checker.display()
    );
    Ok(())
}

/// Prints every file under `dir` with its size, relative to `root`, sorted.
fn list_files(root: &Path, dir: &Path) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            list_files(root, &path)?;
        } else {
            let size = e.metadata()?.len();
            let rel = path.strip_prefix(root).unwrap_or(&path);
            println!("  {:>10} bytes  {}", size, rel.display());
        }
    }
    Ok(())
}
