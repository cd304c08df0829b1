//! diffusers' `UNet2DConditionModel` on candle, for SD 1.x, 2.x and SDXL.
//!
//! Written here on candle's building blocks (`ResnetBlock2D`, the timestep
//! embeddings) rather than used from candle-transformers, whose UNet cannot
//! run models diffusers saves: its plain down/up blocks ignore
//! `norm_num_groups` (always 32), it has no added `text_time` conditioning
//! (SDXL's pooled text embedding and size/crop ids), its GEGLU uses the tanh
//! GELU, and its attention materializes whole score matrices. Everything here
//! is read from the config: block types in any order, per-block head and
//! transformer-layer counts (reversed for the up path, as diffusers does),
//! linear or convolutional projections.
//!
//! Tensor names are diffusers' (`down_blocks.N.resnets.M.conv1`, ...), so a
//! `diffusion_pytorch_model.safetensors` loads as saved.

use candle_core::{DType, Module, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::stable_diffusion::embeddings::{TimestepEmbedding, Timesteps};
use candle_transformers::models::stable_diffusion::resnet::{ResnetBlock2D, ResnetBlock2DConfig};

use crate::attention::{AttentionBudget, Transformer2D, Transformer2DSpec};

/// One down block (and its mirrored up block) of the UNet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct UnetBlock {
    pub(crate) out_channels: usize,
    /// `CrossAttnDownBlock2D` (true) or `DownBlock2D`.
    pub(crate) cross_attention: bool,
    pub(crate) heads: usize,
    pub(crate) transformer_layers: usize,
}

/// SDXL's added conditioning (`addition_embed_type: "text_time"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TextTime {
    /// `addition_time_embed_dim`: sinusoid width per time id.
    pub(crate) time_embed_dim: usize,
    /// `projection_class_embeddings_input_dim` = pooled width + 6 · time_embed_dim.
    pub(crate) input_dim: usize,
}

/// A UNet architecture, read from `unet/config.json`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UnetConfig {
    pub(crate) in_channels: usize,
    pub(crate) out_channels: usize,
    /// Down blocks, in order.
    pub(crate) down: Vec<UnetBlock>,
    /// Up blocks, in order (diffusers reverses the per-block lists).
    pub(crate) up: Vec<UnetBlock>,
    pub(crate) mid_heads: usize,
    pub(crate) mid_transformer_layers: usize,
    pub(crate) layers_per_block: usize,
    pub(crate) norm_num_groups: usize,
    pub(crate) norm_eps: f64,
    pub(crate) cross_attention_dim: usize,
    pub(crate) use_linear_projection: bool,
    pub(crate) flip_sin_to_cos: bool,
    pub(crate) freq_shift: f64,
    pub(crate) downsample_padding: usize,
    pub(crate) mid_block_scale_factor: f64,
    pub(crate) center_input_sample: bool,
    pub(crate) text_time: Option<TextTime>,
}

impl UnetConfig {
    fn time_embed_dim(&self) -> usize {
        self.down[0].out_channels * 4
    }
}

/// SDXL's extra inputs: the pooled text embedding `[b, P]` and the six
/// size/crop ids `[b, 6]`.
#[derive(Debug, Clone)]
pub struct AddedConditioning {
    /// `text_embeds`: the second text encoder's projected pooled output.
    pub text_embeds: Tensor,
    /// `time_ids`: `[orig_h, orig_w, crop_top, crop_left, target_h, target_w]`.
    pub time_ids: Tensor,
}

struct Transformers {
    blocks: Vec<Transformer2D>,
}

struct DownBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Option<Transformers>,
    downsample: Option<(candle_nn::Conv2d, usize)>,
}

struct UpBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Option<Transformers>,
    upsample: Option<candle_nn::Conv2d>,
}

struct MidBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<Transformer2D>,
}

/// The denoiser. Build with [`Unet::new`]; `forward` takes `&self`.
pub(crate) struct Unet {
    config: UnetConfig,
    conv_in: candle_nn::Conv2d,
    time_proj: Timesteps,
    time_embedding: TimestepEmbedding,
    add: Option<(Timesteps, TimestepEmbedding)>,
    down: Vec<DownBlock>,
    mid: MidBlock,
    up: Vec<UpBlock>,
    conv_norm_out: candle_nn::GroupNorm,
    conv_out: candle_nn::Conv2d,
}

fn conv3(
    vb: VarBuilder,
    cin: usize,
    cout: usize,
    stride: usize,
    padding: usize,
) -> candle_core::Result<candle_nn::Conv2d> {
    let cfg = candle_nn::Conv2dConfig {
        padding,
        stride,
        ..Default::default()
    };
    candle_nn::conv2d(cin, cout, 3, cfg, vb)
}

