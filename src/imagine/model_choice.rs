//! `/imagine model`: the diffusion models a server offers its members (its own, and those its
//! moderators allowed with `/config diffusion … role:allow`), the check before the
//! acknowledgement, and the model a job finally renders with.

use super::{ImagineError, ImagineService};
use crate::error::UserError;
use crate::ids::GuildId;
use crate::store::{GuildSettings, StoreError};

impl ImagineService {
    /// The models `guild`'s members may pick with `/imagine model`: the server's own first, then
    /// the ones its moderators allowed. In DMs, the operator's default only.
    pub async fn allowed_models(&self, guild: Option<GuildId>) -> Result<Vec<String>, StoreError> {
        let default = self.config.render.default_model().to_owned();
        let Some(guild) = guild else {
            return Ok(vec![default]);
        };
        let own = self
            .store
            .guild_settings(guild)
            .await?
            .diffusion_model
            .unwrap_or(default);
        let mut models = vec![own];
        for model in self.store.allowed_diffusion_models(guild).await? {
            if !models.contains(&model) {
                models.push(model);
            }
        }
        Ok(models)
    }

    /// Refuses a model the member may not pick here, naming the ones they may.
    pub(super) async fn check_model_choice(
        &self,
        guild: Option<GuildId>,
        model: &str,
    ) -> Result<(), ImagineError> {
        let allowed = self.allowed_models(guild).await?;
        if allowed.iter().any(|m| m == model) {
            return Ok(());
        }
        Err(UserError::new("error-model-not-allowed")
            .with_text("models", allowed.join(", "))
            .into())
    }

    /// The model a job renders with: the member's pick while the server still allows it (a
    /// moderator may have removed it since the request), else the server's.
    pub(super) async fn settled_model(
        &self,
        guild: Option<GuildId>,
        settings: &GuildSettings,
        choice: Option<&str>,
    ) -> Result<String, StoreError> {
        let own = settings
            .diffusion_model
            .clone()
            .unwrap_or_else(|| self.config.render.default_model().to_owned());
        let Some(choice) = choice.filter(|c| *c != own) else {
            return Ok(own);
        };
        // Only the allowed list is read: the settings came with the rewrite.
        let allowed = match guild {
            Some(guild) => self.store.allowed_diffusion_models(guild).await?,
            None => Vec::new(),
        };
        if allowed.iter().any(|m| m == choice) {
            Ok(choice.to_owned())
        } else {
            tracing::info!(
                model = choice,
                "the picked model is no longer allowed; rendering with the server's"
            );
            Ok(own)
        }
    }
}
