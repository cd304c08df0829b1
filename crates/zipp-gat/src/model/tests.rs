//! Model tests: parity with the PyTorch Geometric fixtures, layer gradients against finite
//! differences and against the composed-ops reference, and malformed checkpoints.

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::super::gat::{GatConfig, GatConv, GatV2Config, GatV2Conv};
use super::super::kernels::tests::{
    awkward_graph, gradcheck, grads, max_diff, uniform, weighted_sum,
};
use super::super::kernels::Kernel;
use super::{Gat2, LayerConfig};
use crate::edge_index::EdgeIndex;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");

/// Loads a fixture; a missing file fails the test (CI must have `../shared`).
fn fixture(name: &str) -> HashMap<String, Tensor> {
    let path = format!("{FIXTURES}{name}");
    match candle_core::safetensors::load(&path, &Device::Cpu) {
        Ok(t) => t,
        Err(e) => panic!("fixture {path} is required: {e}"),
    }
}

/// Runs the stored model on the stored inputs and compares with PyG's outputs.
fn check_parity(name: &str, kernel: Kernel) -> Result<()> {
    let t = fixture(name);
    let x = &t["x"];
    let g = EdgeIndex::from_tensor(&t["edge_index"], x.dim(0)?, true)?;
    let model = Gat2::from_tensors(&t, DType::F32, &Device::Cpu)?.with_kernel(kernel);
    let o = model.forward(x, &g, t.get("edge_attr"))?;
    for (key, ours) in [
        ("out", &o.out),
        ("conv1_out", &o.conv1_out),
        ("conv1_alpha", &o.conv1_alpha),
        ("conv2_alpha", &o.conv2_alpha),
    ] {
        let d = max_diff(ours, &t[key])?;
        assert!(d < 1e-5, "{name} {kernel:?}: {key} differs by {d}");
    }
    // Our PyG-order edges are PyG's attention edge index.
    let (s, d) = g.pyg_edges();
    let want = t["conv1_alpha_edge_index"].to_vec2::<i64>()?;
    assert_eq!(s.iter().map(|&v| v as i64).collect::<Vec<_>>(), want[0]);
    assert_eq!(d.iter().map(|&v| v as i64).collect::<Vec<_>>(), want[1]);
    // The embeddings-only path agrees with the full one.
    assert_eq!(
        max_diff(&model.encode(x, &g, t.get("edge_attr"))?, &o.out)?,
        0.0
    );
    Ok(())
}

#[test]
fn parity_pyg_gatconv() -> Result<()> {
    check_parity("pyg_gat_small.safetensors", Kernel::Fused)?;
    check_parity("pyg_gat_small.safetensors", Kernel::Naive)
}

#[test]
fn parity_pyg_gatv2_edge() -> Result<()> {
    check_parity("pyg_gatv2_edge_small.safetensors", Kernel::Fused)?;
    check_parity("pyg_gatv2_edge_small.safetensors", Kernel::Naive)
}

#[test]
fn infers_configs_from_tensors() -> Result<()> {
    let (c1, c2) = Gat2::infer(&fixture("pyg_gat_small.safetensors"))?;
    let mut want1 = GatConfig::new(16, 8, 4);
    assert_eq!(c1, LayerConfig::Gat(want1.clone()));
    want1 = GatConfig::new(32, 12, 1);
    assert_eq!(c2, LayerConfig::Gat(want1));
    let (c1, c2) = Gat2::infer(&fixture("pyg_gatv2_edge_small.safetensors"))?;
    let mut want = GatV2Config::new(12, 8, 3);
    want.edge_dim = Some(4);
    assert_eq!(c1, LayerConfig::GatV2(want.clone()));
    want = GatV2Config::new(24, 10, 1);
    want.edge_dim = Some(4);
    assert_eq!(c2, LayerConfig::GatV2(want));
    Ok(())
}

/// Loading `tensors` must fail with a message containing `needle`.
fn expect_load_error(tensors: &HashMap<String, Tensor>, needle: &str) {
    match Gat2::from_tensors(tensors, DType::F32, &Device::Cpu) {
        Ok(_) => panic!("loading succeeded; expected an error about {needle}"),
        Err(e) => assert!(e.to_string().contains(needle), "error {e} lacks {needle}"),
    }
}

