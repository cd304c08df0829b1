//! Typed interaction graph, independent of Discord.
//!
//! The persona model (DESIGN.md §5) learns from a heterogeneous graph: members post in and react to
//! channels, reply to each other, and hold roles; members also engage with images. This module holds
//! that graph in plain, serializable types so both the bot (from Discord data) and the synthetic
//! community generator ([`synth`]) can produce it, and training/evaluation can consume it without
//! knowing where it came from.
//!
//! # Indexing
//!
//! Node ids are `u32` indices **within their node type**: member `3` is `Graph::members[3]`,
//! channel `3` is `Graph::channels[3]`, role `3` is `Graph::roles[3]`. An [`Edge`]'s `src`/`dst` are
//! interpreted by its [`EdgeType`] (see [`EdgeType::endpoints`]):
//!
//! | edge type | src      | dst     |
//! |-----------|----------|---------|
//! | `Posted`  | member   | channel |
//! | `Reacted` | member   | channel |
//! | `Replied` | member   | member  |
//! | `HasRole` | member   | role    |
//!
//! `Replied` is stored once per unordered pair (`src < dst`) and means replies in either direction.

pub mod io;
pub mod synth;

use serde::{Deserialize, Serialize};

/// The kinds of node in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeType {
    /// A server member.
    Member,
    /// A text channel.
    Channel,
    /// A server role.
    Role,
}

/// The kinds of edge in the graph; each fixes the node types of its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EdgeType {
    /// Member → channel: the member posted messages there.
    Posted,
    /// Member → channel: the member reacted to messages there.
    Reacted,
    /// Member ↔ member: replies between the two (stored once, `src < dst`).
    Replied,
    /// Member → role: the member holds the role.
    HasRole,
}

impl EdgeType {
    /// All edge types, in the order of the one-hot in [`edge_features`].
    pub const ALL: [EdgeType; 4] = [
        EdgeType::Posted,
        EdgeType::Reacted,
        EdgeType::Replied,
        EdgeType::HasRole,
    ];

    /// Position of this type in the one-hot part of [`edge_features`].
    pub fn index(self) -> usize {
        match self {
            EdgeType::Posted => 0,
            EdgeType::Reacted => 1,
            EdgeType::Replied => 2,
            EdgeType::HasRole => 3,
        }
    }

    /// The node types of `(src, dst)` for this edge type.
    pub fn endpoints(self) -> (NodeType, NodeType) {
        match self {
            EdgeType::Posted | EdgeType::Reacted => (NodeType::Member, NodeType::Channel),
            EdgeType::Replied => (NodeType::Member, NodeType::Member),
            EdgeType::HasRole => (NodeType::Member, NodeType::Role),
        }
    }
}

/// One aggregated interaction between two nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Source index within the source node type (see the module docs).
    pub src: u32,
    /// Destination index within the destination node type.
    pub dst: u32,
    /// What kind of interaction this is; fixes the endpoint node types.
    pub edge_type: EdgeType,
    /// How many interactions were aggregated into this edge (1 for `HasRole`).
    pub count: u32,
    /// Days since the most recent interaction.
    pub last_seen_days: f32,
}

/// A member node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberNode {
    /// Display name (synthetic or pseudonymous; never needed for training).
    pub name: String,
}

/// A channel node; its name and topic become text features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelNode {
    /// Channel name without `#`, e.g. `neon-nights`.
    pub name: String,
    /// Free-text channel topic.
    pub topic: String,
    /// CLIP text embedding of name and topic, when the graph carries them (see
    /// [`Graph::text_dim`]); otherwise the encoder hashes the words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_embedding: Option<Vec<f32>>,
}

/// A role node; its name becomes a text feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleNode {
    /// Role name.
    pub name: String,
    /// CLIP text embedding of the name (see [`ChannelNode::text_embedding`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_embedding: Option<Vec<f32>>,
}

/// One image a member engaged with positively, as an image embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageEngagement {
    /// Member index.
    pub member: u32,
    /// Image embedding (unit norm for synthetic data, CLIP space for real data).
    pub embedding: Vec<f32>,
}

/// The whole interaction graph.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// Member nodes, indexed by member id.
    pub members: Vec<MemberNode>,
    /// Channel nodes, indexed by channel id.
    pub channels: Vec<ChannelNode>,
    /// Role nodes, indexed by role id.
    pub roles: Vec<RoleNode>,
    /// All edges; endpoint types follow each edge's [`EdgeType`].
    pub edges: Vec<Edge>,
    /// Image engagements, in no particular order.
    pub images: Vec<ImageEngagement>,
}

impl Graph {
    /// Number of edges touching `member` (as either endpoint of a `Replied` edge, or as source).
    pub fn member_degree(&self, member: u32) -> usize {
        self.edges
            .iter()
            .filter(|e| e.src == member || (e.edge_type == EdgeType::Replied && e.dst == member))
            .count()
    }

