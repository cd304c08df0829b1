//! Tests of the `local` backend over a scripted model: fallbacks, budgets, cancellation.

use std::sync::atomic::AtomicUsize;

use super::*;
use crate::rewrite::template::counter;

fn words(text: &str) -> usize {
    text.split_whitespace().count() + 2
}

fn config(budget_ms: u64) -> RewriteConfig {
    RewriteConfig {
        budget_ms,
        ..RewriteConfig::default()
    }
}

fn request(persona: &str) -> RewriteRequest {
    RewriteRequest {
        prompt: "a lighthouse at dusk".to_owned(),
        persona: Some(persona.to_owned()),
        examples: Vec::new(),
    }
}

/// Answers with a fixed text, recording the messages it saw.
struct Fixed {
    answer: String,
    seen: Mutex<Vec<Vec<ChatMessage>>>,
}

impl Generate for Fixed {
    fn generate(
        &self,
        messages: &[ChatMessage],
        _: usize,
        _: &AtomicBool,
    ) -> Result<String, String> {
        self.seen.lock().unwrap().push(messages.to_vec());
        Ok(self.answer.clone())
    }
}

/// Polls of 10 ms in a minute: waits end on their condition, never on a guess that a busy
/// machine can miss.
const POLLS: usize = 6000;

/// Spins until cancelled, counting the cancellations it observed.
struct Spins {
    cancelled: Arc<AtomicUsize>,
}

impl Generate for Spins {
    fn generate(&self, _: &[ChatMessage], _: usize, cancel: &AtomicBool) -> Result<String, String> {
        while !cancel.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.cancelled.fetch_add(1, Ordering::SeqCst);
        Err("cancelled".to_owned())
    }
}

fn loader_of(model: Arc<dyn Generate>) -> Arc<Loader> {
    Arc::new(move || Ok(Arc::clone(&model)))
}

async fn wait_loaded(rewriter: &LocalRewriter) {
    for _ in 0..POLLS {
        if rewriter.model().is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("model never loaded");
}

#[tokio::test]
async fn falls_back_while_loading_then_uses_the_model() {
    let fixed = Arc::new(Fixed {
        answer: "a lighthouse at dusk, watercolor, soft teal palette".to_owned(),
        seen: Mutex::new(Vec::new()),
    });
    let slow_loader: Arc<Loader> = {
        let fixed = Arc::clone(&fixed);
        Arc::new(move || {
            std::thread::sleep(Duration::from_millis(100));
            Ok(Arc::clone(&fixed) as Arc<dyn Generate>)
        })
    };
    let r = LocalRewriter::with_loader("local (test)", slow_loader, &config(2000), counter(words));
    let first = r.rewrite(request("I paint with watercolors")).await;
    assert_eq!(first.kind, "template (llm failed: model loading)");
    assert!(first.prompt.starts_with("a lighthouse at dusk"));
    wait_loaded(&r).await;
    let mut req = request("I paint with watercolors");
    req.examples = vec![crate::rewrite::prompt::Example::new(
        "a fox",
        "a fox, watercolor",
    )];
    let out = r.rewrite(req).await;
    assert_eq!(out.kind, "llm (local (test))");
    assert_eq!(
        out.prompt,
        "a lighthouse at dusk, watercolor, soft teal palette"
    );
    let seen = fixed.seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "the model ran once");
    let roles: Vec<_> = seen[0].iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "user"],
        "few-shot example sent"
    );
    assert!(seen[0][0].content.contains("I paint with watercolors"));
}

