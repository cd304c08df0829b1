//! diffusers' `AutoencoderKL`: the encoder (for img2img) and the decoder.
//!
//! Built on candle's encoder/decoder blocks (which honour `norm_num_groups`),
//! with the mid-block attention replaced by [`PixelAttention`]: candle's
//! materializes `[h·w, h·w]` scores (17 GB in F32 for a 2048² image's 256²
//! latents), ours walks the queries in chunks within the attention budget.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::stable_diffusion::resnet::{ResnetBlock2D, ResnetBlock2DConfig};
use candle_transformers::models::stable_diffusion::unet_2d_blocks::{
    DownEncoderBlock2D, DownEncoderBlock2DConfig, UpDecoderBlock2D, UpDecoderBlock2DConfig,
};

use crate::attention::{AttentionBudget, PixelAttention};

/// A VAE architecture, read from `vae/config.json`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VaeConfig {
    pub(crate) in_channels: usize,
    pub(crate) out_channels: usize,
    pub(crate) block_out_channels: Vec<usize>,
    pub(crate) layers_per_block: usize,
    pub(crate) latent_channels: usize,
    pub(crate) norm_num_groups: usize,
    pub(crate) use_quant_conv: bool,
    pub(crate) use_post_quant_conv: bool,
}

const EPS: f64 = 1e-6;

/// `resnet, attention, resnet` at the lowest resolution.
struct MidBlock {
    resnet0: ResnetBlock2D,
    attention: PixelAttention,
    resnet1: ResnetBlock2D,
}

impl MidBlock {
    fn new(
        vb: VarBuilder,
        channels: usize,
        groups: usize,
        budget: AttentionBudget,
    ) -> candle_core::Result<Self> {
        let cfg = ResnetBlock2DConfig {
            out_channels: Some(channels),
            temb_channels: None,
            groups,
            groups_out: None,
            eps: EPS,
            use_in_shortcut: None,
            output_scale_factor: 1.0,
        };
        let resnets = vb.pp("resnets");
        Ok(Self {
            resnet0: ResnetBlock2D::new(resnets.pp("0"), channels, cfg)?,
            attention: PixelAttention::new(vb.pp("attentions").pp("0"), channels, groups, budget)?,
            resnet1: ResnetBlock2D::new(resnets.pp("1"), channels, cfg)?,
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let xs = self.resnet0.forward(xs, None)?;
        let xs = self.attention.forward(&xs)?;
        self.resnet1.forward(&xs, None)
    }
}

fn conv(
    vb: VarBuilder,
    cin: usize,
    cout: usize,
    kernel: usize,
) -> candle_core::Result<candle_nn::Conv2d> {
    let cfg = candle_nn::Conv2dConfig {
        padding: kernel / 2,
        ..Default::default()
    };
    candle_nn::conv2d(cin, cout, kernel, cfg, vb)
}

struct Encoder {
    conv_in: candle_nn::Conv2d,
    down: Vec<DownEncoderBlock2D>,
    mid: MidBlock,
    norm_out: candle_nn::GroupNorm,
    conv_out: candle_nn::Conv2d,
}

struct Decoder {
    conv_in: candle_nn::Conv2d,
    mid: MidBlock,
    up: Vec<UpDecoderBlock2D>,
    norm_out: candle_nn::GroupNorm,
    conv_out: candle_nn::Conv2d,
}

/// The autoencoder. Latents here are the VAE's own (not yet multiplied by
/// `scaling_factor`).
pub(crate) struct Vae {
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: Option<candle_nn::Conv2d>,
    post_quant_conv: Option<candle_nn::Conv2d>,
}

impl Vae {
    pub(crate) fn new(
        vb: VarBuilder,
        c: &VaeConfig,
        budget: AttentionBudget,
    ) -> candle_core::Result<Self> {
        let ch = &c.block_out_channels;
        let n = ch.len();
        let g = c.norm_num_groups;
        let last = ch[n - 1];

        let e = vb.pp("encoder");
        let mut down = Vec::with_capacity(n);
        for i in 0..n {
            let cin = if i == 0 { ch[0] } else { ch[i - 1] };
            down.push(DownEncoderBlock2D::new(
                e.pp("down_blocks").pp(i.to_string()),
                cin,
                ch[i],
                DownEncoderBlock2DConfig {
                    num_layers: c.layers_per_block,
                    resnet_eps: EPS,
                    resnet_groups: g,
                    output_scale_factor: 1.0,
                    add_downsample: i + 1 < n,
                    // diffusers' Encoder pads asymmetrically (0, 1, 0, 1).
                    downsample_padding: 0,
                },
            )?);
        }
        let encoder = Encoder {
            conv_in: conv(e.pp("conv_in"), c.in_channels, ch[0], 3)?,
            down,
            mid: MidBlock::new(e.pp("mid_block"), last, g, budget)?,
            norm_out: candle_nn::group_norm(g, last, EPS, e.pp("conv_norm_out"))?,
            conv_out: conv(e.pp("conv_out"), last, 2 * c.latent_channels, 3)?,
        };

        let d = vb.pp("decoder");
        let reversed: Vec<usize> = ch.iter().rev().copied().collect();
        let mut up = Vec::with_capacity(n);
        let mut prev = reversed[0];
        for (i, &cout) in reversed.iter().enumerate() {
            up.push(UpDecoderBlock2D::new(
                d.pp("up_blocks").pp(i.to_string()),
                prev,
                cout,
                UpDecoderBlock2DConfig {
                    num_layers: c.layers_per_block + 1,
                    resnet_eps: EPS,
                    resnet_groups: g,
                    output_scale_factor: 1.0,
                    add_upsample: i + 1 < n,
                },
            )?);
            prev = cout;
        }
        let decoder = Decoder {
            conv_in: conv(d.pp("conv_in"), c.latent_channels, last, 3)?,
            mid: MidBlock::new(d.pp("mid_block"), last, g, budget)?,
            up,
            norm_out: candle_nn::group_norm(g, ch[0], EPS, d.pp("conv_norm_out"))?,
            conv_out: conv(d.pp("conv_out"), ch[0], c.out_channels, 3)?,
        };
        let l2 = 2 * c.latent_channels;
        Ok(Self {
            encoder,
            decoder,
            quant_conv: if c.use_quant_conv {
                Some(conv(vb.pp("quant_conv"), l2, l2, 1)?)
            } else {
                None
            },
            post_quant_conv: if c.use_post_quant_conv {
                Some(conv(
                    vb.pp("post_quant_conv"),
                    c.latent_channels,
                    c.latent_channels,
                    1,
                )?)
            } else {
                None
            },
        })
    }

    /// Image `[b, 3, H, W]` in [-1, 1] → the latent distribution's
    /// `(mean, std)`, each `[b, latent_channels, H/f, W/f]`.
    pub(crate) fn encode(&self, image: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let e = &self.encoder;
        let mut xs = e.conv_in.forward(image)?;
        for block in &e.down {
            xs = block.forward(&xs)?;
        }
        let xs = e.mid.forward(&xs)?;
        let xs = candle_nn::ops::silu(&e.norm_out.forward(&xs)?)?;
        let mut moments = e.conv_out.forward(&xs)?;
        if let Some(q) = &self.quant_conv {
            moments = q.forward(&moments)?;
        }
        let halves = moments.chunk(2, 1)?;
        // diffusers clamps the log-variance to [-30, 20].
        let std = (halves[1].clamp(-30f32, 20f32)? * 0.5)?.exp()?;
        Ok((halves[0].clone(), std))
    }

    /// Latents `[b, latent_channels, h, w]` → image `[b, 3, h·f, w·f]`,
    /// roughly in [-1, 1].
    pub(crate) fn decode(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        let d = &self.decoder;
        let xs = match &self.post_quant_conv {
            Some(p) => p.forward(latents)?,
            None => latents.clone(),
        };
        let mut xs = d.conv_in.forward(&xs)?;
        xs = d.mid.forward(&xs)?;
        for block in &d.up {
            xs = block.forward(&xs)?;
        }
        let xs = candle_nn::ops::silu(&d.norm_out.forward(&xs)?)?;
        d.conv_out.forward(&xs)
    }
}

/// The autoencoder a pipeline decodes with: the model's own KL VAE, or a
/// tiny one (TAESD) in its place.
pub(crate) enum Autoencoder {
    Kl(Box<Vae>),
    Tiny(crate::taesd::TinyAutoencoder),
}

impl Autoencoder {
    /// Image `[b, 3, H, W]` in [-1, 1] → `(mean, std)` of the latent
    /// distribution; `std` is `None` for TAESD, whose encoding is exact.
    pub(crate) fn encode(&self, image: &Tensor) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        match self {
            Self::Kl(v) => v.encode(image).map(|(m, s)| (m, Some(s))),
            Self::Tiny(t) => Ok((t.encode(image)?, None)),
        }
    }

    /// Latents (before `scaling_factor`) → image roughly in [-1, 1].
    pub(crate) fn decode(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Kl(v) => v.decode(latents),
            Self::Tiny(t) => t.decode(latents),
        }
    }
}

