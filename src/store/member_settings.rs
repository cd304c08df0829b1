//! A member's defaults for `/imagine` in one server (`member_settings`, `/settings`). Erased by
//! `forget` and with the server.

use sqlx::Row;

use super::{db_err, now_ms, Store, StoreError};
use crate::domain::{Aspect, PersonaMode};
use crate::ids::{GuildId, MemberId};

/// What a member chose as their defaults (None: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberSettings {
    /// The shape of their images.
    pub aspect: Option<Aspect>,
    /// Whether their persona rewrites their prompts (`On` or `Off`).
    pub persona_mode: Option<PersonaMode>,
    /// How many images an `/imagine` renders (1 to [`crate::domain::MAX_IMAGES`]).
    pub image_count: Option<u32>,
}

impl Store {
    /// The member's defaults in this server (none set: all None). A value a newer version
    /// wrote reads as none.
    pub async fn member_settings(
        &self,
        guild: GuildId,
        member: MemberId,
    ) -> Result<MemberSettings, StoreError> {
        let op = "read member settings";
        let row = sqlx::query(
            "SELECT aspect, persona_mode, image_count FROM member_settings \
             WHERE guild_id = $1 AND member_id = $2",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .fetch_optional(self.pool())
        .await
        .map_err(db_err(op))?;
        let Some(row) = row else {
            return Ok(MemberSettings::default());
        };
        let aspect: Option<String> = row.try_get("aspect").map_err(db_err(op))?;
        let mode: Option<String> = row.try_get("persona_mode").map_err(db_err(op))?;
        let count: Option<i64> = row.try_get("image_count").map_err(db_err(op))?;
        Ok(MemberSettings {
            aspect: aspect.as_deref().and_then(Aspect::parse),
            persona_mode: mode.as_deref().and_then(PersonaMode::parse),
            image_count: count
                .filter(|n| (1..=i64::from(crate::domain::MAX_IMAGES)).contains(n))
                .map(|n| n as u32),
        })
    }

    /// Stores the member's defaults (replacing the previous ones).
    pub async fn set_member_settings(
        &self,
        guild: GuildId,
        member: MemberId,
        settings: MemberSettings,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO member_settings (guild_id, member_id, aspect, persona_mode, image_count, \
             updated_at) VALUES ($1, $2, $3, $4, $6, $5) ON CONFLICT (guild_id, member_id) \
             DO UPDATE SET aspect = excluded.aspect, persona_mode = excluded.persona_mode, \
             image_count = excluded.image_count, updated_at = excluded.updated_at",
        )
        .bind(guild.to_db())
        .bind(member.to_db())
        .bind(settings.aspect.map(Aspect::as_str))
        .bind(settings.persona_mode.map(PersonaMode::as_str))
        .bind(now_ms())
        .bind(settings.image_count.map(i64::from))
        .execute(self.pool())
        .await
        .map_err(db_err("store member settings"))?;
        Ok(())
    }

    /// Forgets the member's defaults in this server.
    pub async fn clear_member_settings(
        &self,
        guild: GuildId,
        member: MemberId,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM member_settings WHERE guild_id = $1 AND member_id = $2")
            .bind(guild.to_db())
            .bind(member.to_db())
            .execute(self.pool())
            .await
            .map_err(db_err("clear member settings"))?;
        Ok(())
    }
}
