//! zipp's embedded LLM runtime: a quantized GGUF model run in-process with candle, for the
//! rewrite step and the persona verbalizer when no OpenAI-compatible server is configured.
//! Blocking and synchronous by design: the application runs it on its blocking pool.
//!
//! - One file holds everything: weights, hyper-parameters, the tokenizer (rebuilt from the
//!   GGUF metadata, see `gguf_tokenizer.rs`) and the chat template (`tokenizer.chat_template`,
//!   rendered with minijinja; ChatML when absent).
//! - Architectures: `llama` (also SmolLM, Mistral-style files), `qwen2`, `qwen3`, `gemma3`, `phi3`.
//! - [`LocalLlm::generate`] is blocking and `&self`: up to [`LocalOptions::max_concurrency`]
//!   calls run at once, each on its own model instance (the quantized weights are shared, the
//!   KV cache is not); further calls wait for a free instance.
//! - Loading never panics on a malformed file: every problem is a [`LocalError`] naming it.
//! - On CPU, llama/qwen2/qwen3 files run on the fused decoder of `fast.rs` (no tensor per
//!   operation; Q4_0/Q4_1/Q8_0 products by our kernels of `fast/kernels.rs`, AVX-512 VNNI,
//!   AVX-VNNI or AVX2 picked at run time: [`cpu_kernels`]); other files on
//!   candle-transformers' models.
//! - For candle's models on CPU, Q4_1/Q5_0/Q5_1 tensors are re-encoded as Q8_0 while loading
//!   (candle has only scalar kernels for them; see `requant.rs`).
//!
//! Build with `-C target-cpu=x86-64-v3` (see `.cargo/config.toml`): candle's quantized CPU
//! kernels are ~20x slower without AVX2/FMA. Wider instruction sets (AVX-512, VNNI) are
//! detected at run time, so one binary serves every machine with AVX2.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::utils::apply_repeat_penalty;

use model::{check_hyperparameters, read_header, Model};

mod chat_template;
mod fast;
mod gguf_tokenizer;
mod model;
mod requant;
mod tiny;

pub use tiny::{write_random_gguf, write_tiny_gguf, RandomShape};

/// The CPU kernels the fused decoder multiplies Q4_0, Q4_1 and Q8_0 weights with, picked for
/// this CPU at run time: `avx512vnni`, `avxvnni`, `avx2` or `plain` (`ZIPP_LLM_KERNELS` may
/// name a narrower one).
pub fn cpu_kernels() -> &'static str {
    fast::kernels::Isa::chosen().name()
}

/// One chat message in the OpenAI chat-completions format: the input of every chat model,
/// embedded here or behind an HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: String) -> Self {
        Self {
            role: "system",
            content,
        }
    }

    /// A user message.
    pub fn user(content: String) -> Self {
        Self {
            role: "user",
            content,
        }
    }

    /// An assistant message (a few-shot answer).
    pub fn assistant(content: String) -> Self {
        Self {
            role: "assistant",
            content,
        }
    }
}

/// The `general.architecture` values [`LocalLlm::load`] accepts.
pub const SUPPORTED_ARCHITECTURES: [&str; 5] = ["llama", "qwen2", "qwen3", "gemma3", "phi3"];

/// The longest sequence (prompt + answer) any instance handles; candle's llama rope table and
/// qwen3 CPU cache are sized for 4096 positions.
const MAX_CONTEXT: usize = 4096;

/// How many recent answer tokens the repeat penalty looks at.
const REPEAT_LAST_N: usize = 64;

/// How often a call waiting for a free instance looks at its cancel flag.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// What can go wrong loading or running a local model.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a usable GGUF model; the text names what is wrong (a missing metadata
    /// key, an unsupported architecture, a bad tokenizer or template, truncated tensors).
    #[error("invalid model file: {0}")]
    Format(String),
    /// The rendered prompt does not fit in the model's context.
    #[error("the prompt has {tokens} tokens; this model takes at most {limit}")]
    PromptTooLong {
        /// Prompt tokens after the chat template.
        tokens: usize,
        /// The context limit.
        limit: usize,
    },
    /// The cancel flag was set.
    #[error("generation cancelled")]
    Cancelled,
    /// candle failed while running the model.
    #[error("candle: {0}")]
    Candle(String),
}

impl From<candle_core::Error> for LocalError {
    fn from(e: candle_core::Error) -> Self {
        Self::Candle(e.to_string())
    }
}

