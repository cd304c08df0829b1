//! The train/validation split of posted pairs.

use std::collections::HashSet;

use candle_core::{bail, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::graph::{EdgeType, Graph};

/// A train/validation split of member→channel `Posted` pairs.
#[derive(Clone, Debug)]
pub struct LinkSplit {
    /// The graph without the held-out pairs (used for message passing).
    pub train_graph: Graph,
    /// Training positives `(member, channel)`, sorted.
    pub train_pos: Vec<(u32, u32)>,
    /// Held-out positives.
    pub val_pos: Vec<(u32, u32)>,
    /// One negative per held-out positive: same member, a channel it never posted in or
    /// reacted to (none for a member linked to every channel).
    pub val_neg: Vec<(u32, u32)>,
}

/// Splits `graph`'s posted pairs deterministically (`seed`), holding out `val_fraction`.
pub fn split_links(graph: &Graph, val_fraction: f64, seed: u64) -> Result<LinkSplit> {
    let nc = graph.channels.len() as u32;
    if nc < 2 {
        bail!("link prediction needs at least two channels");
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut posted: Vec<(u32, u32)> = graph
        .edges
        .iter()
        .filter(|e| e.edge_type == EdgeType::Posted)
        .map(|e| (e.src, e.dst))
        .collect();
    posted.sort_unstable();
    posted.dedup();
    posted.shuffle(&mut rng);
    let n_val = ((posted.len() as f64) * val_fraction.clamp(0.0, 1.0)).round() as usize;
    let val_pos: Vec<(u32, u32)> = posted[..n_val].to_vec();
    let mut train_pos: Vec<(u32, u32)> = posted[n_val..].to_vec();
    train_pos.sort_unstable();
    let held: HashSet<(u32, u32)> = val_pos.iter().copied().collect();
    let linked: HashSet<(u32, u32)> = graph
        .edges
        .iter()
        .filter(|e| matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted))
        .map(|e| (e.src, e.dst))
        .collect();
    let mut val_neg = Vec::with_capacity(val_pos.len());
    for &(m, _) in &val_pos {
        let free: Vec<u32> = (0..nc).filter(|&c| !linked.contains(&(m, c))).collect();
        if let Some(&c) = free.choose(&mut rng) {
            val_neg.push((m, c));
        }
    }
    let mut train_graph = graph.clone();
    train_graph.edges.retain(|e| {
        !(matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted)
            && held.contains(&(e.src, e.dst)))
    });
    Ok(LinkSplit {
        train_graph,
        train_pos,
        val_pos,
        val_neg,
    })
}

/// Splits `split`'s training positives for link prediction: a share `share` of them (at least
/// one) become the supervision pairs and leave the message-passing graph, with any reaction of
/// the same pair; the rest stay as edges. Returns the message-passing graph and the
/// supervision pairs, sorted. With `share` ≤ 0 every pair supervises and stays an edge.
///
/// A pair scored while its own edge is in the graph can be recognised by the edge rather than
/// predicted, which teaches nothing about channels a member has not used yet (PyG's
/// `RandomLinkSplit(disjoint_train_ratio=…)` separates them the same way).
pub fn supervision_split(split: &LinkSplit, share: f64, seed: u64) -> (Graph, Vec<(u32, u32)>) {
    if share <= 0.0 || split.train_pos.is_empty() {
        return (split.train_graph.clone(), split.train_pos.clone());
    }
    let mut pos = split.train_pos.clone();
    pos.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5e9e_4a11));
    let n = ((pos.len() as f64) * share.min(1.0)).round() as usize;
    pos.truncate(n.clamp(1, pos.len()));
    pos.sort_unstable();
    let held: HashSet<(u32, u32)> = pos.iter().copied().collect();
    let mut graph = split.train_graph.clone();
    graph.edges.retain(|e| {
        !(matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted)
            && held.contains(&(e.src, e.dst)))
    });
    (graph, pos)
}