#[test]
fn malformed_checkpoints_are_named_errors() -> Result<()> {
    for (file, name) in [
        ("pyg_gat_small.safetensors", "conv1.att_dst"),
        ("pyg_gatv2_edge_small.safetensors", "conv2.lin_edge.weight"),
        ("pyg_gatv2_edge_small.safetensors", "conv1.lin_r.bias"),
    ] {
        let good = fixture(file);
        let orig = &good[name];
        // Missing.
        let mut t = good.clone();
        t.remove(name);
        if name != "conv2.lin_edge.weight" {
            expect_load_error(&t, name);
        }
        // Wrong shape (one more row).
        let mut t = good.clone();
        let bigger = Tensor::cat(&[orig, &orig.narrow(0, 0, 1)?], 0)?;
        t.insert(name.to_string(), bigger);
        expect_load_error(&t, name);
        // Wrong dtype.
        let mut t = good.clone();
        t.insert(name.to_string(), orig.to_dtype(DType::I64)?);
        expect_load_error(&t, name);
        // NaN.
        let mut t = good.clone();
        let nan = (orig.zeros_like()? / 0.0)?;
        t.insert(name.to_string(), nan);
        expect_load_error(&t, name);
    }
    // A GATv2 file without lin_edge is a GATv2 without edge features: it must then reject
    // the edge features it is given, by name.
    let mut t = fixture("pyg_gatv2_edge_small.safetensors");
    t.remove("conv2.lin_edge.weight");
    let model = Gat2::from_tensors(&t, DType::F32, &Device::Cpu)?;
    let g = EdgeIndex::from_tensor(&t["edge_index"], t["x"].dim(0)?, true)?;
    let e = model.forward(&t["x"], &g, t.get("edge_attr")).unwrap_err();
    assert!(e.to_string().contains("edge_dim"), "{e}");
    // No layer at all, and a rank error.
    expect_load_error(&HashMap::new(), "conv1.att_src");
    let mut t = fixture("pyg_gat_small.safetensors");
    t.insert(
        "conv1.lin.weight".into(),
        Tensor::zeros(32, DType::F32, &Device::Cpu)?,
    );
    expect_load_error(&t, "conv1.lin.weight");
    // Unsupported features are refused, not ignored.
    let mut t = fixture("pyg_gat_small.safetensors");
    t.insert(
        "conv2.res.weight".into(),
        Tensor::zeros((12, 32), DType::F32, &Device::Cpu)?,
    );
    expect_load_error(&t, "conv2.res.weight");
    Ok(())
}

#[test]
fn old_lin_src_name_loads() -> Result<()> {
    let mut t = fixture("pyg_gat_small.safetensors");
    let w = t
        .remove("conv1.lin.weight")
        .expect("fixture has conv1.lin.weight");
    t.insert("conv1.lin_src.weight".into(), w);
    let x = &t["x"];
    let g = EdgeIndex::from_tensor(&t["edge_index"], x.dim(0)?, true)?;
    let out = Gat2::from_tensors(&t, DType::F32, &Device::Cpu)?.encode(x, &g, None)?;
    assert!(max_diff(&out, &t["out"])? < 1e-5);
    Ok(())
}

const GAT_NAMES: [&str; 4] = ["l.lin.weight", "l.att_src", "l.att_dst", "l.bias"];
const GATV2_NAMES: [&str; 7] = [
    "l.lin_l.weight",
    "l.lin_l.bias",
    "l.lin_r.weight",
    "l.lin_r.bias",
    "l.lin_edge.weight",
    "l.att",
    "l.bias",
];

/// A GATConv layer's output and attention as a scalar of `[x, params...]`.
fn gat_loss<'a>(
    cfg: &'a GatConfig,
    g: &'a EdgeIndex,
    kernel: Kernel,
) -> impl Fn(&[Tensor]) -> Result<Tensor> + 'a {
    move |t: &[Tensor]| {
        let map = GAT_NAMES
            .iter()
            .zip(&t[1..])
            .map(|(n, v)| (n.to_string(), v.clone()));
        let vb = VarBuilder::from_tensors(map.collect(), DType::F64, &Device::Cpu);
        let layer = GatConv::new(cfg.clone(), vb.pp("l"))?.with_kernel(kernel);
        let (out, alpha) = layer.forward(&t[0], g, None)?;
        weighted_sum(&out, 1)? + weighted_sum(&alpha, 2)?
    }
}

