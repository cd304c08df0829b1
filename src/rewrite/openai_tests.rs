//! Tests against a fake OpenAI-compatible server on 127.0.0.1, including a red-team set.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_discord::llm::{start, Mode};
use tokio::net::TcpListener;

use super::super::redteam_tests::{assert_safe, red_team};
use super::*;

/// One token per word or punctuation mark, plus BOS/EOS (CLIP stand-in).
fn approx(text: &str) -> usize {
    super::super::postcheck::tests::approx_tokens(text)
}

fn rewriter(url: &str, tweak: impl FnOnce(&mut OpenAiConfig)) -> OpenAiRewriter {
    let mut config = OpenAiConfig {
        base_url: url.to_owned(),
        model: "fake".to_owned(),
        budget: Duration::from_secs(3),
        timeout: Duration::from_secs(2),
        ..OpenAiConfig::default()
    };
    tweak(&mut config);
    OpenAiRewriter::new(config, Arc::new(approx)).expect("client")
}

fn req(prompt: &str, persona: &str) -> RewriteRequest {
    RewriteRequest {
        prompt: prompt.to_owned(),
        persona: Some(persona.to_owned()),
        examples: Vec::new(),
    }
}

#[tokio::test]
async fn normal_answer_is_cleaned() {
    let fake = start(Mode::Normal).await;
    let out = rewriter(&fake.url, |_| {})
        .rewrite(req("a red cat", "I love watercolor"))
        .await;
    assert_eq!(out.kind, "llm (fake)");
    assert_eq!(out.prompt, "a red cat, soft watercolor, pastel palette");
}

