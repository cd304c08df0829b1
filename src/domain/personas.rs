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

/// What persona inference reads about a member besides the graph (read for many members at
/// once by a scheduled pass).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PersonaInputs {
    /// Their recent `/imagine` prompts typed while they consent, newest first.
    pub prompts: Vec<String>,
    /// The rendered prompts of their renders they reacted to, newest first.
    pub liked: Vec<String>,
    /// The rewrites they preferred in compare mode, newest first.
    pub preferred: Vec<String>,
    /// Their newest inferred version.
    pub latest_inferred: Option<Persona>,
}

/// An inferred persona to store (see `Store::add_inferred_personas`).
#[derive(Clone, PartialEq)]
pub struct NewInferred {
    /// The member.
    pub member: MemberId,
    /// The verbalized persona.
    pub text: String,
    /// What inference saw (JSON).
    pub evidence: Option<String>,
}

impl std::fmt::Debug for NewInferred {
    // As for [`Persona`]: never the text or the evidence in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewInferred")
            .field("member", &self.member)
            .field("chars", &self.text.chars().count())
            .finish_non_exhaustive()
    }
}

/// What storing an inferred persona did.
#[derive(Clone, Debug, PartialEq)]
pub enum InferredWrite {
    /// Stored and made active (the member's active persona was inferred, or they had none).
    Activated(Persona),
    /// Stored behind the member's own (edited or questionnaire) version.
    Kept(Persona),
    /// Nothing stored: the member does not consent now, or the server turned inference off.
    NoConsent,
}
