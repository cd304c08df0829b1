//! Personas (`personas`, `persona_active`): every version a member had in a server, and which
//! one is in use. Versions are never rewritten, so a member can look back and restore one.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{db_err, now_ms, Store, StoreError};
use crate::domain::Persona;
use crate::ids::{GuildId, MemberId};

pub(super) const PERSONA_COLUMNS: &str =
    "p.id, p.guild_id, p.member_id, p.version, p.source, p.text, p.evidence, p.created_at";

pub(super) fn persona_from_row(row: &AnyRow) -> Result<Persona, sqlx::Error> {
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
    /// Stores a persona the member wrote as a new version and makes it the active one, in one
    /// transaction (their own text: no consent needed). Inferred versions go through
    /// [`Store::add_inferred_personas`].
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
        let now = now_ms();
        let row = sqlx::query(&version_insert_sql("1 = 1"))
            .bind(guild.to_db())
            .bind(member.to_db())
            .bind(source)
            .bind(text)
            .bind(evidence)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err(op))?;
        let id: i64 = row.try_get("id").map_err(db_err(op))?;
        let version: i64 = row.try_get("version").map_err(db_err(op))?;
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
            version,
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

impl Store {
    /// One persona version by id.
    pub async fn persona(&self, id: i64) -> Result<Option<Persona>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PERSONA_COLUMNS} FROM personas p WHERE p.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(db_err("read persona"))?;
        row.as_ref()
            .map(persona_from_row)
            .transpose()
            .map_err(db_err("read persona"))
    }

    /// The member's persona versions in this server, newest first, at most `limit`.
    pub async fn persona_history(
        &self,
        guild: GuildId,
        member: MemberId,
        limit: i64,
    ) -> Result<Vec<Persona>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PERSONA_COLUMNS} FROM personas p WHERE p.guild_id = $1 AND p.member_id = $2 \
             ORDER BY p.version DESC LIMIT $3"
        ))
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(db_err("read persona history"))?;
        rows.iter()
            .map(persona_from_row)
            .collect::<Result<_, _>>()
            .map_err(db_err("read persona history"))
    }

    /// The member's newest persona of `source` (e.g. the latest inferred one).
    pub async fn latest_persona(
        &self,
        guild: GuildId,
        member: MemberId,
        source: &str,
    ) -> Result<Option<Persona>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PERSONA_COLUMNS} FROM personas p WHERE p.guild_id = $1 AND p.member_id = $2 \
             AND p.source = $3 ORDER BY p.version DESC LIMIT 1"
        ))
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(source)
        .fetch_optional(self.pool())
        .await
        .map_err(db_err("read latest persona"))?;
        row.as_ref()
            .map(persona_from_row)
            .transpose()
            .map_err(db_err("read latest persona"))
    }

    /// Makes version `persona_id` the member's active one. Returns it, or `None` when that id
    /// is not one of this member's versions in this server (nothing changes then).
    pub async fn activate_persona(
        &self,
        guild: GuildId,
        member: MemberId,
        persona_id: i64,
    ) -> Result<Option<Persona>, StoreError> {
        let Some(persona) = self
            .persona(persona_id)
            .await?
            .filter(|p| p.guild_id == guild && p.member_id == member)
        else {
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO persona_active (guild_id, member_id, persona_id) VALUES ($1, $2, $3) \
             ON CONFLICT (guild_id, member_id) DO UPDATE SET persona_id = excluded.persona_id",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(persona_id)
        .execute(self.pool())
        .await
        .map_err(db_err("activate persona"))?;
        Ok(Some(persona))
    }

    /// Members of the server who granted consent, ascending.
    pub async fn consenting_members(&self, guild: GuildId) -> Result<Vec<MemberId>, StoreError> {
        let rows = sqlx::query(
            "SELECT member_id FROM consents WHERE guild_id = $1 AND granted = 1 ORDER BY member_id",
        )
        .bind(guild.to_db())
        .fetch_all(self.pool())
        .await
        .map_err(db_err("read consenting members"))?;
        rows.iter()
            .map(|row| row.try_get("member_id").map(MemberId::from_db))
            .collect::<Result<_, _>>()
            .map_err(db_err("read consenting members"))
    }

    /// Servers with at least one consenting member (for scheduled inference).
    pub async fn guilds_with_consent(&self) -> Result<Vec<GuildId>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT guild_id FROM consents WHERE granted = 1 ORDER BY guild_id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db_err("read servers with consent"))?;
        rows.iter()
            .map(|row| row.try_get("guild_id").map(GuildId::from_db))
            .collect::<Result<_, _>>()
            .map_err(db_err("read servers with consent"))
    }

    /// The member's most recent `/imagine` prompts in this server, newest first — only those
    /// typed while they consent: since their consent, or, when the server's moderators turned
    /// history backfill on (the consent prompt then says so), up to `backfill_ms` before it.
    /// Prompts from before a withdrawal never count.
    pub async fn recent_prompts(
        &self,
        guild: GuildId,
        member: MemberId,
        limit: i64,
        backfill_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut by_member = self
            .prompts_of(guild, &[member], limit.max(0) as usize, backfill_ms)
            .await?;
        Ok(by_member.remove(&member).unwrap_or_default())
    }
}

/// `INSERT INTO personas … RETURNING id, version` for binds `$1` guild, `$2` member, `$3`
/// source, `$4` text, `$5` evidence, `$6` time, inserting only `WHERE condition`. One statement
/// computes the next version and inserts it: the transaction starts with a write (SQLite;
/// PostgreSQL locks the consent row first for inferred versions), so two writers cannot pick
/// the same version.
pub(super) fn version_insert_sql(condition: &str) -> String {
    format!(
        "INSERT INTO personas (guild_id, member_id, version, source, text, evidence, created_at) \
         SELECT $1, $2, next.version, $3, $4, $5, $6 FROM \
         (SELECT COALESCE(MAX(version), 0) + 1 AS version FROM personas \
          WHERE guild_id = $1 AND member_id = $2) next \
         WHERE {condition} RETURNING id, version"
    )
}
