//! Checks on the parameter tensors of a PyG-style state dict, shared by the layers ([`crate::gat`],
//! [`crate::model`]) and the encoder's checkpoint ([`crate::checkpoint`]): a missing tensor, a
//! wrong rank or shape, an integer dtype, NaN/inf values or keys for an unimplemented feature
//! are errors naming the tensor, never a panic or silently wrong embeddings.

use std::collections::HashMap;

use candle_core::{bail, DType, Result, Tensor};

/// `prefix.name`, or `name` with an empty prefix (PyG `state_dict` key convention).
pub(crate) fn key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The floating-point parameter `name` of rank `rank`, with its dimensions.
pub(crate) fn param_dims(
    tensors: &HashMap<String, Tensor>,
    name: &str,
    rank: usize,
) -> Result<Vec<usize>> {
    let Some(t) = tensors.get(name) else {
        bail!("checkpoint: missing tensor {name}");
    };
    if !matches!(
        t.dtype(),
        DType::F16 | DType::BF16 | DType::F32 | DType::F64
    ) {
        bail!(
            "checkpoint: tensor {name} has dtype {:?}, expected a floating-point type",
            t.dtype()
        );
    }
    if t.rank() != rank {
        bail!(
            "checkpoint: tensor {name} has shape {:?}, expected rank {rank}",
            t.dims()
        );
    }
    Ok(t.dims().to_vec())
}

/// The flat index and value of the first NaN or infinity in `t`, if any.
pub(crate) fn first_non_finite(t: &Tensor) -> Result<Option<(usize, f64)>> {
    let vals = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    Ok(vals
        .iter()
        .position(|v| !v.is_finite())
        .map(|pos| (pos, vals[pos])))
}

/// Fails, naming `name`, if `t` holds a NaN or an infinity.
pub(crate) fn check_finite(t: &Tensor, name: &str) -> Result<()> {
    if let Some((pos, value)) = first_non_finite(t)? {
        bail!("checkpoint: tensor {name} holds a non-finite value ({value}) at flat index {pos}");
    }
    Ok(())
}

/// Fails if the checkpoint has keys under `prefix` for a feature these layers do not
/// implement, rather than ignoring them and computing something else.
pub(crate) fn reject_unsupported(
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    layer: &str,
    unsupported: &[(&str, &str)],
) -> Result<()> {
    for (name, feature) in unsupported {
        let k = key(prefix, name);
        if tensors.contains_key(&k) {
            bail!("checkpoint: {k} means a {layer} with {feature}, which is not supported");
        }
    }
    Ok(())
}
