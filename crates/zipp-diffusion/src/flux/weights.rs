//! FLUX transformer weights in the three layouts people have them in, all run by
//! candle-transformers' `flux` module (which uses Black Forest Labs' tensor names):
//!
//! * a **diffusers folder** (`transformer/config.json` + `diffusion_pytorch_model*.safetensors`,
//!   sharded or not): diffusers' names are mapped back to BFL's, the way diffusers'
//!   `convert_flux_to_diffusers.py` maps them forward — `to_q/to_k/to_v` (and `proj_mlp` in
//!   single blocks) are concatenated into `qkv` / `linear1`, and the final `norm_out` halves are
//!   swapped (diffusers' `AdaLayerNormContinuous` is `(scale, shift)`, BFL's `(shift, scale)`);
//! * **Black Forest Labs' single file** (`flux1-schnell.safetensors`, also with ComfyUI's
//!   `model.diffusion_model.` prefix): loaded as it is;
//! * a **GGUF** file of the same names (quantized, for smaller GPUs).
//!
//! For the last two the architecture is read off the tensors' shapes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::flux::{self as cflux, model::Config};

use crate::files::{mmap_var_builder_files, weights_error};
use crate::json::JsonConfig;
use crate::{DiffusionError, Result};

/// The architecture from diffusers' `transformer/config.json`.
pub(crate) fn parse_transformer_config(path: &Path) -> Result<Config> {
    let c = JsonConfig::read(path)?;
    let patch = c.usize_or("patch_size", 1)?;
    if patch != 1 {
        return Err(c.unsupported(format!(
            "`patch_size` {patch}: only FLUX.1's 1 (2×2 latent patches packed by the pipeline)"
        )));
    }
    let in_channels = c.usize_or("in_channels", 64)?;
    let out_channels = c.usize_or("out_channels", in_channels)?;
    if out_channels != in_channels {
        return Err(c.unsupported(format!(
            "`out_channels` {out_channels} differs from `in_channels` {in_channels} \
             (image-conditioned FLUX variants are not supported)"
        )));
    }
    let heads = c.usize_or("num_attention_heads", 24)?;
    let head_dim = c.usize_or("attention_head_dim", 128)?;
    let axes_dim = c.usize_list_or("axes_dims_rope", &[16, 56, 56])?;
    if axes_dim.iter().sum::<usize>() != head_dim || axes_dim.iter().any(|a| a % 2 == 1) {
        return Err(c.bad(
            "axes_dims_rope",
            &format!("{axes_dim:?} must be even and add up to `attention_head_dim` {head_dim}"),
        ));
    }
    if heads == 0 || head_dim == 0 {
        return Err(c.bad(
            "num_attention_heads",
            "heads and head size must be positive",
        ));
    }
    Ok(Config {
        in_channels,
        vec_in_dim: c.usize_or("pooled_projection_dim", 768)?,
        context_in_dim: c.usize_or("joint_attention_dim", 4096)?,
        hidden_size: heads * head_dim,
        mlp_ratio: 4.0,
        num_heads: heads,
        depth: c.usize_or("num_layers", 19)?,
        depth_single_blocks: c.usize_or("num_single_layers", 38)?,
        axes_dim,
        theta: 10_000,
        qkv_bias: true,
        guidance_embed: c.bool_or("guidance_embeds", false)?,
    })
}

