//! Per-server settings (`guild_settings`) and their audit log (`config_audit`). A server without
//! a row uses the operator's defaults. Every change is written together with its audit entry in
//! one transaction.

use sqlx::Row;

use super::{db_err, now_ms, Store, StoreError};
use crate::ids::{GuildId, MemberId};

/// The audit log's name for a change of the models members may pick.
pub const DIFFUSION_ALLOWED: &str = "diffusion_allowed";

/// What a server's moderators chose. `None` means "the operator's default".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuildSettings {
    /// Diffusion model (catalog name).
    pub diffusion_model: Option<String>,
    /// LLM used for rewriting (catalog name).
    pub llm: Option<String>,
    /// `off` turns persona inference off for the whole server (None: on).
    pub persona_inference: Option<String>,
    /// `on`: a member's consent also records their recent past activity (None: off).
    pub history_backfill: Option<String>,
    /// What a flagged image does in an age-restricted channel: `block` (None), `spoiler`,
    /// `allow`.
    pub nsfw_policy: Option<String>,
    /// `off`: delivered PNGs carry no `parameters` text chunk (None: on).
    pub png_metadata: Option<String>,
}

impl GuildSettings {
    /// Whether persona inference (and so the recording of interactions) is on in this server.
    pub fn inference_on(&self) -> bool {
        self.persona_inference.as_deref() != Some("off")
    }

    /// What a flagged image does in an age-restricted channel here.
    pub fn nsfw_policy(&self) -> NsfwPolicy {
        match self.nsfw_policy.as_deref() {
            Some("spoiler") => NsfwPolicy::Spoiler,
            Some("allow") => NsfwPolicy::Allow,
            _ => NsfwPolicy::Block,
        }
    }

    /// Whether delivered PNGs carry their generation parameters (`/config metadata`).
    pub fn metadata_on(&self) -> bool {
        self.png_metadata.as_deref() != Some("off")
    }

    /// Whether a member's consent also records their recent past activity here.
    pub fn backfill_on(&self) -> bool {
        self.inference_on() && self.history_backfill.as_deref() == Some("on")
    }
}

/// What a render the safety check flagged becomes in an age-restricted channel (elsewhere, and
/// in DMs, it is never posted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsfwPolicy {
    /// Not posted (the default).
    Block,
    /// Posted behind a spoiler.
    Spoiler,
    /// Posted.
    Allow,
}

/// How a finished render is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Posted.
    Show,
    /// Posted behind a spoiler.
    Spoiler,
    /// Not posted; its owner is told privately.
    Withhold,
}

impl NsfwPolicy {
    /// The disposition of a render with the safety check's `verdict` (None: not checked) in a
    /// channel that is (or not) age-restricted.
    pub fn disposition(self, verdict: Option<bool>, age_restricted: bool) -> Disposition {
        match (verdict, age_restricted, self) {
            (None | Some(false), _, _) => Disposition::Show,
            (Some(true), false, _) | (Some(true), true, NsfwPolicy::Block) => Disposition::Withhold,
            (Some(true), true, NsfwPolicy::Spoiler) => Disposition::Spoiler,
            (Some(true), true, NsfwPolicy::Allow) => Disposition::Show,
        }
    }
}

/// A setting moderators can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuildSetting {
    /// The diffusion model (`/config diffusion`).
    DiffusionModel,
    /// The rewriting LLM (`/config llm`).
    Llm,
    /// Persona inference for the whole server (`/config persona`).
    PersonaInference,
    /// Recording a consenting member's recent past activity (`/config backfill`).
    HistoryBackfill,
    /// A server's tightening of one limit on `/imagine` (`/config limits`).
    Limit(crate::domain::LimitKind),
    /// What flagged images do in age-restricted channels (`/config nsfw`).
    NsfwPolicy,
    /// Generation parameters in delivered PNGs (`/config metadata`).
    PngMetadata,
}

impl GuildSetting {
    /// The column in `guild_settings`, also the name stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            GuildSetting::DiffusionModel => "diffusion_model",
            GuildSetting::Llm => "llm",
            GuildSetting::PersonaInference => "persona_inference",
            GuildSetting::HistoryBackfill => "history_backfill",
            GuildSetting::Limit(kind) => super::limits::limit_column(kind),
            GuildSetting::NsfwPolicy => "nsfw_policy",
            GuildSetting::PngMetadata => "png_metadata",
        }
    }
}

/// One audit-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who changed it.
    pub member_id: MemberId,
    /// Which setting.
    pub setting: String,
    /// Before (None: the default).
    pub old_value: Option<String>,
    /// After (None: the default).
    pub new_value: Option<String>,
    /// When (Unix ms).
    pub changed_at: i64,
}

