//! Kernel tests: the fused ops against the composed-ops reference (forward and gradients) on
//! awkward random graphs, central finite differences in f64 for every fused op and operand,
//! and the extreme-logit case that a global max would get wrong.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{
    aggregate, cross_entropy, elu, gat_attention, gat_conv, gatv2_logits, matmul_t,
    segment_softmax, Kernel,
};
use crate::edge_index::EdgeIndex;

/// A random graph with `n` nodes: some nodes with no in-edges (and one isolated), duplicate
/// edges and explicit self loops in the input.
pub(crate) fn awkward_graph(n: usize, e: usize, seed: u64) -> Result<EdgeIndex> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    // Nodes n-2 and n-1 receive nothing; n-1 sends nothing either.
    for _ in 0..e {
        src.push(rng.gen_range(0..n - 1) as u32);
        dst.push(rng.gen_range(0..n - 2) as u32);
    }
    src.extend([0, 0, 3]); // a duplicate edge 0→1 and a self loop 3→3
    dst.extend([1, 1, 3]);
    EdgeIndex::new(n, &src, &dst, true)
}

/// A tensor of uniform values in `[-scale, scale]`.
pub(crate) fn uniform(shape: &[usize], scale: f64, rng: &mut StdRng) -> Result<Tensor> {
    let len = shape.iter().product();
    let v: Vec<f64> = (0..len).map(|_| rng.gen_range(-scale..scale)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
}

/// Max abs difference.
pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    (a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f64>()
}

/// `Σ f(inputs) ⊙ w` for a fixed random `w` (so no gradient cancels by symmetry).
type Scalar<'a> = dyn Fn(&[Tensor]) -> Result<Tensor> + 'a;

/// Analytic gradients of `f` (through candle's autograd) at `inputs`.
pub(crate) fn grads(f: &Scalar, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let vars: Vec<Var> = inputs.iter().map(Var::from_tensor).collect::<Result<_>>()?;
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let g = f(&ts)?.backward()?;
    ts.iter()
        .map(|t| match g.get(t) {
            Some(g) => Ok(g.clone()),
            None => t.zeros_like(),
        })
        .collect()
}

/// Checks the analytic gradients of the f64 scalar `f` against central differences.
pub(crate) fn gradcheck(f: &Scalar, inputs: &[Tensor], tol: f64) -> Result<()> {
    let analytic = grads(f, inputs)?;
    let h = 1e-6;
    for (k, x) in inputs.iter().enumerate() {
        let base = x.flatten_all()?.to_vec1::<f64>()?;
        let an = analytic[k].flatten_all()?.to_vec1::<f64>()?;
        for (p, &a) in an.iter().enumerate() {
            let eval = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[p] += delta;
                let mut xs = inputs.to_vec();
                xs[k] = Tensor::from_vec(v, x.dims(), &Device::Cpu)?;
                f(&xs)?.to_scalar::<f64>()
            };
            let num = (eval(h)? - eval(-h)?) / (2.0 * h);
            let err = (num - a).abs() / (1.0 + num.abs().max(a.abs()));
            assert!(
                err < tol,
                "input {k} elem {p}: analytic {a} vs numeric {num}"
            );
        }
    }
    Ok(())
}

/// `Σ t ⊙ w` with `w` uniform and fixed by `seed`.
pub(crate) fn weighted_sum(t: &Tensor, seed: u64) -> Result<Tensor> {
    let w = uniform(t.dims(), 1.0, &mut StdRng::seed_from_u64(seed))?.to_dtype(t.dtype())?;
    (t * w)?.sum_all()
}

/// The GATConv chain attention → aggregate as a function of `[xw, att_src, att_dst, bias]`.
fn gat_chain(
    g: &EdgeIndex,
    concat: bool,
    kernel: Kernel,
) -> impl Fn(&[Tensor]) -> Result<Tensor> + '_ {
    move |t: &[Tensor]| {
        let alpha = gat_attention(&t[0], &t[1], &t[2], g, 0.2, kernel)?;
        let bias = if concat {
            t[3].clone()
        } else {
            t[3].narrow(0, 0, t[1].dim(2)?)?
        };
        let out = aggregate(&alpha, &t[0], Some(&bias), concat, g, kernel)?;
        weighted_sum(&out, 1)? + weighted_sum(&alpha, 2)?
    }
}

/// The one-op GATConv step ([`gat_conv`]) as a function of `[xw, att_src, att_dst, bias]`;
/// `bias` false drops the bias operand.
fn gat_conv_fn(
    g: &EdgeIndex,
    concat: bool,
    bias: bool,
    kernel: Kernel,
) -> impl Fn(&[Tensor]) -> Result<Tensor> + '_ {
    move |t: &[Tensor]| {
        let b = if concat {
            t[3].clone()
        } else {
            t[3].narrow(0, 0, t[1].dim(2)?)?
        };
        let b = bias.then_some(&b);
        let out = gat_conv(&t[0], &t[1], &t[2], b, concat, g, 0.2, kernel)?;
        weighted_sum(&out, 1)
    }
}

