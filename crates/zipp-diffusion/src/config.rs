//! diffusers `config.json` parsing into candle's UNet and VAE configs, with
//! every value candle would panic or mis-build on validated first, and the
//! builders for those networks.

use std::path::Path;

use serde_json::Value;

use super::json::JsonConfig;
use super::Result;
use crate::unet::{TextTime, UnetBlock, UnetConfig};
use crate::vae::VaeConfig;

// ---------------------------------------------------------------------------
// UNet

/// A UNet architecture parsed from `unet/config.json`.
#[derive(Debug)]
pub(crate) struct UnetSpec {
    pub(crate) config: UnetConfig,
    /// (height, width) in latent pixels.
    pub(crate) sample_size: (usize, usize),
}

const CROSS_DOWN: &str = "CrossAttnDownBlock2D";
const PLAIN_DOWN: &str = "DownBlock2D";
const CROSS_UP: &str = "CrossAttnUpBlock2D";
const PLAIN_UP: &str = "UpBlock2D";

/// Parses a diffusers `UNet2DConditionModel` config (defaults as in diffusers).
pub(crate) fn parse_unet_config(path: &Path) -> Result<UnetSpec> {
    let c = JsonConfig::read(path)?;
    if let Some(class) = c.opt_str("_class_name")? {
        if class != "UNet2DConditionModel" {
            return Err(c.unsupported(format!(
                "UNet class {class:?}; expected UNet2DConditionModel"
            )));
        }
    }
    c.require_absent(
        &[
            "class_embed_type",
            "num_class_embeds",
            "time_cond_proj_dim",
            "encoder_hid_dim",
            "encoder_hid_dim_type",
            "time_embedding_dim",
            "time_embedding_act_fn",
            "timestep_post_act",
            "cross_attention_norm",
            "reverse_transformer_layers_per_block",
        ],
        "only text-conditioned SD 1.x/2.x/XL UNets are supported (LCM, upscalers are not)",
    )?;
    let text_time = match c.opt_str("addition_embed_type")? {
        None => None,
        Some(t) if t == "text_time" => {
            let time_embed_dim = c.usize_or("addition_time_embed_dim", 0)?;
            let input_dim = c.usize_or("projection_class_embeddings_input_dim", 0)?;
            if time_embed_dim == 0 || time_embed_dim % 2 != 0 {
                return Err(c.bad(
                    "addition_time_embed_dim",
                    "must be a positive even number with `addition_embed_type: text_time`",
                ));
            }
            if input_dim <= 6 * time_embed_dim {
                return Err(c.bad(
                    "projection_class_embeddings_input_dim",
                    &format!(
                        "must exceed 6 × `addition_time_embed_dim` ({}) by the pooled text width",
                        6 * time_embed_dim
                    ),
                ));
            }
            Some(TextTime {
                time_embed_dim,
                input_dim,
            })
        }
        Some(other) => {
            return Err(c.unsupported(format!(
                "`addition_embed_type` {other:?}; only \"text_time\" (SDXL) is supported"
            )))
        }
    };
    if c.f64_or("resnet_out_scale_factor", 1.0)? != 1.0 {
        return Err(c.unsupported("`resnet_out_scale_factor` is not 1".to_string()));
    }
    for key in [
        "only_cross_attention",
        "dual_cross_attention",
        "resnet_skip_time_act",
        "mid_block_only_cross_attention",
    ] {
        let on = match c.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_bool() == Some(true)),
            Some(v) => return Err(c.bad(key, &format!("expected a boolean, got {v}"))),
        };
        if on {
            return Err(c.unsupported(format!("`{key}` is enabled")));
        }
    }
    c.require_str("act_fn", "silu")?;
    c.require_str("time_embedding_type", "positional")?;
    c.require_str("resnet_time_scale_shift", "default")?;
    c.require_str("mid_block_type", "UNetMidBlock2DCrossAttn")?;
    c.require_str("attention_type", "default")?;
    for key in ["conv_in_kernel", "conv_out_kernel"] {
        let k = c.usize_or(key, 3)?;
        if k != 3 {
            return Err(c.unsupported(format!("`{key}` is {k}; only 3 is supported")));
        }
    }

    let channels = c.usize_list_or("block_out_channels", &[320, 640, 1280, 1280])?;
    let n = channels.len();
    if n == 0 {
        return Err(c.bad("block_out_channels", "must not be empty"));
    }
    let down = c.str_list_or(
        "down_block_types",
        &[CROSS_DOWN, CROSS_DOWN, CROSS_DOWN, PLAIN_DOWN],
    )?;
    let up = c.str_list_or("up_block_types", &[PLAIN_UP, CROSS_UP, CROSS_UP, CROSS_UP])?;
    for (key, list) in [("down_block_types", &down), ("up_block_types", &up)] {
        if list.len() != n {
            return Err(c.bad(
                key,
                &format!(
                    "has {} entries but `block_out_channels` has {n}",
                    list.len()
                ),
            ));
        }
    }
    let mut cross = Vec::with_capacity(n);
    for (i, d) in down.iter().enumerate() {
        let is_cross = match d.as_str() {
            CROSS_DOWN => true,
            PLAIN_DOWN => false,
            other => {
                return Err(c.unsupported(format!(
                    "`down_block_types[{i}]` is {other:?}; only {CROSS_DOWN} and {PLAIN_DOWN} are supported"
                )))
            }
        };
        // candle mirrors the down blocks for the up path, so check the config
        // says the same thing.
        let expected_up = if is_cross { CROSS_UP } else { PLAIN_UP };
        if up[n - 1 - i] != expected_up {
            return Err(c.unsupported(format!(
                "`up_block_types[{}]` is {:?} but mirroring `down_block_types[{i}]` ({d}) needs {expected_up}",
                n - 1 - i,
                up[n - 1 - i]
            )));
        }
        cross.push(is_cross);
    }
    // diffusers' naming quirk: `attention_head_dim` is the number of heads
    // unless the newer `num_attention_heads` is given.
    let heads = if c.has("num_attention_heads") {
        c.usize_per_block("num_attention_heads", n, 8)?
    } else {
        c.usize_per_block("attention_head_dim", n, 8)?
    };
    let transformer_layers = c.usize_per_block("transformer_layers_per_block", n, 1)?;
    let layers_per_block = c.usize_uniform("layers_per_block", n, 2)?;
    let cross_attention_dim = c.usize_uniform("cross_attention_dim", n, 1280)?;
    let norm_num_groups = c.usize_or("norm_num_groups", 32)?;
    let in_channels = c.usize_or("in_channels", 4)?;
    let out_channels = c.usize_or("out_channels", 4)?;

    // Validate everything candle would otherwise panic or mis-build on.
    if norm_num_groups == 0 {
        return Err(c.bad("norm_num_groups", "must be positive"));
    }
    if layers_per_block == 0 {
        return Err(c.bad("layers_per_block", "must be positive"));
    }
    if cross_attention_dim == 0 {
        return Err(c.bad("cross_attention_dim", "must be positive"));
    }
    if in_channels == 0 || out_channels == 0 {
        return Err(c.bad("in_channels", "channel counts must be positive"));
    }
    let heads_key = if c.has("num_attention_heads") {
        "num_attention_heads"
    } else {
        "attention_head_dim"
    };
    for (i, &ch) in channels.iter().enumerate() {
        if ch == 0 || ch % norm_num_groups != 0 {
            return Err(c.bad(
                "block_out_channels",
                &format!("entry {i} ({ch}) must be a positive multiple of `norm_num_groups` ({norm_num_groups})"),
            ));
        }
        // The mid block uses the last block's head count, cross-attn or not.
        if cross[i] || i == n - 1 {
            if heads[i] == 0 || ch % heads[i] != 0 {
                return Err(c.bad(
                    heads_key,
                    &format!("block {i}: {} heads do not divide {ch} channels", heads[i]),
                ));
            }
            if transformer_layers[i] == 0 {
                return Err(c.bad("transformer_layers_per_block", "must be positive"));
            }
        }
    }
    if channels[0] % 2 != 0 {
        return Err(c.bad(
            "block_out_channels",
            "the first entry must be even (timestep embedding)",
        ));
    }
    let sample_size = match c.get("sample_size") {
        None => (64, 64),
        Some(Value::Array(a)) if a.len() == 2 => (
            c.value_usize("sample_size", &a[0])?,
            c.value_usize("sample_size", &a[1])?,
        ),
        Some(v) => {
            let s = c.value_usize("sample_size", v)?;
            (s, s)
        }
    };
    if sample_size.0 == 0 || sample_size.1 == 0 {
        return Err(c.bad("sample_size", "must be positive"));
    }

    let block = |i: usize| UnetBlock {
        out_channels: channels[i],
        cross_attention: cross[i],
        heads: heads[i],
        transformer_layers: transformer_layers[i],
    };
    let down: Vec<UnetBlock> = (0..n).map(block).collect();
    // diffusers reverses every per-block list for the up path.
    let up: Vec<UnetBlock> = (0..n).rev().map(block).collect();
    let config = UnetConfig {
        in_channels,
        out_channels,
        down,
        up,
        mid_heads: heads[n - 1],
        mid_transformer_layers: transformer_layers[n - 1],
        layers_per_block,
        norm_num_groups,
        norm_eps: c.f64_or("norm_eps", 1e-5)?,
        cross_attention_dim,
        use_linear_projection: c.bool_or("use_linear_projection", false)?,
        flip_sin_to_cos: c.bool_or("flip_sin_to_cos", true)?,
        freq_shift: c.f64_or("freq_shift", 0.0)?,
        downsample_padding: c.usize_or("downsample_padding", 1)?,
        mid_block_scale_factor: c.f64_or("mid_block_scale_factor", 1.0)?,
        center_input_sample: c.bool_or("center_input_sample", false)?,
        text_time,
    };
    Ok(UnetSpec {
        config,
        sample_size,
    })
}

