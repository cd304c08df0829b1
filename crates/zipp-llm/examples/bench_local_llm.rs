//! Benchmarks the embedded GGUF runner on one file and prints ONE JSON line:
//!
//! ```text
//! cargo run --release -p zipp-llm --example bench_local_llm -- --model FILE.gguf --prompt-tokens 40 \
//!     --gen 80 --threads 2 --runs 5 [--engine fused|candle]
//! ```
//!
//! `--engine fused` (the default) is what the bot runs on CPU for llama/qwen2/qwen3 files
//! (`zipp-llm`'s `fast.rs`); `--engine candle` runs candle-transformers' model instead.
//!
//! The user message is a fixed story request padded word by word until the rendered chat
//! prompt reaches `--prompt-tokens` (the same recipe as `bench_llamacpp.py`); decoding is
//! greedy with no repeat penalty. Rates are medians over `--runs` after one warm-up run:
//! prefill = prompt tokens / time to the first answer token, decode = further answer tokens /
//! remaining time, overall = (prompt + answer tokens) / total time.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark or tool run by hand: its report is its output, and it may stop at the first error"
)]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use zipp_llm::{ChatMessage, LocalLlm, LocalOptions};

/// The story request (the model should answer at length) and the words that pad it.
const BASE: &str =
    "Write a long and detailed story about a cat who lives on a sofa and dreams of painting.";
/// Padding words, appended in order (cycled) until the prompt is long enough.
const FILLER: &str =
    "Describe the colors, the morning light, the quiet room, the rainy garden, the old friends, \
     the soft music, the smell of paint and the brushes on the table.";

struct Args {
    model: PathBuf,
    prompt_tokens: usize,
    gen: usize,
    threads: usize,
    runs: usize,
    fused: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        model: PathBuf::new(),
        prompt_tokens: 40,
        gen: 80,
        threads: 2,
        runs: 5,
        fused: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .trim_start_matches('~')
                .parse::<usize>()
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--model" => args.model = PathBuf::from(&value),
            "--prompt-tokens" => args.prompt_tokens = number()?,
            "--gen" => args.gen = number()?,
            "--threads" => args.threads = number()?.max(1),
            "--runs" => args.runs = number()?.max(1),
            "--engine" => {
                args.fused = match value.as_str() {
                    "fused" => true,
                    "candle" => false,
                    other => return Err(format!("--engine: fused or candle, not {other}")),
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.model.as_os_str().is_empty() {
        return Err("--model FILE.gguf is required".into());
    }
    Ok(args)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("bench_local_llm: {e}");
        std::process::exit(2)
    });
    // candle reads its thread counts once, on first use.
    std::env::set_var("CANDLE_NUM_THREADS", args.threads.to_string());
    std::env::set_var("RAYON_NUM_THREADS", args.threads.to_string());

    let options = LocalOptions {
        temperature: 0.0,
        repeat_penalty: 1.0,
        fused_cpu: args.fused,
        ..LocalOptions::default()
    };
    let started = Instant::now();
    let llm = LocalLlm::load(&args.model, &candle_core::Device::Cpu, options).unwrap_or_else(|e| {
        eprintln!("bench_local_llm: {e}");
        std::process::exit(1)
    });
    let load_s = started.elapsed().as_secs_f64();
    let never = AtomicBool::new(false);

    let filler: Vec<&str> = FILLER.split_whitespace().collect();
    let mut user = BASE.to_owned();
    let count = |text: &str| {
        let messages = [ChatMessage {
            role: "user",
            content: text.to_owned(),
        }];
        llm.generate(&messages, 0, &never).map(|g| g.prompt_tokens)
    };
    let mut i = 0;
    while count(&user).expect("tokenize") < args.prompt_tokens && i < 10_000 {
        user.push(' ');
        user.push_str(filler[i % filler.len()]);
        i += 1;
    }
    let messages = [ChatMessage {
        role: "user",
        content: user.clone(),
    }];

    let (mut prefill, mut decode, mut overall, mut generated) = (vec![], vec![], vec![], vec![]);
    let mut prompt_tokens = 0;
    let mut text = String::new();
    for run in 0..=args.runs {
        let g = llm.generate(&messages, args.gen, &never).expect("generate");
        if run == 0 {
            continue; // warm-up
        }
        prompt_tokens = g.prompt_tokens;
        let (p, d) = (g.prefill.as_secs_f64(), g.decode.as_secs_f64());
        prefill.push(g.prompt_tokens as f64 / p);
        decode.push(g.generated_tokens.saturating_sub(1) as f64 / d.max(1e-9));
        overall.push((g.prompt_tokens + g.generated_tokens) as f64 / (p + d));
        generated.push(g.generated_tokens);
        text = g.text;
    }
    let line = serde_json::json!({
        "engine": if args.fused { "candle-fused" } else { "candle" },
        "model": args.model.file_name().map(|n| n.to_string_lossy().into_owned()),
        "threads": args.threads,
        "kernels": zipp_llm::cpu_kernels(),
        "runs": args.runs,
        "prompt_tokens": prompt_tokens,
        "generated_tokens": generated,
        "prefill_tok_s": (median(prefill) * 10.0).round() / 10.0,
        "decode_tok_s": (median(decode) * 10.0).round() / 10.0,
        "overall_tok_s": (median(overall) * 10.0).round() / 10.0,
        "load_s": (load_s * 1000.0).round() / 1000.0,
        "peak_rss_mib": peak_rss_mib().round(),
        "user_message": user,
        "answer_start": text.chars().take(120).collect::<String>(),
    });
    println!("{line}");
}
