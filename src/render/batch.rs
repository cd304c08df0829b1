//! Rendering several jobs in one batch: a worker that leased a job takes its batch companions
//! (queued jobs of the same model, size, step count and aspect: `Store::lease_companions`) and
//! renders them with one denoiser call per step for all (`Renderer::render_batch`). Each job
//! keeps its own lease: every one is heartbeated and shown the batch's progress, and is
//! completed or failed on its own, only while its lease holds — the invariant of `worker.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::worker::{
    embed, keep_lease, record_failure, safety_verdict, store_result, Rendered, WorkerConfig,
};
use super::{png, RenderError, RenderSpec, Renderer};
use crate::store::{LeasedJob, Store};

/// The spec of a batchable job (one image, no source).
fn spec_of(leased: &LeasedJob) -> RenderSpec {
    let job = &leased.job;
    RenderSpec {
        job_id: job.id,
        model: job.model.clone(),
        prompt: job.rendered_prompt.clone(),
        negative_prompt: job.negative_prompt.clone(),
        seed: job.seed,
        width: job.width,
        height: job.height,
        steps: job.steps,
        aspect: job.aspect.map(crate::domain::Aspect::ratio),
        init: None,
    }
}

/// Renders `group` (a leased job and its companions) in one batch and stores each result.
pub(super) async fn process_group(
    store: &Store,
    renderer: &Arc<dyn Renderer>,
    config: &WorkerConfig,
    group: Vec<LeasedJob>,
    shutdown: &mut watch::Receiver<bool>,
) {
    let ids: Vec<i64> = group.iter().map(|l| l.job.id.0).collect();
    tracing::info!(jobs = ?ids, "jobs leased as one batch");
    let lease_ms = config.lease.as_millis() as i64;
    let specs: Vec<RenderSpec> = group.iter().map(spec_of).collect();
    let (progress_tx, mut progress_rx) = watch::channel((0u32, 0u32));
    let lease_lost = Arc::new(AtomicBool::new(false));
    let render = {
        let renderer = Arc::clone(renderer);
        let lease_lost = Arc::clone(&lease_lost);
        let clip = config.clip.clone();
        let safety = config.safety.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let images = renderer.render_batch(&specs, &mut |done, total| {
                progress_tx.send_replace((done, total));
                !lease_lost.load(Ordering::Relaxed)
            })?;
            let elapsed = started.elapsed();
            images
                .iter()
                .map(|image| {
                    let bytes = png::encode_png(image)
                        .map_err(|e| RenderError::transient(format!("PNG encoding: {e}")))?;
                    Ok(Rendered {
                        png: bytes,
                        size: image.dimensions(),
                        elapsed,
                        embedded: embed(clip.as_deref(), image),
                        nsfw: safety_verdict(safety.as_deref(), &[image]),
                    })
                })
                .collect::<Result<Vec<_>, RenderError>>()
        })
    };
    tokio::pin!(render);
    let model = group
        .first()
        .map(|l| l.job.model.clone())
        .unwrap_or_default();
    let deadline = renderer.deadline(&model).unwrap_or(config.deadline);
    let past_deadline = tokio::time::sleep(deadline);
    tokio::pin!(past_deadline);
    let mut heartbeat = tokio::time::interval(config.lease / 3);
    heartbeat.tick().await;
    let mut progress_open = true;
    let outcome = loop {
        tokio::select! {
            result = &mut render => break Some(result.unwrap_or_else(|join_error| {
                Err(RenderError::transient(format!("renderer panicked: {join_error}")))
            })),
            () = &mut past_deadline => {
                lease_lost.store(true, Ordering::Relaxed);
                break Some(Err(RenderError {
                    message_id: "render-error-timeout",
                    detail: format!("the batch passed its deadline of {} s", deadline.as_secs_f64()),
                    retryable: true,
                }));
            }
            changed = progress_rx.changed(), if progress_open => {
                if changed.is_err() {
                    progress_open = false;
                    continue;
                }
                let step = *progress_rx.borrow_and_update();
                // Every job shows the batch's progress; one whose lease was lost stops it all
                // (the others are retried, as after a crash).
                for leased in &group {
                    let stored = store
                        .set_progress_and_preview(leased.job.id, &leased.owner, step, lease_ms, None)
                        .await;
                    keep_lease(stored, &lease_lost, "recording progress");
                }
            }
            _ = heartbeat.tick() => {
                for leased in &group {
                    let beat = store.heartbeat(leased.job.id, &leased.owner, lease_ms).await;
                    keep_lease(beat, &lease_lost, "heartbeat");
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break None;
                }
            }
        }
    };
    let Some(result) = outcome else {
        lease_lost.store(true, Ordering::Relaxed);
        for leased in &group {
            if let Err(error) = store.release_lease(leased.job.id, &leased.owner).await {
                tracing::error!(%error, job = %leased.job.id, "shutting down: could not hand the job back; it is retried when its lease expires");
            }
        }
        tracing::info!("shutting down: the batch's jobs handed back to the queue");
        return;
    };
    match result {
        Ok(rendered) => {
            for (leased, done) in group.iter().zip(rendered) {
                store_result(store, &leased.job, &leased.owner, done, 1).await;
            }
        }
        Err(error) => {
            for leased in &group {
                record_failure(store, config, &leased.job, &leased.owner, &error).await;
            }
        }
    }
}