impl Store {
    /// The server's settings (defaults when it never changed any).
    pub async fn guild_settings(&self, guild: GuildId) -> Result<GuildSettings, StoreError> {
        let row = sqlx::query(
            "SELECT diffusion_model, llm, persona_inference, history_backfill, nsfw_policy, \
                 png_metadata FROM guild_settings WHERE guild_id = $1",
        )
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
            persona_inference: row
                .try_get("persona_inference")
                .map_err(db_err("read guild settings"))?,
            history_backfill: row
                .try_get("history_backfill")
                .map_err(db_err("read guild settings"))?,
            nsfw_policy: row
                .try_get("nsfw_policy")
                .map_err(db_err("read guild settings"))?,
            png_metadata: row
                .try_get("png_metadata")
                .map_err(db_err("read guild settings"))?,
        })
    }

    /// Changes one setting (`diffusion_model` or `llm`; None = back to the default) and records
    /// who changed it from what in the audit log.
    pub async fn change_guild_setting(
        &self,
        guild: GuildId,
        setting: GuildSetting,
        value: Option<&str>,
        by: MemberId,
    ) -> Result<(), StoreError> {
        // Only the changed column is written, so two moderators changing different settings at
        // the same time cannot undo each other's change.
        let column = setting.as_str();
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(db_err("change setting"))?;
        // A write first: SQLite then takes the write lock at once (waiting for it if needed),
        // instead of failing when a reading transaction later asks to write.
        sqlx::query(
            "INSERT INTO guild_settings (guild_id, updated_at, updated_by) VALUES ($1, $2, $3) \
             ON CONFLICT (guild_id) DO UPDATE SET updated_at = excluded.updated_at",
        )
        .bind(guild.to_db())
        .bind(now_ms())
        .bind(by.to_db())
        .execute(&mut *tx)
        .await
        .map_err(db_err("change setting"))?;
        let old: Option<String> = sqlx::query(&format!(
            "SELECT {column} AS value FROM guild_settings WHERE guild_id = $1"
        ))
        .bind(guild.to_db())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("change setting"))?
        .map(|row| row.try_get("value"))
        .transpose()
        .map_err(db_err("change setting"))?
        .flatten();
        sqlx::query(&format!(
            "INSERT INTO guild_settings (guild_id, {column}, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (guild_id) DO UPDATE SET \
             {column} = excluded.{column}, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by"
        ))
        .bind(guild.to_db())
        .bind(value)
        .bind(now_ms())
        .bind(by.to_db())
        .execute(&mut *tx)
        .await
        .map_err(db_err("change setting"))?;
        sqlx::query(
            "INSERT INTO config_audit (guild_id, member_id, setting, old_value, new_value, changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(guild.to_db())
        .bind(by.to_db())
        .bind(setting.as_str())
        .bind(old.as_deref())
        .bind(value)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db_err("change setting"))?;
        tx.commit().await.map_err(db_err("change setting"))?;
        Ok(())
    }

    /// The diffusion models this server's members may pick besides the server's own
    /// (`/config diffusion … role:allow`), by name.
    pub async fn allowed_diffusion_models(
        &self,
        guild: GuildId,
    ) -> Result<Vec<String>, StoreError> {
        let op = "read allowed models";
        sqlx::query("SELECT model FROM guild_diffusion_models WHERE guild_id = $1 ORDER BY model")
            .bind(guild.to_db())
            .fetch_all(self.pool())
            .await
            .map_err(db_err(op))?
            .iter()
            .map(|row| row.try_get("model"))
            .collect::<Result<_, _>>()
            .map_err(db_err(op))
    }

    /// Lets this server's members pick `model` (`allowed`), or stops offering it; the change and
    /// who made it go to the audit log in one transaction. False when nothing changed.
    pub async fn set_diffusion_allowed(
        &self,
        guild: GuildId,
        model: &str,
        allowed: bool,
        by: MemberId,
    ) -> Result<bool, StoreError> {
        let op = "change allowed models";
        let now = now_ms();
        let mut tx = self.pool().begin().await.map_err(db_err(op))?;
        // One row per model: two moderators changing different models never undo each other.
        let query = if allowed {
            sqlx::query(
                "INSERT INTO guild_diffusion_models (guild_id, model, added_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (guild_id, model) DO NOTHING",
            )
            .bind(guild.to_db())
            .bind(model)
            .bind(now)
        } else {
            sqlx::query("DELETE FROM guild_diffusion_models WHERE guild_id = $1 AND model = $2")
                .bind(guild.to_db())
                .bind(model)
        };
        let changed = query
            .execute(&mut *tx)
            .await
            .map_err(db_err(op))?
            .rows_affected()
            == 1;
        if changed {
            let (old, new) = if allowed {
                (None, Some(model))
            } else {
                (Some(model), None)
            };
            sqlx::query(
                "INSERT INTO config_audit (guild_id, member_id, setting, old_value, new_value, \
                 changed_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(guild.to_db())
            .bind(by.to_db())
            .bind(DIFFUSION_ALLOWED)
            .bind(old)
            .bind(new)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err(op))?;
        }
        tx.commit().await.map_err(db_err(op))?;
        Ok(changed)
    }

    /// The server's audit log, newest first, at most `limit` entries.
    pub async fn config_audit(
        &self,
        guild: GuildId,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT member_id, setting, old_value, new_value, changed_at FROM config_audit \
             WHERE guild_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(guild.to_db())
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(db_err("read audit log"))?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    member_id: MemberId::from_db(row.try_get("member_id")?),
                    setting: row.try_get("setting")?,
                    old_value: row.try_get("old_value")?,
                    new_value: row.try_get("new_value")?,
                    changed_at: row.try_get("changed_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err("read audit log"))
    }
}

#[cfg(test)]
mod tests {
    use super::{Disposition, NsfwPolicy};

    #[test]
    fn flagged_images_show_only_where_the_server_allows() {
        use Disposition::{Show, Withhold};
        use NsfwPolicy::{Allow, Block};
        for (policy, verdict, age_restricted, want) in [
            (Block, None, false, Show),
            (Block, Some(false), false, Show),
            (Block, Some(true), false, Withhold),
            (Allow, Some(true), false, Withhold),
            (NsfwPolicy::Spoiler, Some(true), false, Withhold),
            (Block, Some(true), true, Withhold),
            (NsfwPolicy::Spoiler, Some(true), true, Disposition::Spoiler),
            (Allow, Some(true), true, Show),
            (Allow, Some(false), true, Show),
        ] {
            assert_eq!(
                policy.disposition(verdict, age_restricted),
                want,
                "{policy:?} {verdict:?} {age_restricted}"
            );
        }
    }
}
