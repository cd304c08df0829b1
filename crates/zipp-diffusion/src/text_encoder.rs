//! The CLIP text encoder: `text_encoder/config.json` parsing and the text
//! transformer Stable Diffusion conditions on.

use std::path::Path;

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use super::json::JsonConfig;
use super::Result;

// ---------------------------------------------------------------------------
// CLIP text encoder

/// The MLP activation of a CLIP text encoder (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TextActivation {
    /// `quick_gelu` (OpenAI CLIP, SD 1.x).
    QuickGelu,
    /// `gelu`: exact erf GELU (OpenCLIP ViT-H, SD 2.x).
    GeluErf,
    /// `gelu_new` / `gelu_pytorch_tanh`: tanh approximation.
    GeluTanh,
}

/// A `CLIPTextModel` architecture parsed from `text_encoder/config.json`.
#[derive(Debug)]
pub(crate) struct TextSpec {
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) max_position_embeddings: usize,
    pub(crate) activation: TextActivation,
    pub(crate) layer_norm_eps: f64,
    /// `projection_dim` of a `CLIPTextModelWithProjection` (SDXL's second
    /// encoder): the width of its pooled `text_embeds`.
    pub(crate) projection_dim: Option<usize>,
}

/// Parses a transformers `CLIPTextConfig`.
pub(crate) fn parse_text_config(path: &Path) -> Result<TextSpec> {
    let c = JsonConfig::read(path)?;
    let mut with_projection = false;
    if let Some(arch) = c.list("architectures")? {
        let ok = arch
            .iter()
            .any(|a| a.as_str().is_some_and(|s| s.starts_with("CLIPTextModel")));
        with_projection = arch
            .iter()
            .any(|a| a.as_str() == Some("CLIPTextModelWithProjection"));
        if !ok {
            return Err(c.unsupported(format!(
                "text encoder architectures {arch:?}; only CLIPTextModel is supported"
            )));
        }
    }
    let activation = match c.str_or("hidden_act", "quick_gelu")?.as_str() {
        "quick_gelu" => TextActivation::QuickGelu,
        "gelu" => TextActivation::GeluErf,
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => TextActivation::GeluTanh,
        other => {
            return Err(c.bad(
                "hidden_act",
                &format!("{other:?} is not one of quick_gelu, gelu, gelu_new"),
            ))
        }
    };
    let spec = TextSpec {
        vocab_size: c.usize_or("vocab_size", 49408)?,
        hidden_size: c.usize_or("hidden_size", 512)?,
        intermediate_size: c.usize_or("intermediate_size", 2048)?,
        num_hidden_layers: c.usize_or("num_hidden_layers", 12)?,
        num_attention_heads: c.usize_or("num_attention_heads", 8)?,
        max_position_embeddings: c.usize_or("max_position_embeddings", 77)?,
        activation,
        layer_norm_eps: c.f64_or("layer_norm_eps", 1e-5)?,
        projection_dim: if with_projection {
            Some(c.usize_or("projection_dim", 512)?)
        } else {
            None
        },
    };
    for (key, v) in [
        ("vocab_size", spec.vocab_size),
        ("hidden_size", spec.hidden_size),
        ("intermediate_size", spec.intermediate_size),
        ("num_hidden_layers", spec.num_hidden_layers),
        ("num_attention_heads", spec.num_attention_heads),
    ] {
        if v == 0 {
            return Err(c.bad(key, "must be positive"));
        }
    }
    if !spec.hidden_size.is_multiple_of(spec.num_attention_heads) {
        return Err(c.bad(
            "num_attention_heads",
            &format!(
                "{} heads do not divide `hidden_size` {}",
                spec.num_attention_heads, spec.hidden_size
            ),
        ));
    }
    if spec.projection_dim == Some(0) {
        return Err(c.bad("projection_dim", "must be positive"));
    }
    if spec.max_position_embeddings < 2 {
        return Err(c.bad("max_position_embeddings", "must be at least 2"));
    }
    Ok(spec)
}

struct ClipLayer {
    q_proj: candle_nn::Linear,
    k_proj: candle_nn::Linear,
    v_proj: candle_nn::Linear,
    out_proj: candle_nn::Linear,
    layer_norm1: candle_nn::LayerNorm,
    layer_norm2: candle_nn::LayerNorm,
    fc1: candle_nn::Linear,
    fc2: candle_nn::Linear,
}

/// What one pass of the text encoder yields.
pub(crate) struct TextOutputs {
    /// `last_hidden_state`: the last layer's output after `final_layer_norm`
    /// (what SD 1.x/2.x condition on).
    pub(crate) last: Tensor,
    /// `hidden_states[-2]`: the penultimate layer's output, without the
    /// final layer norm (what SDXL conditions on).
    pub(crate) penultimate: Tensor,
    /// `pooler_output`: the normed hidden state at the end-of-text token,
    /// `[batch, hidden]` (what FLUX conditions its `vector_in` on).
    pub(crate) pooled_hidden: Tensor,
    /// `text_embeds` of a model with a projection: `text_projection` of the
    /// normed hidden state at the end-of-text token, `[batch, projection_dim]`.
    pub(crate) pooled: Option<Tensor>,
}

