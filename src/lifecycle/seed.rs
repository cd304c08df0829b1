//! Loads a graph (e.g. a synthetic community from `zipp graph synth`) into the store as one
//! server whose members all consented: demos, benchmarks and end-to-end tests start from it.
//! Ids are stable: member `i` is [`member_id`]`(i)`, channel `c` is [`channel_id`]`(c)`, role
//! `r` is [`role_id`]`(r)`.

use crate::ids::{GuildId, MemberId};
use crate::store::{EdgeDelta, EdgeKind, GraphNode, Store, StoreError};
use crate::verbalize::Vocabulary;
use zipp_gat::graph::synth::{gaussian, GroundTruth, Taste};
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

/// A stand-in for CLIP's text tower in a synthetic community's image space, for
/// [`crate::lifecycle::PersonaService::set_phrase_embeddings`]: a vocabulary
/// phrase whose keywords name descriptors of a planted taste lands near that taste's centroid
/// (plus noise of its own, 0.1 per dimension, and an offset all phrases share: CLIP's gap
/// between text and image embeddings); any other phrase at a random point. It measures where
/// the encoder places members, not how well a real CLIP reads images.
pub fn synthetic_text_tower(vocab: &Vocabulary, truth: &GroundTruth, dim: usize) -> Vec<Vec<f32>> {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut normal = move || gaussian(&mut rng);
    let unit = |v: Vec<f32>| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let gap = unit((0..dim).map(|_| normal()).collect());
    vocab
        .entries
        .iter()
        .map(|entry| {
            let overlap = |t: &Taste| {
                t.descriptors
                    .iter()
                    .filter(|d| entry.keywords.iter().any(|k| k == *d))
                    .count()
            };
            let best = truth
                .tastes
                .iter()
                .max_by_key(|t| overlap(t))
                .filter(|t| overlap(t) > 0);
            let base = match best {
                Some(taste) => taste.centroid.clone(),
                None => unit((0..dim).map(|_| normal()).collect()),
            };
            unit(
                base.iter()
                    .zip(&gap)
                    .map(|(b, g)| b + 0.5 * g + 0.1 * normal())
                    .collect(),
            )
        })
        .collect()
}
