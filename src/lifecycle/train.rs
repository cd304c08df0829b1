//! Training on the graphs the bot collected: [`PersonaService::train_now`] (the library side of
//! `zipp train --from-db`'s schedule) and the optional schedule that calls it when enough new
//! interaction aggregates arrived.

use std::time::Instant;

use candle_core::Device;

use super::{snapshot, LifecycleError, PersonaService};
use crate::ids::GuildId;
use zipp_gat::checkpoint::{self, CheckpointMeta, DataStats};
use zipp_gat::encoder::PersonaEncoderConfig;
use zipp_gat::train::{train, TrainConfig};

impl PersonaService {
    /// Trains a new encoder on every server's snapshot (the disjoint union) and writes it into
    /// `persona.checkpoint`, where the next reload check picks it up. Returns the validation
    /// AUC, or `None` when there is nothing to train on.
    pub async fn train_now(&self) -> Result<Option<f32>, LifecycleError> {
        let out = self.settings.checkpoint.clone();
        let fail = |reason: String| LifecycleError::Infer {
            guild: GuildId(0),
            reason,
        };
        if out.as_os_str().is_empty() {
            return Err(fail("persona.checkpoint is not set".to_owned()));
        }
        let now = crate::store::now_ms();
        let mut graphs = Vec::new();
        for guild in self.store.guilds_with_consent().await? {
            if self.store.guild_settings(guild).await?.inference_on() {
                let mut snap = snapshot::snapshot(&self.store, guild, now).await?;
                // With CLIP, channels and roles are described by its text embeddings.
                if self.clip.is_some() {
                    snap = self.with_text_embeddings(guild, snap).await?;
                }
                graphs.push(snap.graph);
            }
        }
        let graph = snapshot::union(graphs);
        if graph.edges.is_empty() {
            return Ok(None);
        }
        let epochs = self.settings.train_epochs;
        let result = tokio::task::spawn_blocking(move || -> Result<f32, String> {
            let config = PersonaEncoderConfig::for_graph(&graph);
            let training = TrainConfig {
                epochs,
                ..TrainConfig::default()
            };
            let varmap = candle_nn::VarMap::new();
            let (_, report) = train(&graph, &config, &training, &varmap, &Device::Cpu)
                .map_err(|e| format!("training: {e}"))?;
            let auc = report.val_auc;
            let meta = CheckpointMeta::new(
                config,
                training,
                report,
                DataStats::of(&graph, "database (scheduled)"),
            );
            checkpoint::save(&out, &varmap, &meta).map_err(|e| e.to_string())?;
            Ok(auc)
        })
        .await
        .map_err(|e| fail(format!("training task failed: {e}")))?
        .map_err(fail)?;
        Ok(Some(result))
    }

    /// Scheduled training: trains when enough new aggregates arrived since the last look, or when
    /// a member was erased since the last training.
    pub(super) async fn maybe_train(&self, last_edges: &mut i64) {
        let total = match self.store.edge_total().await {
            Ok(n) => n,
            Err(error) => {
                tracing::error!(%error, "scheduled training: cannot count edges");
                return;
            }
        };
        // Erasures count too: a forgotten member's edges are gone from the store, and retraining
        // is what removes their influence from the encoder's weights.
        let erased = self.erasures.load(std::sync::atomic::Ordering::SeqCst);
        if total - *last_edges < self.settings.train_min_new_edges as i64 && erased == 0 {
            return;
        }
        let started = Instant::now();
        let trained = tokio::select! {
            trained = self.train_now() => trained,
            () = self.stopped() => {
                // The blocking thread trains on until the process exits; its checkpoint is
                // only renamed into place when complete.
                tracing::info!("scheduled encoder training abandoned: shutting down");
                return;
            }
        };
        match trained {
            Ok(auc) => {
                *last_edges = total;
                self.erasures
                    .fetch_sub(erased, std::sync::atomic::Ordering::SeqCst);
                tracing::info!(
                    ?auc,
                    edges = total,
                    elapsed_s = started.elapsed().as_secs(),
                    "scheduled encoder training done"
                );
                self.reload_if_newer().await;
            }
            Err(error) => tracing::error!(%error, "scheduled encoder training failed"),
        }
    }
}
