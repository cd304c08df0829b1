//! The ZIPP rewrite step: turns a member's prompt into the prompt actually rendered.
//!
//! This is the seam where persona conditioning plugs in: a [`Rewriter`] receives the prompt and,
//! when the member has one, their persona. Until personas and LLM backends exist the only
//! implementation is [`Unchanged`], which returns the prompt as typed; the reply always shows the
//! prompt that was actually rendered and which rewrite produced it.

pub mod fallback;
pub mod local;
pub mod local_backend;
pub mod openai;
pub mod postcheck;
pub mod prompt;
pub mod registry;
pub mod template;

#[cfg(test)]
mod redteam_tests;

/// A boxed, sendable future (keeps [`Rewriter`] object-safe without another dependency).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

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

/// The result of a rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The prompt to render.
    pub prompt: String,
    /// Which rewrite produced it, e.g. `unchanged`; stored with the job and shown to the member.
    pub kind: String,
}

/// A prompt rewriter. Implementations must never fail the member's request: on trouble they
/// fall back to a simpler rewrite and say so in [`Rewritten::kind`].
pub trait Rewriter: Send + Sync + 'static {
    /// Rewrites one prompt.
    fn rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Rewritten>;

    /// Starts any slow setup (loading an embedded model) in the background; returns at once.
    fn preload(&self) {}

    /// A free-form chat completion of at most `max_tokens` tokens (persona verbalization).
    /// Backends without an LLM answer `Err` at once; callers then use something offline.
    fn complete(
        &self,
        _messages: Vec<prompt::ChatMessage>,
        _max_tokens: usize,
    ) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async { Err("this rewrite has no LLM".to_owned()) })
    }

    /// A label for logs and stored evidence (e.g. `llm (NAME)`), when [`Rewriter::complete`]
    /// can answer.
    fn llm_label(&self) -> Option<String> {
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
