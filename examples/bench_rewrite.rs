//! Rewrite latency per backend on this machine: the template rewrite, the `local` backend on a
//! GGUF file, and the `openai` backend against an OpenAI-compatible server (e.g. llama.cpp's,
//! serving the same GGUF), plus the fallback latency when the server is down.
//!
//! ```sh
//! python -m llama_cpp.server --model FILE.gguf --port 8088 --n_threads 2 &
//! cargo run --release --example bench_rewrite -- --gguf FILE.gguf \
//!     --openai-url http://127.0.0.1:8088/v1 --runs 20
//! ```
//! Prints one JSON line per backend: p50/p99/mean latency (ms) and how many rewrites fell back.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark or tool run by hand: its report is its output, and it may stop at the first error"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use zipp::config::RewriteConfig;
use zipp::models::LlmEntry;
use zipp::rewrite::local_backend::LocalRewriter;
use zipp::rewrite::openai::{OpenAiConfig, OpenAiRewriter};
use zipp::rewrite::postcheck::TokenCounter;
use zipp::rewrite::template::TemplateRewriter;
use zipp::rewrite::{RewriteRequest, Rewriter};
use zipp_clip::tokenizer as clip_tokenizer;

#[derive(Parser)]
struct Args {
    /// GGUF file for the `local` backend.
    #[arg(long)]
    gguf: Option<std::path::PathBuf>,
    /// Base URL of an OpenAI-compatible server for the `openai` backend.
    #[arg(long)]
    openai_url: Option<String>,
    /// Rewrites per backend.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Most generated tokens per rewrite.
    #[arg(long, default_value_t = 60)]
    max_tokens: u32,
}

const PROMPTS: &[&str] = &[
    "a lighthouse on a cliff",
    "a red fox in the snow",
    "a cup of coffee on a table",
    "a city street at night",
    "a cat sleeping on a windowsill",
];
const PERSONA: &str = "I paint watercolor landscapes, hike every weekend and love the sea.";

fn request(i: usize) -> RewriteRequest {
    RewriteRequest {
        prompt: PROMPTS[i % PROMPTS.len()].to_owned(),
        persona: Some(PERSONA.to_owned()),
        examples: Vec::new(),
    }
}

async fn measure(name: &str, rewriter: &dyn Rewriter, runs: usize) {
    let mut times = Vec::with_capacity(runs);
    let mut fallbacks = 0;
    for i in 0..runs {
        let started = Instant::now();
        let out = rewriter.rewrite(request(i)).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        fallbacks += usize::from(!out.kind.starts_with("llm") && out.kind != "template");
        if i == 0 {
            eprintln!("{name}: {:?} [{}]", out.prompt, out.kind);
        }
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "{}",
        serde_json::json!({
            "backend": name, "runs": runs, "p50_ms": pick(0.5), "p99_ms": pick(0.99),
            "mean_ms": mean, "fallbacks": fallbacks,
        })
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let clip = clip_tokenizer::bundled()?;
    let counter: TokenCounter = Arc::new(move |t: &str| clip_tokenizer::count_tokens(&clip, t));
    let config = RewriteConfig {
        budget_ms: 120_000,
        max_tokens: args.max_tokens,
        temperature: 0.0,
        ..RewriteConfig::default()
    };

    measure(
        "template",
        &TemplateRewriter::with_budget(counter.clone(), 77),
        args.runs,
    )
    .await;

    if let Some(gguf) = &args.gguf {
        let entry = LlmEntry {
            backend: "local".to_owned(),
            base_url: None,
            model: None,
            path: Some(gguf.clone()),
            repo: None,
            file: None,
            revision: "main".to_owned(),
            api_key_env: None,
            description: String::new(),
            available: true,
        };
        let local = LocalRewriter::new("bench", entry, &config, counter.clone());
        local.preload();
        // Wait for the load (it runs in the background), then measure warm rewrites.
        let started = Instant::now();
        loop {
            let out = local.rewrite(request(0)).await;
            if !out.kind.contains("model loading") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "local: loaded and first rewrite in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        measure("local", &local, args.runs).await;
    }

    if let Some(url) = &args.openai_url {
        let openai = OpenAiRewriter::new(
            OpenAiConfig {
                base_url: url.clone(),
                model: "bench".to_owned(),
                timeout: Duration::from_secs(60),
                budget: Duration::from_secs(120),
                temperature: 0.0,
                max_tokens: args.max_tokens,
                ..OpenAiConfig::default()
            },
            counter.clone(),
        )?;
        measure("openai", &openai, args.runs).await;
    }

    // The fallback when the server is down: a port nobody listens on, default 8 s budget.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let down = OpenAiRewriter::new(
        OpenAiConfig {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            ..OpenAiConfig::default()
        },
        counter,
    )?;
    measure("openai-down (fallback)", &down, args.runs).await;
    Ok(())
}
