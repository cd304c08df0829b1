//! Inference: embed every member of a graph with a trained [`PersonaEncoder`] and rank, from
//! the attention weights, the evidence a persona is built from (which channels, roles and
//! fellow members weighed most for each member).
//!
//! **Evidence weight.** For member `m` and a neighbour `j` (an in-edge `j → m` of the
//! message-passing graph), the weight is the attention `m` paid to `j`, averaged over heads
//! and over the two layers:
//!
//! `w(j, m) = ½ · (mean_h α¹[j→m, h] + mean_h α²[j→m, h])`
//!
//! summed over parallel edges (a member who both posted in and reacted to a channel has two
//! edges from it). Each layer's attention over `m`'s in-edges sums to 1 per head, so the
//! weights of all neighbours plus [`MemberEvidence::self_weight`] (the self loop: how much the
//! member's own input counted) sum to 1. Layer 1 says whose raw features fed `m`'s hidden
//! state, layer 2 whose hidden states fed its embedding; both are attention of `m` over the
//! same direct neighbours, so averaging them is a fair single ranking (2-hop influence only
//! reaches `m` through these neighbours and is not attributed further). Ties keep the lower
//! index first.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::encoder::{GraphTensors, PersonaEncoder};
use crate::graph::{Graph, GraphError, NodeType};

/// One ranked neighbour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// Index within its node type.
    pub index: u32,
    /// Channel, role or member name.
    pub name: String,
    /// Evidence weight (see the module docs).
    pub weight: f32,
}

/// What the encoder's attention says about one member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberEvidence {
    /// Member index.
    pub member: u32,
    /// Member name.
    pub name: String,
    /// Whether the member has images (otherwise the persona rests on the graph alone).
    pub has_images: bool,
    /// Weight of the member's own input (the self loop).
    pub self_weight: f32,
    /// Top channels, heaviest first.
    pub channels: Vec<EvidenceItem>,
    /// Top roles, heaviest first.
    pub roles: Vec<EvidenceItem>,
    /// Top fellow members (reply partners), heaviest first.
    pub members: Vec<EvidenceItem>,
}

/// Everything [`infer`] computes.
#[derive(Clone, Debug)]
pub struct Inference {
    /// Member embeddings `[Nm, out_dim]`.
    pub embeddings: Tensor,
    /// Member embeddings projected into image space by the ImageAlign head `[Nm, image_dim]`.
    pub aligned: Tensor,
    /// Evidence per member, in member order.
    pub evidence: Vec<MemberEvidence>,
}

/// Why inference failed.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The graph is malformed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The graph's image embeddings do not fit the checkpoint.
    #[error("graph: image embeddings have {found} dimensions, the checkpoint expects {expected}")]
    ImageDim {
        /// The graph's size.
        found: usize,
        /// The encoder's `image_dim`.
        expected: usize,
    },
    /// The encoder failed.
    #[error("persona encoder: {0}")]
    Model(#[from] candle_core::Error),
}

/// Embeds every member of `graph` and ranks the top `top_k` channels, roles and members of
/// each by evidence weight.
pub fn infer(
    model: &PersonaEncoder,
    graph: &Graph,
    top_k: usize,
    device: &Device,
) -> Result<Inference, InferError> {
    graph.validate()?;
    let cfg = model.config();
    if let Some(found) = graph.image_dim().filter(|&d| d != cfg.image_dim) {
        return Err(InferError::ImageDim {
            found,
            expected: cfg.image_dim,
        });
    }
    let g = GraphTensors::from_graph(graph, cfg.image_dim, cfg.text_dim, device)?;
    let out = model.forward_with_attention(&g)?;
    let members = out.embeddings.narrow(0, 0, g.n_members)?;
    let aligned = model.align(&members)?;
    let a1 = out.conv1_alpha.mean(1)?.to_vec1::<f32>()?;
    let a2 = out.conv2_alpha.mean(1)?.to_vec1::<f32>()?;
    let weights: Vec<f32> = a1.iter().zip(&a2).map(|(x, y)| 0.5 * (x + y)).collect();
    let evidence = (0..g.n_members as u32)
        .map(|m| member_evidence(graph, &g, &weights, m, top_k))
        .collect();
    Ok(Inference {
        embeddings: members,
        aligned,
        evidence,
    })
}

/// Ranks member `m`'s neighbours by the per-edge `weights` (CSR order).
fn member_evidence(
    graph: &Graph,
    g: &GraphTensors,
    weights: &[f32],
    m: u32,
    top_k: usize,
) -> MemberEvidence {
    let row_ptr = g.edge_index.row_ptr();
    let csr_src = g.edge_index.csr_src();
    let mut self_weight = 0.0;
    // Per neighbour node; parallel edges add up. In-degrees are small, so a sorted vector
    // beats a map.
    let mut by_node: Vec<(u32, f32)> = Vec::new();
    for slot in row_ptr[m as usize]..row_ptr[m as usize + 1] {
        let src = csr_src[slot];
        if src == m {
            self_weight += weights[slot];
        } else {
            by_node.push((src, weights[slot]));
        }
    }
    by_node.sort_by_key(|&(n, _)| n);
    by_node.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 += next.1;
            true
        } else {
            false
        }
    });
    by_node.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut channels = Vec::new();
    let mut roles = Vec::new();
    let mut members = Vec::new();
    for (node, weight) in by_node {
        let (kind, index) = g.node_kind(node);
        let (list, name) = match kind {
            NodeType::Channel => (&mut channels, &graph.channels[index as usize].name),
            NodeType::Role => (&mut roles, &graph.roles[index as usize].name),
            NodeType::Member => (&mut members, &graph.members[index as usize].name),
        };
        if list.len() < top_k {
            list.push(EvidenceItem {
                index,
                name: name.clone(),
                weight,
            });
        }
    }
    MemberEvidence {
        member: m,
        name: graph.members[m as usize].name.clone(),
        has_images: g.member_has_image[m as usize],
        self_weight,
        channels,
        roles,
        members,
    }
}

