//! CPU benchmark of the persona encoder's GAT layers, the same workload as
//! `shared/bench/bench_pyg_gat.py` (PyTorch Geometric) so the two JSON lines compare directly.
//!
//! ```text
//! cargo run --release -p zipp-gat --example bench_gat -- [--nodes N] [--edges E] [--in-dim D] [--hidden C]
//!     [--heads H] [--out-dim O] [--batch B] [--temperature T] [--lr LR] [--threads T]
//!     [--warmup W] [--reps R] [--seed S] [--json PATH]
//! ```
//!
//! Workload (defaults as in the Python script): a random directed graph with N = 100,000 nodes
//! and E = 1,000,000 distinct edges (no self loops), x ~ N(0, 1) `[N, 64]`, and the model
//! `GATConv(64, 32, heads=4, concat) → ELU → GATConv(128, 64, heads=1, mean)`.
//! - `eval_forward`: full-graph forward without autograd (parameters detached).
//! - `train_step`: full-graph forward, InfoNCE on B = 4096 nodes sampled without replacement
//!   against a fixed random target (`cross_entropy(norm(z) · norm(t)ᵀ / τ, arange(B))`),
//!   backward, optimizer step. The optimizer is `candle_nn::AdamW` with weight decay 0, which
//!   is exactly the Adam of the Python baseline. The loss uses the fused
//!   `kernels::cross_entropy` and scales `z` by 1/τ before the matmul (same math).
//!
//! The process keeps freed memory mapped (mimalloc `purge_delay = -1`, see
//! `keep_freed_memory`); run with `MIMALLOC_PURGE_DELAY=1000` to measure mimalloc's default.
//!
//! Medians of `--reps` runs after `--warmup` runs; per-layer eval timings; peak RSS (VmHWM)
//! after each phase; process CPU seconds per run; load average at start and end. The graph's
//! CSR/CSC build (done once per graph, whereas PyG redoes its self-loop handling inside every
//! forward) is reported separately as `edge_index_build_s`. One JSON line on stdout.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark or tool run by hand: its report is its output, and it may stop at the first error"
)]

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use zipp_gat::edge_index::EdgeIndex;
use zipp_gat::gat::GatConfig;
use zipp_gat::kernels::{self, Kernel};
use zipp_gat::model::{Gat2, LayerConfig};

// glibc returns every large buffer to the OS and pays the page faults again (notes §1).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers).
const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;
/// mimalloc's default purge delays (ms) in v2 and v3, used to check that the index above is
/// the option.
const MI_DEFAULT_PURGE_DELAYS: [std::os::raw::c_long; 2] = [10, 1000];

extern "C" {
    fn mi_option_get(option: std::os::raw::c_int) -> std::os::raw::c_long;
    fn mi_option_set(option: std::os::raw::c_int, value: std::os::raw::c_long);
}

/// Keeps freed memory mapped instead of returning it to the OS a moment later: a training step
/// frees and reallocates hundreds of MiB, and with the default every step pays the page
/// faults (and huge-page zeroing) again. Respects `MIMALLOC_PURGE_DELAY` when set, and leaves
/// the option alone if it does not read back as mimalloc's default. Returns the delay in use.
fn keep_freed_memory() -> std::os::raw::c_long {
    // SAFETY: plain getters/setters of the linked mimalloc's global options, called before any
    // other thread exists; the value read back guards against a different option layout.
    unsafe {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none()
            && MI_DEFAULT_PURGE_DELAYS.contains(&mi_option_get(MI_OPTION_PURGE_DELAY))
        {
            mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
        mi_option_get(MI_OPTION_PURGE_DELAY)
    }
}

/// Command-line options, named and defaulted as in `bench_pyg_gat.py`.
#[derive(Debug, serde::Serialize)]
struct Args {
    nodes: usize,
    edges: usize,
    in_dim: usize,
    hidden: usize,
    heads: usize,
    out_dim: usize,
    batch: usize,
    temperature: f64,
    lr: f64,
    threads: usize,
    warmup: usize,
    reps: usize,
    seed: u64,
    json: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        nodes: 100_000,
        edges: 1_000_000,
        in_dim: 64,
        hidden: 32,
        heads: 4,
        out_dim: 64,
        batch: 4096,
        temperature: 0.1,
        lr: 1e-3,
        threads: 2,
        warmup: 1,
        reps: 5,
        seed: 0,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--nodes" => a.nodes = val()?.parse()?,
            "--edges" => a.edges = val()?.parse()?,
            "--in-dim" => a.in_dim = val()?.parse()?,
            "--hidden" => a.hidden = val()?.parse()?,
            "--heads" => a.heads = val()?.parse()?,
            "--out-dim" => a.out_dim = val()?.parse()?,
            "--batch" => a.batch = val()?.parse()?,
            "--temperature" => a.temperature = val()?.parse()?,
            "--lr" => a.lr = val()?.parse()?,
            "--threads" => a.threads = val()?.parse()?,
            "--warmup" => a.warmup = val()?.parse()?,
            "--reps" => a.reps = val()?.parse()?,
            "--seed" => a.seed = val()?.parse()?,
            "--json" => a.json = Some(val()?),
            other => bail!("unknown option {other} (see the doc comment of bench_gat.rs)"),
        }
    }
    if a.nodes < 2 || a.batch > a.nodes || a.reps == 0 || a.threads == 0 {
        bail!("need nodes >= 2, batch <= nodes, reps >= 1, threads >= 1");
    }
    let max_edges = a.nodes as u128 * (a.nodes as u128 - 1);
    if a.edges as u128 > max_edges {
        bail!("{} distinct edges do not fit {} nodes", a.edges, a.nodes);
    }
    Ok(a)
}

