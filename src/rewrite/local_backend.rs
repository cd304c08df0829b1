//! The `local` backend: an embedded quantized GGUF model (see [`zipp_llm`]) answering ZIPP
//! rewrites inside the bot's process.
//!
//! - **Loaded once, in the background.** The first use starts loading on its own thread (a
//!   download from the Hugging Face hub, with a progress bar, when the entry names a repo);
//!   until it is ready, rewrites fall back to the template at once instead of making the member
//!   wait. A failed load is retried after [`RELOAD_AFTER`].
//! - **Off the async runtime, bounded.** Generation runs on tokio's blocking pool; the model keeps
//!   `local_max_concurrency` instances (sharing the weights), so extra requests queue there.
//! - **Never longer than the budget.** The whole attempt runs under the rewrite budget; when it
//!   runs out the member gets the template rewrite and the generation is cancelled at the next
//!   token (a drop guard raises the flag), so an abandoned request frees its instance quickly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::fallback::{run_with_fallback, TryRewriter};
use super::openai::SD_MAX_TOKENS;
use super::postcheck::{check_rewrite, TokenCounter};
use super::prompt::{build_messages, ChatMessage};
use super::template::TemplateRewriter;
use super::{BoxFuture, RewriteRequest, Rewriter, Rewritten};
use crate::config::RewriteConfig;
use crate::llm::{ChatModel, LlmError};
use crate::models::{self, LlmEntry};

/// A failed load is tried again after this long (the file may have been fixed).
pub const RELOAD_AFTER: Duration = Duration::from_secs(60);

/// Something that turns chat messages into an answer (the GGUF model, or a test double).
pub trait Generate: Send + Sync + 'static {
    /// Generates at most `max_tokens` tokens; stops early (with an error) once `cancel` is set.
    fn generate(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
        cancel: &AtomicBool,
    ) -> Result<String, String>;
}

impl Generate for zipp_llm::LocalLlm {
    fn generate(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
        cancel: &AtomicBool,
    ) -> Result<String, String> {
        zipp_llm::LocalLlm::generate(self, messages, max_tokens, cancel)
            .map(|g| g.text)
            .map_err(|e| e.to_string())
    }
}

/// Loads the model (blocking).
pub type Loader = dyn Fn() -> Result<Arc<dyn Generate>, String> + Send + Sync;

enum State {
    Idle,
    Loading,
    Ready(Arc<dyn Generate>),
    Failed { at: Instant },
}

/// The `local` rewriter; as a [`Rewriter`] it falls back to the template rewrite.
pub struct LocalRewriter {
    label: String,
    state: Arc<Mutex<State>>,
    loader: Arc<Loader>,
    budget: Duration,
    few_shot: usize,
    max_tokens: usize,
    counter: TokenCounter,
    template: TemplateRewriter,
}

impl std::fmt::Debug for LocalRewriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRewriter")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Sets the flag when dropped: the generation stops once nobody waits for it.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl LocalRewriter {
    /// The rewriter of catalog entry `name` (`backend = "local"`).
    pub fn new(name: &str, entry: LlmEntry, config: &RewriteConfig, counter: TokenCounter) -> Self {
        let options = zipp_llm::LocalOptions {
            max_concurrency: config.local_max_concurrency.max(1),
            seed: 299_792_458,
            temperature: config.temperature,
            ..zipp_llm::LocalOptions::default()
        };
        let entry_name = name.to_owned();
        let device_choice = config.local_device.clone();
        let loader = move || -> Result<Arc<dyn Generate>, String> {
            let path = models::ensure_local_gguf(&entry).map_err(|e| e.to_string())?;
            let device = llm_device(&device_choice)?;
            let started = Instant::now();
            let llm = zipp_llm::LocalLlm::load(&path, &device, options.clone())
                .map_err(|e| format!("loading {}: {e}", path.display()))?;
            tracing::info!(
                llm = %entry_name,
                path = %path.display(),
                arch = llm.architecture(),
                device = if device.is_cpu() { "cpu" } else { "cuda" },
                cpu_kernels = zipp_llm::cpu_kernels(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "local LLM loaded"
            );
            Ok(Arc::new(llm))
        };
        Self::with_loader(
            &format!("local ({name})"),
            Arc::new(loader),
            config,
            counter,
        )
    }

    /// A rewriter over any [`Generate`]; `label` names it in the rewrite kind.
    pub fn with_loader(
        label: &str,
        loader: Arc<Loader>,
        config: &RewriteConfig,
        counter: TokenCounter,
    ) -> Self {
        Self {
            label: label.to_owned(),
            state: Arc::new(Mutex::new(State::Idle)),
            loader,
            budget: Duration::from_millis(config.budget_ms),
            few_shot: config.few_shot,
            max_tokens: config.max_tokens as usize,
            template: TemplateRewriter::with_budget(counter.clone(), SD_MAX_TOKENS),
            counter,
        }
    }

    /// The loaded model, or why there is none yet (loading is started when needed).
    fn model(&self) -> Result<Arc<dyn Generate>, String> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| "model state poisoned".to_owned())?;
        match &*state {
            State::Ready(model) => return Ok(Arc::clone(model)),
            State::Loading => return Err("model loading".to_owned()),
            // The reason (paths, file details) is in the log; members see a short kind.
            State::Failed { at, .. } if at.elapsed() < RELOAD_AFTER => {
                return Err("model unavailable".to_owned());
            }
            State::Idle | State::Failed { .. } => {}
        }
        *state = State::Loading;
        let shared = Arc::clone(&self.state);
        let loader = Arc::clone(&self.loader);
        let label = self.label.clone();
        std::thread::Builder::new()
            .name("zipp-llm-load".to_owned())
            .spawn(move || {
                let result = loader();
                let next = match result {
                    Ok(model) => State::Ready(model),
                    Err(reason) => {
                        tracing::error!(llm = %label, %reason, "local LLM failed to load; rewrites use the template");
                        State::Failed { at: Instant::now() }
                    }
                };
                if let Ok(mut state) = shared.lock() {
                    *state = next;
                }
            })
            .map_err(|e| format!("cannot start the loader thread: {e}"))?;
        Err("model loading".to_owned())
    }
}