#[cfg(test)]
mod tests {
    use candle_core::DType;
    use candle_nn::{VarBuilder, VarMap};

    use super::*;
    use crate::fixtures::{community, enc_cfg, train_cfg};
    use crate::graph::{Edge, EdgeType};
    use crate::train::{train, TrainConfig};

    #[test]
    fn evidence_weights_are_attention_shares() {
        let g = community();
        let cfg = enc_cfg();
        let vm = VarMap::new();
        let model = PersonaEncoder::new(
            cfg.clone(),
            VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
        )
        .expect("model");
        let inf = infer(&model, &g, usize::MAX, &Device::Cpu).expect("infer");
        assert_eq!(inf.embeddings.dims(), &[g.members.len(), cfg.out_dim]);
        assert_eq!(inf.aligned.dims(), &[g.members.len(), cfg.image_dim]);
        assert_eq!(inf.evidence.len(), g.members.len());
        for ev in &inf.evidence {
            // With every neighbour listed, the weights and the self loop share 1.
            let total: f32 = ev.self_weight
                + ev.channels
                    .iter()
                    .chain(&ev.roles)
                    .chain(&ev.members)
                    .map(|e| e.weight)
                    .sum::<f32>();
            assert!((total - 1.0).abs() < 1e-4, "{ev:?}");
            for list in [&ev.channels, &ev.roles, &ev.members] {
                assert!(
                    list.windows(2).all(|w| w[0].weight >= w[1].weight),
                    "{ev:?}"
                );
            }
            // Every channel listed is one the member is linked to.
            for c in &ev.channels {
                assert!(g.edges.iter().any(|e| e.src == ev.member
                    && e.dst == c.index
                    && matches!(e.edge_type, EdgeType::Posted | EdgeType::Reacted)));
                assert_eq!(c.name, g.channels[c.index as usize].name);
            }
        }
        let top2 = infer(&model, &g, 2, &Device::Cpu).expect("infer");
        assert!(top2
            .evidence
            .iter()
            .all(|e| e.channels.len() <= 2 && e.roles.len() <= 2));
        assert_eq!(
            top2.evidence[0].channels[..],
            inf.evidence[0].channels[..top2.evidence[0].channels.len()]
        );
    }

    #[test]
    fn trained_evidence_points_at_the_members_tastes() {
        let (g, truth) = crate::fixtures::community_with_truth();
        let vm = VarMap::new();
        let tc = TrainConfig {
            epochs: 25,
            ..train_cfg()
        };
        let (model, _) = train(&g, &enc_cfg(), &tc, &vm, &Device::Cpu).expect("train");
        let inf = infer(&model, &g, 1, &Device::Cpu).expect("infer");
        let mut hits = 0;
        let mut total = 0;
        for ev in &inf.evidence {
            if let Some(top) = ev.channels.first() {
                total += 1;
                let t = truth.channel_taste[top.index as usize];
                hits += usize::from(truth.has_taste(ev.member, t));
            }
        }
        let share = hits as f32 / total as f32;
        eprintln!("top channel is a planted taste for {hits}/{total}");
        // Noise sends 15% of interactions to random channels; attention should see past it.
        assert!(share > 0.8, "{share}");
    }

    #[test]
    fn malformed_graphs_are_errors_not_panics() {
        let cfg = enc_cfg();
        let model = PersonaEncoder::new(
            cfg.clone(),
            VarBuilder::from_varmap(&VarMap::new(), DType::F32, &Device::Cpu),
        )
        .expect("model");
        let check = |edit: &dyn Fn(&mut Graph), want: &str| {
            let mut g = community();
            edit(&mut g);
            let e = infer(&model, &g, 3, &Device::Cpu)
                .expect_err("error")
                .to_string();
            assert!(e.contains(want), "{e} lacks {want}");
        };
        check(&|g| g.images[3].embedding[2] = f32::NAN, "image 3");
        check(&|g| g.images[5].embedding.push(0.0), "image 5");
        check(
            &|g| g.images.iter_mut().for_each(|i| i.embedding.truncate(8)),
            "expects 16",
        );
        check(
            &|g| {
                g.edges.push(Edge {
                    src: 0,
                    dst: 999,
                    edge_type: EdgeType::HasRole,
                    count: 1,
                    last_seen_days: 0.0,
                })
            },
            "points outside",
        );
        check(&|g| g.images[0].member = 10_000, "member 10000");
    }
}
