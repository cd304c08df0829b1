//! The retention sweep: every `retention.sweep_every_s`, deletes what the configured retention
//! no longer keeps (`store/retention.rs`) and erases the servers the bot left longer than the
//! grace period ago. Of the bot processes on one database, the one leading the retention duty
//! sweeps ([`Duty::RETENTION`]); the sweep's statements are idempotent besides, so two processes
//! sweeping at once (SQLite, or a leader lost mid-sweep) delete nothing twice.

use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::store::{Duty, RetentionPolicy, Store};

const DAY_MS: i64 = 86_400_000;

/// The store's policy from the configuration.
pub fn policy(config: &Config) -> RetentionPolicy {
    let days = |d: u64| d as i64 * DAY_MS;
    let r = &config.retention;
    RetentionPolicy {
        images_ms: days(r.images_days),
        jobs_ms: days(r.jobs_days),
        // Discord's token lifetime (15 minutes) and a minute of margin.
        tokens_ms: 16 * 60 * 1000,
        persona_history_ms: days(r.persona_history_days),
        added_images_ms: days(r.added_images_days),
        guild_grace_ms: days(r.guild_grace_days),
    }
}

/// Sweeps now, then every `retention.sweep_every_s`, until `shutdown`.
pub async fn run(
    store: Store,
    config: std::sync::Arc<Config>,
    mut shutdown: watch::Receiver<bool>,
) {
    let policy = policy(&config);
    let every = Duration::from_secs(config.retention.sweep_every_s.max(1));
    let mut duty = Duty::new(&store, Duty::RETENTION);
    while !*shutdown.borrow() {
        if !duty.lead().await {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        match store.sweep_retention(&policy).await {
            Ok(done) => {
                let deleted: Vec<_> = done.into_iter().filter(|(_, n)| *n > 0).collect();
                if !deleted.is_empty() {
                    tracing::info!(?deleted, "retention sweep");
                }
            }
            Err(error) => tracing::error!(%error, "retention sweep failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}
