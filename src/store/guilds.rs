//! Per-server settings (`guild_settings`). A server without a row uses the operator's defaults.

use sqlx::Row;

use super::{db_err, now_ms, Store, StoreError};
use crate::ids::{GuildId, MemberId};

/// What a server's moderators chose. `None` means "the operator's default".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuildSettings {
    /// Diffusion model (catalog name).
    pub diffusion_model: Option<String>,
    /// LLM used for rewriting (catalog name).
    pub llm: Option<String>,
}

impl Store {
    /// The server's settings (defaults when it never changed any).
    pub async fn guild_settings(&self, guild: GuildId) -> Result<GuildSettings, StoreError> {
        let row =
            sqlx::query("SELECT diffusion_model, llm FROM guild_settings WHERE guild_id = $1")
                .bind(guild.to_db())
                .fetch_optional(self.pool())
                .await
                .map_err(db_err("read guild settings"))?;
        let Some(row) = row else {
            return Ok(GuildSettings::default());
        };
        Ok(GuildSettings {
            diffusion_model: row
                .try_get("diffusion_model")
                .map_err(db_err("read guild settings"))?,
            llm: row.try_get("llm").map_err(db_err("read guild settings"))?,
        })
    }

    /// Replaces the server's settings.
    pub async fn set_guild_settings(
        &self,
        guild: GuildId,
        settings: &GuildSettings,
        by: MemberId,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO guild_settings (guild_id, diffusion_model, llm, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (guild_id) DO UPDATE SET \
             diffusion_model = excluded.diffusion_model, llm = excluded.llm, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(guild.to_db())
        .bind(settings.diffusion_model.as_deref())
        .bind(settings.llm.as_deref())
        .bind(now_ms())
        .bind(by.to_db())
        .execute(self.pool())
        .await
        .map_err(db_err("write guild settings"))?;
        Ok(())
    }
}