/// `E` distinct directed edges without self loops, uniform endpoints, in random order.
fn make_graph(n: usize, e: usize, rng: &mut StdRng) -> (Vec<u32>, Vec<u32>) {
    let mut keys: Vec<u64> = Vec::with_capacity(e + e / 8);
    while keys.len() < e {
        let need = e - keys.len();
        for _ in 0..need + need / 10 + 1024 {
            let (s, t) = (rng.gen_range(0..n as u64), rng.gen_range(0..n as u64));
            if s != t {
                keys.push(s * n as u64 + t);
            }
        }
        keys.sort_unstable();
        keys.dedup();
    }
    keys.shuffle(rng);
    keys.truncate(e);
    keys.iter()
        .map(|&k| ((k / n as u64) as u32, (k % n as u64) as u32))
        .unzip()
}

/// `[rows, cols]` standard normal values (Box–Muller), deterministic in `rng`.
fn randn(rows: usize, cols: usize, rng: &mut StdRng) -> Result<Tensor> {
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| {
            let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect();
    Ok(Tensor::from_vec(v, (rows, cols), &Device::Cpu)?)
}

/// Peak resident set size so far (VmHWM), MiB.
fn peak_rss_mib() -> f64 {
    proc_status_kib("VmHWM:") / 1024.0
}

fn proc_status_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

/// User + system CPU seconds of this process (all threads); `/proc` reports USER_HZ = 100.
fn process_cpu_s() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn loadavg() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| {
            s.split_whitespace()
                .take(3)
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len().is_multiple_of(2) {
        (s[m - 1] + s[m]) / 2.0
    } else {
        s[m]
    }
}

/// Wall and process-CPU seconds of each of `reps` runs of `f`, after `warmup` runs.
fn time_runs(
    warmup: usize,
    reps: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    for _ in 0..warmup {
        f()?;
    }
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (c0, t0) = (process_cpu_s(), Instant::now());
        f()?;
        wall.push(t0.elapsed().as_secs_f64());
        cpu.push(process_cpu_s() - c0);
    }
    Ok((wall, cpu))
}

/// `x / max(‖x‖₂, 1e-12)` per row, as `torch.nn.functional.normalize`.
fn normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
    Ok(x.broadcast_div(&norm)?)
}

