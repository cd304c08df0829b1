//! diffusers' `AutoencoderTiny`: TAESD, a tiny distilled autoencoder (about
//! 2.4 M parameters against the KL VAE's 84 M) that decodes the same latents
//! as Stable Diffusion's VAE, an order of magnitude faster on a CPU, at the
//! price of some fine detail (textures come out softer). Its published
//! weights (`madebyollin/taesd` for SD 1.x/2.x, `madebyollin/taesdxl` for
//! SDXL; MIT) are in this layout: `config.json` +
//! `diffusion_pytorch_model.safetensors`.
//!
//! Each half is one `nn.Sequential`, so the weights are named by position
//! (`decoder.layers.{k}`); plain convolutions, ReLU, nearest-neighbour
//! upsampling and residual blocks of three 3×3 convolutions.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::json::JsonConfig;
use crate::Result;

/// An `AutoencoderTiny` architecture, read from its `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TinyConfig {
    pub(crate) in_channels: usize,
    pub(crate) out_channels: usize,
    pub(crate) latent_channels: usize,
    pub(crate) encoder_channels: Vec<usize>,
    pub(crate) encoder_blocks: Vec<usize>,
    pub(crate) decoder_channels: Vec<usize>,
    pub(crate) decoder_blocks: Vec<usize>,
    pub(crate) upsampling: usize,
}

impl TinyConfig {
    /// Pixels per latent pixel: the decoder upsamples between its blocks.
    pub(crate) fn scale_factor(&self) -> u32 {
        let ups = self.decoder_channels.len().saturating_sub(1) as u32;
        (self.upsampling as u32).saturating_pow(ups.min(16))
    }

    /// The channels of the decoder's full-resolution block (its working set).
    pub(crate) fn full_resolution_channels(&self) -> usize {
        self.decoder_channels.last().copied().unwrap_or(64)
    }
}

/// Parses an `AutoencoderTiny` config (defaults as in diffusers), with the
/// `scaling_factor` and `shift_factor` its latents use.
pub(crate) fn parse_tiny_config(c: &JsonConfig) -> Result<(TinyConfig, f64, f64)> {
    c.require_str("act_fn", "relu")?;
    c.require_str("upsample_fn", "nearest")?;
    let four = [64, 64, 64, 64];
    let encoder_channels = c.usize_list_or("encoder_block_out_channels", &four)?;
    let encoder_blocks = c.usize_list_or("num_encoder_blocks", &[1, 3, 3, 3])?;
    let decoder_channels = c.usize_list_or("decoder_block_out_channels", &four)?;
    let decoder_blocks = c.usize_list_or("num_decoder_blocks", &[3, 3, 3, 1])?;
    for (channels, blocks, what) in [
        (&encoder_channels, &encoder_blocks, "encoder"),
        (&decoder_channels, &decoder_blocks, "decoder"),
    ] {
        let key = format!("{what}_block_out_channels");
        if channels.is_empty() || channels.len() > 8 {
            return Err(c.bad(&key, "must have between 1 and 8 entries"));
        }
        if blocks.len() != channels.len() {
            return Err(c.bad(
                &format!("num_{what}_blocks"),
                &format!(
                    "has {} entries but `{key}` has {}",
                    blocks.len(),
                    channels.len()
                ),
            ));
        }
        // Its strided and upsampling convolutions keep the width: diffusers would fail to
        // run a config that changes it between blocks.
        if channels.iter().any(|&ch| ch == 0 || ch != channels[0]) {
            return Err(c.bad(&key, "must repeat one positive width"));
        }
    }
    if encoder_channels.len() != decoder_channels.len() {
        return Err(c.bad(
            "encoder_block_out_channels",
            "the encoder and the decoder must have as many blocks",
        ));
    }
    let config = TinyConfig {
        in_channels: c.usize_or("in_channels", 3)?,
        out_channels: c.usize_or("out_channels", 3)?,
        latent_channels: c.usize_or("latent_channels", 4)?,
        encoder_channels,
        encoder_blocks,
        decoder_channels,
        decoder_blocks,
        upsampling: c.usize_or("upsampling_scaling_factor", 2)?,
    };
    if config.out_channels != 3 || config.in_channels != 3 {
        return Err(c.unsupported(
            "an AutoencoderTiny that is not RGB in and out (3 channels)".to_string(),
        ));
    }
    if config.latent_channels == 0 || config.upsampling == 0 {
        return Err(c.bad(
            "latent_channels",
            "channel counts and the upsampling factor must be positive",
        ));
    }
    let scaling_factor = c.f64_or("scaling_factor", 1.0)?;
    if scaling_factor == 0.0 {
        return Err(c.bad("scaling_factor", "must not be zero"));
    }
    Ok((config, scaling_factor, c.f64_or("shift_factor", 0.0)?))
}

fn conv(
    vb: VarBuilder,
    cin: usize,
    cout: usize,
    kernel: usize,
    stride: usize,
    bias: bool,
) -> candle_core::Result<candle_nn::Conv2d> {
    let cfg = candle_nn::Conv2dConfig {
        padding: kernel / 2,
        stride,
        ..Default::default()
    };
    if bias {
        candle_nn::conv2d(cin, cout, kernel, cfg, vb)
    } else {
        candle_nn::conv2d_no_bias(cin, cout, kernel, cfg, vb)
    }
}

