//! Fallible rewriters and the combinator that makes them infallible.
//!
//! A [`Rewriter`] must never fail the member's request. An LLM rewrite can fail (timeout, server
//! error, rejected answer), so LLM backends implement [`TryRewriter`] and are wrapped in
//! [`WithFallback`]: the whole attempt, retries included, runs under one time budget, and on any
//! failure the fallback (the template rewriter) answers, its kind saying why, e.g.
//! `template (llm failed: timeout)`.

use std::future::Future;
use std::time::Duration;

use super::{BoxFuture, RewriteRequest, Rewriter, Rewritten};

/// The default overall time budget for one LLM attempt (the member never waits longer).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(8);

/// A rewriter that may fail; the error is a short, member-safe reason such as `timeout`.
pub trait TryRewriter: Send + Sync + 'static {
    /// Names the backend in fallback kinds, e.g. `llm`.
    fn label(&self) -> &str;
    /// Attempts one rewrite.
    fn try_rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Result<Rewritten, String>>;
}

/// Runs `attempt` under `budget`; on failure or timeout asks `fallback` and records why in its
/// kind. The fallback is expected to be fast (the template rewriter is synchronous).
pub async fn run_with_fallback<Fut>(
    budget: Duration,
    label: &str,
    attempt: Fut,
    fallback: &dyn Rewriter,
    request: RewriteRequest,
) -> Rewritten
where
    Fut: Future<Output = Result<Rewritten, String>>,
{
    let reason = match tokio::time::timeout(budget, attempt).await {
        Ok(Ok(rewritten)) => return rewritten,
        Ok(Err(reason)) => reason,
        Err(_) => "timeout".to_owned(),
    };
    tracing::warn!(backend = label, %reason, "rewrite failed, using fallback");
    let mut out = fallback.rewrite(request).await;
    out.kind = format!("{} ({label} failed: {reason})", out.kind);
    out
}

/// `primary`, or `fallback` when `primary` fails or exceeds `budget`.
#[derive(Debug, Clone)]
pub struct WithFallback<P, F> {
    /// The fallible rewriter tried first.
    pub primary: P,
    /// The infallible rewriter used on failure.
    pub fallback: F,
    /// The overall time budget for `primary`.
    pub budget: Duration,
}

impl<P: TryRewriter, F: Rewriter> Rewriter for WithFallback<P, F> {
    fn rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Rewritten> {
        Box::pin(async move {
            let attempt = self.primary.try_rewrite(request.clone());
            run_with_fallback(
                self.budget,
                self.primary.label(),
                attempt,
                &self.fallback,
                request,
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fails;
    impl TryRewriter for Fails {
        fn label(&self) -> &str {
            "llm"
        }
        fn try_rewrite(&self, _: RewriteRequest) -> BoxFuture<'_, Result<Rewritten, String>> {
            Box::pin(async { Err("http 500".to_owned()) })
        }
    }

    struct Hangs;
    impl TryRewriter for Hangs {
        fn label(&self) -> &str {
            "llm"
        }
        fn try_rewrite(&self, _: RewriteRequest) -> BoxFuture<'_, Result<Rewritten, String>> {
            Box::pin(std::future::pending())
        }
    }

    fn req() -> RewriteRequest {
        RewriteRequest {
            prompt: "a cat".to_owned(),
            persona: None,
            examples: Vec::new(),
        }
    }

    #[tokio::test]
    async fn failure_and_timeout_use_the_fallback() {
        let r = WithFallback {
            primary: Fails,
            fallback: super::super::Unchanged,
            budget: Duration::from_secs(1),
        };
        let out = r.rewrite(req()).await;
        assert_eq!(out.prompt, "a cat");
        assert_eq!(out.kind, "unchanged (llm failed: http 500)");

        let r = WithFallback {
            primary: Hangs,
            fallback: super::super::Unchanged,
            budget: Duration::from_millis(50),
        };
        let t = std::time::Instant::now();
        let out = r.rewrite(req()).await;
        assert_eq!(out.kind, "unchanged (llm failed: timeout)");
        assert!(t.elapsed() < Duration::from_millis(150));
    }
}