/// A parsed autoencoder config (`vae/config.json`, or a standalone
/// autoencoder's `config.json`): a KL VAE or TAESD.
pub(crate) struct AutoencoderSpec {
    kind: SpecKind,
    pub(crate) scale: u32,
    pub(crate) scaling_factor: f64,
    pub(crate) shift_factor: f64,
    pub(crate) latent_channels: usize,
    /// Channels of the decoder's full-resolution feature map (its working set).
    pub(crate) full_res_channels: usize,
    /// Whether it must stay F32 on a GPU (a KL VAE's `force_upcast`).
    pub(crate) force_upcast: bool,
}

enum SpecKind {
    Kl(VaeConfig),
    Tiny(crate::taesd::TinyConfig),
}

impl AutoencoderSpec {
    pub(crate) fn parse(path: &std::path::Path) -> crate::Result<Self> {
        let json = crate::json::JsonConfig::read(path)?;
        if crate::taesd::is_tiny(&json)? {
            let (config, scaling_factor, shift_factor) = crate::taesd::parse_tiny_config(&json)?;
            return Ok(Self {
                scale: config.scale_factor(),
                scaling_factor,
                shift_factor,
                latent_channels: config.latent_channels,
                full_res_channels: config.full_resolution_channels(),
                force_upcast: false,
                kind: SpecKind::Tiny(config),
            });
        }
        let spec = crate::parse_vae_config(path)?;
        Ok(Self {
            scale: spec.scale_factor(),
            scaling_factor: spec.scaling_factor,
            shift_factor: spec.shift_factor,
            latent_channels: spec.config.latent_channels,
            full_res_channels: spec.config.block_out_channels[0],
            force_upcast: spec.force_upcast,
            kind: SpecKind::Kl(spec.config),
        })
    }

    pub(crate) fn build(
        &self,
        vb: VarBuilder,
        budget: AttentionBudget,
    ) -> candle_core::Result<Autoencoder> {
        Ok(match &self.kind {
            SpecKind::Kl(c) => Autoencoder::Kl(Box::new(Vae::new(vb, c, budget)?)),
            SpecKind::Tiny(c) => Autoencoder::Tiny(crate::taesd::TinyAutoencoder::new(vb, c)?),
        })
    }
}
