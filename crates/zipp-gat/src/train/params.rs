//! The encoder's parameters during training: seeded initialisation, snapshots and restores.

use std::collections::HashMap;

use candle_core::{bail, Result, Tensor};
use candle_nn::VarMap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Deterministically re-initialises every variable of `varmap` from `seed` (candle's CPU
/// initialisers cannot be seeded): 2-D weights and `[1, H, C]` attention vectors get Glorot
/// uniform `±√(6 / (fan_in + fan_out))` over their last two dims, 1-D biases zeros.
pub fn seeded_init(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = StdRng::seed_from_u64(seed);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let vals: Vec<f32> = if dims.len() < 2 {
            vec![0.0; n]
        } else {
            let (a, b) = (dims[dims.len() - 2], dims[dims.len() - 1]);
            let bound = (6.0 / (a + b) as f32).sqrt();
            (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
        };
        let t = Tensor::from_vec(vals, dims.as_slice(), var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// Deep copies of every variable of `varmap` (detached, with their own storage: AdamW updates
/// variables in place).
pub fn snapshot(varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?;
    data.iter()
        .map(|(k, v)| Ok((k.clone(), v.as_detached_tensor().copy()?)))
        .collect()
}

/// Sets every variable of `varmap` to its value in `saved` (from [`snapshot`]).
pub(super) fn restore(varmap: &VarMap, saved: &HashMap<String, Tensor>) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?;
    for (k, v) in data.iter() {
        match saved.get(k) {
            Some(t) => v.set(t)?,
            None => bail!("snapshot lacks {k}"),
        }
    }
    Ok(())
}
