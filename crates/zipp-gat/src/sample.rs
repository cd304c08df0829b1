//! Neighbour sampling for mini-batch training (GraphSAGE / PyG `NeighborLoader` style).
//!
//! A two-layer encoder's output at a node depends on its 2-hop in-neighbourhood. For a batch of
//! seed nodes, [`NeighborSampler::sample`] draws at most `fanouts[0]` incoming edges of each
//! seed, then at most `fanouts[1]` incoming edges of each node that hop discovered, and so on;
//! every node is expanded at most once (at the first hop that reaches it), so a node's sampled
//! in-edges are the same for all layers. [`NeighborSampler::subgraph`] turns the sample into a
//! [`GraphTensors`] over the sampled nodes (members, channels, roles in that order, ascending
//! global index within each type) with local indices, on which the encoder runs unchanged.
//!
//! **Exactness**: when every fan-out is at least the largest in-degree, the sampled edges are
//! all in-edges of the seeds and of their neighbours, so the seeds' embeddings equal the
//! full-graph embeddings (self loops get the mean of the same incoming edge features).
//! Nodes discovered at the last hop only have their self loop in the subgraph, which changes
//! their intermediate features but never the seeds' outputs.
//!
//! Sampling draws from the caller's RNG only, so a seeded RNG makes it deterministic.

use std::collections::HashMap;

use candle_core::{Result, Tensor};
use rand::seq::index;
use rand::Rng;

use super::encoder::GraphTensors;
use crate::edge_index::EdgeIndex;

/// Incoming adjacency of a [`GraphTensors`]' input edges (no self loops), by target.
#[derive(Clone, Debug)]
pub struct NeighborSampler {
    /// Target `i` owns `in_ptr[i]..in_ptr[i + 1]` of `in_edge`.
    in_ptr: Vec<usize>,
    /// Input edge ids (rows of `edge_attr`) grouped by target, in input order.
    in_edge: Vec<u32>,
    /// Source node of each input edge.
    src: Vec<u32>,
}

/// The nodes and edges a [`NeighborSampler::sample`] call drew.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampledNodes {
    /// Global node ids, seeds first, then in discovery order; no duplicates.
    pub nodes: Vec<u32>,
    /// Input edge ids of the sampled edges.
    pub edges: Vec<u32>,
}

/// A sampled subgraph ready for the encoder, and the way back to global ids.
#[derive(Clone, Debug)]
pub struct Subgraph {
    /// The encoder's inputs over the sampled nodes (local indices).
    pub tensors: GraphTensors,
    /// Global node id of each local node.
    pub global: Vec<u32>,
    /// Local index of each sampled global node.
    pub local: HashMap<u32, u32>,
}

impl Subgraph {
    /// Local index of global node `node`, if it was sampled.
    pub fn local_of(&self, node: u32) -> Option<u32> {
        self.local.get(&node).copied()
    }
}

impl NeighborSampler {
    /// Indexes the input edges of `g` by target.
    pub fn new(g: &GraphTensors) -> Self {
        let n = g.n_nodes();
        let mut in_ptr = vec![0usize; n + 1];
        for &d in &g.dst {
            in_ptr[d as usize + 1] += 1;
        }
        for i in 0..n {
            in_ptr[i + 1] += in_ptr[i];
        }
        let mut next = in_ptr.clone();
        let mut in_edge = vec![0u32; g.dst.len()];
        for (e, &d) in g.dst.iter().enumerate() {
            in_edge[next[d as usize]] = e as u32;
            next[d as usize] += 1;
        }
        Self {
            in_ptr,
            in_edge,
            src: g.src.clone(),
        }
    }