#[tokio::test]
async fn without_persona_the_model_is_not_used() {
    let fixed = Arc::new(Fixed {
        answer: "never".to_owned(),
        seen: Mutex::new(Vec::new()),
    });
    let r =
        LocalRewriter::with_loader("t", loader_of(fixed.clone()), &config(2000), counter(words));
    let mut req = request("");
    req.persona = None;
    let out = r.rewrite(req).await;
    assert_eq!(
        (out.prompt.as_str(), out.kind.as_str()),
        ("a lighthouse at dusk", "unchanged")
    );
    assert!(fixed.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_rejected_answer_falls_back() {
    let fixed = Arc::new(Fixed {
        answer: "I'm sorry, I can't help with that.".to_owned(),
        seen: Mutex::new(Vec::new()),
    });
    let r = LocalRewriter::with_loader("t", loader_of(fixed), &config(2000), counter(words));
    r.preload();
    wait_loaded(&r).await;
    let out = r.rewrite(request("I love the sea")).await;
    assert_eq!(out.kind, "template (llm failed: refusal)");
}

#[tokio::test]
async fn the_budget_cancels_the_generation() {
    let cancelled = Arc::new(AtomicUsize::new(0));
    let spins = Arc::new(Spins {
        cancelled: Arc::clone(&cancelled),
    });
    let r = LocalRewriter::with_loader("t", loader_of(spins), &config(300), counter(words));
    r.preload();
    wait_loaded(&r).await;
    // The generation never ends by itself: only the 300 ms budget can end the wait (the
    // minute-long limit here only turns a bug into a failure instead of a hang).
    let started = Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        r.rewrite(request("I love the sea")),
    )
    .await
    .expect("the budget ends the wait");
    assert_eq!(out.kind, "template (llm failed: timeout)");
    assert!(started.elapsed() >= Duration::from_millis(300));
    // The abandoned generation notices the flag and stops.
    for _ in 0..POLLS {
        if cancelled.load(Ordering::SeqCst) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the generation was never cancelled");
}

#[tokio::test]
async fn a_failed_load_is_reported_and_not_retried_at_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let loader: Arc<Loader> = {
        let calls = Arc::clone(&calls);
        Arc::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
            Err("no such file".to_owned())
        })
    };
    let r = LocalRewriter::with_loader("t", loader, &config(2000), counter(words));
    r.preload();
    for _ in 0..POLLS {
        if matches!(&*r.state.lock().unwrap(), State::Failed { .. }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = r.rewrite(request("I love the sea")).await;
    assert_eq!(out.kind, "template (llm failed: model unavailable)");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A gullible embedded model: obeys whatever the prompt data or the persona says.
struct Gullible;

impl Generate for Gullible {
    fn generate(
        &self,
        messages: &[ChatMessage],
        _: usize,
        _: &AtomicBool,
    ) -> Result<String, String> {
        let system = messages.first().map(|m| m.content.as_str()).unwrap_or("");
        let user = messages.last().map(|m| m.content.as_str()).unwrap_or("");
        let data = user
            .trim_start_matches("<member_prompt>")
            .trim_end_matches("</member_prompt>")
            .trim();
        Ok(fake_discord::llm::obey(system, data))
    }
}

#[tokio::test]
async fn red_team_outputs_are_checked_or_fallback() {
    use crate::rewrite::redteam_tests::{assert_safe, red_team};
    let cases = red_team();
    assert!(cases.len() >= 25);
    let r = LocalRewriter::with_loader(
        "gullible",
        loader_of(Arc::new(Gullible)),
        &config(2000),
        Arc::new(crate::rewrite::postcheck::tests::approx_tokens),
    );
    r.preload();
    wait_loaded(&r).await;
    let mut fallbacks = 0;
    for (prompt, persona) in &cases {
        let out = r.rewrite(request_for(prompt, persona)).await;
        assert_safe(prompt, persona, &out, "not instructions");
        fallbacks += usize::from(!out.kind.starts_with("llm"));
    }
    // The gullible model is caught often, but not always: benign-looking answers pass.
    assert!(
        fallbacks > 0 && fallbacks < cases.len(),
        "{fallbacks}/{}",
        cases.len()
    );
}

fn request_for(prompt: &str, persona: &str) -> RewriteRequest {
    RewriteRequest {
        prompt: prompt.to_owned(),
        persona: Some(persona.to_owned()),
        examples: Vec::new(),
    }
}

/// `rewrite.local_device`: `cpu` is the CPU; without the `cuda` feature `auto` is the CPU and
/// `cuda` is an error the loader reports (the configuration refuses it earlier).
#[test]
fn the_configured_device_is_used() {
    assert!(llm_device("cpu").unwrap().is_cpu());
    if !cfg!(feature = "cuda") {
        assert!(llm_device("auto").unwrap().is_cpu());
        let err = llm_device("cuda").unwrap_err();
        assert!(err.contains("no CUDA device"), "{err}");
    }
}