    /// Size of the channels' and roles' text embeddings when every one of them has one (the
    /// encoder then uses them instead of hashed words); `None` when none has.
    /// [`Graph::validate`] refuses a graph where only some have, or sizes differ.
    pub fn text_dim(&self) -> Option<usize> {
        self.channels
            .iter()
            .map(|c| c.text_embedding.as_ref())
            .chain(self.roles.iter().map(|r| r.text_embedding.as_ref()))
            .next()
            .flatten()
            .map(Vec::len)
    }

    /// Drops every text embedding (the encoder then hashes the words).
    pub fn clear_text_embeddings(&mut self) {
        self.channels
            .iter_mut()
            .for_each(|c| c.text_embedding = None);
        self.roles.iter_mut().for_each(|r| r.text_embedding = None);
    }

    /// Mean embedding of every member's images in one pass over [`Graph::images`]: entry `m` is
    /// `None` for a member without images (cold start). Images naming a member outside
    /// [`Graph::members`] are skipped (see [`Graph::validate`]).
    pub fn mean_images(&self) -> Vec<Option<Vec<f32>>> {
        let mut sums: Vec<Option<Vec<f32>>> = vec![None; self.members.len()];
        let mut counts = vec![0u32; self.members.len()];
        for img in &self.images {
            let Some(slot) = sums.get_mut(img.member as usize) else {
                continue;
            };
            let s = slot.get_or_insert_with(|| vec![0.0; img.embedding.len()]);
            for (a, b) in s.iter_mut().zip(&img.embedding) {
                *a += b;
            }
            counts[img.member as usize] += 1;
        }
        for (s, &n) in sums.iter_mut().zip(&counts) {
            if let Some(s) = s {
                s.iter_mut().for_each(|a| *a /= n as f32);
            }
        }
        sums
    }

    /// Checks what a file read from disk may get wrong: every edge's endpoints exist for its
    /// type, every image belongs to an existing member, all image embeddings have one size and
    /// finite values. The first problem found is returned.
    pub fn validate(&self) -> Result<(), GraphError> {
        let len = |t: NodeType| match t {
            NodeType::Member => self.members.len(),
            NodeType::Channel => self.channels.len(),
            NodeType::Role => self.roles.len(),
        };
        for (index, e) in self.edges.iter().enumerate() {
            let (s, d) = e.edge_type.endpoints();
            if e.src as usize >= len(s) || e.dst as usize >= len(d) {
                return Err(GraphError::EdgeOutOfRange {
                    index,
                    edge: e.clone(),
                });
            }
        }
        let dim = self.images.first().map(|i| i.embedding.len());
        for (index, img) in self.images.iter().enumerate() {
            if img.member as usize >= self.members.len() {
                return Err(GraphError::ImageMember {
                    index,
                    member: img.member,
                });
            }
            if Some(img.embedding.len()) != dim || img.embedding.is_empty() {
                return Err(GraphError::ImageDim {
                    index,
                    member: img.member,
                    found: img.embedding.len(),
                    expected: dim.unwrap_or(0),
                });
            }
            if let Some(position) = img.embedding.iter().position(|v| !v.is_finite()) {
                return Err(GraphError::NonFiniteImage {
                    index,
                    member: img.member,
                    position,
                });
            }
        }
        let text_dim = self.text_dim();
        let texts = self
            .channels
            .iter()
            .map(|c| (&c.name, c.text_embedding.as_ref()))
            .chain(
                self.roles
                    .iter()
                    .map(|r| (&r.name, r.text_embedding.as_ref())),
            );
        for (name, embedding) in texts {
            let ok = match (embedding, text_dim) {
                (None, None) => true,
                (Some(e), Some(d)) => {
                    e.len() == d && !e.is_empty() && e.iter().all(|v| v.is_finite())
                }
                _ => false,
            };
            if !ok {
                return Err(GraphError::TextEmbedding { node: name.clone() });
            }
        }
        Ok(())
    }

    /// The size of the image embeddings, or `None` when there are no images.
    pub fn image_dim(&self) -> Option<usize> {
        self.images.first().map(|i| i.embedding.len())
    }

    /// Mean embedding of a member's images, or `None` if the member has none (cold start).
    /// Scans every image; use [`Graph::mean_images`] for all members.
    pub fn mean_image(&self, member: u32) -> Option<Vec<f32>> {
        let mut sum: Option<Vec<f32>> = None;
        let mut n = 0usize;
        for img in self.images.iter().filter(|i| i.member == member) {
            let s = sum.get_or_insert_with(|| vec![0.0; img.embedding.len()]);
            for (a, b) in s.iter_mut().zip(&img.embedding) {
                *a += b;
            }
            n += 1;
        }
        sum.map(|mut s| {
            for a in &mut s {
                *a /= n as f32;
            }
            s
        })
    }
}