    /// Largest number of incoming input edges of any node (fan-outs at least this sample
    /// every edge).
    pub fn max_in_degree(&self) -> usize {
        self.in_ptr
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0)
    }

    /// Samples the computation graph of `seeds` (global node ids, duplicates ignored): at hop
    /// `l`, at most `fanouts[l]` in-edges (uniformly, without replacement) of every node first
    /// reached at hop `l - 1` (the seeds at hop 0).
    pub fn sample<R: Rng>(&self, seeds: &[u32], fanouts: &[usize], rng: &mut R) -> SampledNodes {
        let mut seen: HashMap<u32, ()> = HashMap::with_capacity(seeds.len() * 4);
        let mut nodes = Vec::with_capacity(seeds.len() * 4);
        for &s in seeds {
            if seen.insert(s, ()).is_none() {
                nodes.push(s);
            }
        }
        let mut edges = Vec::new();
        let mut frontier = nodes.clone();
        for &fanout in fanouts {
            let mut next = Vec::new();
            for &t in &frontier {
                let incoming = &self.in_edge[self.in_ptr[t as usize]..self.in_ptr[t as usize + 1]];
                let mut take = |e: u32, src: u32| {
                    edges.push(e);
                    if seen.insert(src, ()).is_none() {
                        nodes.push(src);
                        next.push(src);
                    }
                };
                if incoming.len() <= fanout {
                    for &e in incoming {
                        take(e, self.source_of(e));
                    }
                } else {
                    let mut picked = index::sample(rng, incoming.len(), fanout).into_vec();
                    // Input order within a target keeps the summation order reproducible.
                    picked.sort_unstable();
                    for k in picked {
                        let e = incoming[k];
                        take(e, self.source_of(e));
                    }
                }
            }
            frontier = next;
        }
        SampledNodes { nodes, edges }
    }

    /// Source node of input edge `e`.
    fn source_of(&self, e: u32) -> u32 {
        self.src[e as usize]
    }

    /// Builds the encoder inputs over `sample`'s nodes from the full graph's tensors `g`, with
    /// member inputs taken from `x_member` (`g.x_member`, or a masked copy during training).
    pub fn subgraph(
        &self,
        g: &GraphTensors,
        x_member: &Tensor,
        sample: &SampledNodes,
    ) -> Result<Subgraph> {
        let mut members = Vec::new();
        let mut channels = Vec::new();
        let mut roles = Vec::new();
        for &v in &sample.nodes {
            match g.node_kind(v) {
                (crate::graph::NodeType::Member, i) => members.push(i),
                (crate::graph::NodeType::Channel, i) => channels.push(i),
                (crate::graph::NodeType::Role, i) => roles.push(i),
            }
        }
        members.sort_unstable();
        channels.sort_unstable();
        roles.sort_unstable();
        let global: Vec<u32> = members
            .iter()
            .copied()
            .chain(channels.iter().map(|&c| g.channel_node(c)))
            .chain(roles.iter().map(|&r| g.role_node(r)))
            .collect();
        let local: HashMap<u32, u32> = global
            .iter()
            .enumerate()
            .map(|(l, &v)| (v, l as u32))
            .collect();
        let dev = g.x_member.device();
        let pick = |x: &Tensor, idx: &[u32]| -> Result<Tensor> {
            x.index_select(&Tensor::from_slice(idx, idx.len(), dev)?, 0)
        };
        let src: Vec<u32> = sample
            .edges
            .iter()
            .map(|&e| local[&self.src[e as usize]])
            .collect();
        let dst: Vec<u32> = sample
            .edges
            .iter()
            .map(|&e| local[&g.dst[e as usize]])
            .collect();
        let tensors = GraphTensors {
            x_member: pick(x_member, &members)?,
            x_channel: pick(&g.x_channel, &channels)?,
            x_role: pick(&g.x_role, &roles)?,
            edge_index: EdgeIndex::new(global.len(), &src, &dst, true)?,
            edge_attr: pick(&g.edge_attr, &sample.edges)?,
            src,
            dst,
            member_has_image: members
                .iter()
                .map(|&m| g.member_has_image[m as usize])
                .collect(),
            n_members: members.len(),
            n_channels: channels.len(),
            n_roles: roles.len(),
        };
        Ok(Subgraph {
            tensors,
            global,
            local,
        })
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::encoder::PersonaEncoder;
    use crate::fixtures::{community, enc_cfg};
    use crate::train::seeded_init;

    fn tensors() -> GraphTensors {
        let cfg = enc_cfg();
        GraphTensors::from_graph(&community(), cfg.image_dim, cfg.text_dim, &Device::Cpu)
            .expect("tensors")
    }

    #[test]
    fn seed_embeddings_are_exact_when_fanouts_cover_every_degree() {
        let g = tensors();
        let cfg = enc_cfg();
        let vm = VarMap::new();
        let model =
            PersonaEncoder::new(cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))
                .expect("model");
        seeded_init(&vm, 3).expect("init");
        let full = model.embed(&g).expect("full");
        let sampler = NeighborSampler::new(&g);
        let fan = sampler.max_in_degree();
        // A few members and a channel: their 2-hop graph is much smaller than the whole.
        let seeds = [3, 17, 42, g.channel_node(5)];
        let mut rng = StdRng::seed_from_u64(0);
        let sampled = sampler.sample(&seeds, &[fan, fan], &mut rng);
        assert_eq!(&sampled.nodes[..seeds.len()], &seeds);
        let sub = sampler
            .subgraph(&g, &g.x_member, &sampled)
            .expect("subgraph");
        let part = model.embed(&sub.tensors).expect("part");
        for s in seeds {
            let a = full
                .get(s as usize)
                .and_then(|r| r.to_vec1::<f32>())
                .expect("a");
            let local = sub.local_of(s).expect("seed kept");
            let b = part
                .get(local as usize)
                .and_then(|r| r.to_vec1::<f32>())
                .expect("b");
            let diff = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-5, "seed {s}: {diff}");
        }
    }

    #[test]
    fn fanouts_bound_the_sample_and_the_seed_fixes_it() {
        let g = tensors();
        let sampler = NeighborSampler::new(&g);
        let seeds: Vec<u32> = (0..20).collect();
        let draw = |seed: u64| sampler.sample(&seeds, &[3, 2], &mut StdRng::seed_from_u64(seed));
        let a = draw(1);
        assert_eq!(a, draw(1));
        assert_ne!(a, draw(2));
        let mut per_target: HashMap<u32, usize> = HashMap::new();
        for &e in &a.edges {
            *per_target.entry(g.dst[e as usize]).or_default() += 1;
        }
        for (&t, &n) in &per_target {
            let limit = if seeds.contains(&t) { 3 } else { 2 };
            assert!(n <= limit, "node {t} got {n} in-edges");
        }
        // Every sampled edge ends at a node that was expanded, and every node is listed once.
        let mut nodes = a.nodes.clone();
        nodes.sort_unstable();
        nodes.dedup();
        assert_eq!(nodes.len(), a.nodes.len());
        let sub = sampler.subgraph(&g, &g.x_member, &a).expect("subgraph");
        assert_eq!(sub.tensors.n_nodes(), a.nodes.len());
        assert_eq!(sub.tensors.edge_attr.dims()[0], a.edges.len());
        assert!(
            sub.global.windows(2).all(|w| w[0] < w[1]),
            "type-major ascending order"
        );
    }
}
