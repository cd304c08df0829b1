//! Reading a GGUF header, checking an architecture's hyper-parameters, and the model
//! instances of the supported architectures behind one enum.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::{Device, Tensor};
use candle_transformers::models::{
    quantized_gemma3, quantized_llama, quantized_phi3, quantized_qwen2, quantized_qwen3,
};

use super::fast::{FastModel, FastWeights};
use super::LocalError;

pub(super) fn read_header(
    path: &Path,
) -> Result<(gguf_file::Content, BufReader<File>), LocalError> {
    let file = File::open(path).map_err(|source| LocalError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    let content = gguf_file::Content::read(&mut reader).map_err(|e| {
        LocalError::Format(format!(
            "{} is not a readable GGUF file: {e}",
            path.display()
        ))
    })?;
    Ok((content, reader))
}

/// Checks the hyper-parameters candle's loaders need, so errors name the key and bad values
/// (zero heads, heads not dividing the width) fail here instead of dividing by zero later.
pub(super) fn check_hyperparameters(
    md: &std::collections::HashMap<String, Value>,
    arch: &str,
) -> Result<(), LocalError> {
    let mut keys = vec![
        "attention.head_count",
        "attention.head_count_kv",
        "block_count",
        "embedding_length",
    ];
    keys.extend_from_slice(match arch {
        "llama" => &["rope.dimension_count", "attention.layer_norm_rms_epsilon"][..],
        "qwen2" => &["context_length", "attention.layer_norm_rms_epsilon"],
        "qwen3" => &[
            "attention.key_length",
            "context_length",
            "attention.layer_norm_rms_epsilon",
            "rope.freq_base",
        ],
        "gemma3" => &[
            "attention.key_length",
            "attention.value_length",
            "attention.layer_norm_rms_epsilon",
            "attention.sliding_window",
        ],
        _ => &[
            "context_length",
            "feed_forward_length",
            "rope.dimension_count",
            "attention.layer_norm_rms_epsilon",
        ],
    });
    let mut values = std::collections::HashMap::new();
    for key in keys {
        let full = format!("{arch}.{key}");
        let value = md
            .get(&full)
            .ok_or_else(|| LocalError::Format(format!("missing metadata key {full}")))?;
        // The types candle's loaders read them as.
        let bad = |e: candle_core::Error| LocalError::Format(format!("metadata key {full}: {e}"));
        if key.ends_with("epsilon") || key.ends_with("freq_base") {
            value.to_f32().map_err(bad)?;
        } else {
            values.insert(key, value.to_u32().map_err(bad)?);
        }
    }
    let get = |k: &str| values.get(k).copied().unwrap_or(0);
    let (heads, kv_heads, width) = (
        get("attention.head_count"),
        get("attention.head_count_kv"),
        get("embedding_length"),
    );
    if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 || width == 0 || width % heads != 0 {
        return Err(LocalError::Format(format!(
            "{arch}: inconsistent attention shape (embedding_length {width}, head_count {heads}, head_count_kv {kv_heads})"
        )));
    }
    if ["qwen3", "gemma3"].contains(&arch) && get("attention.key_length") == 0 {
        return Err(LocalError::Format(format!(
            "{arch}.attention.key_length must be positive"
        )));
    }
    Ok(())
}

/// Architectures the fused CPU decoder (`fast.rs`) runs.
pub(super) const FAST_ARCHITECTURES: [&str; 3] = ["llama", "qwen2", "qwen3"];

/// One model instance of a supported architecture.
pub(super) enum Model {
    /// llama/qwen2/qwen3 on CPU, run by `fast.rs`.
    Fast(FastModel),
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
    Gemma3(quantized_gemma3::ModelWeights),
    Phi3(quantized_phi3::ModelWeights),
}

impl Model {
    /// Loads one instance. On CPU, llama/qwen2/qwen3 files go to the fused decoder
    /// (`fast.rs`) when `fused` is set and it supports the file; otherwise candle's
    /// model, with Q4_1/Q5_0/Q5_1 tensors re-encoded as Q8_0 first on CPU (see
    /// `requant.rs`).
    pub(super) fn load(
        arch: &str,
        content: gguf_file::Content,
        reader: &mut BufReader<File>,
        device: &Device,
        path: &Path,
        fused: bool,
    ) -> Result<Self, LocalError> {
        let what = format!("cannot load the {arch} weights of {}", path.display());
        if device.is_cpu() && fused && FAST_ARCHITECTURES.contains(&arch) {
            match FastWeights::load(arch, &content, reader) {
                Ok(weights) => {
                    return Ok(Model::Fast(FastModel::new(std::sync::Arc::new(weights))))
                }
                Err(why) => tracing::info!(
                    path = %path.display(),
                    reason = %why.0,
                    "the fused CPU decoder does not run this file; using candle's model"
                ),
            }
        }
        if device.is_cpu() {
            let requantized = super::requant::requantize_for_cpu(&content, &mut *reader)
                .map_err(|e| LocalError::Format(format!("{what}: {e}")))?;
            if let Some((content, mut overlay)) = requantized {
                return Self::from_gguf(arch, content, &mut overlay, device, &what);
            }
        }
        Self::from_gguf(arch, content, reader, device, &what)
    }

    fn from_gguf<R: Read + Seek>(
        arch: &str,
        content: gguf_file::Content,
        reader: &mut R,
        device: &Device,
        what: &str,
    ) -> Result<Self, LocalError> {
        // candle's loaders return errors for missing or truncated tensors; the unwind guard
        // turns any remaining panic on odd shapes into an error as well.
        let loaded =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match arch {
                "llama" => quantized_llama::ModelWeights::from_gguf(content, reader, device)
                    .map(Model::Llama),
                "qwen2" => quantized_qwen2::ModelWeights::from_gguf(content, reader, device)
                    .map(Model::Qwen2),
                "qwen3" => quantized_qwen3::ModelWeights::from_gguf(content, reader, device)
                    .map(Model::Qwen3),
                "gemma3" => quantized_gemma3::ModelWeights::from_gguf(content, reader, device)
                    .map(Model::Gemma3),
                _ => quantized_phi3::ModelWeights::from_gguf(false, content, reader, device)
                    .map(Model::Phi3),
            }));
        match loaded {
            Ok(Ok(model)) => Ok(model),
            Ok(Err(e)) => Err(LocalError::Format(format!("{what}: {e}"))),
            Err(panic) => {
                let detail = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("loader panicked");
                Err(LocalError::Format(format!("{what}: {detail}")))
            }
        }
    }

    /// Another instance sharing the weights (`None` where the weights type is not `Clone`).
    pub(super) fn try_clone(&self) -> Option<Self> {
        match self {
            Model::Fast(m) => Some(Model::Fast(m.clone())),
            Model::Llama(m) => Some(Model::Llama(m.clone())),
            Model::Qwen2(_) => None,
            Model::Qwen3(m) => Some(Model::Qwen3(m.clone())),
            Model::Gemma3(m) => Some(Model::Gemma3(m.clone())),
            Model::Phi3(m) => Some(Model::Phi3(m.clone())),
        }
    }

    /// Forgets the previous conversation. Gemma 3 and Phi 3 have no explicit clear; they
    /// restart their cache when called at position 0, as every generation's prefill is.
    pub(super) fn reset(&mut self) {
        match self {
            Model::Fast(m) => m.reset(),
            Model::Llama(m) => m.clear_kv_cache(),
            Model::Qwen2(m) => m.clear_kv_cache(),
            Model::Qwen3(m) => m.clear_kv_cache(),
            Model::Gemma3(_) | Model::Phi3(_) => {}
        }
    }

    /// Runs `tokens` at positions `position..` (0 starts a new conversation) and returns the
    /// logits of the last one.
    pub(super) fn forward(
        &mut self,
        tokens: &[u32],
        position: usize,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        if let Model::Fast(m) = self {
            let logits = m.forward(tokens, position)?;
            return Tensor::new(logits, &Device::Cpu);
        }
        let input = Tensor::new(tokens, device)?.unsqueeze(0)?;
        let input = &input;
        match self {
            Model::Fast(_) => unreachable!("handled above"),
            Model::Llama(m) => m.forward(input, position),
            Model::Qwen2(m) => m.forward(input, position),
            Model::Qwen3(m) => m.forward(input, position),
            Model::Gemma3(m) => m.forward(input, position),
            Model::Phi3(m) => m.forward(input, position),
        }
    }
}