impl Unet {
    pub(crate) fn new(
        vb: VarBuilder,
        config: &UnetConfig,
        budget: AttentionBudget,
    ) -> candle_core::Result<Self> {
        let c = config;
        let ch0 = c.down[0].out_channels;
        let temb = c.time_embed_dim();
        let resnet = |vb: VarBuilder, cin: usize, cout: usize, scale: f64| {
            ResnetBlock2D::new(
                vb,
                cin,
                ResnetBlock2DConfig {
                    out_channels: Some(cout),
                    temb_channels: Some(temb),
                    groups: c.norm_num_groups,
                    groups_out: None,
                    eps: c.norm_eps,
                    use_in_shortcut: None,
                    output_scale_factor: scale,
                },
            )
        };
        let transformers = |vb: VarBuilder, n: usize, block: &UnetBlock| {
            let spec = Transformer2DSpec {
                channels: block.out_channels,
                heads: block.heads,
                layers: block.transformer_layers,
                context_dim: c.cross_attention_dim,
                groups: c.norm_num_groups,
                linear_projection: c.use_linear_projection,
                budget,
            };
            (0..n)
                .map(|i| Transformer2D::new(vb.pp(i.to_string()), spec))
                .collect::<candle_core::Result<Vec<_>>>()
                .map(|blocks| Transformers { blocks })
        };

        let n = c.down.len();
        let mut down = Vec::with_capacity(n);
        let mut cin = ch0;
        for (i, block) in c.down.iter().enumerate() {
            let vb = vb.pp("down_blocks").pp(i.to_string());
            let cout = block.out_channels;
            let resnets = (0..c.layers_per_block)
                .map(|j| {
                    let from = if j == 0 { cin } else { cout };
                    resnet(vb.pp("resnets").pp(j.to_string()), from, cout, 1.0)
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            let attentions = if block.cross_attention {
                Some(transformers(
                    vb.pp("attentions"),
                    c.layers_per_block,
                    block,
                )?)
            } else {
                None
            };
            let downsample = if i + 1 < n {
                let pad = c.downsample_padding;
                let conv = conv3(vb.pp("downsamplers").pp("0").pp("conv"), cout, cout, 2, pad)?;
                Some((conv, pad))
            } else {
                None
            };
            down.push(DownBlock {
                resnets,
                attentions,
                downsample,
            });
            cin = cout;
        }

        let last = c.down[n - 1].out_channels;
        let mid_vb = vb.pp("mid_block");
        let mid_block = UnetBlock {
            out_channels: last,
            cross_attention: true,
            heads: c.mid_heads,
            transformer_layers: c.mid_transformer_layers,
        };
        let mid = MidBlock {
            resnets: vec![
                resnet(
                    mid_vb.pp("resnets").pp("0"),
                    last,
                    last,
                    c.mid_block_scale_factor,
                )?,
                resnet(
                    mid_vb.pp("resnets").pp("1"),
                    last,
                    last,
                    c.mid_block_scale_factor,
                )?,
            ],
            attentions: transformers(mid_vb.pp("attentions"), 1, &mid_block)?.blocks,
        };

        // Up path: channels of the down blocks reversed; block i's skips come
        // from down block n-1-i (and its input from the block before it).
        let reversed: Vec<usize> = c.down.iter().rev().map(|b| b.out_channels).collect();
        let mut up = Vec::with_capacity(n);
        let mut prev_out = reversed[0];
        for (i, block) in c.up.iter().enumerate() {
            let vb = vb.pp("up_blocks").pp(i.to_string());
            let cout = reversed[i];
            let skip_in = reversed[(i + 1).min(n - 1)];
            let layers = c.layers_per_block + 1;
            let resnets = (0..layers)
                .map(|j| {
                    let skip = if j == layers - 1 { skip_in } else { cout };
                    let from = if j == 0 { prev_out } else { cout };
                    resnet(vb.pp("resnets").pp(j.to_string()), from + skip, cout, 1.0)
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            let block = UnetBlock {
                out_channels: cout,
                ..*block
            };
            let attentions = if block.cross_attention {
                Some(transformers(vb.pp("attentions"), layers, &block)?)
            } else {
                None
            };
            let upsample = if i + 1 < n {
                Some(conv3(
                    vb.pp("upsamplers").pp("0").pp("conv"),
                    cout,
                    cout,
                    1,
                    1,
                )?)
            } else {
                None
            };
            up.push(UpBlock {
                resnets,
                attentions,
                upsample,
            });
            prev_out = cout;
        }

        let add = match c.text_time {
            Some(tt) => Some((
                Timesteps::new(tt.time_embed_dim, c.flip_sin_to_cos, c.freq_shift),
                TimestepEmbedding::new(vb.pp("add_embedding"), tt.input_dim, temb)?,
            )),
            None => None,
        };
        Ok(Self {
            config: c.clone(),
            conv_in: conv3(vb.pp("conv_in"), c.in_channels, ch0, 1, 1)?,
            time_proj: Timesteps::new(ch0, c.flip_sin_to_cos, c.freq_shift),
            time_embedding: TimestepEmbedding::new(vb.pp("time_embedding"), ch0, temb)?,
            add,
            down,
            mid,
            up,
            conv_norm_out: candle_nn::group_norm(
                c.norm_num_groups,
                ch0,
                c.norm_eps,
                vb.pp("conv_norm_out"),
            )?,
            conv_out: conv3(vb.pp("conv_out"), ch0, c.out_channels, 1, 1)?,
        })
    }

    /// Whether the model needs [`AddedConditioning`] (SDXL).
    pub(crate) fn needs_added_conditioning(&self) -> bool {
        self.add.is_some()
    }

    /// Predicts noise (or v, or x0) for `xs` `[b, c, h, w]` at `timestep`
    /// under the text `context` `[b, tokens, cross_attention_dim]`.
    pub(crate) fn forward(
        &self,
        xs: &Tensor,
        timestep: f64,
        context: &Tensor,
        added: Option<&AddedConditioning>,
    ) -> candle_core::Result<Tensor> {
        let (b, _, h, w) = xs.dims4()?;
        let dtype = xs.dtype();
        let dev = xs.device();
        let n = self.down.len();
        let factor = 1usize << (n - 1);
        let forward_upsample_size = h % factor != 0 || w % factor != 0;
        let xs = if self.config.center_input_sample {
            ((xs * 2.0)? - 1.0)?
        } else {
            xs.clone()
        };

        // Timestep embedding: sinusoids in F32 (diffusers), then the model dtype.
        let t = (Tensor::ones(b, DType::F32, dev)? * timestep)?;
        let t_emb = self.time_proj.forward(&t)?.to_dtype(dtype)?;
        let mut emb = self.time_embedding.forward(&t_emb)?;
        match (&self.add, added) {
            (Some((proj, embedding)), Some(added)) => {
                let ids = added.time_ids.to_dtype(DType::F32)?.flatten_all()?;
                let time_embeds = proj.forward(&ids)?.reshape((b, ()))?;
                let add = Tensor::cat(
                    &[&added.text_embeds.to_dtype(DType::F32)?, &time_embeds],
                    D::Minus1,
                )?
                .to_dtype(dtype)?;
                emb = (emb + embedding.forward(&add)?)?;
            }
            (Some(_), None) => {
                return Err(candle_core::Error::Msg(
                    "this UNet needs the pooled text embedding and time ids (SDXL)".to_string(),
                ))
            }
            (None, _) => {}
        }
        let context = context.to_dtype(dtype)?;

        let mut xs = self.conv_in.forward(&xs)?;
        let mut skips = vec![xs.clone()];
        for block in &self.down {
            for (j, resnet) in block.resnets.iter().enumerate() {
                xs = resnet.forward(&xs, Some(&emb))?;
                if let Some(att) = &block.attentions {
                    xs = att.blocks[j].forward(&xs, &context)?;
                }
                skips.push(xs.clone());
            }
            if let Some((conv, pad)) = &block.downsample {
                let padded = if *pad == 0 {
                    xs.pad_with_zeros(D::Minus1, 0, 1)?
                        .pad_with_zeros(D::Minus2, 0, 1)?
                } else {
                    xs.clone()
                };
                xs = conv.forward(&padded)?;
                skips.push(xs.clone());
            }
        }

        xs = self.mid.resnets[0].forward(&xs, Some(&emb))?;
        for (att, resnet) in self.mid.attentions.iter().zip(&self.mid.resnets[1..]) {
            xs = att.forward(&xs, &context)?;
            xs = resnet.forward(&xs, Some(&emb))?;
        }

        for block in &self.up {
            for (j, resnet) in block.resnets.iter().enumerate() {
                let skip = skips.pop().ok_or_else(|| {
                    candle_core::Error::Msg("UNet skip connections exhausted".to_string())
                })?;
                xs = Tensor::cat(&[&xs, &skip], 1)?;
                xs = resnet.forward(&xs, Some(&emb))?;
                if let Some(att) = &block.attentions {
                    xs = att.blocks[j].forward(&xs, &context)?;
                }
            }
            if let Some(conv) = &block.upsample {
                let (th, tw) = match skips.last() {
                    Some(s) if forward_upsample_size => {
                        let (_, _, sh, sw) = s.dims4()?;
                        (sh, sw)
                    }
                    _ => {
                        let (_, _, xh, xw) = xs.dims4()?;
                        (xh * 2, xw * 2)
                    }
                };
                xs = conv.forward(&xs.upsample_nearest2d(th, tw)?)?;
            }
        }

        let xs = candle_nn::ops::silu(&self.conv_norm_out.forward(&xs)?)?;
        self.conv_out.forward(&xs)
    }
}