/// How a [`LocalLlm`] runs.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Model instances that may generate at once (each has its own KV cache; weights are
    /// shared). At least 1.
    pub max_concurrency: usize,
    /// Sampling seed; every call starts from it, so equal inputs give equal outputs.
    pub seed: u64,
    /// Sampling temperature; 0 means greedy (argmax).
    pub temperature: f64,
    /// Nucleus sampling threshold; 1 (or more) disables it.
    pub top_p: f64,
    /// Penalty on tokens among the last 64 generated ones; 1 disables it.
    pub repeat_penalty: f32,
    /// On CPU, run llama/qwen2/qwen3 files with the fused decoder (`fast.rs`); false
    /// uses candle-transformers' models (kept for comparison and as the fallback for files
    /// the fused decoder does not cover).
    pub fused_cpu: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            max_concurrency: 1,
            seed: 299_792_458,
            temperature: 0.7,
            top_p: 0.9,
            repeat_penalty: 1.1,
            fused_cpu: true,
        }
    }
}

/// One answer and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The answer, end-of-turn token excluded.
    pub text: String,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
    /// Tokens generated (the stop token not counted).
    pub generated_tokens: usize,
    /// Time to process the prompt and pick the first token.
    pub prefill: Duration,
    /// Time for the remaining tokens.
    pub decode: Duration,
}

/// A loaded GGUF model, ready to answer chat requests from several threads.
pub struct LocalLlm {
    arch: String,
    device: Device,
    options: LocalOptions,
    tokenizer: gguf_tokenizer::GgufTokenizer,
    template: minijinja::Environment<'static>,
    context: usize,
    free: Mutex<Vec<Model>>,
    returned: Condvar,
}

