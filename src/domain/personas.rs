//! A persona version as the core sees it. The store maps it to rows (`store/personas.rs`).

use crate::ids::{GuildId, MemberId};

/// A persona inferred from the member's activity (kept only while they consent).
pub const SOURCE_INFERRED: &str = "inferred";
/// A persona the member wrote.
pub const SOURCE_EDITED: &str = "edited";
/// A persona built from the member's `/persona setup` answers.
pub const SOURCE_QUESTIONNAIRE: &str = "questionnaire";

/// One stored persona version.
#[derive(Clone, PartialEq, Eq)]
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

impl std::fmt::Debug for Persona {
    // Logs never carry the persona's text or evidence: only its owner may read them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persona")
            .field("id", &self.id)
            .field("guild_id", &self.guild_id)
            .field("member_id", &self.member_id)
            .field("version", &self.version)
            .field("source", &self.source)
            .field("chars", &self.text.chars().count())
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}