/// The device for embedded LLMs (`rewrite.local_device`): `cpu`; `cuda` (the first GPU, or an
/// error the loader reports); `auto`: the GPU when built with CUDA and one is present, else the
/// CPU.
fn llm_device(choice: &str) -> Result<candle_core::Device, String> {
    use candle_core::Device;
    match choice {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0).map_err(|e| format!("no CUDA device for the local LLM: {e}")),
        _ if cfg!(feature = "cuda") => Ok(Device::cuda_if_available(0).unwrap_or(Device::Cpu)),
        _ => Ok(Device::Cpu),
    }
}

impl TryRewriter for LocalRewriter {
    fn label(&self) -> &str {
        "llm"
    }

    fn try_rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Result<Rewritten, String>> {
        Box::pin(async move {
            let model = self.model()?;
            let persona = request.persona.as_deref().unwrap_or("");
            let messages =
                build_messages(persona, &request.prompt, &request.examples, self.few_shot);
            let cancel = Arc::new(AtomicBool::new(false));
            let _guard = CancelOnDrop(Arc::clone(&cancel));
            let max_tokens = self.max_tokens;
            let answer = tokio::task::spawn_blocking(move || {
                model.generate(&messages, max_tokens, &cancel)
            })
            .await
            .map_err(|e| format!("generation panicked: {e}"))?
            .inspect_err(
                |reason| tracing::warn!(llm = %self.label, %reason, "local generation failed"),
            )?;
            let count: &(dyn Fn(&str) -> usize + Send + Sync) = self.counter.as_ref();
            let prompt = check_rewrite(
                &request.prompt,
                request.persona.as_deref(),
                &answer,
                count,
                SD_MAX_TOKENS,
            )
                .map_err(|reason| {
                    tracing::info!(llm = %self.label, %reason, "local answer rejected by the post-checks");
                    reason.short()
                })?;
            Ok(Rewritten {
                prompt,
                kind: format!("llm ({})", self.label),
            })
        })
    }
}

impl Rewriter for LocalRewriter {
    fn rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Rewritten> {
        Box::pin(async move {
            if !request.has_persona() {
                return Rewritten::unchanged(request);
            }
            let attempt = self.try_rewrite(request.clone());
            run_with_fallback(self.budget, "llm", attempt, &self.template, request).await
        })
    }

    /// Starts loading in the background unless loaded or loading.
    fn preload(&self) {
        let _ = self.model();
    }

    fn chat_model(&self) -> Option<&dyn ChatModel> {
        Some(self)
    }
}

impl ChatModel for LocalRewriter {
    fn complete(
        &self,
        messages: Vec<ChatMessage>,
        max_tokens: usize,
    ) -> BoxFuture<'_, Result<String, LlmError>> {
        Box::pin(async move {
            let model = self.model().map_err(LlmError::Unavailable)?;
            let cancel = Arc::new(AtomicBool::new(false));
            let _guard = CancelOnDrop(Arc::clone(&cancel));
            tokio::task::spawn_blocking(move || model.generate(&messages, max_tokens, &cancel))
                .await
                .map_err(|e| LlmError::Backend(format!("generation panicked: {e}")))?
                .map_err(LlmError::Backend)
        })
    }

    fn label(&self) -> String {
        self.label.clone()
    }
}

#[cfg(test)]
#[path = "local_backend_tests.rs"]
mod tests;
