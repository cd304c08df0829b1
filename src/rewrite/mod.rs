//! The ZIPP rewrite step: turns a member's prompt into the prompt actually rendered.
//!
//! This is the seam where persona conditioning plugs in: a [`Rewriter`] receives the prompt and,
//! when the member has one, their persona. Until personas and LLM backends exist the only
//! implementation is [`Unchanged`], which returns the prompt as typed; the reply always shows the
//! prompt that was actually rendered and which rewrite produced it.

pub mod fallback;
pub mod local_backend;
pub mod openai;
pub mod postcheck;
pub mod prompt;
pub mod registry;
pub mod template;

#[cfg(test)]
mod redteam_tests;

pub use crate::llm::BoxFuture;
use crate::llm::ChatModel;

/// What to rewrite.
#[derive(Debug, Clone)]
pub struct RewriteRequest {
    /// The prompt as the member typed it (already validated).
    pub prompt: String,
    /// The member's persona text, when they have one and asked for it.
    pub persona: Option<String>,
    /// Few-shot examples: the member's past prompts and the rewrites they preferred.
    pub examples: Vec<prompt::Example>,
}

impl RewriteRequest {
    /// Whether the request carries a usable persona (without one, every rewriter returns the
    /// prompt unchanged).
    pub fn has_persona(&self) -> bool {
        self.persona
            .as_deref()
            .is_some_and(|p| !p.trim().is_empty())
    }
}

/// The result of a rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The prompt to render.
    pub prompt: String,
    /// Which rewrite produced it, e.g. `unchanged`; stored with the job and shown to the member.
    pub kind: String,
}

impl Rewritten {
    /// The rewrite used without a persona: the prompt as typed.
    pub fn unchanged(request: RewriteRequest) -> Self {
        Self {
            prompt: request.prompt,
            kind: "unchanged".to_owned(),
        }
    }
}

/// The rewrite kind as shown in public replies: the stored kind names why an LLM failed
/// (`template (llm failed: connect error: http://10.0.0.3/…)`), which is for the log and the
/// operator, not the channel. Everything from the reason of a failure (`failed: `,
/// `unavailable: `) on is dropped, whatever brackets the reason holds: `template (llm failed)`.
/// Other kinds (`llm (llama3:8b)`, the budget note) are shown as stored.
pub fn public_kind(kind: &str) -> String {
    for marker in [" failed: ", " unavailable: "] {
        if let Some(at) = kind.find(marker) {
            // Keep "failed" / "unavailable", drop ": reason…".
            let kept = &kind[..at + marker.len() - 2];
            return format!("{kept})");
        }
    }
    kind.to_owned()
}

/// A prompt rewriter. Implementations must never fail the member's request: on trouble they
/// fall back to a simpler rewrite and say so in [`Rewritten::kind`].
pub trait Rewriter: Send + Sync + 'static {
    /// Rewrites one prompt.
    fn rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Rewritten>;

    /// Starts any slow setup (loading an embedded model) in the background; returns at once.
    fn preload(&self) {}

    /// The chat model behind this rewrite, when it has one (the persona verbalizer uses the
    /// server's LLM through it); `None` for rewrites without an LLM.
    fn chat_model(&self) -> Option<&dyn ChatModel> {
        None
    }
}

/// The identity rewrite: no persona, no LLM.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unchanged;

impl Rewriter for Unchanged {
    fn rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Rewritten> {
        Box::pin(async move {
            Rewritten {
                prompt: request.prompt,
                kind: "unchanged".to_owned(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_kinds_name_no_backend_error() {
        for (stored, shown) in [
            ("template", "template"),
            ("llm (smollm2)", "llm (smollm2)"),
            ("unchanged", "unchanged"),
            (
                "template (llm failed: connect error: http://10.0.0.3:8080/v1 refused)",
                "template (llm failed)",
            ),
            ("template (llm failed: http 500)", "template (llm failed)"),
            (
                "template (llm unavailable: model file /models/x.gguf (missing): no such file)",
                "template (llm unavailable)",
            ),
            (
                "template (llm budget of this server spent)",
                "template (llm budget of this server spent)",
            ),
            // Unbalanced brackets in a reason hide nothing.
            (
                "template (llm unavailable: bad file) at /srv/models/x.gguf: denied",
                "template (llm unavailable)",
            ),
            (
                "template (llm failed: ))) http://10.0.0.3",
                "template (llm failed)",
            ),
            ("llm (llama3:8b)", "llm (llama3:8b)"),
            ("llm (local (smollm2))", "llm (local (smollm2))"),
        ] {
            assert_eq!(public_kind(stored), shown, "{stored}");
        }
    }

    #[tokio::test]
    async fn unchanged_returns_the_prompt_verbatim() {
        let out = Unchanged
            .rewrite(RewriteRequest {
                prompt: "a red cat, 4k".to_owned(),
                persona: Some("I love cats".to_owned()),
                examples: Vec::new(),
            })
            .await;
        assert_eq!(out.prompt, "a red cat, 4k");
        assert_eq!(out.kind, "unchanged");
    }
}
