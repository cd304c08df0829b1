//! Reading a diffusers model directory: locating and memory-mapping the
//! weights files, naming the file and tensor in loading errors, rejecting
//! unsupported pipelines from `model_index.json`, and loading the tokenizer.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde_json::Value;
use tokenizers::Tokenizer;

use super::json::JsonConfig;
use super::{DiffusionError, Result};
use zipp_clip::tokenizer as clip_tokenizer;

// ---------------------------------------------------------------------------
// Files and weights

/// Picks `<stem>.safetensors` or `<stem>.fp16.safetensors` in `dir`, preferring
/// the half-precision file when `prefer_fp16`; either is converted to the
/// requested dtype while loading.
pub(super) fn weights_file(dir: &Path, stem: &str, prefer_fp16: bool) -> Result<PathBuf> {
    let full = dir.join(format!("{stem}.safetensors"));
    let half = dir.join(format!("{stem}.fp16.safetensors"));
    let found = if prefer_fp16 {
        [&half, &full]
    } else {
        [&full, &half]
    }
    .into_iter()
    .find(|p| p.is_file())
    .cloned();
    found.ok_or(DiffusionError::MissingFile { path: full })
}

/// Like [`weights_file`], and a model sharded by `save_pretrained` (FLUX's transformer and T5):
/// the files `<stem>.safetensors.index.json` names in its `weight_map`.
pub(super) fn weights_files(dir: &Path, stem: &str, prefer_fp16: bool) -> Result<Vec<PathBuf>> {
    let missing = match weights_file(dir, stem, prefer_fp16) {
        Ok(file) => return Ok(vec![file]),
        Err(missing) => missing,
    };
    let index = dir.join(format!("{stem}.safetensors.index.json"));
    if !index.is_file() {
        return Err(missing);
    }
    let c = JsonConfig::read(&index)?;
    let map = c
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| c.bad("weight_map", "expected an object of tensor → file"))?;
    let mut files: Vec<PathBuf> = map
        .values()
        .filter_map(Value::as_str)
        .map(|f| dir.join(f))
        .collect();
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err(c.bad("weight_map", "names no file"));
    }
    if let Some(absent) = files.iter().find(|f| !f.is_file()) {
        return Err(DiffusionError::MissingFile {
            path: absent.clone(),
        });
    }
    Ok(files)
}

