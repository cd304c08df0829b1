//! The typed persona encoder over a [`Graph`]: per-type input projections, two edge-aware
//! `GATv2Conv` layers, an output embedding per node, and an ImageAlign projection head.
//!
//! Nodes are laid out as one set `[members | channels | roles]`. Member inputs are the mean
//! image embedding of the member (zeros for cold-start members). Channel and role inputs are,
//! for now, a deterministic hashed bag-of-words of their names (and channel topics) into
//! `text_dim` buckets; the CLIP text tower replaces this feature later without changing the
//! rest of the encoder (only `text_dim` changes).
//!
//! Every edge of [`Graph::edges`] is used in both directions with its 6-d
//! [`edge_features`], so information flows members ↔ channels ↔ roles.

use candle_core::{bail, Device, Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use serde::{Deserialize, Serialize};

use super::gat::{GatV2Config, GatV2Conv};
use super::kernels;
use crate::edge_index::EdgeIndex;
use crate::graph::{edge_features, Graph, NodeType, EDGE_FEATURE_DIM};

/// Hyper-parameters of [`PersonaEncoder`]; saved next to checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonaEncoderConfig {
    /// Width of the per-type input projections and channels per head of layer 1.
    pub hidden: usize,
    /// Attention heads of both GAT layers (layer 1 concatenates, layer 2 averages).
    pub heads: usize,
    /// Size of the output node embedding.
    pub out_dim: usize,
    /// Size of image embeddings (member inputs and the ImageAlign target).
    pub image_dim: usize,
    /// Edge feature size (always [`EDGE_FEATURE_DIM`] for graphs from [`crate::graph`]).
    pub edge_dim: usize,
    /// Size of the text feature of channels and roles.
    pub text_dim: usize,
    /// What that text feature is.
    #[serde(default)]
    pub text_features: TextFeatures,
}

impl PersonaEncoderConfig {
    /// The defaults, fitted to `graph`: its image size, and its CLIP text embeddings when it
    /// carries them (hashed words otherwise).
    pub fn for_graph(graph: &Graph) -> Self {
        let default = Self::default();
        let (text_dim, text_features) = match graph.text_dim() {
            Some(d) => (d, TextFeatures::Clip),
            None => (default.text_dim, TextFeatures::HashedBow),
        };
        Self {
            image_dim: graph.image_dim().unwrap_or(default.image_dim),
            text_dim,
            text_features,
            ..default
        }
    }
}

/// The text feature of channels and roles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextFeatures {
    /// Hashed bag of words of name and topic (no model needed).
    #[default]
    HashedBow,
    /// The CLIP text embedding the graph carries for each node (`text_dim` = CLIP's size).
    Clip,
}

impl Default for PersonaEncoderConfig {
    fn default() -> Self {
        Self {
            hidden: 64,
            heads: 4,
            out_dim: 64,
            image_dim: 64,
            edge_dim: EDGE_FEATURE_DIM,
            text_dim: 256,
            text_features: TextFeatures::HashedBow,
        }
    }
}

/// Model inputs built once from a [`Graph`]: features per node type, the bidirectional
/// [`EdgeIndex`] over `[members | channels | roles]` and its edge features.
///
/// The same type holds a sampled subgraph (see [`super::sample`]): then the node sets are the
/// sampled members, channels and roles, in that order, with local indices.
#[derive(Clone, Debug)]
pub struct GraphTensors {
    /// Member inputs `[Nm, image_dim]`: mean image embedding, zeros for cold start.
    pub x_member: Tensor,
    /// Channel inputs `[Nc, text_dim]`.
    pub x_channel: Tensor,
    /// Role inputs `[Nr, text_dim]`.
    pub x_role: Tensor,
    /// Edges in both directions, with self loops added.
    pub edge_index: EdgeIndex,
    /// Edge features `[E, edge_dim]`, one row per input edge of `edge_index`.
    pub edge_attr: Tensor,
    /// Source node of each input edge (before self-loop handling), `E` entries.
    pub src: Vec<u32>,
    /// Target node of each input edge, `E` entries.
    pub dst: Vec<u32>,
    /// Whether each member has at least one image (a non-zero input row).
    pub member_has_image: Vec<bool>,
    /// Number of members.
    pub n_members: usize,
    /// Number of channels.
    pub n_channels: usize,
    /// Number of roles.
    pub n_roles: usize,
}

