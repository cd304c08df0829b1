//! Rewrite latency per backend on this machine: the template rewrite, the `local` backend on a
//! GGUF file, and the `openai` backend against an OpenAI-compatible server (e.g. llama.cpp's,
//! serving the same GGUF), plus the fallback latency when the server is down.
//!
//! ```sh
//! python -m llama_cpp.server --model FILE.gguf --port 8088 --n_threads 2 &
//! cargo run --release --example bench_rewrite -- --gguf FILE.gguf \
//!     --openai-url http://127.0.0.1:8088/v1 --runs 20
//! ```
//! Prints one JSON line per backend: p50/p99/mean latency (ms), how many rewrites passed the
//! post-checks (`pass_rate`; the others fell back to the template) and why the others failed.
//! The rewrite set is fixed (20 prompts × 3 personas, below): `--runs 60` is each pair once, the
//! measure of a rewrite model in the README.
//!
//! `--taste-members N` adds the **taste measure** (does the persona change the picture?): N
//! members of the synthetic community (`SynthConfig::default()`, seed 42) whose offline persona
//! (verbalized from their busiest channels and roles, as the pipeline does without an encoder)
//! names one of their planted tastes, 5 prompts each. A rewrite *carries the taste* when it
//! contains a descriptor word of one of the member's planted tastes that the prompt did not
//! have, and *keeps the subject* when every subject word of the prompt (the post-checks' rule)
//! is still in it. Each backend runs without and with few-shot picks (two earlier prompts of
//! the member's and the taste-styled rewrites they preferred, as compare mode records them).

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
    /// Rewrites per backend (60: each prompt with each persona once).
    #[arg(long, default_value_t = 60)]
    runs: usize,
    /// Most generated tokens per rewrite.
    #[arg(long, default_value_t = 60)]
    max_tokens: u32,
    /// Members of the synthetic community for the taste measure (0: skip it).
    #[arg(long, default_value_t = 0)]
    taste_members: usize,
    /// Print each LLM backend's raw answers to the rewrite set with the post-checks' verdict
    /// (to see why rewrites fail; stderr).
    #[arg(long)]
    answers: bool,
}

/// One taste-measure case: the request and the member's planted descriptor words.
struct TasteCase {
    request: RewriteRequest,
    planted: Vec<String>,
}

