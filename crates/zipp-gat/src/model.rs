//! The two-layer GAT encoder `conv1 → ELU → conv2` (the layout of the PyG fixtures and the
//! benchmark), and loading it from a PyG `state_dict` saved as safetensors with the layer type
//! and every dimension read from the tensors.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{bail, DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

use super::gat::{GatConfig, GatConv, GatV2Config, GatV2Conv};
use super::kernels::{self, Kernel};
use crate::edge_index::EdgeIndex;
use crate::params::key;

#[cfg(test)]
mod tests;

/// Configuration of one attention layer of either kind.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerConfig {
    /// PyG `GATConv`.
    Gat(GatConfig),
    /// PyG `GATv2Conv`.
    GatV2(GatV2Config),
}

impl LayerConfig {
    /// Detects the layer type under `prefix` (`att_src` → GATConv, `att` → GATv2Conv) and
    /// infers its configuration from the tensors.
    pub fn infer(tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<Self> {
        let has = |name: &str| tensors.contains_key(&key(prefix, name));
        match (has("att_src"), has("att")) {
            (true, false) => Ok(Self::Gat(GatConfig::infer(tensors, prefix)?)),
            (false, true) => Ok(Self::GatV2(GatV2Config::infer(tensors, prefix)?)),
            (true, true) => bail!(
                "checkpoint: both {} and {} exist; cannot tell GATConv from GATv2Conv",
                key(prefix, "att_src"),
                key(prefix, "att")
            ),
            (false, false) => bail!(
                "checkpoint: missing tensor {} (GATConv) or {} (GATv2Conv)",
                key(prefix, "att_src"),
                key(prefix, "att")
            ),
        }
    }

    /// Input feature size.
    pub fn in_dim(&self) -> usize {
        match self {
            Self::Gat(c) => c.in_channels,
            Self::GatV2(c) => c.in_channels,
        }
    }

    /// Output feature size.
    pub fn out_dim(&self) -> usize {
        match self {
            Self::Gat(c) => c.out_dim(),
            Self::GatV2(c) => c.out_dim(),
        }
    }

    /// `(heads, channels, concat, has bias)`.
    fn heads_channels(&self) -> (usize, usize, bool, bool) {
        match self {
            Self::Gat(c) => (c.heads, c.out_channels, c.concat, c.bias),
            Self::GatV2(c) => (c.heads, c.out_channels, c.concat, c.bias),
        }
    }

    fn set_concat(&mut self, concat: bool) {
        match self {
            Self::Gat(c) => c.concat = concat,
            Self::GatV2(c) => c.concat = concat,
        }
    }
}

/// One attention layer of either kind.
#[derive(Clone, Debug)]
pub enum GatLayer {
    /// PyG `GATConv`.
    Gat(GatConv),
    /// PyG `GATv2Conv`.
    GatV2(GatV2Conv),
}

impl GatLayer {
    /// Builds the layer from `vb` (prefix included), loading or creating its parameters.
    pub fn new(cfg: LayerConfig, vb: VarBuilder) -> Result<Self> {
        Ok(match cfg {
            LayerConfig::Gat(c) => Self::Gat(GatConv::new(c, vb)?),
            LayerConfig::GatV2(c) => Self::GatV2(GatV2Conv::new(c, vb)?),
        })
    }

    /// Selects the kernel implementation.
    pub fn with_kernel(self, kernel: Kernel) -> Self {
        match self {
            Self::Gat(l) => Self::Gat(l.with_kernel(kernel)),
            Self::GatV2(l) => Self::GatV2(l.with_kernel(kernel)),
        }
    }

    /// `(out, alpha)` with `alpha` in PyG's edge order.
    pub fn forward(
        &self,
        x: &Tensor,
        g: &EdgeIndex,
        edge_attr: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        match self {
            Self::Gat(l) => l.forward(x, g, edge_attr),
            Self::GatV2(l) => l.forward(x, g, edge_attr),
        }
    }

    /// `(out, alpha)` with `alpha` in the graph's CSR order.
    pub fn forward_csr(
        &self,
        x: &Tensor,
        g: &EdgeIndex,
        edge_attr: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        match self {
            Self::Gat(l) => l.forward_csr(x, g, edge_attr),
            Self::GatV2(l) => l.forward_csr(x, g, edge_attr),
        }
    }

    /// The output only, by the cheapest path (see [`GatConv::forward_out`]).
    pub fn forward_out(
        &self,
        x: &Tensor,
        g: &EdgeIndex,
        edge_attr: Option<&Tensor>,
    ) -> Result<Tensor> {
        match self {
            Self::Gat(l) => l.forward_out(x, g, edge_attr),
            Self::GatV2(l) => l.forward_out(x, g, edge_attr),
        }
    }

    /// Whether the layer expects a graph with PyG's self-loop handling.
    pub fn add_self_loops(&self) -> bool {
        match self {
            Self::Gat(l) => l.config().add_self_loops,
            Self::GatV2(l) => l.config().add_self_loops,
        }
    }

