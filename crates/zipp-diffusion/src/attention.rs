//! Attention with bounded memory, and the diffusers `Transformer2DModel` the
//! UNet's cross-attention blocks are made of.
//!
//! candle's stable-diffusion attention materializes the whole score matrix
//! `[batch·heads, tokens, tokens]` (in F32): 275 GB for a 2048² SD 1.5 image.
//! [`attention`] instead walks the queries in chunks sized so that one chunk's
//! scores stay within [`AttentionBudget`]; the result is the same softmax
//! (each query row is independent), computed in F32 whatever the model dtype,
//! as diffusers does with `upcast_softmax`.
//!
//! The transformer block follows diffusers' `BasicTransformerBlock` exactly,
//! including the exact (erf) GELU of its GEGLU feed-forward; candle's own block
//! uses the tanh approximation, which diffusers does not.

use candle_core::{DType, Module, Tensor, D};
use candle_nn::VarBuilder;

/// The most bytes one chunk of attention scores may take (F32), per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionBudget(pub usize);

impl Default for AttentionBudget {
    /// 256 MiB: large enough that 512² and 1024² images run in one or a few
    /// chunks, small enough that a 2048² one never needs more.
    fn default() -> Self {
        Self(256 << 20)
    }
}

impl AttentionBudget {
    /// Query rows per chunk when each row has `row_elems` F32 scores.
    pub(crate) fn rows(self, row_elems: usize) -> usize {
        (self.0 / 4 / row_elems.max(1)).max(1)
    }
}

/// Scaled dot-product attention. `q`: `[b, nq, heads·d]`, `k`/`v`:
/// `[b, nk, heads·d]` → `[b, nq, heads·d]`, with the softmax in F32.
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    budget: AttentionBudget,
) -> candle_core::Result<Tensor> {
    let (b, nq, inner) = q.dims3()?;
    let nk = k.dim(1)?;
    let d = inner / heads;
    let dtype = q.dtype();
    let split = |t: &Tensor, n: usize| -> candle_core::Result<Tensor> {
        t.reshape((b, n, heads, d))?
            .transpose(1, 2)?
            .reshape((b * heads, n, d))?
            .to_dtype(DType::F32)?
            .contiguous()
    };
    let q = split(q, nq)?;
    let kt = split(k, nk)?.t()?.contiguous()?;
    let v = split(v, nk)?;
    let scale = 1.0 / (d as f64).sqrt();
    let rows = budget.rows(b * heads * nk).min(nq);
    let mut outs = Vec::with_capacity(nq.div_ceil(rows));
    let mut start = 0;
    while start < nq {
        let len = rows.min(nq - start);
        let qc = q.narrow(1, start, len)?;
        let scores = (qc.matmul(&kt)? * scale)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        outs.push(probs.matmul(&v)?);
        start += len;
    }
    let out = match outs.len() {
        1 => outs.remove(0),
        _ => Tensor::cat(&outs, 1)?,
    };
    out.reshape((b, heads, nq, d))?
        .transpose(1, 2)?
        .reshape((b, nq, inner))?
        .to_dtype(dtype)
}

/// A linear layer whose weight may be stored as a 1×1 convolution
/// (`[out, in, 1, 1]`), as old VAE checkpoints do.
pub(crate) fn linear_maybe_conv(
    vb: VarBuilder,
    in_dim: usize,
    out_dim: usize,
    bias: bool,
) -> candle_core::Result<candle_nn::Linear> {
    let weight = if vb.contains_tensor("weight") {
        match vb.get((out_dim, in_dim), "weight") {
            Ok(w) => w,
            Err(_) => vb
                .get((out_dim, in_dim, 1, 1), "weight")?
                .reshape((out_dim, in_dim))?,
        }
    } else {
        vb.get((out_dim, in_dim), "weight")?
    };
    let bias = if bias {
        Some(vb.get(out_dim, "bias")?)
    } else {
        None
    };
    Ok(candle_nn::Linear::new(weight, bias))
}

/// diffusers' `Attention` as used by the UNet (`to_q/k/v` without bias,
/// `to_out.0` with bias).
struct CrossAttention {
    to_q: candle_nn::Linear,
    to_k: candle_nn::Linear,
    to_v: candle_nn::Linear,
    to_out: candle_nn::Linear,
    heads: usize,
    budget: AttentionBudget,
}

