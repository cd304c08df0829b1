//! The rewriters servers can choose (`[llm.*]` in the model catalog), built on first use and
//! shared by every server that picked the same entry.
//!
//! Every rewriter handed out is total: without a persona the prompt is rendered unchanged
//! (ZIPP personalises *for* a persona), an LLM that fails or exceeds the time budget falls back
//! to the template rewrite, and an entry that cannot be built at all (say its API key variable
//! is unset) answers with the template and says why in the kind, so a member never waits on a
//! broken configuration.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use super::local_backend::LocalRewriter;
use super::openai::{OpenAiConfig, OpenAiRewriter, SD_MAX_TOKENS};
use super::postcheck::TokenCounter;
use super::template::TemplateRewriter;
use super::{BoxFuture, RewriteRequest, Rewriter, Rewritten};
use crate::config::RewriteConfig;
use crate::models::{Catalog, LlmEntry};

/// The name of the built-in no-LLM entry, always available even if the catalog lacks it.
pub const TEMPLATE: &str = "template";

/// All rewriters, by catalog name.
pub struct Rewriters {
    llms: BTreeMap<String, LlmEntry>,
    config: RewriteConfig,
    counter: TokenCounter,
    built: DashMap<String, Arc<dyn Rewriter>>,
}

impl std::fmt::Debug for Rewriters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewriters")
            .field("llms", &self.llms.keys().collect::<Vec<_>>())
            .field("default", &self.config.default_llm)
            .finish_non_exhaustive()
    }
}

impl Rewriters {
    /// Rewriters over the catalog's LLM entries; `counter` counts tokens with the diffusion
    /// model's tokenizer (the CLIP BPE for the Stable Diffusion family).
    pub fn new(catalog: &Catalog, config: &RewriteConfig, counter: TokenCounter) -> Self {
        Self {
            llms: catalog.llm.clone(),
            config: config.clone(),
            counter,
            built: DashMap::new(),
        }
    }

    /// The token counter every rewrite is checked with.
    pub fn counter(&self) -> &TokenCounter {
        &self.counter
    }

    /// The name actually used for a server's choice: the choice when it is in the catalog and
    /// available, else the operator's default, else [`TEMPLATE`].
    pub fn resolve<'a>(&'a self, chosen: Option<&'a str>) -> &'a str {
        let usable = |name: &str| {
            name == TEMPLATE || self.llms.get(name).is_some_and(|entry| entry.available)
        };
        match chosen {
            Some(name) if usable(name) => name,
            Some(name) => {
                tracing::warn!(
                    llm = name,
                    "server's LLM is no longer in the catalog; using the default"
                );
                self.resolve(None)
            }
            None if usable(&self.config.default_llm) => &self.config.default_llm,
            None => TEMPLATE,
        }
    }

    /// The rewriter for a server's choice (see [`Rewriters::resolve`]), built once.
    pub fn get(&self, chosen: Option<&str>) -> Arc<dyn Rewriter> {
        let name = self.resolve(chosen);
        if let Some(built) = self.built.get(name) {
            return Arc::clone(&built);
        }
        let rewriter = self.build(name);
        Arc::clone(
            self.built
                .entry(name.to_owned())
                .or_insert_with(|| rewriter)
                .value(),
        )
    }

    /// Starts loading the default LLM in the background when it is an embedded model, so the
    /// first member does not pay for the load.
    pub fn preload_default(&self) {
        self.get(None).preload();
    }

    fn template(&self) -> TemplateRewriter {
        TemplateRewriter::with_budget(self.counter.clone(), SD_MAX_TOKENS)
    }