    /// The kernel implementation in use.
    pub fn kernel(&self) -> Kernel {
        match self {
            Self::Gat(l) => l.kernel(),
            Self::GatV2(l) => l.kernel(),
        }
    }

    /// GATConv layers take no edge features even when the model's other layer does.
    fn edge_attr<'a>(&self, edge_attr: Option<&'a Tensor>) -> Option<&'a Tensor> {
        match self {
            Self::Gat(_) => None,
            Self::GatV2(_) => edge_attr,
        }
    }
}

/// Everything [`Gat2::forward`] computes; attention is `[M, H]` in PyG's edge order.
#[derive(Clone, Debug)]
pub struct Gat2Output {
    /// Final embeddings, `conv2`'s output.
    pub out: Tensor,
    /// `conv1`'s output before the ELU.
    pub conv1_out: Tensor,
    /// `conv1`'s attention.
    pub conv1_alpha: Tensor,
    /// `conv2`'s attention.
    pub conv2_alpha: Tensor,
}

/// Two attention layers with an ELU (α = 1) between them, PyG attribute names `conv1`,
/// `conv2`.
#[derive(Clone, Debug)]
pub struct Gat2 {
    /// First layer.
    pub conv1: GatLayer,
    /// Second layer.
    pub conv2: GatLayer,
}

impl Gat2 {
    /// Builds both layers under `vb.pp("conv1")` / `vb.pp("conv2")`; from a `VarMap` this
    /// creates freshly initialised parameters for training.
    pub fn new(cfg1: LayerConfig, cfg2: LayerConfig, vb: VarBuilder) -> Result<Self> {
        if cfg2.in_dim() != cfg1.out_dim() {
            bail!(
                "conv2 expects {} input features but conv1 produces {}",
                cfg2.in_dim(),
                cfg1.out_dim()
            );
        }
        Ok(Self {
            conv1: GatLayer::new(cfg1, vb.pp("conv1"))?,
            conv2: GatLayer::new(cfg2, vb.pp("conv2"))?,
        })
    }

    /// The configurations stored under `conv1.`/`conv2.`, with every dimension read from
    /// the tensors. conv1's `concat` is taken from conv2's input size when conv1's bias
    /// cannot tell.
    pub fn infer(tensors: &HashMap<String, Tensor>) -> Result<(LayerConfig, LayerConfig)> {
        let mut cfg1 = LayerConfig::infer(tensors, "conv1")?;
        let cfg2 = LayerConfig::infer(tensors, "conv2")?;
        let (h, c, _, bias) = cfg1.heads_channels();
        if !bias && h > 1 {
            cfg1.set_concat(cfg2.in_dim() == h * c);
        }
        Ok((cfg1, cfg2))
    }

    /// Loads a model from a PyG `state_dict` held as tensors (other keys are ignored), in
    /// `dtype` on `device`. Malformed parameters (missing, wrong shape, non-float dtype,
    /// non-finite values) are errors naming the tensor.
    pub fn from_tensors(
        tensors: &HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let (cfg1, cfg2) = Self::infer(tensors)?;
        let vb = VarBuilder::from_tensors(tensors.clone(), dtype, device);
        Self::new(cfg1, cfg2, vb)
    }

    /// [`Gat2::from_tensors`] from a safetensors file.
    pub fn load(path: impl AsRef<Path>, dtype: DType, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let tensors = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", path.display())))?;
        Self::from_tensors(&tensors, dtype, device)
    }

    /// Selects the kernel implementation for both layers.
    pub fn with_kernel(self, kernel: Kernel) -> Self {
        Self {
            conv1: self.conv1.with_kernel(kernel),
            conv2: self.conv2.with_kernel(kernel),
        }
    }

    /// Full forward pass with both layers' attention (PyG order). `edge_attr` `[E, D]`
    /// follows the edge list the graph was built from and goes to GATv2 layers only.
    pub fn forward(
        &self,
        x: &Tensor,
        g: &EdgeIndex,
        edge_attr: Option<&Tensor>,
    ) -> Result<Gat2Output> {
        let (conv1_out, conv1_alpha) = self.conv1.forward(x, g, self.conv1.edge_attr(edge_attr))?;
        let h = kernels::elu(&conv1_out, 1.0, self.conv1.kernel())?;
        let (out, conv2_alpha) = self.conv2.forward(&h, g, self.conv2.edge_attr(edge_attr))?;
        Ok(Gat2Output {
            out,
            conv1_out,
            conv1_alpha,
            conv2_alpha,
        })
    }

    /// The embeddings only, by each layer's cheapest path (no attention is kept or
    /// reordered); the training and embedding path.
    pub fn encode(&self, x: &Tensor, g: &EdgeIndex, edge_attr: Option<&Tensor>) -> Result<Tensor> {
        let h = self
            .conv1
            .forward_out(x, g, self.conv1.edge_attr(edge_attr))?;
        let h = kernels::elu(&h, 1.0, self.conv1.kernel())?;
        self.conv2
            .forward_out(&h, g, self.conv2.edge_attr(edge_attr))
    }
}