fn main() -> Result<()> {
    let a = parse_args()?;
    let purge_delay = keep_freed_memory();
    // candle sizes its matmul parallelism from RAYON_NUM_THREADS and runs on rayon's global
    // pool, which the fused kernels use too: one setting drives both.
    std::env::set_var("RAYON_NUM_THREADS", a.threads.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build_global()
        .context("building the rayon pool")?;
    let dev = Device::Cpu;
    let load_start = loadavg();

    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(a.seed);
    let (src, dst) = make_graph(a.nodes, a.edges, &mut rng);
    let x = randn(a.nodes, a.in_dim, &mut rng)?;
    let target = randn(a.nodes, a.out_dim, &mut rng)?;
    let graph_build_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let g = EdgeIndex::new(a.nodes, &src, &dst, true)?;
    let edge_index_build_s = t0.elapsed().as_secs_f64();
    drop((src, dst));
    let rss_data = peak_rss_mib();

    let cfg1 = GatConfig::new(a.in_dim, a.hidden, a.heads);
    let mut cfg2 = GatConfig::new(a.hidden * a.heads, a.out_dim, 1);
    cfg2.concat = false;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let model = Gat2::new(LayerConfig::Gat(cfg1), LayerConfig::Gat(cfg2), vb)?;
    let num_params: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();

    // (a) Eval: the same weights, detached, so no autograd graph is recorded.
    let detached = {
        let data = varmap
            .data()
            .lock()
            .map_err(|e| anyhow::anyhow!("varmap lock: {e}"))?;
        data.iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
            .collect()
    };
    let eval = Gat2::from_tensors(&detached, DType::F32, &dev)?;
    let (eval_wall, eval_cpu) = time_runs(a.warmup, a.reps, || {
        eval.encode(&x, &g, None)?;
        Ok(())
    })?;
    let rss_eval = peak_rss_mib();
    let h = kernels::elu(&eval.conv1.forward_out(&x, &g, None)?, 1.0, Kernel::Auto)?;
    let (conv1_wall, _) = time_runs(a.warmup, a.reps, || {
        eval.conv1.forward_out(&x, &g, None)?;
        Ok(())
    })?;
    let (conv2_wall, _) = time_runs(a.warmup, a.reps, || {
        eval.conv2.forward_out(&h, &g, None)?;
        Ok(())
    })?;
    // The attention-reporting path (PyG's `return_attention_weights=True`), for reference.
    let (conv1_alpha_wall, _) = time_runs(a.warmup, a.reps, || {
        eval.conv1.forward(&x, &g, None)?;
        Ok(())
    })?;
    drop(h);

    // (b) Training step.
    let params = ParamsAdamW {
        lr: a.lr,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(varmap.all_vars(), params)?;
    let labels = Tensor::arange(0u32, a.batch as u32, &dev)?;
    let mut perm: Vec<u32> = (0..a.nodes as u32).collect();
    let mut losses = Vec::new();
    let (mut fwd_s, mut bwd_s, mut opt_s) = (Vec::new(), Vec::new(), Vec::new());
    let (train_wall, train_cpu) = time_runs(a.warmup, a.reps, || {
        let t0 = Instant::now();
        let (idx, _) = perm.partial_shuffle(&mut rng, a.batch);
        let idx = Tensor::from_slice(idx, a.batch, &dev)?;
        let out = model.encode(&x, &g, None)?;
        // 1/τ scales the [B, 64] side rather than the [B, B] logits.
        let z = (normalize(&out.index_select(&idx, 0)?)? / a.temperature)?;
        let t = normalize(&target.index_select(&idx, 0)?)?;
        let logits = kernels::matmul_t(&z, &t, Kernel::Auto)?;
        let loss = kernels::cross_entropy(&logits, &labels, Kernel::Auto)?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let t2 = Instant::now();
        opt.step(&grads)?;
        losses.push(loss.to_scalar::<f32>()?);
        fwd_s.push((t1 - t0).as_secs_f64());
        bwd_s.push((t2 - t1).as_secs_f64());
        opt_s.push(t2.elapsed().as_secs_f64());
        Ok(())
    })?;
    let rss_train = peak_rss_mib();
    let skip = a.warmup;

    let res = json!({
        "impl": "zipp persona::gat (candle 0.11.1, fused CPU kernels)",
        "allocator": {"name": "mimalloc", "purge_delay_ms": purge_delay},
        "config": &a,
        "rayon_threads": rayon::current_num_threads(),
        "candle_threads": candle_core::utils::get_num_threads(),
        "cpu_count": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadavg_at_start": load_start,
        "graph_build_s": graph_build_s,
        "edge_index_build_s": edge_index_build_s,
        "num_edges": a.edges,
        "num_message_edges": g.num_edges(),
        "num_params": num_params,
        "peak_rss_mib_after_data": rss_data,
        "eval_forward_s": {"median": median(&eval_wall), "all": eval_wall},
        "peak_rss_mib_after_eval": rss_eval,
        "eval_conv1_s_median": median(&conv1_wall),
        "eval_conv2_s_median": median(&conv2_wall),
        "eval_conv1_with_attention_s_median": median(&conv1_alpha_wall),
        "train_step_s": {"median": median(&train_wall), "all": train_wall},
        "train_forward_s_median": median(&fwd_s[skip..]),
        "train_backward_s_median": median(&bwd_s[skip..]),
        "train_optimizer_s_median": median(&opt_s[skip..]),
        "train_losses": losses,
        "peak_rss_mib_after_train": rss_train,
        "peak_rss_mib": rss_train,
        "process_cpu_s": {
            "eval_forward": {"median": median(&eval_cpu), "all": eval_cpu},
            "train_step": {"median": median(&train_cpu), "all": train_cpu},
        },
        "loadavg_at_end": loadavg(),
    });
    let line = serde_json::to_string(&res)?;
    println!("{line}");
    if let Some(path) = &a.json {
        std::fs::write(path, format!("{line}\n")).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}
