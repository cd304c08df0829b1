//! Personas (`personas`, `persona_active`): every version a member had in a server, and which
//! one is in use. Versions are never rewritten, so a member can look back and restore one.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::consent::{consented_sql, lock_consent};
use super::{db_err, now_ms, Store, StoreError};
use crate::domain::{Persona, SOURCE_INFERRED};
use crate::ids::{GuildId, MemberId};

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
    /// Stores a persona the member wrote as a new version and makes it the active one, in one
    /// transaction (their own text: no consent needed).
    pub async fn add_persona(
        &self,
        guild: GuildId,
        member: MemberId,
        source: &str,
        text: &str,
        evidence: Option<&str>,
    ) -> Result<Persona, StoreError> {
        let stored = self
            .add_persona_version(guild, member, source, text, evidence, true, false)
            .await?;
        stored.ok_or_else(|| StoreError::Corrupt {
            table: "personas",
            reason: "an unconditional insert stored nothing".to_owned(),
        })
    }

    /// Stores a persona inferred from the member's activity as a new version, made active when
    /// `activate` — only if they consent *now* and the server's inference is on (see
    /// `store/consent.rs`): an inference that ran while they withdrew stores nothing (`None`).
    pub async fn add_inferred_persona(
        &self,
        guild: GuildId,
        member: MemberId,
        text: &str,
        evidence: Option<&str>,
        activate: bool,
    ) -> Result<Option<Persona>, StoreError> {
        self.add_persona_version(
            guild,
            member,
            SOURCE_INFERRED,
            text,
            evidence,
            activate,
            true,
        )
        .await
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the two public entry points above name the cases"
    )]
    async fn add_persona_version(
        &self,
        guild: GuildId,
        member: MemberId,
        source: &str,
        text: &str,
        evidence: Option<&str>,
        activate: bool,
        needs_consent: bool,
    ) -> Result<Option<Persona>, StoreError> {
        let op = "add persona";
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        if needs_consent {
            lock_consent(&mut tx, self.backend(), guild, member).await?;
        }
        let condition = if needs_consent {
            consented_sql("$1", "$2")
        } else {
            "1 = 1".to_owned()
        };
        // One statement computes the next version and inserts it: the transaction starts with
        // a write (SQLite; PostgreSQL locks the consent row first), so two writers cannot pick
        // the same version.
        let now = now_ms();
        let row = sqlx::query(&format!(
            "INSERT INTO personas (guild_id, member_id, version, source, text, evidence, created_at) \
             SELECT $1, $2, next.version, $3, $4, $5, $6 FROM \
             (SELECT COALESCE(MAX(version), 0) + 1 AS version FROM personas \
              WHERE guild_id = $1 AND member_id = $2) next \
             WHERE {condition} RETURNING id, version"
        ))
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(source)
        .bind(text)
        .bind(evidence)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err(op))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(db_err(op))?;
            return Ok(None);
        };
        let id: i64 = row.try_get("id").map_err(db_err(op))?;
        let next: i64 = row.try_get("version").map_err(db_err(op))?;
        if activate {
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
        }
        tx.commit().await.map_err(db_err(op))?;
        Ok(Some(Persona {
            id,
            guild_id: guild,
            member_id: member,
            version: next,
            source: source.to_owned(),
            text: text.to_owned(),
            evidence: evidence.map(str::to_owned),
            created_at: now,
        }))
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
        let rows = sqlx::query(
            "SELECT j.prompt FROM render_jobs j JOIN consents c \
             ON c.guild_id = j.guild_id AND c.member_id = j.member_id AND c.granted = 1 \
             WHERE j.guild_id = $1 AND j.member_id = $2 \
             AND j.created_at >= c.changed_at - CASE WHEN EXISTS (SELECT 1 FROM guild_settings s \
                 WHERE s.guild_id = $1 AND s.history_backfill = 'on') THEN $4 ELSE 0 END \
             ORDER BY j.id DESC LIMIT $3",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(limit)
        .bind(backfill_ms)
        .fetch_all(self.pool())
        .await
        .map_err(db_err("read recent prompts"))?;
        rows.iter()
            .map(|row| row.try_get("prompt"))
            .collect::<Result<_, _>>()
            .map_err(db_err("read recent prompts"))
    }
}