/// The architecture of a BFL-named checkpoint from its tensors' shapes (`shape` of a name, None
/// when absent). `axes_hint` is diffusers' `axes_dims_rope` when a folder config is at hand;
/// otherwise FLUX.1's `[16, 56, 56]` (the only split for its head size of 128).
pub(crate) fn infer_config(
    file: &Path,
    shape: &dyn Fn(&str) -> Option<Vec<usize>>,
    axes_hint: Option<Vec<usize>>,
) -> Result<Config> {
    let need = |name: &str| -> Result<Vec<usize>> {
        shape(name).ok_or_else(|| DiffusionError::MissingTensor {
            file: file.to_path_buf(),
            tensor: name.to_string(),
        })
    };
    let dims2 = |name: &str| -> Result<(usize, usize)> {
        match need(name)?.as_slice() {
            [out, inp] => Ok((*out, *inp)),
            other => Err(DiffusionError::BadConfig {
                file: file.to_path_buf(),
                reason: format!("tensor `{name}` has shape {other:?}, expected a matrix"),
            }),
        }
    };
    let (hidden, in_channels) = dims2("img_in.weight")?;
    let (_, context_in_dim) = dims2("txt_in.weight")?;
    let (_, vec_in_dim) = dims2("vector_in.in_layer.weight")?;
    let (mlp, _) = dims2("double_blocks.0.img_mlp.0.weight")?;
    let head_dim = need("double_blocks.0.img_attn.norm.query_norm.scale")?
        .first()
        .copied()
        .unwrap_or(0);
    let count = |prefix: &str, probe: &str| {
        (0..)
            .take_while(|i| shape(&format!("{prefix}.{i}.{probe}")).is_some())
            .count()
    };
    let depth = count("double_blocks", "img_attn.qkv.weight");
    let depth_single_blocks = count("single_blocks", "linear1.weight");
    let axes_dim = match axes_hint {
        Some(axes) => axes,
        None if head_dim == 128 => vec![16, 56, 56],
        None => {
            return Err(DiffusionError::BadConfig {
                file: file.to_path_buf(),
                reason: format!(
                    "attention heads of {head_dim} are not FLUX.1's 128: the rotary axes cannot \
                     be guessed (give the model folder's transformer/config.json)"
                ),
            })
        }
    };
    if head_dim == 0 || hidden % head_dim != 0 || axes_dim.iter().sum::<usize>() != head_dim {
        return Err(DiffusionError::BadConfig {
            file: file.to_path_buf(),
            reason: format!(
                "hidden size {hidden}, head size {head_dim} and rotary axes {axes_dim:?} do not fit"
            ),
        });
    }
    Ok(Config {
        in_channels,
        vec_in_dim,
        context_in_dim,
        hidden_size: hidden,
        mlp_ratio: mlp as f64 / hidden as f64,
        num_heads: hidden / head_dim,
        depth,
        depth_single_blocks,
        axes_dim,
        theta: 10_000,
        qkv_bias: shape("double_blocks.0.img_attn.qkv.bias").is_some(),
        guidance_embed: shape("guidance_in.in_layer.weight").is_some(),
    })
}

/// BFL's single file or a GGUF, with the architecture read off its tensors.
pub(crate) fn load_single_file(
    file: &Path,
    dtype: DType,
    device: &Device,
    axes: Option<Vec<usize>>,
) -> Result<(super::Transformer, Config, u64)> {
    if !file.is_file() {
        return Err(DiffusionError::MissingFile {
            path: file.to_path_buf(),
        });
    }
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let is_gguf = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    if is_gguf {
        let vb = candle_transformers::quantized_var_builder::VarBuilder::from_gguf(file, device)
            .map_err(|e| weights_error(file, e))?;
        let shape = |name: &str| {
            vb.contains_key(name)
                .then(|| {
                    vb.get_no_shape(name)
                        .ok()
                        .map(|t| t.shape().dims().to_vec())
                })
                .flatten()
        };
        let config = infer_config(file, &shape, axes)?;
        let model =
            cflux::quantized_model::Flux::new(&config, vb).map_err(|e| weights_error(file, e))?;
        return Ok((
            super::Transformer::Quantized(Box::new(model)),
            config,
            bytes,
        ));
    }
    // SAFETY: as for every weights file (see `files::mmap_var_builder`).
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(file) }
        .map_err(|e| weights_error(file, e))?;
    // ComfyUI's all-in-one files keep the transformer under `model.diffusion_model.`.
    let prefix = if st.get("img_in.weight").is_ok() {
        ""
    } else {
        "model.diffusion_model."
    };
    let shape = |name: &str| {
        st.get(&format!("{prefix}{name}"))
            .ok()
            .map(|v| v.shape().to_vec())
    };
    let config = infer_config(file, &shape, axes)?;
    let files = [PathBuf::from(file)];
    let mut vb = mmap_var_builder_files(&files, dtype, device)?;
    if !prefix.is_empty() {
        vb = vb.pp("model.diffusion_model");
    }
    let model = cflux::model::Flux::new(&config, vb).map_err(|e| weights_error(file, e))?;
    let stored = st
        .load(&format!("{prefix}img_in.weight"), &Device::Cpu)
        .map(|t| t.dtype().size_in_bytes() as u64)
        .unwrap_or(2);
    Ok((
        super::Transformer::Full(Box::new(model)),
        config,
        bytes / stored * dtype.size_in_bytes() as u64,
    ))
}

