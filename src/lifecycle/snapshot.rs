//! A server's interaction graph as the persona encoder sees it, read from the store.
//!
//! Members are the consenting members (in ascending id order, so a snapshot is reproducible);
//! channels and roles are the server's known nodes plus any target an edge names that the
//! store has no name for (an unnamed node: the edge still counts). `replied` and `mentioned`
//! between two members both in the snapshot become one undirected `Replied` edge per pair with
//! the counts added; edges to members outside the snapshot are dropped. No message text is
//! ever part of it.

use std::collections::{BTreeMap, HashMap};

use crate::ids::{GuildId, MemberId};
use crate::store::{EdgeKind, Store, StoreError};
use zipp_gat::graph::{ChannelNode, Edge, EdgeType, Graph, MemberNode, RoleNode};

/// A server's graph and which member each member index is.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The graph (member names are pseudonyms: `member-INDEX`).
    pub graph: Graph,
    /// Member index → member id.
    pub members: Vec<MemberId>,
}

impl Snapshot {
    /// The index of `member`, when it is in the snapshot.
    pub fn index_of(&self, member: MemberId) -> Option<usize> {
        self.members.binary_search(&member).ok()
    }
}

const DAY_MS: f64 = 86_400_000.0;

/// Reads the server's snapshot at time `now_ms`.
pub async fn snapshot(store: &Store, guild: GuildId, now_ms: i64) -> Result<Snapshot, StoreError> {
    let members = store.consenting_members(guild).await?;
    let edges = store.guild_edges(guild).await?;
    let nodes = store.guild_nodes(guild).await?;
    let mut snap = build(members, &edges, &nodes, now_ms);
    add_images(&mut snap, store.engaged_images(guild).await?);
    Ok(snap)
}

/// `member`'s neighbourhood (see [`Store::member_neighbourhood`]: complete first hop, at most
/// `fanout` edges into each first-hop node) as a snapshot. The encoder's output for `member` on
/// it approximates the whole-server one, and equals it when `fanout` covers every degree.
pub async fn neighbourhood(
    store: &Store,
    guild: GuildId,
    member: MemberId,
    fanout: usize,
    now_ms: i64,
) -> Result<Snapshot, StoreError> {
    let n = store.member_neighbourhood(guild, member, fanout).await?;
    let mut snap = build(n.members, &n.edges, &n.nodes, now_ms);
    add_images(&mut snap, n.images);
    Ok(snap)
}

/// Adds the CLIP embeddings of images members engaged with (members outside the snapshot are
/// left out). Should two CLIP models have been used over time, only the embeddings of the most
/// common size are kept, so every image of the graph lives in one space.
pub fn add_images(snap: &mut Snapshot, images: Vec<(MemberId, Vec<f32>)>) {
    let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
    for (_, e) in &images {
        *sizes.entry(e.len()).or_default() += 1;
    }
    let Some((&dim, _)) = sizes
        .iter()
        .filter(|(&d, _)| d > 0)
        .max_by_key(|(&d, &n)| (n, std::cmp::Reverse(d)))
    else {
        return;
    };
    for (member, embedding) in images {
        if embedding.len() != dim || embedding.iter().any(|x| !x.is_finite()) {
            continue;
        }
        if let Some(i) = snap.index_of(member) {
            snap.graph.images.push(zipp_gat::graph::ImageEngagement {
                member: i as u32,
                embedding,
            });
        }
    }
}