#[tokio::test]
async fn no_persona_means_unchanged() {
    let fake = start(Mode::Normal).await;
    let r = rewriter(&fake.url, |_| {});
    let out = r
        .rewrite(RewriteRequest {
            prompt: "a red cat".to_owned(),
            persona: None,
            examples: Vec::new(),
        })
        .await;
    assert_eq!(out.kind, "unchanged");
    assert_eq!(fake.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn retries_429_honouring_retry_after_then_succeeds() {
    let fake = start(Mode::RateLimited { n: 2, secs: 1 }).await;
    let t = Instant::now();
    let out = rewriter(&fake.url, |_| {})
        .rewrite(req("a cat", "me"))
        .await;
    assert_eq!(out.kind, "llm (fake)");
    assert_eq!(fake.hits.load(Ordering::SeqCst), 3);
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
}

#[tokio::test]
async fn long_retry_after_and_exhausted_retries_fall_back() {
    let fake = start(Mode::RateLimited { n: 99, secs: 30 }).await;
    let out = rewriter(&fake.url, |_| {})
        .rewrite(req("a cat", "hiking"))
        .await;
    assert_eq!(out.kind, "template (llm failed: rate limited)");
    assert_eq!(fake.hits.load(Ordering::SeqCst), 1);
    assert!(out.prompt.starts_with("a cat, soft natural light"));

    let fake = start(Mode::ServerError { n: 99 }).await;
    let out = rewriter(&fake.url, |c| c.max_retries = 2)
        .rewrite(req("a cat", "hiking"))
        .await;
    assert_eq!(out.kind, "template (llm failed: http 500)");
    assert_eq!(fake.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn server_error_then_success() {
    let fake = start(Mode::ServerError { n: 1 }).await;
    let out = rewriter(&fake.url, |_| {})
        .rewrite(req("a cat", "me"))
        .await;
    assert_eq!(out.kind, "llm (fake)");
    assert_eq!(out.prompt, "a cat, watercolor");
}

#[tokio::test]
async fn malformed_refusal_and_unreachable_fall_back() {
    for (mode, kind) in [
        (Mode::Malformed, "template (llm failed: malformed response)"),
        (Mode::Refusal, "template (llm failed: refusal)"),
    ] {
        let fake = start(mode).await;
        let out = rewriter(&fake.url, |_| {})
            .rewrite(req("a cat", "me"))
            .await;
        assert_eq!(out.kind, kind);
    }
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = rewriter(&format!("http://127.0.0.1:{port}/v1"), |_| {})
        .rewrite(req("a cat", "me"))
        .await;
    assert_eq!(out.kind, "template (llm failed: unreachable)");
}

/// A hanging server costs the member the budget, not the request timeout: the timeout is set far
/// beyond the test's own limit, so only the budget can end the wait. (The latency itself is a
/// figure of `bench_rewrite`, not a timed assertion.)
#[tokio::test]
async fn hang_falls_back_within_budget() {
    let budget = Duration::from_millis(400);
    let fake = start(Mode::Hang).await;
    let r = rewriter(&fake.url, |c| {
        c.budget = budget;
        c.timeout = Duration::from_secs(3600);
    });
    let t = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(60), r.rewrite(req("a cat", "hiking")))
        .await
        .expect("the budget, not the hour-long request timeout, ends the wait");
    assert_eq!(out.kind, "template (llm failed: timeout)");
    assert!(t.elapsed() >= budget, "{:?}", t.elapsed());
}

#[test]
fn key_is_never_printed_and_loopback_bypasses_proxy() {
    std::env::set_var("ZIPP_TEST_LLM_KEY", "sk-secret-123");
    let r = OpenAiRewriter::new(
        OpenAiConfig {
            api_key_env: Some("ZIPP_TEST_LLM_KEY".to_owned()),
            ..OpenAiConfig::default()
        },
        Arc::new(approx),
    )
    .expect("client");
    let dbg = format!("{r:?}");
    assert!(
        !dbg.contains("sk-secret") && dbg.contains("redacted"),
        "{dbg}"
    );
    let err = OpenAiRewriter::new(
        OpenAiConfig {
            api_key_env: Some("ZIPP_TEST_LLM_KEY_UNSET".to_owned()),
            ..OpenAiConfig::default()
        },
        Arc::new(approx),
    )
    .expect_err("missing key");
    assert!(err.to_string().contains("ZIPP_TEST_LLM_KEY_UNSET"));
    for url in [
        "http://127.0.0.1:1/v1",
        "http://localhost/v1",
        "http://[::1]:8/v1",
    ] {
        assert!(crate::http_client::is_loopback_url(url), "{url}");
    }
    assert!(!crate::http_client::is_loopback_url(
        "https://api.openai.com/v1"
    ));
    // A key never travels over plain HTTP to another machine; https, or loopback, is fine.
    let with_key = |base_url: &str| {
        OpenAiRewriter::new(
            OpenAiConfig {
                base_url: base_url.to_owned(),
                api_key_env: Some("ZIPP_TEST_LLM_KEY".to_owned()),
                ..OpenAiConfig::default()
            },
            Arc::new(approx),
        )
    };
    let err = with_key("http://llm.example:8080/v1").expect_err("plain http with a key");
    assert!(err.to_string().contains("https"), "{err}");
    assert!(!err.to_string().contains("sk-secret"), "{err}");
    with_key("https://llm.example/v1").expect("https");
    with_key("http://127.0.0.1:8080/v1").expect("loopback");
}

/// A server answering with an endless body cannot make the bot buffer it: the read stops at
/// `MAX_RESPONSE_BYTES` and the template answers.
#[tokio::test]
async fn oversized_answers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                // 64 MiB of whitespace, never a complete answer.
                for _ in 0..1024 {
                    if stream.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let r = rewriter(&url, |c| {
        c.max_retries = 0;
    });
    let err = r
        .complete(&[ChatMessage::user("hi".to_owned())])
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[tokio::test]
async fn red_team_outputs_are_checked_or_fallback() {
    assert!(red_team().len() >= 25);
    for mode in [Mode::Injectable, Mode::Payloads] {
        let fake = start(mode.clone()).await;
        let r = rewriter(&fake.url, |_| {});
        let mut fallbacks = 0;
        for (prompt, persona) in red_team() {
            let out = r.rewrite(req(&prompt, &persona)).await;
            assert_safe(&prompt, &persona, &out, "not instructions");
            let shown: String = prompt.chars().take(50).collect();
            println!("{mode:?} {shown:?} -> {:.80} [{}]", out.prompt, out.kind);
            fallbacks += usize::from(!out.kind.starts_with("llm"));
        }
        println!("{mode:?}: {fallbacks}/{} fell back", red_team().len());
    }
}
