//! Cold-start practice for full-batch training: the members whose image input is dropped in
//! an epoch also lose all but a few of their own posts and reactions for that epoch, so the
//! encoder learns to place members from what real cold-start members have — a handful of
//! channels, their roles, and the members who reply to them — rather than from an active
//! member's whole history with only the images hidden.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::graph::{EdgeType, Graph};

/// Each member's own post and reaction edges, by index into the graph's edges.
pub(super) struct ColdPractice {
    own: Vec<Vec<usize>>,
    max_edges: usize,
}

impl ColdPractice {
    /// Indexes `graph` once; members keep at most `max_edges` posts and reactions.
    pub(super) fn new(graph: &Graph, max_edges: usize) -> Self {
        let mut own = vec![Vec::new(); graph.members.len()];
        for (i, e) in graph.edges.iter().enumerate() {
            if matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted) {
                own[e.src as usize].push(i);
            }
        }
        Self { own, max_edges }
    }

    /// `graph` with each of `members` left with at most `max_edges` randomly kept posts and
    /// reactions (roles and replies stay).
    pub(super) fn thin(&self, graph: &Graph, members: &[u32], rng: &mut StdRng) -> Graph {
        let mut drop = vec![false; graph.edges.len()];
        for &m in members {
            let mut edges = self.own[m as usize].clone();
            if edges.len() > self.max_edges {
                edges.shuffle(rng);
                for &i in &edges[self.max_edges..] {
                    drop[i] = true;
                }
            }
        }
        let mut out = graph.clone();
        let mut i = 0;
        out.edges.retain(|_| {
            let keep = !drop[i];
            i += 1;
            keep
        });
        out
    }
}
