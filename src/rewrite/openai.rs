//! ZIPP rewrites through any OpenAI-compatible chat-completions server (OpenAI, llama.cpp's
//! server, vLLM, Ollama's `/v1`, …).
//!
//! One rewrite = build the ZIPP messages (`super::prompt`) → `POST {base_url}/chat/completions`
//! (retrying 429/5xx with bounded backoff that honours `Retry-After`) → post-check the answer
//! (`super::postcheck`). Any failure, or the overall time budget running out, falls back to the
//! template rewrite with a kind like `template (llm failed: timeout)`.
//!
//! The API key is read once from the environment variable *named* in the config; it is never
//! logged (the [`std::fmt::Debug`] impls redact it).

use std::time::Duration;

use rand::Rng;
use serde::Deserialize;

use super::fallback::{run_with_fallback, TryRewriter, DEFAULT_BUDGET};
use super::postcheck::{check_rewrite, RejectReason, TokenCounter};
use super::prompt::{build_messages, ChatMessage, DEFAULT_FEW_SHOT};
use super::template::TemplateRewriter;
use super::{BoxFuture, RewriteRequest, Rewriter, Rewritten};
use crate::llm::ChatModel;

/// CLIP's window for Stable Diffusion, BOS/EOS included.
pub const SD_MAX_TOKENS: usize = 77;

/// Settings for an OpenAI-compatible backend.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Base URL including the API prefix, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// Model name sent in the request.
    pub model: String,
    /// Name of the environment variable holding the API key; `None` sends no key (local servers).
    pub api_key_env: Option<String>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Retries after the first request (429 and 5xx only).
    pub max_retries: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Most tokens the LLM may generate.
    pub max_tokens: u32,
    /// Overall budget for the whole LLM attempt, retries included.
    pub budget: Duration,
    /// Longest wait between retries; a larger `Retry-After` gives up at once.
    pub max_retry_wait: Duration,
    /// Token budget of the rendered prompt, counted by the diffusion model's tokenizer.
    pub prompt_token_budget: usize,
    /// How many of the request's few-shot examples to send.
    pub few_shot: usize,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080/v1".to_owned(),
            model: "default".to_owned(),
            api_key_env: None,
            timeout: Duration::from_secs(6),
            max_retries: 2,
            temperature: 0.7,
            max_tokens: 120,
            budget: DEFAULT_BUDGET,
            max_retry_wait: Duration::from_secs(2),
            prompt_token_budget: SD_MAX_TOKENS,
            few_shot: DEFAULT_FEW_SHOT,
        }
    }
}

/// Why an LLM rewrite failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The configured key variable is unset or empty.
    #[error("environment variable {0} (the LLM API key) is not set")]
    MissingApiKey(String),
    /// The base URL or HTTP client setup is invalid.
    #[error("invalid LLM client configuration: {0}")]
    Config(String),
    /// A request took longer than the per-request timeout.
    #[error("LLM request timed out")]
    Timeout,
    /// The server could not be reached.
    #[error("cannot reach the LLM server: {0}")]
    Connect(String),
    /// The server kept answering 429.
    #[error("LLM server rate-limited the request (retry after {0:?})")]
    RateLimited(Option<Duration>),
    /// The server answered an error status.
    #[error("LLM server answered HTTP {status}: {body}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// Start of the response body.
        body: String,
    },
    /// The response was not a chat completion.
    #[error("malformed LLM response: {0}")]
    Malformed(String),
    /// The answer failed the post-checks.
    #[error("LLM answer rejected: {0}")]
    Rejected(RejectReason),
}

impl LlmError {
    /// A short reason for the member-visible kind, e.g. `http 500`.
    pub fn short(&self) -> String {
        match self {
            Self::MissingApiKey(_) => "missing api key".to_owned(),
            Self::Config(_) => "bad config".to_owned(),
            Self::Timeout => "timeout".to_owned(),
            Self::Connect(_) => "unreachable".to_owned(),
            Self::RateLimited(_) => "rate limited".to_owned(),
            Self::Http { status, .. } => format!("http {status}"),
            Self::Malformed(_) => "malformed response".to_owned(),
            Self::Rejected(r) => r.short(),
        }
    }

    fn retryable(&self) -> bool {
        matches!(self, Self::RateLimited(_))
            || matches!(self, Self::Http { status, .. } if *status >= 500)
    }
}

/// An API key that never prints.
#[derive(Clone)]
struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The OpenAI-compatible rewriter; as a [`Rewriter`] it falls back to the template rewrite.
#[derive(Clone)]
pub struct OpenAiRewriter {
    config: OpenAiConfig,
    client: reqwest::Client,
    endpoint: String,
    api_key: Option<ApiKey>,
    counter: TokenCounter,
    template: TemplateRewriter,
}

impl std::fmt::Debug for OpenAiRewriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiRewriter")
            .field("config", &self.config)
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

/// The largest chat-completion answer read (a rewrite is a few hundred bytes; a misbehaving or
/// hostile server cannot make the bot buffer more).
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

