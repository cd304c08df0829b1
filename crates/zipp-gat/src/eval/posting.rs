//! Posting accuracy, the ZIPP paper's measure, on a held-out *time* split: the synthetic
//! community's future window ([`GroundTruth::future_posts`]) says where each member posts
//! next. For every member (noise members aside) who posts in the future window in a channel
//! they never posted in or reacted to in the observed window, a method ranks those *new*
//! channels; the member counts as a hit when the top-ranked one is among the channels they
//! post in next. Ties (a method with nothing to say about a member) are broken by channel
//! popularity in the training graph, then by index, so every method falls back to the same
//! sceptic's rule rather than to luck. Members without an edge left in the training graph are
//! not scored (no method has anything of theirs).

use std::collections::HashSet;

use crate::graph::synth::GroundTruth;
use crate::graph::{EdgeType, Graph};

/// The members scored and what they do next.
pub(super) struct PostingTask {
    /// `(member, new channels they post in next)`, for members with at least one.
    targets: Vec<(u32, Vec<u32>)>,
    /// Per member, the channels of their observed window (never candidates).
    observed: Vec<HashSet<u32>>,
    /// Per member, whether they are cold-start.
    cold: Vec<bool>,
    /// Posts and reactions per channel in the training graph.
    popularity: Vec<f32>,
}

impl PostingTask {
    /// The task on the observed `graph`, with popularity from `train` (what methods see).
    pub(super) fn new(
        graph: &Graph,
        train: &Graph,
        truth: &GroundTruth,
        has_edge: &[bool],
    ) -> Self {
        let n = graph.members.len();
        let mut observed: Vec<HashSet<u32>> = vec![HashSet::new(); n];
        for e in &graph.edges {
            if matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted) {
                observed[e.src as usize].insert(e.dst);
            }
        }
        let mut popularity = vec![0f32; graph.channels.len()];
        for e in &train.edges {
            if matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted) {
                popularity[e.dst as usize] += e.count as f32;
            }
        }
        let mut cold = vec![false; n];
        for &m in &truth.cold_start {
            cold[m as usize] = true;
        }
        let targets = truth
            .future_posts
            .iter()
            .enumerate()
            .filter(|&(m, _)| has_edge[m] && !truth.is_noise(m as u32))
            .filter_map(|(m, posts)| {
                let new: Vec<u32> = posts
                    .iter()
                    .copied()
                    .filter(|c| !observed[m].contains(c))
                    .collect();
                (!new.is_empty()).then_some((m as u32, new))
            })
            .collect();
        Self {
            targets,
            observed,
            cold,
            popularity,
        }
    }

    /// `(members scored, cold-start members among them)`.
    pub(super) fn members(&self) -> (usize, usize) {
        let cold = self
            .targets
            .iter()
            .filter(|(m, _)| self.cold[*m as usize])
            .count();
        (self.targets.len(), cold)
    }

    /// Channel popularity in the training graph.
    pub(super) fn popularity(&self) -> &[f32] {
        &self.popularity
    }

    /// `(accuracy over all scored members, over cold-start ones)` of ranking each member's
    /// new channels by `score(member, channel)`; 0 where no member is scored.
    pub(super) fn accuracy(&self, score: &dyn Fn(u32, u32) -> f32) -> (f32, f32) {
        let (mut hits, mut cold_hits) = (0usize, 0usize);
        for (m, next) in &self.targets {
            let mut best: Option<(f32, f32, u32)> = None;
            for c in 0..self.popularity.len() as u32 {
                if self.observed[*m as usize].contains(&c) {
                    continue;
                }
                let s = score(*m, c);
                let s = if s.is_nan() { f32::NEG_INFINITY } else { s };
                let key = (s, self.popularity[c as usize], c);
                let better = best.is_none_or(|(bs, bp, _)| s > bs || (s == bs && key.1 > bp));
                if better {
                    best = Some(key);
                }
            }
            if best.is_some_and(|(_, _, c)| next.contains(&c)) {
                hits += 1;
                if self.cold[*m as usize] {
                    cold_hits += 1;
                }
            }
        }
        let (n, n_cold) = self.members();
        let share = |h: usize, n: usize| if n == 0 { 0.0 } else { h as f32 / n as f32 };
        (share(hits, n), share(cold_hits, n_cold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ChannelNode, Edge, MemberNode};

    fn edge(src: u32, dst: u32, count: u32) -> Edge {
        Edge {
            src,
            dst,
            edge_type: EdgeType::Posted,
            count,
            last_seen_days: 1.0,
        }
    }

    /// Two members, four channels: member 0 posted in channel 0 and posts next in channel 2;
    /// member 1 (cold-start) posted in channels 0 and 1 and posts next in channel 1 only (not
    /// new: not scored). Channel 3 is the most popular one member 0 has not used.
    fn task() -> PostingTask {
        let channel = |name: &str| ChannelNode {
            name: name.into(),
            topic: String::new(),
            text_embedding: None,
        };
        let graph = Graph {
            members: vec![
                MemberNode { name: "a".into() },
                MemberNode { name: "b".into() },
            ],
            channels: ["c0", "c1", "c2", "c3"].map(channel).to_vec(),
            roles: Vec::new(),
            edges: vec![edge(0, 0, 1), edge(1, 0, 1), edge(1, 1, 1), edge(1, 3, 5)],
            images: Vec::new(),
        };
        let truth = GroundTruth {
            tastes: Vec::new(),
            member_mixture: vec![Vec::new(); 2],
            channel_taste: Vec::new(),
            role_taste: Vec::new(),
            cold_start: vec![1],
            sparse: Vec::new(),
            noise_members: Vec::new(),
            future_posts: vec![vec![0, 2], vec![1]],
        };
        PostingTask::new(&graph, &graph, &truth, &[true, true])
    }

    #[test]
    fn only_new_channels_are_ranked_and_ties_go_to_popularity() {
        let t = task();
        assert_eq!(t.members(), (1, 0), "member 1 posts nowhere new");
        // Preferring channel 2 is a hit; channel 0 scores highest but is not new.
        let (acc, cold) = t.accuracy(&|_, c| [9.0, 0.0, 1.0, 0.0][c as usize]);
        assert_eq!((acc, cold), (1.0, 0.0));
        // A constant score falls back to the most popular new channel (3): a miss.
        assert_eq!(t.accuracy(&|_, _| 0.5).0, 0.0);
        // NaN never wins.
        assert_eq!(
            t.accuracy(&|_, c| if c == 2 { 1.0 } else { f32::NAN }).0,
            1.0
        );
    }
}