// ---------------------------------------------------------------------------
// VAE

/// A VAE (`AutoencoderKL`) parsed from `vae/config.json`.
#[derive(Debug)]
pub(crate) struct VaeSpec {
    pub(crate) config: VaeConfig,
    pub(crate) scaling_factor: f64,
    pub(crate) shift_factor: f64,
    pub(crate) force_upcast: bool,
}

impl VaeSpec {
    /// Pixel size of one latent pixel: 2^(number of blocks - 1), 8 for SD.
    pub(crate) fn scale_factor(&self) -> u32 {
        let downsamples = self.config.block_out_channels.len().saturating_sub(1);
        1u32 << downsamples.min(16)
    }
}

/// Parses a diffusers `AutoencoderKL` config (defaults as in diffusers).
pub(crate) fn parse_vae_config(path: &Path) -> Result<VaeSpec> {
    let c = JsonConfig::read(path)?;
    if let Some(class) = c.opt_str("_class_name")? {
        if class != "AutoencoderKL" {
            return Err(c.unsupported(format!("VAE class {class:?}; expected AutoencoderKL")));
        }
    }
    c.require_str("act_fn", "silu")?;
    c.require_absent(
        &["latents_mean", "latents_std"],
        "per-channel latent statistics are not supported",
    )?;
    if !c.bool_or("mid_block_add_attention", true)? {
        return Err(c.unsupported("`mid_block_add_attention` is false".to_string()));
    }
    let channels = c.usize_list_or("block_out_channels", &[64])?;
    let n = channels.len();
    if n == 0 || n > 8 {
        return Err(c.bad("block_out_channels", "must have between 1 and 8 entries"));
    }
    for (key, expected) in [
        ("down_block_types", "DownEncoderBlock2D"),
        ("up_block_types", "UpDecoderBlock2D"),
    ] {
        let list = c.str_list_or(key, &vec![expected; n])?;
        if list.len() != n {
            return Err(c.bad(
                key,
                &format!(
                    "has {} entries but `block_out_channels` has {n}",
                    list.len()
                ),
            ));
        }
        if let Some(other) = list.iter().find(|t| *t != expected) {
            return Err(c.unsupported(format!(
                "`{key}` contains {other:?}; only {expected} is supported"
            )));
        }
    }
    let norm_num_groups = c.usize_or("norm_num_groups", 32)?;
    if norm_num_groups == 0 {
        return Err(c.bad("norm_num_groups", "must be positive"));
    }
    for (i, &ch) in channels.iter().enumerate() {
        if ch == 0 || ch % norm_num_groups != 0 {
            return Err(c.bad(
                "block_out_channels",
                &format!("entry {i} ({ch}) must be a positive multiple of `norm_num_groups` ({norm_num_groups})"),
            ));
        }
    }
    let layers_per_block = c.usize_or("layers_per_block", 1)?;
    let latent_channels = c.usize_or("latent_channels", 4)?;
    let in_channels = c.usize_or("in_channels", 3)?;
    let out_channels = c.usize_or("out_channels", 3)?;
    if layers_per_block == 0 {
        return Err(c.bad("layers_per_block", "must be positive"));
    }
    if latent_channels == 0 || in_channels == 0 {
        return Err(c.bad("latent_channels", "channel counts must be positive"));
    }
    if out_channels != 3 {
        return Err(c.unsupported(format!(
            "`out_channels` is {out_channels}; an RGB VAE (3) is required"
        )));
    }
    let scaling_factor = c.f64_or("scaling_factor", 0.18215)?;
    if scaling_factor == 0.0 {
        return Err(c.bad("scaling_factor", "must not be zero"));
    }
    let config = VaeConfig {
        in_channels,
        out_channels,
        block_out_channels: channels,
        layers_per_block,
        latent_channels,
        norm_num_groups,
        use_quant_conv: c.bool_or("use_quant_conv", true)?,
        use_post_quant_conv: c.bool_or("use_post_quant_conv", true)?,
    };
    Ok(VaeSpec {
        config,
        scaling_factor,
        shift_factor: c.f64_or("shift_factor", 0.0)?,
        // diffusers' SD pipelines only honour this flag when it is written out.
        force_upcast: c.bool_or("force_upcast", false)?,
    })
}