/// The GATv2 chain as a function of `[xlr, ea, w_edge, att]` (edge features used when
/// `edges`).
fn gatv2_chain(
    g: &EdgeIndex,
    edges: bool,
    kernel: Kernel,
) -> impl Fn(&[Tensor]) -> Result<Tensor> + '_ {
    move |t: &[Tensor]| {
        let edge = edges.then_some((&t[1], &t[2]));
        let logits = gatv2_logits(&t[0], edge, &t[3], g, 0.2, kernel)?;
        let alpha = segment_softmax(&logits, g, kernel)?;
        let hc = t[0].dim(1)? / 2;
        let out = aggregate(&alpha, &t[0].narrow(1, 0, hc)?, None, true, g, kernel)?;
        weighted_sum(&out, 3)? + weighted_sum(&logits, 4)?
    }
}

fn gat_inputs(g: &EdgeIndex, h: usize, c: usize, scale: f64, seed: u64) -> Result<Vec<Tensor>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = g.num_nodes();
    Ok(vec![
        uniform(&[n, h * c], 1.0, &mut rng)?,
        uniform(&[1, h, c], scale, &mut rng)?,
        uniform(&[1, h, c], scale, &mut rng)?,
        uniform(&[h * c], 1.0, &mut rng)?,
    ])
}

fn gatv2_inputs(g: &EdgeIndex, h: usize, c: usize, d: usize, seed: u64) -> Result<Vec<Tensor>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (n, m) = (g.num_nodes(), g.num_edges());
    Ok(vec![
        uniform(&[n, 2 * h * c], 1.0, &mut rng)?,
        uniform(&[m, d], 1.0, &mut rng)?,
        uniform(&[h * c, d], 1.0, &mut rng)?,
        uniform(&[h, c], 1.0, &mut rng)?,
    ])
}

fn assert_close(a: &[Tensor], b: &[Tensor], tol: f64) -> Result<()> {
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        let d = max_diff(x, y)?;
        assert!(d < tol, "tensor {k}: max diff {d}");
    }
    Ok(())
}

#[test]
fn gat_fused_matches_naive() -> Result<()> {
    for (seed, concat) in [(0, true), (1, false), (2, true)] {
        let g = awkward_graph(40, 150, seed)?;
        let inputs = gat_inputs(&g, 3, 5, 2.0, seed)?;
        let fused = gat_chain(&g, concat, Kernel::Fused);
        let naive = gat_chain(&g, concat, Kernel::Naive);
        assert_close(&[fused(&inputs)?], &[naive(&inputs)?], 1e-12)?;
        assert_close(&grads(&fused, &inputs)?, &grads(&naive, &inputs)?, 1e-12)?;
        // f32 as well, the dtype the model runs in.
        let in32: Vec<Tensor> = inputs
            .iter()
            .map(|t| t.to_dtype(DType::F32))
            .collect::<Result<_>>()?;
        assert_close(&[fused(&in32)?], &[naive(&in32)?], 1e-3)?;
        assert_close(&grads(&fused, &in32)?, &grads(&naive, &in32)?, 1e-4)?;
        // The one-op path agrees with the naive one, with and without bias.
        for bias in [true, false] {
            let one = gat_conv_fn(&g, concat, bias, Kernel::Fused);
            let naive = gat_conv_fn(&g, concat, bias, Kernel::Naive);
            assert_close(&[one(&inputs)?], &[naive(&inputs)?], 1e-12)?;
            assert_close(&grads(&one, &inputs)?, &grads(&naive, &inputs)?, 1e-12)?;
        }
    }
    Ok(())
}

#[test]
fn gatv2_fused_matches_naive() -> Result<()> {
    for (seed, edges) in [(0, true), (1, false), (2, true)] {
        let g = awkward_graph(30, 120, seed)?;
        let inputs = gatv2_inputs(&g, 2, 4, 3, seed)?;
        let fused = gatv2_chain(&g, edges, Kernel::Fused);
        let naive = gatv2_chain(&g, edges, Kernel::Naive);
        assert_close(&[fused(&inputs)?], &[naive(&inputs)?], 1e-12)?;
        assert_close(&grads(&fused, &inputs)?, &grads(&naive, &inputs)?, 1e-12)?;
    }
    Ok(())
}