/// CLIP's text transformer returning the final-layer-normed hidden states
/// `[batch, tokens, hidden]` that Stable Diffusion conditions on.
///
/// Written here rather than using candle's: `stable_diffusion::clip::Config`
/// has private fields (no way to build it from a config.json), and
/// `models::clip::text_model` only supports `quick_gelu`, while SD 2.x needs
/// `gelu`. Tensor names are Hugging Face's (`embeddings.token_embedding`,
/// `encoder.layers.N.self_attn.q_proj`, ...).
pub(crate) struct ClipTextEncoder {
    token_embedding: candle_nn::Embedding,
    position_embedding: candle_nn::Embedding,
    layers: Vec<ClipLayer>,
    final_layer_norm: candle_nn::LayerNorm,
    projection: Option<candle_nn::Linear>,
    heads: usize,
    activation: TextActivation,
}

impl ClipTextEncoder {
    /// Builds the encoder; `vb` points at the `text_model` prefix and
    /// `projection_vb` at the file's root (for `text_projection`).
    pub(crate) fn new(
        vb: VarBuilder,
        projection_vb: VarBuilder,
        spec: &TextSpec,
    ) -> candle_core::Result<Self> {
        let d = spec.hidden_size;
        let emb = vb.pp("embeddings");
        let token_embedding = candle_nn::embedding(spec.vocab_size, d, emb.pp("token_embedding"))?;
        let position_embedding = candle_nn::embedding(
            spec.max_position_embeddings,
            d,
            emb.pp("position_embedding"),
        )?;
        let ln = |vb: VarBuilder| candle_nn::layer_norm(d, spec.layer_norm_eps, vb);
        let layers_vb = vb.pp("encoder").pp("layers");
        let layers = (0..spec.num_hidden_layers)
            .map(|i| {
                let l = layers_vb.pp(i.to_string());
                let attn = l.pp("self_attn");
                Ok(ClipLayer {
                    q_proj: candle_nn::linear(d, d, attn.pp("q_proj"))?,
                    k_proj: candle_nn::linear(d, d, attn.pp("k_proj"))?,
                    v_proj: candle_nn::linear(d, d, attn.pp("v_proj"))?,
                    out_proj: candle_nn::linear(d, d, attn.pp("out_proj"))?,
                    layer_norm1: ln(l.pp("layer_norm1"))?,
                    layer_norm2: ln(l.pp("layer_norm2"))?,
                    fc1: candle_nn::linear(d, spec.intermediate_size, l.pp("mlp").pp("fc1"))?,
                    fc2: candle_nn::linear(spec.intermediate_size, d, l.pp("mlp").pp("fc2"))?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            token_embedding,
            position_embedding,
            layers,
            final_layer_norm: ln(vb.pp("final_layer_norm"))?,
            projection: match spec.projection_dim {
                Some(p) => Some(candle_nn::linear_no_bias(
                    d,
                    p,
                    projection_vb.pp("text_projection"),
                )?),
                None => None,
            },
            heads: spec.num_attention_heads,
            activation: spec.activation,
        })
    }

    /// Every output SD pipelines use, from one pass.
    pub(crate) fn forward_all(&self, ids: &Tensor) -> candle_core::Result<TextOutputs> {
        let (_, len) = ids.dims2()?;
        let dev = ids.device();
        let positions = Tensor::arange(0u32, len as u32, dev)?;
        let mut xs = self
            .token_embedding
            .forward(ids)?
            .broadcast_add(&self.position_embedding.forward(&positions)?)?;
        // Causal mask: token i attends to tokens 0..=i, as in CLIP training.
        let mask: Vec<f32> = (0..len)
            .flat_map(|i| (0..len).map(move |j| if j > i { f32::MIN } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (len, len), dev)?.to_dtype(xs.dtype())?;
        let mut penultimate = xs.clone();
        for layer in &self.layers {
            penultimate = xs;
            xs = self.layer_forward(layer, &penultimate, &mask)?;
        }
        let last = self.final_layer_norm.forward(&xs)?;
        // transformers (with the legacy `eos_token_id` the SD and FLUX configs keep) pools at
        // argmax(ids): the first end-of-text token.
        let rows = ids
            .to_vec2::<u32>()?
            .iter()
            .enumerate()
            .map(|(b, row)| {
                let max = row.iter().copied().max().unwrap_or(0);
                let pos = row.iter().position(|&id| id == max).unwrap_or(0);
                last.get(b)?.narrow(0, pos, 1)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let pooled_hidden = Tensor::cat(&rows, 0)?;
        let pooled = match &self.projection {
            Some(projection) => Some(projection.forward(&pooled_hidden)?),
            None => None,
        };
        Ok(TextOutputs {
            last,
            penultimate,
            pooled_hidden,
            pooled,
        })
    }

    fn layer_forward(
        &self,
        l: &ClipLayer,
        xs: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (b, len, d) = xs.dims3()?;
        let head_dim = d / self.heads;
        let h = l.layer_norm1.forward(xs)?;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((b, len, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split((l.q_proj.forward(&h)? * (head_dim as f64).powf(-0.5))?)?;
        let k = split(l.k_proj.forward(&h)?)?;
        let v = split(l.v_proj.forward(&h)?)?;
        let att = q.matmul(&k.t()?.contiguous()?)?.broadcast_add(mask)?;
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let o = att.matmul(&v)?.transpose(1, 2)?.reshape((b, len, d))?;
        let xs = (l.out_proj.forward(&o)? + xs)?;
        let h = l.fc1.forward(&l.layer_norm2.forward(&xs)?)?;
        let h = match self.activation {
            TextActivation::QuickGelu => (&h * candle_nn::ops::sigmoid(&(&h * 1.702)?)?)?,
            TextActivation::GeluErf => h.gelu_erf()?,
            TextActivation::GeluTanh => h.gelu()?,
        };
        xs + l.fc2.forward(&h)?
    }
}
