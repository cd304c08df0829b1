//! `GATConv` and edge-aware `GATv2Conv` layers with PyTorch Geometric's math and parameter
//! names (PyG ≥ 2.4, integer `in_channels`), so a PyG `state_dict` saved as safetensors loads
//! through a [`VarBuilder`] with the layer's prefix (`conv1.lin.weight`, …).
//!
//! Both layers run on an [`EdgeIndex`] built with the same `add_self_loops` setting, and
//! return `(out, alpha)`: `out` is `[N, H·C]` (concat) or `[N, C]` (mean over heads), `alpha`
//! the attention `[M, H]` per edge in PyG's order (what `return_attention_weights=True`
//! gives). Dropout is not implemented: these are the eval-mode layers, also used to train
//! without attention dropout.

use std::collections::HashMap;

use candle_core::{bail, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use super::kernels::{self, Kernel};
use crate::edge_index::EdgeIndex;
use crate::params::{check_finite, key, param_dims, reject_unsupported};

/// PyG's default `negative_slope` for both layers.
pub const DEFAULT_NEGATIVE_SLOPE: f64 = 0.2;

/// PyG's `glorot` initialisation for a parameter whose last two dimensions are `a`, `b`.
fn glorot(a: usize, b: usize) -> Init {
    let bound = (6.0 / (a + b).max(1) as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// Loads `name` from `vb` with `shape` and rejects non-finite values, naming the tensor.
fn load<S: Into<candle_core::Shape>>(
    vb: &VarBuilder,
    shape: S,
    name: &str,
    init: Init,
) -> Result<Tensor> {
    let t = vb.get_with_hints(shape, name, init)?;
    check_finite(&t, &key(&vb.prefix(), name))?;
    Ok(t)
}

/// Whether a bias of `len` elements means concat (`H·C`) or mean (`C`) over heads; `None`
/// when ambiguous (one head) and an error when it fits neither.
fn concat_from_bias(len: usize, heads: usize, out: usize, name: &str) -> Result<Option<bool>> {
    match (len == heads * out, len == out) {
        (true, true) => Ok(None),
        (true, false) => Ok(Some(true)),
        (false, true) => Ok(Some(false)),
        (false, false) => bail!(
            "checkpoint: tensor {name} has {len} elements, expected {} (concat) or {out} (mean)",
            heads * out
        ),
    }
}

/// Rejects zero sizes, which PyG cannot build either and which would make empty parameters.
fn check_sizes(layer: &str, in_channels: usize, out_channels: usize, heads: usize) -> Result<()> {
    if in_channels == 0 || out_channels == 0 || heads == 0 {
        bail!("{layer}: in_channels ({in_channels}), out_channels ({out_channels}) and heads ({heads}) must be positive");
    }
    Ok(())
}

/// Checks the input features and the graph's self-loop handling against a layer.
fn check_inputs(x: &Tensor, g: &EdgeIndex, in_channels: usize, add_self_loops: bool) -> Result<()> {
    let (n, f) = x.dims2()?;
    if n != g.num_nodes() || f != in_channels {
        bail!(
            "x must be [{}, {in_channels}] for this graph and layer, got {:?}",
            g.num_nodes(),
            x.dims()
        );
    }
    if g.self_loops_added() != add_self_loops {
        bail!(
            "layer has add_self_loops={add_self_loops} but the graph was built with {}",
            g.self_loops_added()
        );
    }
    Ok(())
}

/// Hyper-parameters of [`GatConv`] (PyG's constructor arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct GatConfig {
    /// Input feature size `F`.
    pub in_channels: usize,
    /// Channels per head `C`.
    pub out_channels: usize,
    /// Attention heads `H`.
    pub heads: usize,
    /// Concatenate heads (`[N, H·C]`) or average them (`[N, C]`).
    pub concat: bool,
    /// Slope of the leaky ReLU on the logits.
    pub negative_slope: f64,
    /// Replace self loops with one loop per node (PyG's default).
    pub add_self_loops: bool,
    /// Learnable output bias.
    pub bias: bool,
}

impl GatConfig {
    /// PyG's defaults: concat, slope 0.2, self loops, bias.
    pub fn new(in_channels: usize, out_channels: usize, heads: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            heads,
            concat: true,
            negative_slope: DEFAULT_NEGATIVE_SLOPE,
            add_self_loops: true,
            bias: true,
        }
    }

    /// Output feature size: `H·C` with concat, else `C`.
    pub fn out_dim(&self) -> usize {
        if self.concat {
            self.heads * self.out_channels
        } else {
            self.out_channels
        }
    }

    /// Reads every dimension from the tensors under `prefix` (`lin.weight` or the older
    /// `lin_src.weight`, `att_src`, optional `bias`). `concat` comes from the bias length; it
    /// defaults to `true` when that is ambiguous (one head, where both agree, or no bias).
    /// `negative_slope` and `add_self_loops` are not stored in a `state_dict`: PyG defaults.
    pub fn infer(tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<Self> {
        reject_unsupported(
            tensors,
            prefix,
            "GATConv",
            &[
                ("lin_edge.weight", "edge features (edge_dim)"),
                ("att_edge", "edge features (edge_dim)"),
                ("res.weight", "a residual connection"),
            ],
        )?;
        let mut w_name = key(prefix, "lin.weight");
        if !tensors.contains_key(&w_name) && tensors.contains_key(&key(prefix, "lin_src.weight")) {
            w_name = key(prefix, "lin_src.weight");
        }
        let w = param_dims(tensors, &w_name, 2)?;
        let att_name = key(prefix, "att_src");
        let att = param_dims(tensors, &att_name, 3)?;
        let (heads, out) = (att[1], att[2]);
        if att[0] != 1 || w[0] != heads * out {
            bail!(
                "checkpoint: {att_name} {att:?} does not match {w_name} {w:?} (expected [1, H, C] with H·C = {})",
                w[0]
            );
        }
        // Checked here too (not only when loading) so that an integer or wrong-rank tensor
        // is reported by name instead of being converted by the VarBuilder.
        param_dims(tensors, &key(prefix, "att_dst"), 3)?;
        let mut cfg = Self::new(w[1], out, heads);
        let b_name = key(prefix, "bias");
        cfg.bias = tensors.contains_key(&b_name);
        if cfg.bias {
            let b = param_dims(tensors, &b_name, 1)?;
            cfg.concat = concat_from_bias(b[0], heads, out, &b_name)?.unwrap_or(true);
        }
        Ok(cfg)
    }
}

/// PyG's `GATConv`: `x' = Σ_j α_ij W x_j` with
/// `α_ij = softmax_i(leaky_relu(a_srcᵀ W x_j + a_dstᵀ W x_i))`.
#[derive(Clone, Debug)]
pub struct GatConv {
    cfg: GatConfig,
    /// `lin.weight` `[H·C, F]`.
    weight: Tensor,
    /// `att_src` `[1, H, C]`.
    att_src: Tensor,
    /// `att_dst` `[1, H, C]`.
    att_dst: Tensor,
    bias: Option<Tensor>,
    kernel: Kernel,
}

impl GatConv {
    /// Loads (or, from a `VarMap`, creates with PyG's initialisation) the parameters under
    /// `vb`'s prefix. Accepts `lin_src.weight` (PyG < 2.4) when `lin.weight` is absent.
    pub fn new(cfg: GatConfig, vb: VarBuilder) -> Result<Self> {
        let (h, c, f) = (cfg.heads, cfg.out_channels, cfg.in_channels);
        check_sizes("GATConv", f, c, h)?;
        let w_name = if !vb.contains_tensor("lin.weight") && vb.contains_tensor("lin_src.weight") {
            "lin_src.weight"
        } else {
            "lin.weight"
        };
        let weight = load(&vb, (h * c, f), w_name, glorot(h * c, f))?;
        let att_src = load(&vb, (1, h, c), "att_src", glorot(h, c))?;
        let att_dst = load(&vb, (1, h, c), "att_dst", glorot(h, c))?;
        let bias = if cfg.bias {
            Some(load(&vb, cfg.out_dim(), "bias", Init::Const(0.0))?)
        } else {
            None
        };
        Ok(Self {
            cfg,
            weight,
            att_src,
            att_dst,
            bias,
            kernel: Kernel::Auto,
        })
    }

    /// Selects the kernel implementation (tests compare [`Kernel::Fused`] and
    /// [`Kernel::Naive`]).
    pub fn with_kernel(mut self, kernel: Kernel) -> Self {
        self.kernel = kernel;
        self
    }

    /// The layer's hyper-parameters.
    pub fn config(&self) -> &GatConfig {
        &self.cfg
    }

    /// `(out, alpha)` with `alpha` `[M, H]` in PyG's edge order. GATConv takes no edge
    /// features here: `edge_attr` must be `None`.
    pub fn forward(
        &self,
        x: &Tensor,
        g: &EdgeIndex,
        edge_attr: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let (out, alpha) = self.forward_csr(x, g, edge_attr)?;
        Ok((out, g.csr_to_pyg_order(&alpha)?))
    }

    /// The output only: one fused op on CPU, cheaper than [`GatConv::forward`] in time,
    /// memory and autograd work (the path for training and embedding).
    pub fn forward_out(
        &self,
        x: &Tensor,
        g: &EdgeIndex,
        edge_attr: Option<&Tensor>,
    ) -> Result<Tensor> {
        let xw = self.project(x, g, edge_attr)?;
        kernels::gat_conv(
            &xw,
            &self.att_src,
            &self.att_dst,
            self.bias.as_ref(),
            self.cfg.concat,
            g,
            self.cfg.negative_slope,
            self.kernel,
        )
    }

    /// Like [`GatConv::forward`] but `alpha` stays in CSR order (saves a permutation).
    pub fn forward_csr(
        &self,
        x: &Tensor,
        g: &EdgeIndex,
        edge_attr: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let xw = self.project(x, g, edge_attr)?;
        let alpha = kernels::gat_attention(
            &xw,
            &self.att_src,
            &self.att_dst,
            g,
            self.cfg.negative_slope,
            self.kernel,
        )?;
        let out = kernels::aggregate(
            &alpha,
            &xw,
            self.bias.as_ref(),
            self.cfg.concat,
            g,
            self.kernel,
        )?;
        Ok((out, alpha))
    }

    /// The kernel implementation in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Checks the inputs and projects them: `xw = x·Wᵀ` `[N, H·C]`.
    fn project(&self, x: &Tensor, g: &EdgeIndex, edge_attr: Option<&Tensor>) -> Result<Tensor> {
        if edge_attr.is_some() {
            bail!("GATConv without edge_dim takes no edge features");
        }
        check_inputs(x, g, self.cfg.in_channels, self.cfg.add_self_loops)?;
        kernels::matmul_t(x, &self.weight, self.kernel)
    }
}

/// Hyper-parameters of [`GatV2Conv`] (PyG's constructor arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct GatV2Config {
    /// Input feature size `F`.
    pub in_channels: usize,
    /// Channels per head `C`.
    pub out_channels: usize,
    /// Attention heads `H`.
    pub heads: usize,
    /// Concatenate heads (`[N, H·C]`) or average them (`[N, C]`).
    pub concat: bool,
    /// Slope of the leaky ReLU inside the attention.
    pub negative_slope: f64,
    /// Replace self loops with one loop per node; loops get the mean of the node's incoming
    /// edge features (PyG's `fill_value='mean'`).
    pub add_self_loops: bool,
    /// Edge feature size `D`, if the layer uses edge features (`lin_edge`).
    pub edge_dim: Option<usize>,
    /// Bias on `lin_l`, `lin_r` and the output (PyG uses one flag for all three).
    pub bias: bool,
    /// `lin_r` is `lin_l` (PyG's `share_weights=True`).
    pub share_weights: bool,
}

impl GatV2Config {
    /// PyG's defaults: concat, slope 0.2, self loops, no edge features, bias, separate weights.
    pub fn new(in_channels: usize, out_channels: usize, heads: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            heads,
            concat: true,
            negative_slope: DEFAULT_NEGATIVE_SLOPE,
            add_self_loops: true,
            edge_dim: None,
            bias: true,
            share_weights: false,
        }
    }

    /// Output feature size: `H·C` with concat, else `C`.
    pub fn out_dim(&self) -> usize {
        if self.concat {
            self.heads * self.out_channels
        } else {
            self.out_channels
        }
    }

    /// Reads every dimension from the tensors under `prefix`: `lin_l.weight` `[H·C, F]`,
    /// `att` `[1, H, C]`, `lin_edge.weight` `[H·C, D]` if present, `lin_r.*` (absent means
    /// shared weights), `bias` (whose length decides `concat`, `true` when ambiguous).
    pub fn infer(tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<Self> {
        reject_unsupported(
            tensors,
            prefix,
            "GATv2Conv",
            &[("res.weight", "a residual connection")],
        )?;
        let wl_name = key(prefix, "lin_l.weight");
        let w = param_dims(tensors, &wl_name, 2)?;
        let att_name = key(prefix, "att");
        let att = param_dims(tensors, &att_name, 3)?;
        let (heads, out) = (att[1], att[2]);
        if att[0] != 1 || w[0] != heads * out {
            bail!(
                "checkpoint: {att_name} {att:?} does not match {wl_name} {w:?} (expected [1, H, C] with H·C = {})",
                w[0]
            );
        }
        let mut cfg = Self::new(w[1], out, heads);
        cfg.share_weights = !tensors.contains_key(&key(prefix, "lin_r.weight"));
        let we_name = key(prefix, "lin_edge.weight");
        if tensors.contains_key(&we_name) {
            cfg.edge_dim = Some(param_dims(tensors, &we_name, 2)?[1]);
        }
        let b_name = key(prefix, "bias");
        cfg.bias = tensors.contains_key(&b_name);
        if cfg.bias {
            let b = param_dims(tensors, &b_name, 1)?;
            cfg.concat = concat_from_bias(b[0], heads, out, &b_name)?.unwrap_or(true);
        }
        // Dtype/rank checks by name for the remaining parameters (see GatConfig::infer).
        let sides: &[&str] = if cfg.share_weights {
            &["lin_l"]
        } else {
            &["lin_l", "lin_r"]
        };
        for side in sides {
            param_dims(tensors, &key(prefix, &format!("{side}.weight")), 2)?;
            if cfg.bias {
                param_dims(tensors, &key(prefix, &format!("{side}.bias")), 1)?;
            }
        }
        Ok(cfg)
    }
}

/// PyG's `GATv2Conv` with optional edge features:
/// `α_ij = softmax_i(aᵀ leaky_relu(W_l x_j + W_r x_i + W_e e_ij))`, `x' = Σ_j α_ij W_l x_j`.
#[derive(Clone, Debug)]
pub struct GatV2Conv {
    cfg: GatV2Config,
    /// `lin_l.weight` `[H·C, F]` and `lin_l.bias` `[H·C]` (source side).
    w_l: Tensor,
    b_l: Option<Tensor>,
    /// `lin_r.*` (target side); the same tensors as `lin_l` with shared weights.
    w_r: Tensor,
    b_r: Option<Tensor>,
    /// `lin_edge.weight` `[H·C, D]`.
    w_edge: Option<Tensor>,
    /// `att` `[1, H, C]`.
    att: Tensor,
    bias: Option<Tensor>,
    kernel: Kernel,
}

impl GatV2Conv {
    /// Loads (or creates with PyG's initialisation) the parameters under `vb`'s prefix.
    pub fn new(cfg: GatV2Config, vb: VarBuilder) -> Result<Self> {
        let (h, c, f) = (cfg.heads, cfg.out_channels, cfg.in_channels);
        check_sizes("GATv2Conv", f, c, h)?;
        if cfg.edge_dim == Some(0) {
            bail!("GATv2Conv: edge_dim must be positive (or None)");
        }
        let lin = |side: &str| -> Result<(Tensor, Option<Tensor>)> {
            let w = load(&vb, (h * c, f), &format!("{side}.weight"), glorot(h * c, f))?;
            // PyG's `Linear` bias init: uniform(±1/√F).
            let bound = 1.0 / (f as f64).sqrt();
            let b_init = Init::Uniform {
                lo: -bound,
                up: bound,
            };
            let b = if cfg.bias {
                Some(load(&vb, h * c, &format!("{side}.bias"), b_init)?)
            } else {
                None
            };
            Ok((w, b))
        };
        let (w_l, b_l) = lin("lin_l")?;
        let (w_r, b_r) = if cfg.share_weights {
            (w_l.clone(), b_l.clone())
        } else {
            lin("lin_r")?
        };
        let w_edge = match cfg.edge_dim {
            Some(d) => Some(load(&vb, (h * c, d), "lin_edge.weight", glorot(h * c, d))?),
            None => None,
        };
        let att = load(&vb, (1, h, c), "att", glorot(h, c))?;
        let bias = if cfg.bias {
            Some(load(&vb, cfg.out_dim(), "bias", Init::Const(0.0))?)
        } else {
            None
        };
        Ok(Self {
            cfg,
            w_l,
            b_l,
            w_r,
            b_r,
            w_edge,
            att,
            bias,
            kernel: Kernel::Auto,
        })
    }

    /// Selects the kernel implementation.
    pub fn with_kernel(mut self, kernel: Kernel) -> Self {
        self.kernel = kernel;
        self
    }

    /// The layer's hyper-parameters.
    pub fn config(&self) -> &GatV2Config {
        &self.cfg
    }

    /// `(out, alpha)` with `alpha` `[M, H]` in PyG's edge order. `edge_attr` `[E, D]` has one
    /// row per edge of the list the graph was built from (input order); it may be omitted,
    /// as in PyG, and is an error for a layer without `edge_dim`.
    pub fn forward(
        &self,
        x: &Tensor,
        g: &EdgeIndex,
        edge_attr: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let (out, alpha) = self.forward_csr(x, g, edge_attr)?;
        Ok((out, g.csr_to_pyg_order(&alpha)?))
    }

    /// The output only (GATv2 has no cheaper path than [`GatV2Conv::forward_csr`]).
    pub fn forward_out(
        &self,
        x: &Tensor,
        g: &EdgeIndex,
        edge_attr: Option<&Tensor>,
    ) -> Result<Tensor> {
        Ok(self.forward_csr(x, g, edge_attr)?.0)
    }

    /// Like [`GatV2Conv::forward`] but `alpha` stays in CSR order.
    pub fn forward_csr(
        &self,
        x: &Tensor,
        g: &EdgeIndex,
        edge_attr: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        check_inputs(x, g, self.cfg.in_channels, self.cfg.add_self_loops)?;
        let (h, c) = (self.cfg.heads, self.cfg.out_channels);
        // One matmul for both sides: xlr = [lin_l(x) | lin_r(x)].
        let w = Tensor::cat(&[&self.w_l, &self.w_r], 0)?;
        let mut xlr = kernels::matmul_t(x, &w, self.kernel)?;
        if let (Some(bl), Some(br)) = (&self.b_l, &self.b_r) {
            xlr = xlr.broadcast_add(&Tensor::cat(&[bl, br], 0)?)?;
        }
        let ea = match (edge_attr, &self.w_edge) {
            (Some(ea), Some(_)) => Some(g.edge_attr_csr(ea)?),
            (Some(_), None) => bail!("GATv2Conv without edge_dim takes no edge features"),
            (None, _) => None,
        };
        let edge = match (&ea, &self.w_edge) {
            (Some(ea), Some(w)) => Some((ea, w)),
            _ => None,
        };
        let att = self.att.reshape((h, c))?;
        let logits =
            kernels::gatv2_logits(&xlr, edge, &att, g, self.cfg.negative_slope, self.kernel)?;
        let alpha = kernels::segment_softmax(&logits, g, self.kernel)?;
        let out = kernels::aggregate(
            &alpha,
            &xlr.narrow(1, 0, h * c)?,
            self.bias.as_ref(),
            self.cfg.concat,
            g,
            self.kernel,
        )?;
        Ok((out, alpha))
    }

    /// The kernel implementation in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }
}
