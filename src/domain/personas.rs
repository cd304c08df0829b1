//! A persona version as the core sees it. The store maps it to rows (`store/personas.rs`).

use crate::ids::{GuildId, MemberId};

/// A persona inferred from the member's activity (kept only while they consent).
pub const SOURCE_INFERRED: &str = "inferred";
/// A persona the member wrote.
pub const SOURCE_EDITED: &str = "edited";
/// A persona built from the member's `/persona setup` answers.
pub const SOURCE_QUESTIONNAIRE: &str = "questionnaire";

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