#[test]
fn gradcheck_gat_ops() -> Result<()> {
    let g = awkward_graph(9, 20, 7)?;
    let inputs = gat_inputs(&g, 2, 3, 1.0, 7)?;
    gradcheck(&gat_chain(&g, true, Kernel::Fused), &inputs, 1e-6)?;
    gradcheck(&gat_chain(&g, false, Kernel::Fused), &inputs, 1e-6)?;
    for (concat, bias) in [(true, true), (false, true), (true, false)] {
        gradcheck(&gat_conv_fn(&g, concat, bias, Kernel::Fused), &inputs, 1e-6)?;
    }
    // Each op alone, so a wrong gradient cannot hide behind another op's.
    let at = |t: &[Tensor]| {
        weighted_sum(
            &gat_attention(&t[0], &t[1], &t[2], &g, 0.2, Kernel::Fused)?,
            7,
        )
    };
    gradcheck(&at, &inputs[..3], 1e-6)?;
    let sm = |t: &[Tensor]| weighted_sum(&segment_softmax(&t[0], &g, Kernel::Fused)?, 5);
    let logits = uniform(&[g.num_edges(), 2], 3.0, &mut StdRng::seed_from_u64(8))?;
    gradcheck(&sm, &[logits], 1e-6)?;
    let mut rng = StdRng::seed_from_u64(9);
    let alpha = uniform(&[g.num_edges(), 2], 1.0, &mut rng)?;
    let x = uniform(&[g.num_nodes(), 2, 3], 1.0, &mut rng)?;
    for (concat, width) in [(true, 6), (false, 3)] {
        let ag = |t: &[Tensor]| {
            weighted_sum(
                &aggregate(&t[0], &t[1], Some(&t[2]), concat, &g, Kernel::Fused)?,
                6,
            )
        };
        let bias = uniform(&[width], 1.0, &mut rng)?;
        gradcheck(&ag, &[alpha.clone(), x.clone(), bias], 1e-6)?;
    }
    let el = |t: &[Tensor]| weighted_sum(&elu(&t[0], 1.0, Kernel::Fused)?, 8);
    gradcheck(&el, &[uniform(&[5, 7], 2.0, &mut rng)?], 1e-6)?;
    Ok(())
}

#[test]
fn gradcheck_gatv2_ops() -> Result<()> {
    let g = awkward_graph(8, 16, 11)?;
    let inputs = gatv2_inputs(&g, 2, 3, 2, 11)?;
    gradcheck(&gatv2_chain(&g, true, Kernel::Fused), &inputs, 1e-6)?;
    gradcheck(&gatv2_chain(&g, false, Kernel::Fused), &inputs, 1e-6)?;
    Ok(())
}

#[test]
fn extreme_logits_stay_normalised() -> Result<()> {
    // Node 1 receives logits ≈ -200 while node 0's are ≈ +50: a global max would underflow
    // node 1's exponentials to zero and silently drop its attention.
    let g = EdgeIndex::new(3, &[1, 2, 0], &[0, 1, 1], false)?;
    // CSR order: edge 1→0 (target 0), then 2→1, 0→1 (target 1).
    let logits = Tensor::new(&[[50f32], [-200.], [-201.]], &Device::Cpu)?;
    for kernel in [Kernel::Fused, Kernel::Naive] {
        let a = segment_softmax(&logits, &g, kernel)?.to_vec2::<f32>()?;
        let want = [
            1.0,
            1.0 / (1.0 + (-1f32).exp()),
            (-1f32).exp() / (1.0 + (-1f32).exp()),
        ];
        for (row, w) in a.iter().zip(want) {
            assert!((row[0] - w).abs() < 1e-6, "{kernel:?}: {a:?}");
        }
    }
    Ok(())
}

#[test]
fn nodes_without_in_edges_get_bias_only() -> Result<()> {
    let g = EdgeIndex::new(3, &[0, 1], &[1, 0], false)?;
    let alpha = Tensor::ones((2, 1), DType::F32, &Device::Cpu)?;
    let x = Tensor::new(&[[1f32, 2.], [3., 4.], [5., 6.]], &Device::Cpu)?;
    let bias = Tensor::new(&[0.5f32, -0.5], &Device::Cpu)?;
    for kernel in [Kernel::Fused, Kernel::Naive] {
        let out = aggregate(&alpha, &x, Some(&bias), true, &g, kernel)?.to_vec2::<f32>()?;
        assert_eq!(out[2], vec![0.5, -0.5], "{kernel:?}");
        assert_eq!(out[0], vec![3.5, 3.5], "{kernel:?}");
    }
    Ok(())
}

#[test]
fn elu_matches_candle() -> Result<()> {
    let x = uniform(&[33, 5], 3.0, &mut StdRng::seed_from_u64(4))?;
    let f = |t: &[Tensor]| weighted_sum(&elu(&t[0], 0.7, Kernel::Fused)?, 9);
    let n = |t: &[Tensor]| weighted_sum(&t[0].elu(0.7)?, 9);
    assert_close(
        &[f(std::slice::from_ref(&x))?],
        &[n(std::slice::from_ref(&x))?],
        1e-12,
    )?;
    assert_close(
        &grads(&f, std::slice::from_ref(&x))?,
        &grads(&n, &[x])?,
        1e-12,
    )
}