impl std::fmt::Debug for LocalLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLlm")
            .field("arch", &self.arch)
            .field("tokenizer", &self.tokenizer.kind)
            .field("context", &self.context)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl LocalLlm {
    /// Loads a GGUF file; architecture from `general.architecture`: llama (also SmolLM,
    /// Mistral-style), qwen2, qwen3, gemma3, phi3. Never panics on a malformed/truncated file:
    /// returns [`LocalError`] naming the problem.
    pub fn load(
        path: &Path,
        device: &Device,
        options: LocalOptions,
    ) -> Result<LocalLlm, LocalError> {
        let (content, mut reader) = read_header(path)?;
        let md = &content.metadata;
        let arch = match md.get("general.architecture") {
            None => {
                return Err(LocalError::Format(
                    "missing metadata key general.architecture".into(),
                ))
            }
            Some(v) => v
                .to_string()
                .map_err(|e| LocalError::Format(format!("metadata key general.architecture: {e}")))?
                .clone(),
        };
        if !SUPPORTED_ARCHITECTURES.contains(&arch.as_str()) {
            return Err(LocalError::Format(format!(
                "unsupported architecture \"{arch}\" (supported: {})",
                SUPPORTED_ARCHITECTURES.join(", ")
            )));
        }
        check_hyperparameters(md, &arch)?;
        let tokenizer = gguf_tokenizer::from_metadata(md)?;
        let source = match md.get("tokenizer.chat_template") {
            Some(v) => v
                .to_string()
                .map_err(|e| LocalError::Format(format!("tokenizer.chat_template: {e}")))?,
            None => chat_template::CHATML,
        };
        let template = chat_template::environment(source)?;
        let context = md
            .get(&format!("{arch}.context_length"))
            .and_then(|v| v.to_u64().ok())
            .map_or(MAX_CONTEXT, |c| (c as usize).clamp(1, MAX_CONTEXT));

        let instances = options.max_concurrency.max(1);
        let fused = options.fused_cpu;
        let first = Model::load(&arch, content, &mut reader, device, path, fused)?;
        let mut free = Vec::with_capacity(instances);
        for _ in 1..instances {
            free.push(match first.try_clone() {
                Some(model) => model,
                // quantized_qwen2's weights are not `Clone`: load another copy.
                None => {
                    let (content, mut reader) = read_header(path)?;
                    Model::load(&arch, content, &mut reader, device, path, fused)?
                }
            });
        }
        free.push(first);
        Ok(LocalLlm {
            arch,
            device: device.clone(),
            options,
            tokenizer,
            template,
            context,
            free: Mutex::new(free),
            returned: Condvar::new(),
        })
    }

    /// The file's `general.architecture`, e.g. `llama`.
    pub fn architecture(&self) -> &str {
        &self.arch
    }

    /// Renders the chat template (GGUF `tokenizer.chat_template` via minijinja with
    /// `add_generation_prompt=true`, `bos_token`, `eos_token`; ChatML when absent), tokenizes,
    /// generates up to `max_tokens`, stops at EOS/end-of-turn tokens and checks `cancel`
    /// between tokens (returns [`LocalError::Cancelled`] when set). Blocking: run it on a
    /// blocking thread. Callable from several threads at once; at most
    /// [`LocalOptions::max_concurrency`] generate at the same time, the others wait.
    pub fn generate(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
        cancel: &AtomicBool,
    ) -> Result<Generation, LocalError> {
        let cancelled = || cancel.load(Ordering::Relaxed);
        if cancelled() {
            return Err(LocalError::Cancelled);
        }
        let prompt = self.encode_prompt(&self.render_chat(messages)?)?;
        if prompt.is_empty() {
            return Err(LocalError::Format(
                "tokenizer.chat_template rendered an empty prompt".into(),
            ));
        }
        if prompt.len() >= self.context {
            return Err(LocalError::PromptTooLong {
                tokens: prompt.len(),
                limit: self.context - 1,
            });
        }
        let budget = max_tokens.min(self.context - prompt.len());
        let mut generation = Generation {
            text: String::new(),
            prompt_tokens: prompt.len(),
            generated_tokens: 0,
            prefill: Duration::ZERO,
            decode: Duration::ZERO,
        };
        if budget == 0 {
            return Ok(generation);
        }
        let mut lease = self.acquire(cancel)?;
        #[expect(
            clippy::expect_used,
            reason = "a lease takes its model out only in Drop, so it holds one here"
        )]
        let model = lease
            .model
            .as_mut()
            .expect("a lease holds its model until dropped");
        model.reset();
        let mut sampler = LogitsProcessor::from_sampling(self.options.seed, self.sampling());
        let mut answer: Vec<u32> = Vec::with_capacity(budget);

        let started = Instant::now();
        let logits = model.forward(&prompt, 0, &self.device)?;
        let mut next = self.sample(&mut sampler, &logits, &answer)?;
        generation.prefill = started.elapsed();
        let started = Instant::now();
        while !self.tokenizer.stop_ids.contains(&next) {
            answer.push(next);
            if answer.len() >= budget {
                break;
            }
            if cancelled() {
                return Err(LocalError::Cancelled);
            }
            let logits = model.forward(&[next], prompt.len() + answer.len() - 1, &self.device)?;
            next = self.sample(&mut sampler, &logits, &answer)?;
        }
        generation.decode = started.elapsed();
        drop(lease);
        generation.generated_tokens = answer.len();
        generation.text = self
            .tokenizer
            .tokenizer
            .decode(&answer, true)
            .map_err(|e| LocalError::Format(format!("tokenizer cannot decode the answer: {e}")))?;
        Ok(generation)
    }

    /// The prompt text the model sees for `messages` (exposed for tests and logs).
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, LocalError> {
        chat_template::render(
            &self.template,
            messages,
            &self.tokenizer.bos_text,
            &self.tokenizer.eos_text,
        )
    }

    /// Token ids of a rendered prompt, with BOS in front when the file asks for it (as
    /// llama.cpp does) and the template did not already put it there.
    fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LocalError> {
        let encoding =
            self.tokenizer.tokenizer.encode(text, false).map_err(|e| {
                LocalError::Format(format!("tokenizer cannot encode the prompt: {e}"))
            })?;
        let mut ids = encoding.get_ids().to_vec();
        if let (true, Some(bos)) = (self.tokenizer.add_bos, self.tokenizer.bos_id) {
            if ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
        }
        Ok(ids)
    }

    fn sampling(&self) -> Sampling {
        let temperature = self.options.temperature;
        if temperature <= 0.0 || temperature.is_nan() {
            Sampling::ArgMax
        } else if self.options.top_p > 0.0 && self.options.top_p < 1.0 {
            Sampling::TopP {
                p: self.options.top_p,
                temperature,
            }
        } else {
            Sampling::All { temperature }
        }
    }

    fn sample(
        &self,
        sampler: &mut LogitsProcessor,
        logits: &Tensor,
        answer: &[u32],
    ) -> Result<u32, LocalError> {
        let mut logits = logits.flatten_all()?.to_dtype(DType::F32)?;
        let penalty = self.options.repeat_penalty;
        if penalty != 1.0 && !answer.is_empty() {
            let recent = &answer[answer.len().saturating_sub(REPEAT_LAST_N)..];
            logits = apply_repeat_penalty(&logits, penalty, recent)?;
        }
        Ok(sampler.sample(&logits)?)
    }

    /// Waits for a free model instance (or for `cancel`).
    fn acquire(&self, cancel: &AtomicBool) -> Result<Lease<'_>, LocalError> {
        let mut free = lock(&self.free);
        loop {
            if let Some(model) = free.pop() {
                return Ok(Lease {
                    llm: self,
                    model: Some(model),
                });
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(LocalError::Cancelled);
            }
            free = self
                .returned
                .wait_timeout(free, WAIT_POLL)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A model instance checked out of the pool; goes back (even on error or panic) when dropped.
struct Lease<'a> {
    llm: &'a LocalLlm,
    model: Option<Model>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(model) = self.model.take() {
            lock(&self.llm.free).push(model);
            self.llm.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fast_tests;
