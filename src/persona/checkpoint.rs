//! Checks on parameter tensors read from a checkpoint, so that a malformed file (a missing
//! tensor, a wrong rank or shape, an integer dtype, NaN/inf values) is reported as an error
//! naming the tensor instead of a panic or silently wrong embeddings.

use std::collections::HashMap;

use candle_core::{bail, DType, Result, Tensor};

/// `prefix.name`, or `name` with an empty prefix (PyG `state_dict` key convention).
pub(super) fn key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The floating-point parameter `name` of rank `rank`, with its dimensions.
pub(super) fn param_dims(
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

/// Fails, naming `name`, if `t` holds a NaN or an infinity.
pub(super) fn check_finite(t: &Tensor, name: &str) -> Result<()> {
    let vals = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    if let Some(pos) = vals.iter().position(|v| !v.is_finite()) {
        bail!(
            "checkpoint: tensor {name} holds a non-finite value ({}) at flat index {pos}",
            vals[pos]
        );
    }
    Ok(())
}

/// Fails if the checkpoint has keys under `prefix` for a feature these layers do not
/// implement, rather than ignoring them and computing something else.
pub(super) fn reject_unsupported(
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