#[test]
fn cross_entropy_matches_candle() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(12);
    let x = uniform(&[9, 7], 20.0, &mut rng)?;
    let labels = Tensor::new(&[0u32, 6, 3, 3, 1, 2, 5, 4, 0], &Device::Cpu)?;
    let f = |t: &[Tensor]| cross_entropy(&t[0], &labels, Kernel::Fused)? * 1.7;
    let n = |t: &[Tensor]| candle_nn::loss::cross_entropy(&t[0], &labels)? * 1.7;
    assert_close(
        &[f(std::slice::from_ref(&x))?],
        &[n(std::slice::from_ref(&x))?],
        1e-12,
    )?;
    assert_close(
        &grads(&f, std::slice::from_ref(&x))?,
        &grads(&n, std::slice::from_ref(&x))?,
        1e-12,
    )?;
    gradcheck(&f, std::slice::from_ref(&x), 1e-6)?;
    let bad = Tensor::new(&[7u32; 9], &Device::Cpu)?;
    assert!(cross_entropy(&x, &bad, Kernel::Fused).is_err());
    Ok(())
}

#[test]
fn matmul_t_grads_only_where_tracked() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(13);
    let (a, b) = (
        uniform(&[6, 4], 1.0, &mut rng)?,
        uniform(&[5, 4], 1.0, &mut rng)?,
    );
    let f = |t: &[Tensor]| weighted_sum(&matmul_t(&t[0], &t[1], Kernel::Fused)?, 10);
    let n = |t: &[Tensor]| weighted_sum(&t[0].matmul(&t[1].t()?)?, 10);
    let inputs = [a.clone(), b.clone()];
    assert_close(&[f(&inputs)?], &[n(&inputs)?], 1e-12)?;
    assert_close(&grads(&f, &inputs)?, &grads(&n, &inputs)?, 1e-12)?;
    // A constant operand gets no gradient at all.
    let va = Var::from_tensor(&a)?;
    let g = weighted_sum(&matmul_t(va.as_tensor(), &b, Kernel::Fused)?, 10)?.backward()?;
    assert!(g.get(va.as_tensor()).is_some() && g.get(&b).is_none());
    Ok(())
}

#[test]
fn strided_and_bad_operands() -> Result<()> {
    let g = awkward_graph(10, 30, 3)?;
    let inputs = gat_inputs(&g, 2, 3, 1.0, 3)?;
    let mut rng = StdRng::seed_from_u64(3);
    // A transposed (non row-major) operand is copied rather than misread, and a
    // column-narrowed one is read in place.
    let xw_t = inputs[0].t()?.contiguous()?.t()?;
    let wide = Tensor::cat(&[&inputs[0], &inputs[0]], 1)?;
    let xw_n = wide.narrow(1, 6, 6)?;
    let want = gat_attention(&inputs[0], &inputs[1], &inputs[2], &g, 0.2, Kernel::Naive)?;
    for xw in [xw_t, xw_n] {
        let got = gat_attention(&xw, &inputs[1], &inputs[2], &g, 0.2, Kernel::Fused)?;
        assert!(max_diff(&got, &want)? < 1e-12);
    }
    // Shape errors are errors, not panics.
    let short = inputs[0].narrow(0, 0, 3)?;
    assert!(gat_attention(&short, &inputs[1], &inputs[2], &g, 0.2, Kernel::Fused).is_err());
    assert!(gat_attention(&inputs[0], &inputs[1], &inputs[0], &g, 0.2, Kernel::Fused).is_err());
    assert!(segment_softmax(&inputs[0], &g, Kernel::Fused).is_err());
    let alpha = uniform(&[g.num_edges(), 4], 1.0, &mut rng)?;
    assert!(aggregate(&alpha, &inputs[0], None, true, &g, Kernel::Fused).is_err());
    let alpha = uniform(&[g.num_edges(), 2], 1.0, &mut rng)?;
    assert!(aggregate(
        &alpha,
        &inputs[0],
        Some(&inputs[3]),
        false,
        &g,
        Kernel::Fused
    )
    .is_err());
    // Fused needs f32/f64 on CPU; Auto falls back for other dtypes.
    let b16: Vec<Tensor> = inputs[..3]
        .iter()
        .map(|t| t.to_dtype(DType::BF16))
        .collect::<Result<_>>()?;
    assert!(gat_attention(&b16[0], &b16[1], &b16[2], &g, 0.2, Kernel::Fused).is_err());
    assert!(gat_attention(&b16[0], &b16[1], &b16[2], &g, 0.2, Kernel::Auto).is_ok());
    Ok(())
}