impl GraphTensors {
    /// Builds the tensors for `graph`, which is validated first ([`Graph::validate`]); image
    /// embeddings must have `image_dim` entries.
    pub fn from_graph(
        graph: &Graph,
        image_dim: usize,
        text_dim: usize,
        device: &Device,
    ) -> Result<Self> {
        if text_dim == 0 || image_dim == 0 {
            bail!("text_dim and image_dim must be positive");
        }
        graph.validate().map_err(candle_core::Error::wrap)?;
        if let Some(found) = graph.image_dim().filter(|&d| d != image_dim) {
            bail!(
                "graph: image embeddings have {found} dimensions, the encoder expects {image_dim}"
            );
        }
        let (nm, nc, nr) = (graph.members.len(), graph.channels.len(), graph.roles.len());
        let mut xm = vec![0f32; nm * image_dim];
        let mut member_has_image = vec![false; nm];
        for (m, mean) in graph.mean_images().into_iter().enumerate() {
            if let Some(img) = mean {
                xm[m * image_dim..(m + 1) * image_dim].copy_from_slice(&img);
                member_has_image[m] = true;
            }
        }
        // Text features: the graph's own embeddings when it carries them, else hashed words.
        let carried = graph.text_dim();
        if let Some(found) = carried.filter(|&d| d != text_dim) {
            bail!("graph: text embeddings have {found} dimensions, the encoder expects {text_dim}");
        }
        let mut xc = Vec::with_capacity(nc * text_dim);
        for c in &graph.channels {
            match &c.text_embedding {
                Some(e) if carried.is_some() => xc.extend_from_slice(e),
                _ => xc.extend(hashed_bag_of_words(&[&c.name, &c.topic], text_dim)),
            }
        }
        let mut xr = Vec::with_capacity(nr * text_dim);
        for r in &graph.roles {
            match &r.text_embedding {
                Some(e) if carried.is_some() => xr.extend_from_slice(e),
                _ => xr.extend(hashed_bag_of_words(&[&r.name], text_dim)),
            }
        }
        let offset = |t: NodeType| -> u32 {
            match t {
                NodeType::Member => 0,
                NodeType::Channel => nm as u32,
                NodeType::Role => (nm + nc) as u32,
            }
        };
        let n = nm + nc + nr;
        let mut src = Vec::with_capacity(graph.edges.len() * 2);
        let mut dst = Vec::with_capacity(graph.edges.len() * 2);
        let mut feats = Vec::with_capacity(graph.edges.len() * 2 * EDGE_FEATURE_DIM);
        for e in &graph.edges {
            let (ts, td) = e.edge_type.endpoints();
            let s = e.src + offset(ts);
            let d = e.dst + offset(td);
            let f = edge_features(e);
            src.extend([s, d]);
            dst.extend([d, s]);
            feats.extend(f);
            feats.extend(f);
        }
        let ne = src.len();
        Ok(Self {
            x_member: Tensor::from_vec(xm, (nm, image_dim), device)?,
            x_channel: Tensor::from_vec(xc, (nc, text_dim), device)?,
            x_role: Tensor::from_vec(xr, (nr, text_dim), device)?,
            edge_index: EdgeIndex::new(n, &src, &dst, true)?,
            edge_attr: Tensor::from_vec(feats, (ne, EDGE_FEATURE_DIM), device)?,
            src,
            dst,
            member_has_image,
            n_members: nm,
            n_channels: nc,
            n_roles: nr,
        })
    }

    /// Number of nodes `[members | channels | roles]`.
    pub fn n_nodes(&self) -> usize {
        self.n_members + self.n_channels + self.n_roles
    }

    /// Node index of channel `c`.
    pub fn channel_node(&self, c: u32) -> u32 {
        self.n_members as u32 + c
    }

    /// Node index of role `r`.
    pub fn role_node(&self, r: u32) -> u32 {
        (self.n_members + self.n_channels) as u32 + r
    }

    /// The type of node `node` and its index within that type.
    pub fn node_kind(&self, node: u32) -> (NodeType, u32) {
        let (nm, nc) = (self.n_members as u32, self.n_channels as u32);
        if node < nm {
            (NodeType::Member, node)
        } else if node < nm + nc {
            (NodeType::Channel, node - nm)
        } else {
            (NodeType::Role, node - nm - nc)
        }
    }
}

/// Deterministic placeholder text feature: lower-cased alphanumeric tokens hashed (FNV-1a)
/// into `dim` signed buckets, L2-normalised. Replaced by the CLIP text tower later.
pub fn hashed_bag_of_words(texts: &[&str], dim: usize) -> Vec<f32> {
    let mut v = vec![0f32; dim];
    if dim == 0 {
        return v;
    }
    for text in texts {
        for tok in text
            .split(|ch: char| !ch.is_alphanumeric())
            .filter(|t| !t.is_empty())
        {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in tok.to_lowercase().bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
            v[(h % dim as u64) as usize] += sign;
        }
    }
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|a| *a /= norm);
    }
    v
}