/// Where one diffusers tensor goes in BFL's layout.
#[derive(Debug, PartialEq)]
enum Target {
    /// Renamed.
    Plain(String),
    /// Row block `index` of `of` concatenated into `name`.
    Part {
        name: String,
        index: usize,
        of: usize,
    },
    /// Renamed, with its two halves (rows) swapped.
    SwapHalves(String),
}

/// BFL's name for diffusers' `name`, None for a tensor FLUX does not use.
fn target(name: &str) -> Option<Target> {
    let (stem, suffix) = name.rsplit_once('.')?;
    let plain = |s: &str| Some(Target::Plain(format!("{s}.{suffix}")));
    let part = |s: &str, index, of| {
        Some(Target::Part {
            name: format!("{s}.{suffix}"),
            index,
            of,
        })
    };
    let top = match stem {
        "x_embedder" => return plain("img_in"),
        "context_embedder" => return plain("txt_in"),
        "time_text_embed.timestep_embedder.linear_1" => return plain("time_in.in_layer"),
        "time_text_embed.timestep_embedder.linear_2" => return plain("time_in.out_layer"),
        "time_text_embed.text_embedder.linear_1" => return plain("vector_in.in_layer"),
        "time_text_embed.text_embedder.linear_2" => return plain("vector_in.out_layer"),
        "time_text_embed.guidance_embedder.linear_1" => return plain("guidance_in.in_layer"),
        "time_text_embed.guidance_embedder.linear_2" => return plain("guidance_in.out_layer"),
        "norm_out.linear" => {
            return Some(Target::SwapHalves(format!(
                "final_layer.adaLN_modulation.1.{suffix}"
            )))
        }
        "proj_out" => return plain("final_layer.linear"),
        other => other,
    };
    let norm = |s: &str| (suffix == "weight").then(|| Target::Plain(format!("{s}.scale")));
    if let Some(rest) = top.strip_prefix("transformer_blocks.") {
        let (i, rest) = rest.split_once('.')?;
        let b = format!("double_blocks.{i}");
        return match rest {
            "norm1.linear" => plain(&format!("{b}.img_mod.lin")),
            "norm1_context.linear" => plain(&format!("{b}.txt_mod.lin")),
            "attn.to_q" => part(&format!("{b}.img_attn.qkv"), 0, 3),
            "attn.to_k" => part(&format!("{b}.img_attn.qkv"), 1, 3),
            "attn.to_v" => part(&format!("{b}.img_attn.qkv"), 2, 3),
            "attn.add_q_proj" => part(&format!("{b}.txt_attn.qkv"), 0, 3),
            "attn.add_k_proj" => part(&format!("{b}.txt_attn.qkv"), 1, 3),
            "attn.add_v_proj" => part(&format!("{b}.txt_attn.qkv"), 2, 3),
            "attn.norm_q" => norm(&format!("{b}.img_attn.norm.query_norm")),
            "attn.norm_k" => norm(&format!("{b}.img_attn.norm.key_norm")),
            "attn.norm_added_q" => norm(&format!("{b}.txt_attn.norm.query_norm")),
            "attn.norm_added_k" => norm(&format!("{b}.txt_attn.norm.key_norm")),
            "attn.to_out.0" => plain(&format!("{b}.img_attn.proj")),
            "attn.to_add_out" => plain(&format!("{b}.txt_attn.proj")),
            "ff.net.0.proj" => plain(&format!("{b}.img_mlp.0")),
            "ff.net.2" => plain(&format!("{b}.img_mlp.2")),
            "ff_context.net.0.proj" => plain(&format!("{b}.txt_mlp.0")),
            "ff_context.net.2" => plain(&format!("{b}.txt_mlp.2")),
            _ => None,
        };
    }
    if let Some(rest) = top.strip_prefix("single_transformer_blocks.") {
        let (i, rest) = rest.split_once('.')?;
        let b = format!("single_blocks.{i}");
        return match rest {
            "norm.linear" => plain(&format!("{b}.modulation.lin")),
            "attn.to_q" => part(&format!("{b}.linear1"), 0, 4),
            "attn.to_k" => part(&format!("{b}.linear1"), 1, 4),
            "attn.to_v" => part(&format!("{b}.linear1"), 2, 4),
            "proj_mlp" => part(&format!("{b}.linear1"), 3, 4),
            "attn.norm_q" => norm(&format!("{b}.norm.query_norm")),
            "attn.norm_k" => norm(&format!("{b}.norm.key_norm")),
            "proj_out" => plain(&format!("{b}.linear2")),
            _ => None,
        };
    }
    None
}

