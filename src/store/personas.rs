//! Personas (`personas`, `persona_active`): every version a member had in a server, and which
//! one is in use. Versions are never rewritten, so a member can look back and restore one.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{db_err, now_ms, Store, StoreError};
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

const PERSONA_COLUMNS: &str =
    "p.id, p.guild_id, p.member_id, p.version, p.source, p.text, p.evidence, p.created_at";

fn persona_from_row(row: &AnyRow) -> Result<Persona, sqlx::Error> {
    Ok(Persona {
        id: row.try_get("id")?,
        guild_id: GuildId::from_db(row.try_get("guild_id")?),
        member_id: MemberId::from_db(row.try_get("member_id")?),
        version: row.try_get("version")?,
        source: row.try_get("source")?,
        text: row.try_get("text")?,
        evidence: row.try_get("evidence")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Stores a new persona version and makes it the active one, in one transaction.
    pub async fn add_persona(
        &self,
        guild: GuildId,
        member: MemberId,
        source: &str,
        text: &str,
        evidence: Option<&str>,
    ) -> Result<Persona, StoreError> {
        let op = "add persona";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        let next: i64 = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) + 1 AS next FROM personas \
             WHERE guild_id = $1 AND member_id = $2",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get("next"))
        .map_err(db_err(op))?;
        let now = now_ms();
        let id: i64 = sqlx::query(
            "INSERT INTO personas (guild_id, member_id, version, source, text, evidence, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(next)
        .bind(source)
        .bind(text)
        .bind(evidence)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get("id"))
        .map_err(db_err(op))?;
        sqlx::query(
            "INSERT INTO persona_active (guild_id, member_id, persona_id) VALUES ($1, $2, $3) \
             ON CONFLICT (guild_id, member_id) DO UPDATE SET persona_id = excluded.persona_id",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err(op))?;
        tx.commit().await.map_err(db_err(op))?;
        Ok(Persona {
            id,
            guild_id: guild,
            member_id: member,
            version: next,
            source: source.to_owned(),
            text: text.to_owned(),
            evidence: evidence.map(str::to_owned),
            created_at: now,
        })
    }

    /// The member's persona in use in this server, if any.
    pub async fn active_persona(
        &self,
        guild: GuildId,
        member: MemberId,
    ) -> Result<Option<Persona>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PERSONA_COLUMNS} FROM persona_active a JOIN personas p ON p.id = a.persona_id \
             WHERE a.guild_id = $1 AND a.member_id = $2"
        ))
        .bind(guild.to_db())
        .bind(member.to_db())
        .fetch_optional(self.pool())
        .await
        .map_err(db_err("read active persona"))?;
        row.as_ref()
            .map(persona_from_row)
            .transpose()
            .map_err(db_err("read active persona"))
    }
}