impl OpenAiRewriter {
    /// Builds the client; `counter` counts tokens with the diffusion model's tokenizer.
    pub fn new(config: OpenAiConfig, counter: TokenCounter) -> Result<Self, LlmError> {
        let api_key = match &config.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(key) if !key.trim().is_empty() => Some(ApiKey(key.trim().to_owned())),
                _ => return Err(LlmError::MissingApiKey(var.clone())),
            },
        };
        let endpoint = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        let url = reqwest::Url::parse(&endpoint)
            .map_err(|e| LlmError::Config(format!("base_url: {e}")))?;
        // A key is a credential: over plain HTTP only to this machine.
        if api_key.is_some()
            && url.scheme() != "https"
            && !crate::http_client::is_loopback_url(&endpoint)
        {
            return Err(LlmError::Config(format!(
                "base_url {} is not https://: the API key would travel in clear text (only \
                 loopback hosts may use http:// with a key)",
                crate::http_client::redact_url(&config.base_url)
            )));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(3)));
        if crate::http_client::is_loopback_url(&endpoint) {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| LlmError::Config(e.to_string()))?;
        let template = TemplateRewriter::with_budget(counter.clone(), config.prompt_token_budget);
        Ok(Self {
            config,
            client,
            endpoint,
            api_key,
            counter,
            template,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// One chat completion, retried on 429/5xx with bounded backoff; returns the raw answer.
    pub async fn complete(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        self.complete_with(messages, self.config.max_tokens as usize)
            .await
    }

    /// [`OpenAiRewriter::complete`] with another answer length.
    pub async fn complete_with(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
    ) -> Result<String, LlmError> {
        let body = serde_json::json!({
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": max_tokens,
            "stream": false,
        });
        let mut attempt = 0;
        loop {
            let err = match self.request_once(&body).await {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            if !err.retryable() || attempt >= self.config.max_retries {
                return Err(err);
            }
            let wait = match &err {
                LlmError::RateLimited(Some(after)) if *after > self.config.max_retry_wait => {
                    return Err(err);
                }
                LlmError::RateLimited(Some(after)) => *after,
                // Exponential backoff with jitter, so retries from many members spread out.
                _ => Duration::from_millis(
                    (200u64 << attempt.min(5)) + rand::thread_rng().gen_range(0..100),
                ),
            };
            tracing::debug!(attempt, ?wait, error = %err, "retrying LLM request");
            tokio::time::sleep(wait.min(self.config.max_retry_wait)).await;
            attempt += 1;
        }
    }

    async fn request_once(&self, body: &serde_json::Value) -> Result<String, LlmError> {
        let mut req = self.client.post(&self.endpoint).json(body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(&key.0);
        }
        let resp = req.send().await.map_err(map_reqwest)?;
        let status = resp.status();
        if status.as_u16() == 429 {
            let after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(LlmError::RateLimited(after));
        }
        let bytes = crate::http_client::read_capped(resp, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                crate::http_client::CappedError::Transport(e) => map_reqwest(e),
                crate::http_client::CappedError::TooLarge => LlmError::Malformed(format!(
                    "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
                )),
            })?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            return Err(LlmError::Http {
                status: status.as_u16(),
                body: text.chars().take(200).collect(),
            });
        }
        let completion: Completion =
            serde_json::from_str(&text).map_err(|e| LlmError::Malformed(e.to_string()))?;
        completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| LlmError::Malformed("no choices[0].message.content".to_owned()))
    }

    /// Builds the messages, calls the server and post-checks the answer (no fallback).
    pub async fn rewrite_with_llm(&self, request: &RewriteRequest) -> Result<String, LlmError> {
        let persona = request.persona.as_deref().unwrap_or("");
        let messages = build_messages(
            persona,
            &request.prompt,
            &request.examples,
            self.config.few_shot,
        );
        let answer = self.complete(&messages).await?;
        let count: &(dyn Fn(&str) -> usize + Send + Sync) = self.counter.as_ref();
        check_rewrite(
            &request.prompt,
            request.persona.as_deref(),
            &answer,
            count,
            self.config.prompt_token_budget,
        )
        .map_err(LlmError::Rejected)
    }
}

fn map_reqwest(e: reqwest::Error) -> LlmError {
    if e.is_timeout() {
        LlmError::Timeout
    } else if e.is_connect() {
        LlmError::Connect(e.to_string())
    } else if e.is_decode() || e.is_body() {
        LlmError::Malformed(e.to_string())
    } else {
        // reqwest's messages name the URL, never headers, so the key cannot leak here.
        LlmError::Connect(e.to_string())
    }
}

impl TryRewriter for OpenAiRewriter {
    fn label(&self) -> &str {
        "llm"
    }

    fn try_rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Result<Rewritten, String>> {
        Box::pin(async move {
            match self.rewrite_with_llm(&request).await {
                Ok(prompt) => Ok(Rewritten {
                    prompt,
                    kind: format!("llm ({})", self.config.model),
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "LLM rewrite failed");
                    Err(e.short())
                }
            }
        })
    }
}

impl Rewriter for OpenAiRewriter {
    fn rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Rewritten> {
        Box::pin(async move {
            // ZIPP rewrites *for a persona*; without one there is nothing to personalise.
            if request
                .persona
                .as_deref()
                .is_none_or(|p| p.trim().is_empty())
            {
                return Rewritten {
                    prompt: request.prompt,
                    kind: "unchanged".to_owned(),
                };
            }
            let attempt = self.try_rewrite(request.clone());
            run_with_fallback(self.config.budget, "llm", attempt, &self.template, request).await
        })
    }

    fn chat_model(&self) -> Option<&dyn ChatModel> {
        Some(self)
    }
}

impl ChatModel for OpenAiRewriter {
    fn complete(
        &self,
        messages: Vec<ChatMessage>,
        max_tokens: usize,
    ) -> BoxFuture<'_, Result<String, crate::llm::LlmError>> {
        Box::pin(async move {
            self.complete_with(&messages, max_tokens)
                .await
                .map_err(|e| match e {
                    LlmError::Timeout => crate::llm::LlmError::Timeout,
                    other => crate::llm::LlmError::Backend(other.short()),
                })
        })
    }

    fn label(&self) -> String {
        format!("llm ({})", self.config.model)
    }
}

#[cfg(test)]
#[path = "openai_tests.rs"]
mod tests;