/// Reads a diffusers transformer's shards into BFL-named tensors of `dtype` on `device`.
pub(crate) fn load_diffusers(
    files: &[std::path::PathBuf],
    dtype: DType,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let first = files.first().cloned().unwrap_or_default();
    let wrap = |e: candle_core::Error| crate::files::weights_error(&first, e);
    // SAFETY: as for every weights file (see `files::mmap_var_builder`): read while loading.
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::multi(files) }.map_err(wrap)?;
    let mut out = HashMap::new();
    let mut parts: HashMap<String, Vec<Option<Tensor>>> = HashMap::new();
    for (name, _) in st.tensors() {
        // Tensors FLUX does not use are ignored; a missing one fails the build by its name.
        let Some(to) = target(&name) else {
            continue;
        };
        let t = st
            .load(&name, device)
            .and_then(|t| t.to_dtype(dtype))
            .map_err(wrap)?;
        match to {
            Target::Plain(n) => {
                out.insert(n, t);
            }
            Target::SwapHalves(n) => {
                let half = t.dim(0).map_err(wrap)? / 2;
                let swapped = Tensor::cat(
                    &[
                        t.narrow(0, half, half).map_err(wrap)?,
                        t.narrow(0, 0, half).map_err(wrap)?,
                    ],
                    0,
                )
                .map_err(wrap)?;
                out.insert(n, swapped);
            }
            Target::Part { name, index, of } => {
                parts.entry(name).or_insert_with(|| vec![None; of])[index] = Some(t);
            }
        }
    }
    for (name, pieces) in parts {
        let pieces: Option<Vec<Tensor>> = pieces.into_iter().collect();
        let pieces = pieces.ok_or_else(|| DiffusionError::MissingTensor {
            file: first.clone(),
            tensor: format!("one of the q/k/v (or proj_mlp) projections that make {name}"),
        })?;
        out.insert(name, Tensor::cat(&pieces, 0).map_err(wrap)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffusers_names_map_to_bfl_names() {
        let t = |n: &str| target(n);
        assert_eq!(
            t("x_embedder.weight"),
            Some(Target::Plain("img_in.weight".into()))
        );
        assert_eq!(
            t("transformer_blocks.3.attn.to_k.bias"),
            Some(Target::Part {
                name: "double_blocks.3.img_attn.qkv.bias".into(),
                index: 1,
                of: 3
            })
        );
        assert_eq!(
            t("single_transformer_blocks.0.proj_mlp.weight"),
            Some(Target::Part {
                name: "single_blocks.0.linear1.weight".into(),
                index: 3,
                of: 4
            })
        );
        assert_eq!(
            t("transformer_blocks.0.attn.norm_added_k.weight"),
            Some(Target::Plain(
                "double_blocks.0.txt_attn.norm.key_norm.scale".into()
            ))
        );
        assert_eq!(
            t("norm_out.linear.bias"),
            Some(Target::SwapHalves(
                "final_layer.adaLN_modulation.1.bias".into()
            ))
        );
        assert_eq!(t("pos_embed.something"), None);
    }
}