impl CrossAttention {
    fn new(
        vb: VarBuilder,
        dim: usize,
        context_dim: usize,
        heads: usize,
        budget: AttentionBudget,
    ) -> candle_core::Result<Self> {
        Ok(Self {
            to_q: candle_nn::linear_no_bias(dim, dim, vb.pp("to_q"))?,
            to_k: candle_nn::linear_no_bias(context_dim, dim, vb.pp("to_k"))?,
            to_v: candle_nn::linear_no_bias(context_dim, dim, vb.pp("to_v"))?,
            to_out: candle_nn::linear(dim, dim, vb.pp("to_out").pp("0"))?,
            heads,
            budget,
        })
    }

    fn forward(&self, xs: &Tensor, context: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let context = context.unwrap_or(xs);
        let q = self.to_q.forward(xs)?;
        let k = self.to_k.forward(context)?;
        let v = self.to_v.forward(context)?;
        let o = attention(&q, &k, &v, self.heads, self.budget)?;
        self.to_out.forward(&o)
    }
}

/// diffusers' `BasicTransformerBlock` (layer norms, self-attention,
/// cross-attention, GEGLU feed-forward with exact GELU).
struct TransformerBlock {
    norm1: candle_nn::LayerNorm,
    attn1: CrossAttention,
    norm2: candle_nn::LayerNorm,
    attn2: CrossAttention,
    norm3: candle_nn::LayerNorm,
    ff_in: candle_nn::Linear,
    ff_out: candle_nn::Linear,
}

impl TransformerBlock {
    fn new(
        vb: VarBuilder,
        dim: usize,
        context_dim: usize,
        heads: usize,
        budget: AttentionBudget,
    ) -> candle_core::Result<Self> {
        let ln = |name: &str| candle_nn::layer_norm(dim, 1e-5, vb.pp(name));
        let ff = vb.pp("ff").pp("net");
        Ok(Self {
            norm1: ln("norm1")?,
            attn1: CrossAttention::new(vb.pp("attn1"), dim, dim, heads, budget)?,
            norm2: ln("norm2")?,
            attn2: CrossAttention::new(vb.pp("attn2"), dim, context_dim, heads, budget)?,
            norm3: ln("norm3")?,
            ff_in: candle_nn::linear(dim, dim * 8, ff.pp("0").pp("proj"))?,
            ff_out: candle_nn::linear(dim * 4, dim, ff.pp("2"))?,
        })
    }

    fn forward(&self, xs: &Tensor, context: &Tensor) -> candle_core::Result<Tensor> {
        let xs = (self.attn1.forward(&self.norm1.forward(xs)?, None)? + xs)?;
        let xs = (self
            .attn2
            .forward(&self.norm2.forward(&xs)?, Some(context))?
            + xs)?;
        let h = self.ff_in.forward(&self.norm3.forward(&xs)?)?;
        let halves = h.chunk(2, D::Minus1)?;
        let h = (&halves[0] * halves[1].gelu_erf()?)?;
        self.ff_out.forward(&h)? + xs
    }
}

enum Projection {
    Conv(candle_nn::Conv2d),
    Linear(candle_nn::Linear),
}

/// diffusers' `Transformer2DModel` for continuous inputs: group norm, input
/// projection (1×1 conv or linear), transformer blocks, output projection,
/// residual.
pub(crate) struct Transformer2D {
    norm: candle_nn::GroupNorm,
    proj_in: Projection,
    blocks: Vec<TransformerBlock>,
    proj_out: Projection,
}

/// How one [`Transformer2D`] is built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transformer2DSpec {
    pub(crate) channels: usize,
    pub(crate) heads: usize,
    pub(crate) layers: usize,
    pub(crate) context_dim: usize,
    pub(crate) groups: usize,
    pub(crate) linear_projection: bool,
    pub(crate) budget: AttentionBudget,
}

