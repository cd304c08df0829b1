//! Loads a graph (e.g. a synthetic community from `zipp graph synth`) into the store as one
//! server whose members all consented: demos, benchmarks and end-to-end tests start from it.
//! Ids are stable: member `i` is [`member_id`]`(i)`, channel `c` is [`channel_id`]`(c)`, role
//! `r` is [`role_id`]`(r)`.

use crate::ids::{GuildId, MemberId};
use crate::store::{EdgeDelta, EdgeKind, GraphNode, Store, StoreError};
use zipp_gat::graph::{EdgeType, Graph};

/// The Discord id given to member index `i`.
pub fn member_id(i: u32) -> MemberId {
    MemberId(1_000_000 + u64::from(i))
}

/// The Discord id given to channel index `c`.
pub fn channel_id(c: u32) -> u64 {
    2_000_000 + u64::from(c)
}

/// The Discord id given to role index `r`.
pub fn role_id(r: u32) -> u64 {
    3_000_000 + u64::from(r)
}

/// Writes the graph's nodes, consents and edges (edge recency from `last_seen_days` before
/// `now_ms`); [`seed_images`] adds the images.
pub async fn seed_from_graph(
    store: &Store,
    guild: GuildId,
    graph: &Graph,
    now_ms: i64,
) -> Result<Vec<MemberId>, StoreError> {
    for (c, channel) in graph.channels.iter().enumerate() {
        store
            .upsert_node(
                guild,
                &GraphNode {
                    kind: "channel".to_owned(),
                    node_id: channel_id(c as u32),
                    name: channel.name.clone(),
                    topic: Some(channel.topic.clone()).filter(|t| !t.is_empty()),
                },
            )
            .await?;
    }
    for (r, role) in graph.roles.iter().enumerate() {
        store
            .upsert_node(
                guild,
                &GraphNode {
                    kind: "role".to_owned(),
                    node_id: role_id(r as u32),
                    name: role.name.clone(),
                    topic: None,
                },
            )
            .await?;
    }
    let members: Vec<MemberId> = (0..graph.members.len() as u32).map(member_id).collect();
    for &m in &members {
        store.set_consent(guild, m, true).await?;
    }
    let deltas: Vec<EdgeDelta> = graph
        .edges
        .iter()
        .map(|e| {
            let (kind, target_id) = match e.edge_type {
                EdgeType::Posted => (EdgeKind::Posted, channel_id(e.dst)),
                EdgeType::Reacted => (EdgeKind::Reacted, channel_id(e.dst)),
                EdgeType::Replied => (EdgeKind::Replied, member_id(e.dst).0),
                EdgeType::HasRole => (EdgeKind::HasRole, role_id(e.dst)),
            };
            EdgeDelta {
                guild_id: guild,
                member_id: member_id(e.src),
                kind,
                target_id,
                count: i64::from(e.count),
                last_at: now_ms - (f64::from(e.last_seen_days) * 86_400_000.0) as i64,
            }
        })
        .collect();
    for chunk in deltas.chunks(5000) {
        store.add_edges(chunk).await?;
    }
    Ok(members)
}

/// Stores the graph's images as images the members handed over (`/persona add-image`; each
/// member keeps their newest [`crate::store::MAX_MEMBER_IMAGES`]). Members must be seeded.
/// Returns how many were stored.
pub async fn seed_images(
    store: &Store,
    guild: GuildId,
    graph: &Graph,
) -> Result<usize, StoreError> {
    let mut stored = 0;
    for image in &graph.images {
        stored += usize::from(
            store
                .add_member_image(guild, member_id(image.member), &image.embedding)
                .await?,
        );
    }
    Ok(stored)
}