    fn build(&self, name: &str) -> Arc<dyn Rewriter> {
        let template = self.template();
        let Some(entry) = self.llms.get(name) else {
            return Arc::new(PersonaOnly(template));
        };
        let budget = Duration::from_millis(self.config.budget_ms);
        match entry.backend.as_str() {
            "openai" => {
                let config = OpenAiConfig {
                    base_url: entry.base_url.clone().unwrap_or_default(),
                    model: entry.model.clone().unwrap_or_default(),
                    api_key_env: entry.api_key_env.clone(),
                    timeout: Duration::from_millis(self.config.request_timeout_ms),
                    max_retries: self.config.max_retries,
                    temperature: self.config.temperature as f32,
                    max_tokens: self.config.max_tokens,
                    budget,
                    few_shot: self.config.few_shot,
                    ..OpenAiConfig::default()
                };
                match OpenAiRewriter::new(config, self.counter.clone()) {
                    Ok(rewriter) => Arc::new(rewriter),
                    Err(error) => {
                        tracing::error!(llm = name, %error, "LLM entry unusable; the template rewrite answers instead");
                        Arc::new(Unusable {
                            template,
                            reason: error.short(),
                        })
                    }
                }
            }
            "local" => Arc::new(LocalRewriter::new(
                name,
                entry.clone(),
                &self.config,
                self.counter.clone(),
            )),
            _ => Arc::new(PersonaOnly(template)),
        }
    }
}

/// A rewriter applied only when the member has a persona; otherwise the prompt is unchanged.
#[derive(Debug, Clone)]
pub struct PersonaOnly<R>(pub R);

impl<R: Rewriter> Rewriter for PersonaOnly<R> {
    fn rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Rewritten> {
        if request.has_persona() {
            self.0.rewrite(request)
        } else {
            Box::pin(async move { Rewritten::unchanged(request) })
        }
    }
}

/// An entry that could not be built: the template answers, naming the reason.
struct Unusable {
    template: TemplateRewriter,
    reason: String,
}

impl Rewriter for Unusable {
    fn rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Rewritten> {
        Box::pin(async move {
            if !request.has_persona() {
                return Rewritten::unchanged(request);
            }
            let mut out = self.template.rewrite_now(&request);
            out.kind = format!("{} (llm unavailable: {})", out.kind, self.reason);
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::template::counter;

    fn catalog(toml: &str) -> Catalog {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("models.toml");
        std::fs::write(&file, toml).expect("write");
        Catalog::load(&file).expect("catalog")
    }

    fn words(text: &str) -> usize {
        text.split_whitespace().count() + 2
    }

    fn request(persona: Option<&str>) -> RewriteRequest {
        RewriteRequest {
            prompt: "a lighthouse".to_owned(),
            persona: persona.map(str::to_owned),
            examples: Vec::new(),
        }
    }

    #[tokio::test]
    async fn choice_default_and_unknown_names() {
        let catalog = catalog(
            "[llm.keyless]\nbackend = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
             model = \"m\"\napi_key_env = \"ZIPP_TEST_SURELY_UNSET_KEY\"\n\
             [llm.hidden]\nbackend = \"template\"\navailable = false\n",
        );
        let config = RewriteConfig {
            default_llm: "keyless".to_owned(),
            ..RewriteConfig::default()
        };
        let rewriters = Rewriters::new(&catalog, &config, counter(words));
        assert_eq!(rewriters.resolve(None), "keyless");
        assert_eq!(rewriters.resolve(Some("hidden")), "keyless");
        assert_eq!(rewriters.resolve(Some("gone")), "keyless");
        assert_eq!(rewriters.resolve(Some(TEMPLATE)), TEMPLATE);

        // No persona: unchanged, whatever the backend.
        let out = rewriters.get(None).rewrite(request(None)).await;
        assert_eq!(
            (out.prompt.as_str(), out.kind.as_str()),
            ("a lighthouse", "unchanged")
        );
        // An entry whose key is missing answers with the template and says why.
        let out = rewriters
            .get(None)
            .rewrite(request(Some("I love the sea")))
            .await;
        assert!(out.prompt.starts_with("a lighthouse, "), "{}", out.prompt);
        assert!(
            out.kind == "template (llm unavailable: missing api key)",
            "{}",
            out.kind
        );
        // Built once, then shared.
        assert!(Arc::ptr_eq(
            &rewriters.get(None),
            &rewriters.get(Some("gone"))
        ));

        let out = rewriters
            .get(Some(TEMPLATE))
            .rewrite(request(Some("I love the sea")))
            .await;
        assert_eq!(out.kind, "template");
    }
}