impl Transformer2D {
    pub(crate) fn new(vb: VarBuilder, s: Transformer2DSpec) -> candle_core::Result<Self> {
        let c = s.channels;
        let proj = |name: &str| -> candle_core::Result<Projection> {
            Ok(if s.linear_projection {
                Projection::Linear(candle_nn::linear(c, c, vb.pp(name))?)
            } else {
                Projection::Conv(candle_nn::conv2d(c, c, 1, Default::default(), vb.pp(name))?)
            })
        };
        let blocks_vb = vb.pp("transformer_blocks");
        let blocks = (0..s.layers)
            .map(|i| {
                TransformerBlock::new(
                    blocks_vb.pp(i.to_string()),
                    c,
                    s.context_dim,
                    s.heads,
                    s.budget,
                )
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            norm: candle_nn::group_norm(s.groups, c, 1e-6, vb.pp("norm"))?,
            proj_in: proj("proj_in")?,
            blocks,
            proj_out: proj("proj_out")?,
        })
    }

    pub(crate) fn forward(&self, xs: &Tensor, context: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let to_tokens = |t: &Tensor| -> candle_core::Result<Tensor> {
            t.permute((0, 2, 3, 1))?.reshape((b, h * w, c))
        };
        let to_map = |t: &Tensor| -> candle_core::Result<Tensor> {
            t.reshape((b, h, w, c))?.permute((0, 3, 1, 2))?.contiguous()
        };
        let normed = self.norm.forward(xs)?;
        let mut tokens = match &self.proj_in {
            Projection::Conv(p) => to_tokens(&p.forward(&normed)?)?,
            Projection::Linear(p) => p.forward(&to_tokens(&normed)?)?,
        };
        for block in &self.blocks {
            tokens = block.forward(&tokens, context)?;
        }
        let out = match &self.proj_out {
            Projection::Conv(p) => p.forward(&to_map(&tokens)?)?,
            Projection::Linear(p) => to_map(&p.forward(&tokens)?)?,
        };
        out + xs
    }
}

/// The VAE's single-head self-attention over pixels (diffusers' `Attention`
/// with a group norm, built from the deprecated attention block), with the
/// old (`query/key/value/proj_attn`) or new (`to_q/…/to_out.0`) names.
pub(crate) struct PixelAttention {
    group_norm: candle_nn::GroupNorm,
    q: candle_nn::Linear,
    k: candle_nn::Linear,
    v: candle_nn::Linear,
    out: candle_nn::Linear,
    budget: AttentionBudget,
}

impl PixelAttention {
    pub(crate) fn new(
        vb: VarBuilder,
        channels: usize,
        groups: usize,
        budget: AttentionBudget,
    ) -> candle_core::Result<Self> {
        let names = if vb.contains_tensor("to_q.weight") {
            ["to_q", "to_k", "to_v", "to_out.0"]
        } else {
            ["query", "key", "value", "proj_attn"]
        };
        let lin = |name: &str| linear_maybe_conv(vb.pp(name), channels, channels, true);
        Ok(Self {
            group_norm: candle_nn::group_norm(groups, channels, 1e-6, vb.pp("group_norm"))?,
            q: lin(names[0])?,
            k: lin(names[1])?,
            v: lin(names[2])?,
            out: lin(names[3])?,
            budget,
        })
    }

    pub(crate) fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let tokens = self
            .group_norm
            .forward(xs)?
            .reshape((b, c, h * w))?
            .transpose(1, 2)?
            .contiguous()?;
        let o = attention(
            &self.q.forward(&tokens)?,
            &self.k.forward(&tokens)?,
            &self.v.forward(&tokens)?,
            1,
            self.budget,
        )?;
        let o = self
            .out
            .forward(&o)?
            .transpose(1, 2)?
            .reshape((b, c, h, w))?;
        o + xs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Chunking the queries does not change the result.
    #[test]
    fn chunked_attention_equals_whole() {
        let dev = Device::Cpu;
        let q = Tensor::randn(0f32, 1.0, (2, 37, 16), &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, (2, 11, 16), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (2, 11, 16), &dev).unwrap();
        let whole = attention(&q, &k, &v, 4, AttentionBudget::default()).unwrap();
        // 2·4 heads × 11 keys × 4 bytes = 352 bytes per row: 3 rows per chunk.
        let chunked = attention(&q, &k, &v, 4, AttentionBudget(352 * 3)).unwrap();
        assert_eq!(AttentionBudget(352 * 3).rows(2 * 4 * 11), 3);
        let diff = (whole - chunked)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-6, "{diff}");
    }
}