/// Memory-maps a safetensors file as a [`VarBuilder`].
pub(super) fn mmap_var_builder(
    file: &Path,
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>> {
    // SAFETY: the mapping is only read while building the models (tensors are
    // copied into their own storage); the model files are not expected to be
    // modified while the bot loads them, which is the mmap contract.
    unsafe { VarBuilder::from_mmaped_safetensors(&[file], dtype, device) }
        .map_err(|e| weights_error(file, e))
}

/// Memory-maps the shards of one model as a [`VarBuilder`].
pub(super) fn mmap_var_builder_files(
    files: &[PathBuf],
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>> {
    // SAFETY: as in `mmap_var_builder`.
    unsafe { VarBuilder::from_mmaped_safetensors(files, dtype, device) }
        .map_err(|e| weights_error(&files[0], e))
}

/// Turns a candle loading error into [`DiffusionError::MissingTensor`] when
/// candle reports a missing tensor, else [`DiffusionError::Weights`].
pub(super) fn weights_error(file: &Path, err: candle_core::Error) -> DiffusionError {
    fn missing(e: &candle_core::Error) -> Option<&str> {
        match e {
            candle_core::Error::CannotFindTensor { path } => Some(path.as_str()),
            candle_core::Error::WithBacktrace { inner, .. }
            | candle_core::Error::Context { inner, .. }
            | candle_core::Error::WithPath { inner, .. } => missing(inner),
            _ => None,
        }
    }
    match missing(&err) {
        Some(tensor) => DiffusionError::MissingTensor {
            file: file.to_path_buf(),
            tensor: tensor.to_string(),
        },
        None => DiffusionError::Weights {
            file: file.to_path_buf(),
            source: err,
        },
    }
}

/// Which pipeline a model folder is, from `model_index.json`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum PipelineKind {
    /// SD 1.x / 2.x: one CLIP text encoder, conditioning on its last layer.
    StableDiffusion,
    /// SDXL: two text encoders (penultimate layers, pooled output of the
    /// second) and the size/crop time ids.
    StableDiffusionXl {
        /// `force_zeros_for_empty_prompt`: no negative prompt means an
        /// all-zero unconditional embedding rather than the encoding of "".
        force_zeros_for_empty_prompt: bool,
    },
    /// FLUX.1: CLIP's pooled output and T5's hidden states condition a
    /// rectified-flow transformer (`crate::flux`).
    Flux,
}

/// Reads `model_index.json` and rejects pipelines this crate cannot run.
pub(super) fn check_model_index(path: &Path) -> Result<PipelineKind> {
    let c = JsonConfig::read(path)?;
    let class = c.opt_str("_class_name")?.unwrap_or_default();
    if class.starts_with("Flux") {
        if class != "FluxPipeline" {
            return Err(DiffusionError::Unsupported {
                file: path.to_path_buf(),
                reason: format!(
                    "pipeline `{class}` is not FLUX's text-to-image pipeline (FluxPipeline)"
                ),
            });
        }
        return Ok(PipelineKind::Flux);
    }
    if class.contains("StableDiffusion3") || c.has("transformer") {
        return Err(DiffusionError::Unsupported {
            file: path.to_path_buf(),
            reason: format!(
                "pipeline `{class}` is transformer-based; only SD 1.x/2.x/XL and FLUX.1 are \
                 supported"
            ),
        });
    }
    for word in ["Inpaint", "Upscale", "InstructPix2Pix", "Refiner"] {
        if class.contains(word) {
            return Err(DiffusionError::Unsupported {
                file: path.to_path_buf(),
                reason: format!("pipeline `{class}` is not a text-to-image pipeline"),
            });
        }
    }
    if c.has("text_encoder_2") || class.contains("XL") {
        if !c.has("text_encoder") || !c.has("text_encoder_2") {
            return Err(DiffusionError::Unsupported {
                file: path.to_path_buf(),
                reason: format!(
                    "pipeline `{class}` needs both `text_encoder` and `text_encoder_2` \
                     (refiner-style single-encoder SDXL pipelines are not supported)"
                ),
            });
        }
        return Ok(PipelineKind::StableDiffusionXl {
            force_zeros_for_empty_prompt: c.bool_or("force_zeros_for_empty_prompt", true)?,
        });
    }
    Ok(PipelineKind::StableDiffusion)
}

/// Loads `tokenizer.json` if present, else builds CLIP's tokenizer from
/// `vocab.json` + `merges.txt`, and resolves the padding token id.
pub(super) fn load_tokenizer(tok_dir: &Path) -> Result<(Tokenizer, u32)> {
    let json = tok_dir.join("tokenizer.json");
    let mut tokenizer = if json.is_file() {
        let mut t = Tokenizer::from_file(&json)
            .map_err(|e| DiffusionError::Tokenizer(format!("{}: {e}", json.display())))?;
        // encode_padded does its own truncation and padding.
        t.with_padding(None);
        t.with_truncation(None)
            .map_err(|e| DiffusionError::Tokenizer(format!("{}: {e}", json.display())))?;
        t
    } else {
        let vocab = tok_dir.join("vocab.json");
        let merges = tok_dir.join("merges.txt");
        for p in [&vocab, &merges] {
            if !p.is_file() {
                return Err(DiffusionError::MissingFile { path: p.clone() });
            }
        }
        clip_tokenizer::from_vocab_merges(&vocab, &merges)
            .map_err(|e| DiffusionError::Tokenizer(e.to_string()))?
    };

    // SD 1.x pads with <|endoftext|>, SD 2.x with "!"; the files say which.
    let mut pad_token = None;
    let mut pad_content: Option<(u32, String)> = None;
    for name in ["special_tokens_map.json", "tokenizer_config.json"] {
        let path = tok_dir.join(name);
        if pad_token.is_none() && path.is_file() {
            let c = JsonConfig::read(&path)?;
            if let Some(v) = c.get("pad_token") {
                let content = match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => {
                        o.get("content").and_then(Value::as_str).map(str::to_string)
                    }
                    _ => None,
                };
                let content = content
                    .ok_or_else(|| c.bad("pad_token", "expected a string or {\"content\": ...}"))?;
                let id = tokenizer.token_to_id(&content).ok_or_else(|| {
                    c.bad(
                        "pad_token",
                        &format!("token {content:?} is not in the vocabulary"),
                    )
                })?;
                pad_token = Some(id);
                pad_content = Some((id, content));
            }
        }
    }
    // transformers registers the special tokens of `special_tokens_map.json`
    // as added tokens, matched before the BPE: with SD 2.x's pad token `!`,
    // every `!` of a prompt becomes id 0 on its own (never `!</w>` or part of
    // `!!</w>`). A `tokenizer.json` already lists its added tokens.
    if let (Some((id, content)), false) = (&pad_content, json.is_file()) {
        if content != clip_tokenizer::END_OF_TEXT {
            let mut tok = tokenizers::AddedToken::from(content.clone(), true);
            tok.normalized = false;
            tokenizer
                .add_special_tokens([tok])
                .map_err(|e| DiffusionError::Tokenizer(format!("{}: {e}", tok_dir.display())))?;
            debug_assert_eq!(tokenizer.token_to_id(content), Some(*id));
        }
    }
    let pad_id = match pad_token {
        Some(id) => id,
        None => tokenizer
            .token_to_id(clip_tokenizer::END_OF_TEXT)
            .ok_or_else(|| {
                DiffusionError::Tokenizer(format!(
                    "{}: vocabulary has no {} token",
                    tok_dir.display(),
                    clip_tokenizer::END_OF_TEXT
                ))
            })?,
    };
    Ok((tokenizer, pad_id))
}
