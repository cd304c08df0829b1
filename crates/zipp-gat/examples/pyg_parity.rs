//! Checks the persona encoder's GAT layers against a PyTorch Geometric reference file.
//!
//! ```text
//! cargo run --release -p zipp-gat --example pyg_parity -- crates/zipp-gat/tests/fixtures/pyg_gat_small.safetensors [--tol 1e-4]
//! ```
//!
//! The file holds the inputs (`x`, `edge_index`, optional `edge_attr`), a two-layer model's
//! PyG `state_dict` under `conv1.`/`conv2.` and PyG's outputs (`out`, `conv1_out`,
//! `conv1_alpha`, optionally `conv2_alpha` and `conv1_alpha_edge_index`), as the fixtures in
//! `tests/fixtures/` (vendored from the team's PyG fixtures) do. The layer type (GATConv or GATv2Conv) and every dimension are
//! read from the tensors. The stored model runs on the stored inputs with the fused kernels
//! and with the composed-ops reference; the max abs error of each output is printed, and the
//! exit status is non-zero when any exceeds the tolerance (default 1e-4).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark or tool run by hand: its report is its output, and it may stop at the first error"
)]

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use candle_core::{DType, Device, Tensor};

use zipp_gat::edge_index::EdgeIndex;
use zipp_gat::kernels::Kernel;
use zipp_gat::model::{Gat2, LayerConfig};

/// One layer's configuration in PyG's constructor notation.
fn describe(cfg: &LayerConfig) -> String {
    // With one head, concatenating and averaging are the same thing.
    let merge = |heads: usize, concat: bool| match (heads, concat) {
        (1, _) => "concat = mean",
        (_, true) => "concat=True",
        (_, false) => "concat=False",
    };
    match cfg {
        LayerConfig::Gat(c) => format!(
            "GATConv({}, {}, heads={}, {})",
            c.in_channels,
            c.out_channels,
            c.heads,
            merge(c.heads, c.concat)
        ),
        LayerConfig::GatV2(c) => format!(
            "GATv2Conv({}, {}, heads={}, {}, edge_dim={})",
            c.in_channels,
            c.out_channels,
            c.heads,
            merge(c.heads, c.concat),
            c.edge_dim.map_or("None".to_string(), |d| d.to_string())
        ),
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    if a.dims() != b.dims() {
        bail!("shape {:?} vs reference {:?}", a.dims(), b.dims());
    }
    Ok((a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f64>()?)
}

fn get<'a>(t: &'a HashMap<String, Tensor>, name: &str) -> Result<&'a Tensor> {
    t.get(name)
        .with_context(|| format!("the file has no tensor {name}"))
}

fn run() -> Result<bool> {
    let mut args = std::env::args().skip(1);
    let (mut path, mut tol) = (None, 1e-4);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tol" => tol = args.next().context("--tol needs a value")?.parse()?,
            _ if path.is_none() => path = Some(a),
            other => bail!("unexpected argument {other}"),
        }
    }
    let path = path.context("usage: pyg_parity FILE.safetensors [--tol 1e-4]")?;
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu)
        .with_context(|| format!("reading {path}"))?;

    let (cfg1, cfg2) = Gat2::infer(&tensors)?;
    let x = get(&tensors, "x")?;
    let edge_attr = tensors.get("edge_attr");
    let n = x.dim(0)?;
    let g = EdgeIndex::from_tensor(get(&tensors, "edge_index")?, n, true)?;
    println!("{path}");
    println!("  conv1: {}", describe(&cfg1));
    println!("  conv2: {}", describe(&cfg2));
    println!(
        "  N = {n}, E = {}, M = {} (after self-loop handling), edge_attr: {}",
        g.num_input_edges(),
        g.num_edges(),
        edge_attr.map_or("none".to_string(), |e| format!("{:?}", e.dims()))
    );

    // The attention rows are only comparable if our edge order is PyG's.
    if let Some(want) = tensors.get("conv1_alpha_edge_index") {
        let want = want.to_dtype(DType::I64)?.to_vec2::<i64>()?;
        let (s, d) = g.pyg_edges();
        let same = want.len() == 2
            && want[0].iter().map(|&v| v as u32).eq(s.iter().copied())
            && want[1].iter().map(|&v| v as u32).eq(d.iter().copied());
        if !same {
            bail!("our attention edge order differs from conv1_alpha_edge_index");
        }
        println!("  attention edge order: identical to conv1_alpha_edge_index");
    }

    let keys = ["out", "conv1_out", "conv1_alpha", "conv2_alpha"];
    println!(
        "  {:<8}{:>14}{:>14}{:>14}{:>14}",
        "kernel", keys[0], keys[1], keys[2], keys[3]
    );
    let mut worst = 0f64;
    for (name, kernel) in [("fused", Kernel::Auto), ("naive", Kernel::Naive)] {
        let model = Gat2::from_tensors(&tensors, DType::F32, &Device::Cpu)?.with_kernel(kernel);
        let o = model.forward(x, &g, edge_attr)?;
        let mut line = format!("  {name:<8}");
        for (key, ours) in keys
            .iter()
            .zip([&o.out, &o.conv1_out, &o.conv1_alpha, &o.conv2_alpha])
        {
            match tensors.get(*key) {
                Some(want) => {
                    let d = max_abs_diff(ours, want).with_context(|| format!("comparing {key}"))?;
                    worst = worst.max(d);
                    line += &format!("{d:>14.3e}");
                }
                // The first three are required.
                None if *key != "conv2_alpha" => bail!("the file has no tensor {key}"),
                None => line += &format!("{:>14}", "-"),
            }
        }
        println!("{line}");
    }
    let pass = worst <= tol;
    println!(
        "{} (max abs error {worst:.3e}, tolerance {tol:e})",
        if pass { "PASS" } else { "FAIL" }
    );
    Ok(pass)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