/// The taste measure's cases (see the module docs).
fn taste_cases(members: usize, few_shot: bool) -> Vec<TasteCase> {
    use zipp::verbalize::{offline, EvidenceEntry, PersonaEvidence, Vocabulary};
    use zipp_gat::graph::synth::{generate, SynthConfig};
    use zipp_gat::graph::EdgeType;
    let (graph, truth) = generate(&SynthConfig {
        n_members: 400,
        seed: 42,
        ..SynthConfig::default()
    });
    let vocab = Vocabulary::bundled();
    let mut cases = Vec::new();
    for (m, mix) in truth.member_mixture.iter().enumerate() {
        if cases.len() >= members * 5 {
            break;
        }
        let planted: Vec<String> = mix
            .iter()
            .flat_map(|&(t, _)| truth.tastes[t].descriptors.clone())
            .collect();
        let mut channels: Vec<(u32, u32)> = Vec::new();
        let mut roles = Vec::new();
        for e in graph.edges.iter().filter(|e| e.src == m as u32) {
            match e.edge_type {
                EdgeType::Posted | EdgeType::Reacted => channels.push((e.count, e.dst)),
                EdgeType::HasRole => roles.push(e.dst),
                EdgeType::Replied => {}
            }
        }
        channels.sort_by(|a, b| b.cmp(a));
        let entry = |name: &str, topic: Option<String>| EvidenceEntry {
            name: name.to_owned(),
            topic,
            weight: 1.0,
        };
        let mut evidence = PersonaEvidence {
            channels: channels
                .iter()
                .take(3)
                .map(|&(_, c)| {
                    let c = &graph.channels[c as usize];
                    entry(&c.name, Some(c.topic.clone()))
                })
                .collect(),
            roles: roles
                .iter()
                .take(2)
                .map(|&r| entry(&graph.roles[r as usize].name, None))
                .collect(),
            ..PersonaEvidence::default()
        };
        let Some(persona) = offline(&mut evidence, &vocab, 280) else {
            continue;
        };
        let lower = persona.to_lowercase();
        if !planted.iter().any(|d| lower.contains(d.as_str())) {
            continue;
        }
        let style = truth.tastes[mix[0].0].descriptors[..3].join(", ");
        let n = cases.len() / 5;
        for j in 0..5 {
            let examples = if few_shot {
                [17, 13]
                    .iter()
                    .map(|&k| {
                        let p = PROMPTS[(n + k) % PROMPTS.len()];
                        zipp::rewrite::prompt::Example::new(p, format!("{p}, {style}"))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            cases.push(TasteCase {
                request: RewriteRequest {
                    prompt: PROMPTS[(n * 5 + j * 3) % PROMPTS.len()].to_owned(),
                    persona: Some(persona.clone()),
                    examples,
                },
                planted: planted.clone(),
            });
        }
    }
    cases
}

/// Runs the taste measure on `rewriter`, with and without few-shot picks.
async fn measure_taste(name: &str, rewriter: &dyn Rewriter, members: usize) {
    for few_shot in [false, true] {
        let cases = taste_cases(members, few_shot);
        let (mut both, mut taste, mut subject) = (0usize, 0usize, 0usize);
        for (i, case) in cases.iter().enumerate() {
            let prompt = case.request.prompt.to_lowercase();
            let out = rewriter.rewrite(case.request.clone()).await;
            let text = out.prompt.to_lowercase();
            let carries = case
                .planted
                .iter()
                .any(|d| text.contains(d.as_str()) && !prompt.contains(d.as_str()));
            let keeps = zipp::rewrite::postcheck::subject_words(&prompt)
                .iter()
                .all(|w| text.contains(w.as_str()));
            taste += usize::from(carries);
            subject += usize::from(keeps);
            both += usize::from(carries && keeps);
            if i == 0 {
                eprintln!(
                    "{name} taste (few-shot {few_shot}): {:?} [{}]",
                    out.prompt, out.kind
                );
            }
        }
        let n = cases.len().max(1) as f64;
        println!(
            "{}",
            serde_json::json!({
                "backend": name, "measure": "taste", "few_shot": few_shot, "cases": cases.len(),
                "carries_taste_and_keeps_subject": both as f64 / n,
                "carries_taste": taste as f64 / n, "keeps_subject": subject as f64 / n,
            })
        );
    }
}

/// The fixed rewrite set: 20 prompts of the kinds members type, each with 3 personas (a
/// painter, a gamer, a cook), so `--runs 60` covers every pair once. What a rewrite must pass is
/// the post-checks of `rewrite/postcheck.rs` (length in CLIP tokens, the subject kept, no chat
/// preamble or refusal, no persona leak); a rewrite that fails them falls back to the template.
const PROMPTS: &[&str] = &[
    "a lighthouse on a cliff",
    "a red fox in the snow",
    "a cup of coffee on a table",
    "a city street at night",
    "a cat sleeping on a windowsill",
    "a dragon flying over mountains",
    "portrait of an old fisherman",
    "a bowl of ramen",
    "a spaceship landing on a desert planet",
    "a cozy library with tall shelves",
    "a knight in shining armor",
    "a field of sunflowers at sunset",
    "a robot playing chess",
    "an owl in a moonlit forest",
    "a bicycle leaning against a wall",
    "a waterfall in a jungle",
    "a birthday cake with candles",
    "a castle on a hill in the rain",
    "a sailboat on a calm lake",
    "a street market in the morning",
];
const PERSONAS: &[&str] = &[
    "I paint watercolor landscapes, hike every weekend and love the sea.",
    "I play retro pixel-art games and collect neon synthwave posters.",
    "I cook Italian food, grow herbs on my balcony and like warm rustic kitchens.",
];

fn request(i: usize) -> RewriteRequest {
    RewriteRequest {
        prompt: PROMPTS[i % PROMPTS.len()].to_owned(),
        persona: Some(PERSONAS[(i / PROMPTS.len()) % PERSONAS.len()].to_owned()),
        examples: Vec::new(),
    }
}

async fn measure(name: &str, rewriter: &dyn Rewriter, runs: usize) {
    let mut times = Vec::with_capacity(runs);
    let mut passed = 0;
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for i in 0..runs {
        let started = Instant::now();
        let out = rewriter.rewrite(request(i)).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if out.kind.starts_with("llm") || out.kind == "template" {
            passed += 1;
        } else {
            // "template (llm failed: <reason>)": count each reason.
            let reason = out.kind.split(" failed: ").nth(1).unwrap_or(&out.kind);
            *reasons
                .entry(reason.trim_end_matches(')').to_owned())
                .or_default() += 1;
        }
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
            "mean_ms": mean, "passed": passed, "pass_rate": passed as f64 / runs as f64,
            "fallbacks": runs - passed, "fallback_reasons": reasons,
            "cpu_kernels": zipp_llm::cpu_kernels(),
        })
    );
}

/// The raw answers of `rewriter`'s chat model to the first `runs` requests, each with what the
/// post-checks make of it.
async fn show_answers(
    name: &str,
    rewriter: &dyn Rewriter,
    runs: usize,
    counter: &TokenCounter,
    max_tokens: usize,
) {
    let Some(chat) = rewriter.chat_model() else {
        return;
    };
    for i in 0..runs {
        let req = request(i);
        let persona = req.persona.as_deref().unwrap_or("");
        let messages = zipp::rewrite::prompt::build_messages(
            persona,
            &req.prompt,
            &req.examples,
            zipp::rewrite::prompt::DEFAULT_FEW_SHOT,
        );
        let answer = match chat.complete(messages, max_tokens).await {
            Ok(answer) => answer,
            Err(error) => format!("<error: {}>", error.short()),
        };
        let count: &(dyn Fn(&str) -> usize + Send + Sync) = counter.as_ref();
        let verdict = zipp::rewrite::postcheck::check_rewrite(
            &req.prompt,
            req.persona.as_deref(),
            &answer,
            count,
            77,
        );
        eprintln!(
            "{name} #{i} {:?} → {answer:?}\n    {}",
            req.prompt,
            match verdict {
                Ok(prompt) => format!("ok: {prompt:?}"),
                Err(reason) => format!("REJECTED ({reason})"),
            }
        );
    }
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

    let template = TemplateRewriter::with_budget(counter.clone(), 77);
    measure("template", &template, args.runs).await;
    if args.taste_members > 0 {
        measure_taste("template", &template, args.taste_members).await;
    }

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
        if args.answers {
            show_answers(
                "local",
                &local,
                args.runs,
                &counter,
                args.max_tokens as usize,
            )
            .await;
        }
        measure("local", &local, args.runs).await;
        if args.taste_members > 0 {
            measure_taste("local", &local, args.taste_members).await;
        }
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
        if args.answers {
            show_answers(
                "openai",
                &openai,
                args.runs,
                &counter,
                args.max_tokens as usize,
            )
            .await;
        }
        measure("openai", &openai, args.runs).await;
        if args.taste_members > 0 {
            measure_taste("openai", &openai, args.taste_members).await;
        }
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
