//! A persona version as the core sees it. The store maps it to rows (`store/personas.rs`).

use crate::ids::{GuildId, MemberId};

/// One stored persona version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persona {
    /// Row id (stable; render jobs refer to it).
    pub id: i64,
    /// The server.
    pub guild_id: GuildId,
    /// The member.
    pub member_id: MemberId,
    /// 1, 2, … per member and server.
    pub version: i64,
    /// `inferred`, `edited` or `questionnaire`.
    pub source: String,
    /// The persona text (first person).
    pub text: String,
    /// What inference saw (JSON), when inferred.
    pub evidence: Option<String>,
    /// When it was written (Unix ms).
    pub created_at: i64,
}
