//! Text conditioning: each CLIP text encoder with its tokenizer, and the
//! prompt → UNet conditioning step (SD 1.x/2.x: the last layer; SDXL: both
//! encoders' penultimate layers side by side, the second's pooled output and
//! the size/crop time ids; zeros for no negative prompt).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use tokenizers::Tokenizer;
use zipp_clip::tokenizer as clip_tokenizer;

use crate::files::{load_tokenizer, mmap_var_builder, weights_error, weights_file, PipelineKind};
use crate::{
    parse_text_config, AddedConditioning, ClipTextEncoder, DiffusionError, DiffusionModel, Result,
};

/// What the UNet is conditioned on: the text embeddings `[b, 77, D]`
/// (unconditional first when guided) and, for SDXL, the added conditioning.
#[derive(Debug, Clone)]
pub struct Conditioning {
    /// `encoder_hidden_states`.
    pub context: Tensor,
    /// SDXL's `added_cond_kwargs` (`text_embeds`, `time_ids`).
    pub added: Option<AddedConditioning>,
}

/// One text encoder with its tokenizer.
pub(crate) struct TextBranch {
    pub(crate) tokenizer: Tokenizer,
    pad_id: u32,
    max_tokens: usize,
    hidden: usize,
    pub(crate) encoder: ClipTextEncoder,
}

impl TextBranch {
    pub(crate) fn load(
        dir: &Path,
        encoder_dir: &str,
        tokenizer_dir: &str,
        device: &Device,
    ) -> Result<Self> {
        let enc_dir = dir.join(encoder_dir);
        let spec = parse_text_config(&enc_dir.join("config.json"))?;
        let (tokenizer, pad_id) = load_tokenizer(&dir.join(tokenizer_dir))?;
        let file = weights_file(&enc_dir, "model", false)?;
        let root = mmap_var_builder(&file, DType::F32, device)?;
        // HF CLIPTextModel files prefix everything with `text_model.`;
        // accept bare names too, as some conversions drop the prefix.
        let vb = if root.contains_tensor("text_model.embeddings.token_embedding.weight") {
            root.pp("text_model")
        } else if root.contains_tensor("embeddings.token_embedding.weight") {
            root.clone()
        } else {
            return Err(DiffusionError::MissingTensor {
                file,
                tensor: "text_model.embeddings.token_embedding.weight".to_string(),
            });
        };
        let encoder = ClipTextEncoder::new(vb, root, &spec).map_err(|e| weights_error(&file, e))?;
        Ok(Self {
            tokenizer,
            pad_id,
            max_tokens: spec.max_position_embeddings,
            hidden: spec.hidden_size,
            encoder,
        })
    }

    /// Features per token (and of the pooled output).
    pub(crate) fn hidden(&self) -> usize {
        self.hidden
    }

    /// `text`'s ids, padded and truncated to the encoder's context.
    pub(crate) fn ids(&self, text: &str) -> Result<Vec<u32>> {
        clip_tokenizer::encode_padded(&self.tokenizer, text, self.max_tokens, self.pad_id)
            .map_err(|e| DiffusionError::Tokenizer(e.to_string()))
    }
}

impl DiffusionModel {
    /// Token ids of `text` for each tokenizer (one for SD, two for SDXL),
    /// padded and truncated to the encoders' context as diffusers does.
    pub fn token_ids(&self, text: &str) -> Result<Vec<Vec<u32>>> {
        self.text.iter().map(|t| t.ids(text)).collect()
    }

    /// Encodes the prompt (and, with guidance, the negative prompt first) as
    /// the UNet's conditioning for a `width`×`height` image. No negative
    /// prompt encodes "" (SD 1.x/2.x) or is all zeros (SDXL with
    /// `force_zeros_for_empty_prompt`), as diffusers does.
    pub fn encode_prompt(
        &self,
        prompt: &str,
        negative_prompt: Option<&str>,
        guided: bool,
        width: u32,
        height: u32,
    ) -> Result<Conditioning> {
        let cond = self.encode_one(prompt)?;
        let (context, pooled) = if guided {
            let zeros = matches!(
                self.kind,
                PipelineKind::StableDiffusionXl {
                    force_zeros_for_empty_prompt: true
                }
            ) && negative_prompt.is_none();
            let uncond = if zeros {
                (
                    cond.0.zeros_like()?,
                    cond.1.as_ref().map(Tensor::zeros_like).transpose()?,
                )
            } else {
                self.encode_one(negative_prompt.unwrap_or(""))?
            };
            let context = Tensor::cat(&[&uncond.0, &cond.0], 0)?;
            let pooled = match (uncond.1, cond.1) {
                (Some(u), Some(c)) => Some(Tensor::cat(&[&u, &c], 0)?),
                _ => None,
            };
            (context, pooled)
        } else {
            cond
        };
        let added = match pooled {
            Some(text_embeds) => {
                let b = text_embeds.dim(0)?;
                let (h, w) = (height as f32, width as f32);
                let row = [h, w, 0.0, 0.0, h, w];
                let ids: Vec<f32> = (0..b).flat_map(|_| row).collect();
                Some(AddedConditioning {
                    text_embeds,
                    time_ids: Tensor::from_vec(ids, (b, 6), &self.device)?,
                })
            }
            None => None,
        };
        Ok(Conditioning { context, added })
    }

    /// One text's embeddings `[1, 77, D]` and, for SDXL, its pooled vector.
    fn encode_one(&self, text: &str) -> Result<(Tensor, Option<Tensor>)> {
        match self.kind {
            PipelineKind::Flux => Err(DiffusionError::InvalidParams(
                "a FLUX pipeline is run by FluxModel".to_string(),
            )),
            PipelineKind::StableDiffusion => {
                let branch = &self.text[0];
                let ids =
                    Tensor::from_vec(branch.ids(text)?, (1, branch.max_tokens), &self.device)?;
                Ok((branch.encoder.forward_all(&ids)?.last, None))
            }
            PipelineKind::StableDiffusionXl { .. } => {
                let mut parts = Vec::with_capacity(2);
                let mut pooled = None;
                for branch in &self.text {
                    let ids =
                        Tensor::from_vec(branch.ids(text)?, (1, branch.max_tokens), &self.device)?;
                    let out = branch.encoder.forward_all(&ids)?;
                    parts.push(out.penultimate);
                    if out.pooled.is_some() {
                        pooled = out.pooled;
                    }
                }
                let pooled = pooled.ok_or_else(|| DiffusionError::Unsupported {
                    file: PathBuf::from("text_encoder_2/config.json"),
                    reason: "the second text encoder has no projection \
                                 (CLIPTextModelWithProjection expected)"
                        .to_string(),
                })?;
                Ok((Tensor::cat(&parts, 2)?, Some(pooled)))
            }
        }
    }
}