/// `relu(conv(relu(conv(relu(conv(x))))) + skip(x))`.
struct Block {
    convs: [candle_nn::Conv2d; 3],
    skip: Option<candle_nn::Conv2d>,
}

impl Block {
    fn new(vb: VarBuilder, cin: usize, cout: usize) -> candle_core::Result<Self> {
        let c = vb.pp("conv");
        Ok(Self {
            convs: [
                conv(c.pp("0"), cin, cout, 3, 1, true)?,
                conv(c.pp("2"), cout, cout, 3, 1, true)?,
                conv(c.pp("4"), cout, cout, 3, 1, true)?,
            ],
            skip: if cin == cout {
                None
            } else {
                Some(conv(vb.pp("skip"), cin, cout, 1, 1, false)?)
            },
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.convs[0].forward(x)?.relu()?;
        let h = self.convs[1].forward(&h)?.relu()?;
        let h = self.convs[2].forward(&h)?;
        let skip = match &self.skip {
            Some(s) => s.forward(x)?,
            None => x.clone(),
        };
        (h + skip)?.relu()
    }
}

enum Layer {
    Conv(candle_nn::Conv2d),
    Relu,
    Upsample(usize),
    Block(Block),
}

impl Layer {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Conv(c) => c.forward(x),
            Self::Relu => x.relu(),
            Self::Upsample(f) => {
                let (_, _, h, w) = x.dims4()?;
                x.upsample_nearest2d(h * f, w * f)
            }
            Self::Block(b) => b.forward(x),
        }
    }
}

/// The tiny autoencoder. Its latents are the same as the KL VAE's
/// (before `scaling_factor`, which is 1.0 in TAESD's config).
pub(crate) struct TinyAutoencoder {
    encoder: Vec<Layer>,
    decoder: Vec<Layer>,
}

impl TinyAutoencoder {
    pub(crate) fn new(vb: VarBuilder, c: &TinyConfig) -> candle_core::Result<Self> {
        let e = vb.pp("encoder").pp("layers");
        let mut encoder = Vec::new();
        for (i, (&ch, &blocks)) in c.encoder_channels.iter().zip(&c.encoder_blocks).enumerate() {
            let k = encoder.len().to_string();
            encoder.push(Layer::Conv(if i == 0 {
                conv(e.pp(k), c.in_channels, ch, 3, 1, true)?
            } else {
                conv(e.pp(k), ch, ch, 3, 2, false)?
            }));
            for _ in 0..blocks {
                let k = encoder.len().to_string();
                encoder.push(Layer::Block(Block::new(e.pp(k), ch, ch)?));
            }
        }
        let last = *c.encoder_channels.last().unwrap_or(&64);
        let k = encoder.len().to_string();
        encoder.push(Layer::Conv(conv(
            e.pp(k),
            last,
            c.latent_channels,
            3,
            1,
            true,
        )?));

        let d = vb.pp("decoder").pp("layers");
        let first = c.decoder_channels[0];
        let mut decoder = vec![
            Layer::Conv(conv(d.pp("0"), c.latent_channels, first, 3, 1, true)?),
            Layer::Relu,
        ];
        let n = c.decoder_channels.len();
        for (i, (&ch, &blocks)) in c.decoder_channels.iter().zip(&c.decoder_blocks).enumerate() {
            let is_final = i + 1 == n;
            for _ in 0..blocks {
                let k = decoder.len().to_string();
                decoder.push(Layer::Block(Block::new(d.pp(k), ch, ch)?));
            }
            if !is_final {
                decoder.push(Layer::Upsample(c.upsampling));
            }
            let k = decoder.len().to_string();
            let cout = if is_final { c.out_channels } else { ch };
            decoder.push(Layer::Conv(conv(d.pp(k), ch, cout, 3, 1, is_final)?));
        }
        Ok(Self { encoder, decoder })
    }

    /// Image `[b, 3, H, W]` in [-1, 1] → latents `[b, latent_channels, H/f, W/f]`
    /// (deterministic: TAESD has no distribution to sample).
    pub(crate) fn encode(&self, image: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = image.affine(0.5, 0.5)?;
        for layer in &self.encoder {
            x = layer.forward(&x)?;
        }
        Ok(x)
    }

    /// Latents → image `[b, 3, h·f, w·f]` roughly in [-1, 1]. The latents
    /// are first soft-clamped to ±3 (`tanh(x/3)·3`), as TAESD was trained.
    pub(crate) fn decode(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = ((latents / 3.0)?.tanh()? * 3.0)?;
        for layer in &self.decoder {
            x = layer.forward(&x)?;
        }
        x.affine(2.0, -1.0)
    }
}

/// Whether `vae/config.json` (or a standalone autoencoder's `config.json`)
/// describes an `AutoencoderTiny`.
pub(crate) fn is_tiny(c: &JsonConfig) -> Result<bool> {
    Ok(c.opt_str("_class_name")?.as_deref() == Some("AutoencoderTiny"))
}