/// Builds a snapshot from stored rows (pure; see the module docs).
pub fn build(
    mut members: Vec<MemberId>,
    edges: &[crate::store::Edge],
    nodes: &[crate::store::GraphNode],
    now_ms: i64,
) -> Snapshot {
    members.sort_unstable();
    members.dedup();
    let member_index: HashMap<MemberId, u32> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (*m, i as u32))
        .collect();
    let mut graph = Graph {
        members: (0..members.len())
            .map(|i| MemberNode {
                name: format!("member-{i}"),
            })
            .collect(),
        ..Graph::default()
    };
    let mut channel_index: HashMap<u64, u32> = HashMap::new();
    let mut role_index: HashMap<u64, u32> = HashMap::new();
    for node in nodes {
        match node.kind.as_str() {
            "channel" => {
                channel_index.insert(node.node_id, graph.channels.len() as u32);
                graph.channels.push(ChannelNode {
                    name: node.name.clone(),
                    topic: node.topic.clone().unwrap_or_default(),
                    text_embedding: None,
                });
            }
            "role" => {
                role_index.insert(node.node_id, graph.roles.len() as u32);
                graph.roles.push(RoleNode {
                    name: node.name.clone(),
                    text_embedding: None,
                });
            }
            _ => {}
        }
    }
    let days = |last_at: i64| ((now_ms - last_at).max(0) as f64 / DAY_MS) as f32;
    let count = |c: i64| c.clamp(1, i64::from(u32::MAX)) as u32;
    // Undirected member pairs: (count, latest).
    let mut pairs: BTreeMap<(u32, u32), (i64, i64)> = BTreeMap::new();
    for e in edges {
        let Some(&src) = member_index.get(&e.member_id) else {
            continue;
        };
        match e.kind {
            EdgeKind::Posted | EdgeKind::Reacted => {
                let dst = *channel_index.entry(e.target_id).or_insert_with(|| {
                    graph.channels.push(ChannelNode {
                        name: String::new(),
                        topic: String::new(),
                        text_embedding: None,
                    });
                    graph.channels.len() as u32 - 1
                });
                graph.edges.push(Edge {
                    src,
                    dst,
                    edge_type: if e.kind == EdgeKind::Posted {
                        EdgeType::Posted
                    } else {
                        EdgeType::Reacted
                    },
                    count: count(e.count),
                    last_seen_days: days(e.last_at),
                });
            }
            EdgeKind::HasRole => {
                let dst = *role_index.entry(e.target_id).or_insert_with(|| {
                    graph.roles.push(RoleNode {
                        name: String::new(),
                        text_embedding: None,
                    });
                    graph.roles.len() as u32 - 1
                });
                graph.edges.push(Edge {
                    src,
                    dst,
                    edge_type: EdgeType::HasRole,
                    count: 1,
                    last_seen_days: days(e.last_at),
                });
            }
            EdgeKind::Replied | EdgeKind::Mentioned => {
                let Some(&dst) = member_index.get(&MemberId(e.target_id)) else {
                    continue;
                };
                if dst == src {
                    continue;
                }
                let entry = pairs.entry((src.min(dst), src.max(dst))).or_insert((0, 0));
                entry.0 += e.count.max(1);
                entry.1 = entry.1.max(e.last_at);
            }
        }
    }
    for ((a, b), (n, last)) in pairs {
        graph.edges.push(Edge {
            src: a,
            dst: b,
            edge_type: EdgeType::Replied,
            count: count(n),
            last_seen_days: days(last),
        });
    }
    Snapshot { graph, members }
}

/// Gives every channel and role its CLIP text embedding (channel: name and topic; role: name),
/// reusing `cache` (texts already embedded). Blocking: the text tower runs.
pub fn add_text_embeddings(
    graph: &mut Graph,
    clip: &zipp_clip::ClipEmbedder,
    cache: &dashmap::DashMap<String, Vec<f32>>,
) -> Result<(), zipp_clip::ClipError> {
    let channel_text = |c: &ChannelNode| format!("{} {}", c.name, c.topic).trim().to_owned();
    let texts: Vec<String> = graph
        .channels
        .iter()
        .map(channel_text)
        .chain(graph.roles.iter().map(|r| r.name.clone()))
        .collect();
    let missing: Vec<&str> = {
        let mut seen = std::collections::BTreeSet::new();
        texts
            .iter()
            .map(String::as_str)
            .filter(|t| !cache.contains_key(*t) && seen.insert(*t))
            .collect()
    };
    for chunk in missing.chunks(64) {
        for (text, embedding) in chunk.iter().zip(clip.embed_texts(chunk)?) {
            cache.insert((*text).to_owned(), embedding);
        }
    }
    let lookup = |t: &str| cache.get(t).map(|e| e.value().clone());
    for c in &mut graph.channels {
        c.text_embedding = lookup(&channel_text(c));
    }
    for r in &mut graph.roles {
        r.text_embedding = lookup(&r.name);
    }
    Ok(())
}

