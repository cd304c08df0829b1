//! FLUX's second text encoder: T5 v1.1 (candle-transformers' `t5`) with its tokenizer, as
//! diffusers' `FluxPipeline._get_t5_prompt_embeds` runs it — `</s>` appended, truncated and
//! padded to `max_sequence_length`, no attention mask (the pad tokens are attended to).

use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::t5;
use tokenizers::{Tokenizer, TruncationParams};

use crate::files::{load_tokenizer, mmap_var_builder_files, weights_error, weights_files};
use crate::{DiffusionError, Result};

/// T5's encoder and tokenizer.
pub(crate) struct T5Branch {
    tokenizer: Tokenizer,
    pad_id: u32,
    max_tokens: usize,
    /// candle's T5 stack takes `&mut self` (its attention keeps a cache it never uses for an
    /// encoder); one prompt is encoded at a time.
    model: Mutex<t5::T5EncoderModel>,
    pub(crate) hidden: usize,
    pub(crate) bytes: u64,
}

impl T5Branch {
    /// `text_encoder_2/` and `tokenizer_2/` of `dir`, weights as `dtype`.
    pub(crate) fn load(
        dir: &Path,
        dtype: DType,
        device: &Device,
        max_tokens: usize,
    ) -> Result<Self> {
        let tok_dir = dir.join("tokenizer_2");
        if !tok_dir.join("tokenizer.json").is_file() {
            return Err(DiffusionError::MissingFile {
                path: tok_dir.join("tokenizer.json"),
            });
        }
        let (tokenizer, pad_id) = load_tokenizer(&tok_dir)?;
        let enc_dir = dir.join("text_encoder_2");
        let cfg_path = enc_dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                DiffusionError::MissingFile {
                    path: cfg_path.clone(),
                }
            } else {
                DiffusionError::Io {
                    path: cfg_path.clone(),
                    source,
                }
            }
        })?;
        let config: t5::Config =
            serde_json::from_str(&text).map_err(|e| DiffusionError::BadConfig {
                file: cfg_path.clone(),
                reason: format!("not a T5 encoder config: {e}"),
            })?;
        let files = weights_files(&enc_dir, "model", false)?;
        let vb = mmap_var_builder_files(&files, dtype, device)?;
        let model =
            t5::T5EncoderModel::load(vb, &config).map_err(|e| weights_error(&files[0], e))?;
        let bytes = files
            .iter()
            .map(|f| crate::loaded_bytes(f, dtype))
            .sum::<u64>();
        let mut branch = Self {
            tokenizer,
            pad_id,
            max_tokens,
            model: Mutex::new(model),
            hidden: config.d_model,
            bytes,
        };
        branch.set_max_tokens(max_tokens)?;
        Ok(branch)
    }

    /// Truncates (keeping the appended `</s>`) and pads prompts to `max_tokens`.
    pub(crate) fn set_max_tokens(&mut self, max_tokens: usize) -> Result<()> {
        self.max_tokens = max_tokens.max(1);
        self.tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: self.max_tokens,
                ..Default::default()
            }))
            .map_err(|e| DiffusionError::Tokenizer(format!("tokenizer_2: {e}")))?;
        Ok(())
    }

    pub(crate) fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// `tokenizer_2(text, padding="max_length", max_length=…, truncation=True)`.
    pub(crate) fn ids(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| DiffusionError::Tokenizer(format!("tokenizer_2: {e}")))?;
        let mut ids = encoding.get_ids().to_vec();
        ids.truncate(self.max_tokens);
        ids.resize(self.max_tokens, self.pad_id);
        Ok(ids)
    }

    /// T5's last hidden state `[1, max_tokens, d_model]` for `text`, as F32.
    pub(crate) fn encode(&self, text: &str, device: &Device) -> Result<Tensor> {
        let ids = Tensor::from_vec(self.ids(text)?, (1, self.max_tokens), device)?;
        let mut model = self
            .model
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(model.forward(&ids)?.to_dtype(DType::F32)?)
    }
}
