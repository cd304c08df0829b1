//! The chat-model seam: one small interface for every LLM the bot talks to, used by the ZIPP
//! rewrite ([`crate::rewrite`]) and the persona verbalizer ([`crate::verbalize`],
//! driven by [`crate::lifecycle`]) alike.
//!
//! Backends (an OpenAI-compatible server, the embedded GGUF runtime of `zipp-llm`) implement
//! [`ChatModel`]; callers see only [`ChatMessage`]s in, text or a typed [`LlmError`] out, and
//! decide themselves what to do on failure (the rewrite falls back to its template, the
//! verbalizer to its offline composition). Nothing here knows Discord or the database.

pub use zipp_llm::ChatMessage;

/// A boxed, sendable future (keeps the traits object-safe without another dependency).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Why a chat model gave no answer. [`LlmError::short`] is the form stored with a result and
/// shown in logs; no variant carries a key or a member's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The model is still loading or could not be loaded.
    #[error("the model is not available: {0}")]
    Unavailable(String),
    /// No answer within the time allowed.
    #[error("no answer in time")]
    Timeout,
    /// The backend failed (transport, HTTP status, malformed answer, generation error).
    #[error("the backend failed: {0}")]
    Backend(String),
}

impl LlmError {
    /// A short, log-friendly reason (`timeout`, `http 500`, …).
    pub fn short(&self) -> String {
        match self {
            Self::Unavailable(why) | Self::Backend(why) => why.clone(),
            Self::Timeout => "timeout".to_owned(),
        }
    }
}

/// A chat model: free-form completions of at most `max_tokens` tokens.
pub trait ChatModel: Send + Sync {
    /// Answers `messages`; never panics on a bad answer.
    fn complete(
        &self,
        messages: Vec<ChatMessage>,
        max_tokens: usize,
    ) -> BoxFuture<'_, Result<String, LlmError>>;

    /// A label for logs and stored evidence, e.g. `llm (NAME)`.
    fn label(&self) -> String;
}