/// A GATv2Conv layer's output and attention as a scalar of `[x, edge_attr, params...]`.
fn gatv2_loss<'a>(
    cfg: &'a GatV2Config,
    g: &'a EdgeIndex,
    kernel: Kernel,
) -> impl Fn(&[Tensor]) -> Result<Tensor> + 'a {
    move |t: &[Tensor]| {
        let map = GATV2_NAMES
            .iter()
            .zip(&t[2..])
            .map(|(n, v)| (n.to_string(), v.clone()));
        let vb = VarBuilder::from_tensors(map.collect(), DType::F64, &Device::Cpu);
        let layer = GatV2Conv::new(cfg.clone(), vb.pp("l"))?.with_kernel(kernel);
        let (out, alpha) = layer.forward(&t[0], g, Some(&t[1]))?;
        weighted_sum(&out, 3)? + weighted_sum(&alpha, 4)?
    }
}

/// Whole-layer gradients (input, edge features, every parameter) in f64: fused against
/// central differences and against the composed-ops reference.
#[test]
fn layer_gradients_match_finite_differences_and_naive() -> Result<()> {
    let dev = Device::Cpu;
    let g = awkward_graph(7, 14, 5)?;
    let mut rng = StdRng::seed_from_u64(5);
    let x = uniform(&[7, 4], 1.0, &mut rng)?;
    let ea = uniform(&[g.num_input_edges(), 2], 1.0, &mut rng)?;
    let check = |fused: &dyn Fn(&[Tensor]) -> Result<Tensor>,
                 naive: &dyn Fn(&[Tensor]) -> Result<Tensor>,
                 inputs: &[Tensor]|
     -> Result<()> {
        gradcheck(fused, inputs, 1e-6)?;
        for (a, b) in grads(fused, inputs)?.iter().zip(grads(naive, inputs)?) {
            assert!(max_diff(a, &b)? < 1e-12);
        }
        Ok(())
    };

    for concat in [true, false] {
        let vm = VarMap::new();
        let mut cfg = GatConfig::new(4, 3, 2);
        cfg.concat = concat;
        GatConv::new(
            cfg.clone(),
            VarBuilder::from_varmap(&vm, DType::F64, &dev).pp("l"),
        )?;
        let inputs: Vec<Tensor> = std::iter::once(x.clone())
            .chain(params_of(&vm, &GAT_NAMES)?)
            .collect();
        check(
            &gat_loss(&cfg, &g, Kernel::Fused),
            &gat_loss(&cfg, &g, Kernel::Naive),
            &inputs,
        )?;
    }

    // Loop edge features are means of incoming ones, so gradients reach every edge row.
    let vm = VarMap::new();
    let mut cfg = GatV2Config::new(4, 3, 2);
    cfg.edge_dim = Some(2);
    GatV2Conv::new(
        cfg.clone(),
        VarBuilder::from_varmap(&vm, DType::F64, &dev).pp("l"),
    )?;
    let inputs: Vec<Tensor> = [x, ea]
        .into_iter()
        .chain(params_of(&vm, &GATV2_NAMES)?)
        .collect();
    check(
        &gatv2_loss(&cfg, &g, Kernel::Fused),
        &gatv2_loss(&cfg, &g, Kernel::Naive),
        &inputs,
    )?;
    Ok(())
}

/// The VarMap's tensors for `names`, perturbed away from PyG's zero bias init so the bias
/// path carries signal.
fn params_of(vm: &VarMap, names: &[&str]) -> Result<Vec<Tensor>> {
    let data = vm
        .data()
        .lock()
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let mut rng = StdRng::seed_from_u64(17);
    names
        .iter()
        .map(|n| {
            let t = data[*n].as_tensor();
            t + uniform(t.dims(), 0.3, &mut rng)?
        })
        .collect()
}