/// What [`Graph::validate`] finds wrong with a graph; each names the offending item.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// An edge points at a node that does not exist.
    #[error("graph: edge {index} ({edge:?}) points outside the graph")]
    EdgeOutOfRange {
        /// Position in [`Graph::edges`].
        index: usize,
        /// The edge.
        edge: Edge,
    },
    /// An image belongs to a member that does not exist.
    #[error("graph: image {index} belongs to member {member}, which does not exist")]
    ImageMember {
        /// Position in [`Graph::images`].
        index: usize,
        /// The member index it names.
        member: u32,
    },
    /// An image embedding's size differs from the first image's.
    #[error("graph: image {index} (member {member}) has {found} dimensions, expected {expected}")]
    ImageDim {
        /// Position in [`Graph::images`].
        index: usize,
        /// Its member.
        member: u32,
        /// Its size.
        found: usize,
        /// The first image's size.
        expected: usize,
    },
    /// Text embeddings are on some channels and roles but not all, of different sizes, or
    /// not finite.
    #[error("graph: the text embedding of node {node:?} is missing, of another size than the others, or not finite")]
    TextEmbedding {
        /// The node's name.
        node: String,
    },
    /// An image embedding holds NaN or an infinity.
    #[error(
        "graph: image {index} (member {member}) has a non-finite value at position {position}"
    )]
    NonFiniteImage {
        /// Position in [`Graph::images`].
        index: usize,
        /// Its member.
        member: u32,
        /// The offending component.
        position: usize,
    },
}

/// Number of features [`edge_features`] returns.
pub const EDGE_FEATURE_DIM: usize = 6;

/// Edge features for the GAT: edge-type one-hot (4, in [`EdgeType::ALL`] order), `ln(1 + count)`,
/// and recency `exp(-last_seen_days / 30)`.
///
/// The log tames heavy-tailed counts; the 30-day decay makes a month-old interaction weigh ~37%.
pub fn edge_features(edge: &Edge) -> [f32; EDGE_FEATURE_DIM] {
    let mut f = [0.0; EDGE_FEATURE_DIM];
    f[edge.edge_type.index()] = 1.0;
    f[4] = (edge.count as f32).ln_1p();
    // Negative days (clock skew) would give recency > 1; clamp so the feature stays in [0, 1].
    f[5] = (-edge.last_seen_days.max(0.0) / 30.0).exp();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_features_are_one_hot_log_count_and_recency() {
        let e = Edge {
            src: 1,
            dst: 2,
            edge_type: EdgeType::Replied,
            count: 9,
            last_seen_days: 30.0,
        };
        let f = edge_features(&e);
        assert_eq!(&f[..4], &[0.0, 0.0, 1.0, 0.0]);
        assert!((f[4] - 10f32.ln()).abs() < 1e-6);
        assert!((f[5] - (-1f32).exp()).abs() < 1e-6);
        for (i, t) in EdgeType::ALL.iter().enumerate() {
            let f = edge_features(&Edge {
                edge_type: *t,
                count: 0,
                last_seen_days: 0.0,
                ..e.clone()
            });
            assert_eq!(f[i], 1.0);
            assert_eq!(f[..4].iter().sum::<f32>(), 1.0);
            assert_eq!(f[4], 0.0);
            assert_eq!(f[5], 1.0);
        }
    }

    #[test]
    fn degree_and_mean_image() {
        let g = Graph {
            members: vec![
                MemberNode { name: "a".into() },
                MemberNode { name: "b".into() },
            ],
            edges: vec![Edge {
                src: 0,
                dst: 1,
                edge_type: EdgeType::Replied,
                count: 1,
                last_seen_days: 0.0,
            }],
            images: vec![
                ImageEngagement {
                    member: 0,
                    embedding: vec![1.0, 0.0],
                },
                ImageEngagement {
                    member: 0,
                    embedding: vec![0.0, 1.0],
                },
            ],
            ..Graph::default()
        };
        assert_eq!(g.member_degree(0), 1);
        assert_eq!(g.member_degree(1), 1);
        assert_eq!(g.mean_image(0), Some(vec![0.5, 0.5]));
        assert_eq!(g.mean_image(1), None);
        assert_eq!(g.mean_images(), vec![Some(vec![0.5, 0.5]), None]);
        assert_eq!(g.image_dim(), Some(2));
        assert_eq!(g.validate(), Ok(()));
    }

    #[test]
    fn validate_names_what_is_wrong() {
        let (g, _) = synth::generate(&synth::SynthConfig {
            n_members: 30,
            image_dim: 4,
            ..synth::SynthConfig::default()
        });
        assert_eq!(g.validate(), Ok(()));
        let check = |edit: &dyn Fn(&mut Graph), want: &str| {
            let mut bad = g.clone();
            edit(&mut bad);
            let e = bad.validate().expect_err("invalid").to_string();
            assert!(e.contains(want), "{e} lacks {want}");
        };
        check(&|b| b.edges[4].dst = 10_000, "edge 4");
        check(
            &|b| {
                b.edges[2].edge_type = EdgeType::Replied;
                b.edges[2].dst = 30;
            },
            "edge 2",
        );
        check(&|b| b.images[1].member = 30, "image 1 belongs to member 30");
        check(&|b| b.images[2].embedding.pop().map_or((), drop), "image 2");
        check(&|b| b.images[3].embedding[1] = f32::INFINITY, "position 1");
    }
}
