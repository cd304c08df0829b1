//! The schedule: the background loop (checkpoint reloads, scheduled inference and training)
//! and how shutdown stops it — between members of a pass, and by abandoning a training.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::PersonaService;

impl PersonaService {
    /// Shutdown: a scheduled pass stops before its next member and abandons an LLM call in
    /// flight (that member's persona is not written; the next pass does it), and scheduled
    /// training is abandoned (its checkpoint is written beside the old one and renamed into
    /// place, so an unfinished one never replaces it). A member's own `/persona refresh` is
    /// not interrupted. [`PersonaService::run`] calls this when its shutdown signal arrives.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    pub(super) fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once [`Self::stop`] was called.
    pub(super) async fn stopped(&self) {
        let mut stop = self.stop.subscribe();
        // The sender lives as long as `self`.
        let _ = stop.wait_for(|s| *s).await;
    }

    /// Infers every server with consenting members (one pass of the schedule).
    pub async fn infer_all(&self) {
        let guilds = match self.store.guilds_with_consent().await {
            Ok(guilds) => guilds,
            Err(error) => {
                tracing::error!(%error, "scheduled persona inference: cannot list servers");
                return;
            }
        };
        for guild in guilds {
            if self.stopping() {
                tracing::info!("scheduled persona inference stopped: shutting down");
                return;
            }
            let started = Instant::now();
            match self.infer_guild(guild).await {
                Ok(run) => {
                    metrics::counter!(crate::observe::name::PERSONA_PASSES, "outcome" => "ok")
                        .increment(1);
                    metrics::counter!(crate::observe::name::PERSONAS_ACTIVATED)
                        .increment(run.activated as u64);
                    tracing::info!(%guild, ?run, elapsed_ms = started.elapsed().as_millis() as u64, "scheduled persona inference")
                }
                Err(error) => {
                    metrics::counter!(crate::observe::name::PERSONA_PASSES, "outcome" => "error")
                        .increment(1);
                    tracing::error!(%guild, %error, "scheduled persona inference failed")
                }
            }
        }
    }

    /// The background loop: reload checks, scheduled inference and (when configured)
    /// scheduled training, until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        // The loop below waits for a pass or a training to end before it looks at `shutdown`
        // again; this makes them end early.
        {
            let me = Arc::clone(&self);
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                // Dropped sender: the bot is gone, stop as well.
                let _ = shutdown.wait_for(|s| *s).await;
                me.stop();
            });
        }
        self.reload_if_newer().await;
        let mut reload =
            tokio::time::interval(Duration::from_secs(self.settings.reload_check_s.max(1)));
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every = Duration::from_secs(self.settings.infer_every_s.max(1));
        let mut infer = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        infer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let train_every = Duration::from_secs(self.settings.train_every_s.max(1));
        let mut train =
            tokio::time::interval_at(tokio::time::Instant::now() + train_every, train_every);
        train.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Data already there when the bot starts counts as trained on, unless there is no
        // checkpoint at all.
        // Of the bot processes on one database, only the one leading this duty runs the
        // scheduled passes and training (every process reloads the checkpoint).
        let mut duty = crate::store::Duty::new(&self.store, crate::store::Duty::PERSONAS);
        let mut last_edges = if self.encoder_loaded() {
            self.store.edge_total().await.unwrap_or(0)
        } else {
            0
        };
        loop {
            if *shutdown.borrow() || self.stopping() {
                break;
            }
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                _ = reload.tick() => {
                    self.reload_if_newer().await;
                }
                _ = infer.tick(), if self.settings.infer_every_s > 0 => {
                    if duty.lead().await {
                        self.infer_all().await;
                    }
                }
                _ = train.tick(), if self.settings.train_every_s > 0 => {
                    if duty.lead().await {
                        self.maybe_train(&mut last_edges).await;
                    }
                }
            }
        }
    }
}