/// What [`PersonaEncoder::forward_with_attention`] computes.
#[derive(Clone, Debug)]
pub struct EncoderOutput {
    /// Node embeddings `[N, out_dim]`.
    pub embeddings: Tensor,
    /// Layer-1 attention `[M, heads]`, CSR order.
    pub conv1_alpha: Tensor,
    /// Layer-2 attention `[M, heads]`, CSR order.
    pub conv2_alpha: Tensor,
}

/// The persona encoder (parameter prefixes: `lin_member`, `lin_channel`, `lin_role`,
/// `conv1`, `conv2`, `align`).
#[derive(Clone, Debug)]
pub struct PersonaEncoder {
    cfg: PersonaEncoderConfig,
    lin_member: Linear,
    lin_channel: Linear,
    lin_role: Linear,
    conv1: GatV2Conv,
    conv2: GatV2Conv,
    align: Linear,
}

impl PersonaEncoder {
    /// Creates (or loads, through `vb`) the encoder's parameters.
    pub fn new(cfg: PersonaEncoderConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.hidden == 0 || cfg.heads == 0 || cfg.out_dim == 0 || cfg.image_dim == 0 {
            bail!("PersonaEncoderConfig: dimensions must be positive: {cfg:?}");
        }
        let lin_member = candle_nn::linear(cfg.image_dim, cfg.hidden, vb.pp("lin_member"))?;
        let lin_channel = candle_nn::linear(cfg.text_dim, cfg.hidden, vb.pp("lin_channel"))?;
        let lin_role = candle_nn::linear(cfg.text_dim, cfg.hidden, vb.pp("lin_role"))?;
        let mut c1 = GatV2Config::new(cfg.hidden, cfg.hidden, cfg.heads);
        c1.edge_dim = Some(cfg.edge_dim);
        let conv1 = GatV2Conv::new(c1, vb.pp("conv1"))?;
        let mut c2 = GatV2Config::new(cfg.hidden * cfg.heads, cfg.out_dim, cfg.heads);
        c2.edge_dim = Some(cfg.edge_dim);
        c2.concat = false;
        let conv2 = GatV2Conv::new(c2, vb.pp("conv2"))?;
        let align = candle_nn::linear(cfg.out_dim, cfg.image_dim, vb.pp("align"))?;
        Ok(Self {
            cfg,
            lin_member,
            lin_channel,
            lin_role,
            conv1,
            conv2,
            align,
        })
    }

    /// The encoder's hyper-parameters.
    pub fn config(&self) -> &PersonaEncoderConfig {
        &self.cfg
    }

    /// Embeddings `[N, out_dim]` of all nodes `[members | channels | roles]`, by each layer's
    /// cheapest path (no attention is kept): the training and embedding path.
    pub fn embed(&self, g: &GraphTensors) -> Result<Tensor> {
        let h = self.input(g)?;
        let h = self
            .conv1
            .forward_out(&h, &g.edge_index, Some(&g.edge_attr))?;
        let h = kernels::elu(&h, 1.0, self.conv1.kernel())?;
        self.conv2
            .forward_out(&h, &g.edge_index, Some(&g.edge_attr))
    }

    /// Embeddings and both layers' attention `[M, heads]`, in the graph's **CSR order** (slot
    /// `k` of target `i` is `g.edge_index.row_ptr()[i] + k`, its source
    /// `g.edge_index.csr_src()`); [`EdgeIndex::csr_to_pyg_order`] gives PyG's order.
    pub fn forward_with_attention(&self, g: &GraphTensors) -> Result<EncoderOutput> {
        let h = self.input(g)?;
        let (h, conv1_alpha) = self
            .conv1
            .forward_csr(&h, &g.edge_index, Some(&g.edge_attr))?;
        let h = kernels::elu(&h, 1.0, self.conv1.kernel())?;
        let (embeddings, conv2_alpha) =
            self.conv2
                .forward_csr(&h, &g.edge_index, Some(&g.edge_attr))?;
        Ok(EncoderOutput {
            embeddings,
            conv1_alpha,
            conv2_alpha,
        })
    }

    /// The per-type input projections, stacked `[members | channels | roles]`.
    fn input(&self, g: &GraphTensors) -> Result<Tensor> {
        Tensor::cat(
            &[
                self.lin_member.forward(&g.x_member)?,
                self.lin_channel.forward(&g.x_channel)?,
                self.lin_role.forward(&g.x_role)?,
            ],
            0,
        )
    }

    /// ImageAlign head: projects embeddings `[n, out_dim]` into image space `[n, image_dim]`.
    pub fn align(&self, emb: &Tensor) -> Result<Tensor> {
        self.align.forward(emb)
    }
}

#[cfg(test)]
#[path = "encoder_tests.rs"]
mod tests;