/// The disjoint union of several servers' graphs (for training on everything collected).
pub fn union(graphs: impl IntoIterator<Item = Graph>) -> Graph {
    let mut out = Graph::default();
    for g in graphs {
        let (m0, c0, r0) = (
            out.members.len() as u32,
            out.channels.len() as u32,
            out.roles.len() as u32,
        );
        out.edges.extend(g.edges.into_iter().map(|mut e| {
            e.src += m0;
            e.dst += match e.edge_type {
                EdgeType::Posted | EdgeType::Reacted => c0,
                EdgeType::HasRole => r0,
                EdgeType::Replied => m0,
            };
            e
        }));
        out.images.extend(g.images.into_iter().map(|mut i| {
            i.member += m0;
            i
        }));
        out.members.extend(g.members);
        out.channels.extend(g.channels);
        out.roles.extend(g.roles);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Edge as StoredEdge, GraphNode};

    fn edge(member: u64, kind: EdgeKind, target: u64, count: i64, last_at: i64) -> StoredEdge {
        StoredEdge {
            member_id: MemberId(member),
            kind,
            target_id: target,
            count,
            last_at,
        }
    }

    fn node(kind: &str, id: u64, name: &str, topic: Option<&str>) -> GraphNode {
        GraphNode {
            kind: kind.to_owned(),
            node_id: id,
            name: name.to_owned(),
            topic: topic.map(str::to_owned),
        }
    }

    #[test]
    fn builds_a_valid_typed_graph_from_rows() {
        let now = 10 * DAY_MS as i64;
        let members = vec![MemberId(30), MemberId(10), MemberId(20), MemberId(10)];
        let nodes = vec![
            node("channel", 500, "neon-nights", Some("rain")),
            node("role", 900, "painters", None),
        ];
        let edges = vec![
            edge(10, EdgeKind::Posted, 500, 7, now - 2 * DAY_MS as i64),
            edge(10, EdgeKind::Reacted, 501, 3, now),
            edge(20, EdgeKind::HasRole, 900, 1, now),
            edge(20, EdgeKind::Replied, 10, 2, now - DAY_MS as i64),
            edge(10, EdgeKind::Mentioned, 20, 1, now),
            // To a member who is not in the snapshot, and from one: dropped.
            edge(30, EdgeKind::Replied, 99, 5, now),
            edge(99, EdgeKind::Posted, 500, 5, now),
        ];
        let s = build(members, &edges, &nodes, now);
        s.graph.validate().expect("valid");
        assert_eq!(s.members, vec![MemberId(10), MemberId(20), MemberId(30)]);
        assert_eq!(s.index_of(MemberId(20)), Some(1));
        assert_eq!(s.index_of(MemberId(99)), None);
        assert_eq!(
            s.graph.channels.len(),
            2,
            "the unknown channel 501 is added unnamed"
        );
        assert_eq!(s.graph.channels[0].topic, "rain");
        assert_eq!(s.graph.channels[1].name, "");
        let posted = s
            .graph
            .edges
            .iter()
            .find(|e| e.edge_type == EdgeType::Posted)
            .expect("posted");
        assert_eq!((posted.src, posted.dst, posted.count), (0, 0, 7));
        assert!((posted.last_seen_days - 2.0).abs() < 1e-6);
        let replied: Vec<_> = s
            .graph
            .edges
            .iter()
            .filter(|e| e.edge_type == EdgeType::Replied)
            .collect();
        assert_eq!(replied.len(), 1, "{replied:?}");
        assert_eq!(
            (replied[0].src, replied[0].dst, replied[0].count),
            (0, 1, 3)
        );
        assert_eq!(replied[0].last_seen_days, 0.0);
        assert_eq!(s.graph.edges.len(), 4);
        // Every name is a pseudonym: no Discord id in the graph.
        assert!(s
            .graph
            .members
            .iter()
            .all(|m| m.name.starts_with("member-")));
    }

    #[test]
    fn images_of_members_in_one_space() {
        let mut s = build(vec![MemberId(1), MemberId(2)], &[], &[], 0);
        add_images(
            &mut s,
            vec![
                (MemberId(2), vec![1.0, 0.0]),
                (MemberId(9), vec![0.0, 1.0]),
                (MemberId(1), vec![0.5, 0.5]),
                (MemberId(1), vec![1.0, 0.0, 0.0]),
                (MemberId(1), vec![f32::NAN, 0.0]),
            ],
        );
        s.graph.validate().expect("valid");
        let got: Vec<(u32, usize)> = s
            .graph
            .images
            .iter()
            .map(|i| (i.member, i.embedding.len()))
            .collect();
        assert_eq!(got, vec![(1, 2), (0, 2)]);
    }

    #[test]
    fn union_offsets_every_index() {
        let now = 0;
        let a = build(
            vec![MemberId(1), MemberId(2)],
            &[
                edge(1, EdgeKind::Posted, 5, 1, now),
                edge(2, EdgeKind::Replied, 1, 1, now),
            ],
            &[node("channel", 5, "a", None)],
            now,
        );
        let b = build(
            vec![MemberId(7)],
            &[
                edge(7, EdgeKind::Posted, 6, 1, now),
                edge(7, EdgeKind::HasRole, 8, 1, now),
            ],
            &[node("channel", 6, "b", None), node("role", 8, "r", None)],
            now,
        );
        let u = union([a.graph, b.graph]);
        u.validate().expect("valid");
        assert_eq!(
            (u.members.len(), u.channels.len(), u.roles.len()),
            (3, 2, 1)
        );
        assert!(u
            .edges
            .iter()
            .any(|e| e.edge_type == EdgeType::Posted && e.src == 2 && e.dst == 1));
        assert!(u
            .edges
            .iter()
            .any(|e| e.edge_type == EdgeType::Replied && e.src == 0 && e.dst == 1));
    }
}
