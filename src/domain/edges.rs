//! The interaction graph's records as the core sees them: edge kinds, the deltas the ingestor
//! flushes, stored edges and channel/role nodes. The store maps them to rows (`store/edges.rs`).

use crate::ids::{GuildId, MemberId};

/// The kinds of member edges (stored by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    /// Member → channel: posted messages there (threads count for their parent channel).
    Posted,
    /// Member → channel: reacted to messages there.
    Reacted,
    /// Member → member: replied to them (both consenting).
    Replied,
    /// Member → member: mentioned them (both consenting).
    Mentioned,
    /// Member → role: holds the role.
    HasRole,
}

impl EdgeKind {
    /// Every kind.
    pub const ALL: [EdgeKind; 5] = [
        EdgeKind::Posted,
        EdgeKind::Reacted,
        EdgeKind::Replied,
        EdgeKind::Mentioned,
        EdgeKind::HasRole,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Posted => "posted",
            EdgeKind::Reacted => "reacted",
            EdgeKind::Replied => "replied",
            EdgeKind::Mentioned => "mentioned",
            EdgeKind::HasRole => "has_role",
        }
    }

    /// Parses [`EdgeKind::as_str`].
    pub fn parse(text: &str) -> Option<EdgeKind> {
        EdgeKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether the target is another member (so erasure must look at targets too).
    pub fn targets_member(self) -> bool {
        matches!(self, EdgeKind::Replied | EdgeKind::Mentioned)
    }
}

/// A batch entry: `count` more events of one kind from a member to a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeDelta {
    /// The server.
    pub guild_id: GuildId,
    /// The consenting member.
    pub member_id: MemberId,
    /// What kind of interaction.
    pub kind: EdgeKind,
    /// Channel, member or role id.
    pub target_id: u64,
    /// How many events (for `has_role`: 1, it is a fact, not a count).
    pub count: i64,
    /// The latest event (Unix ms).
    pub last_at: i64,
}

/// One stored edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The member.
    pub member_id: MemberId,
    /// What kind.
    pub kind: EdgeKind,
    /// Channel, member or role id.
    pub target_id: u64,
    /// Events so far.
    pub count: i64,
    /// The latest event (Unix ms).
    pub last_at: i64,
}

/// A channel or role of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphNode {
    /// `channel` or `role`.
    pub kind: String,
    /// Discord id.
    pub node_id: u64,
    /// Name.
    pub name: String,
    /// Channel topic.
    pub topic: Option<String>,
}

/// A member's neighbourhood in a server's interaction graph, as a `/persona refresh` embeds it
/// (see `Store::member_neighbourhood`): consenting members only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Neighbourhood {
    /// The member, their reply partners and the members the sample reached, ascending.
    pub members: Vec<MemberId>,
    /// Every edge of the member, and the sampled edges of their channels, roles and partners.
    pub edges: Vec<Edge>,
    /// The channels and roles those edges name.
    pub nodes: Vec<GraphNode>,
    /// The images the members engaged with, as `(member, embedding)`.
    pub images: Vec<(MemberId, Vec<f32>)>,
}
