//! The worker loop: lease a job, render it on a blocking thread while heartbeating and
//! reporting progress, store the PNG, repeat.
//!
//! **Invariant:** a job is finished only by the worker that holds its lease. A worker that is
//! killed simply stops heartbeating; when the lease expires another worker takes the job over
//! (counting an attempt), and the dead worker's late result, if any, is rejected by the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tracing::Instrument;

use super::{png, InitImage, RenderError, RenderSpec, Renderer};
use crate::domain::Derive;
use crate::store::{FailOutcome, LeasedJob, RenderJob, Side, Store};

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's name in leases (unique per worker).
    pub owner: String,
    /// Lease duration; heartbeats come every third of it.
    pub lease: Duration,
    /// How long an idle worker sleeps before looking again (unless woken).
    pub poll: Duration,
    /// Base retry delay (doubled per attempt).
    pub retry_backoff: Duration,
    /// CLIP model embedding every render (for the persona encoder), when configured.
    pub clip: Option<Arc<zipp_clip::ClipEmbedder>>,
    /// The most one render may take unless its model sets its own ([`Renderer::deadline`]);
    /// compare mode, two renders, gets twice as long.
    pub deadline: Duration,
    /// The image safety checker every render passes (None: renders are not checked).
    pub safety: Option<Arc<zipp_clip::safety::SafetyChecker>>,
    /// A live preview every this many steps (0: none; never for a comparison's two renders).
    pub preview_every: u32,
    /// The models it renders (empty: every model): `render.models`.
    pub models: Vec<String>,
}

impl WorkerConfig {
    /// A worker name unique to this process and index.
    pub fn unique_owner(index: usize) -> String {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned());
        format!(
            "{host}-{}-{index}-{}",
            std::process::id(),
            rand::random::<u32>()
        )
    }
}

/// The CLIP embedding of a render; a failure only costs the embedding (logged).
pub(super) fn embed(
    clip: Option<&zipp_clip::ClipEmbedder>,
    image: &image::RgbImage,
) -> Option<Vec<f32>> {
    let clip = clip?;
    match clip.embed_images(&[image::DynamicImage::ImageRgb8(image.clone())]) {
        Ok(mut rows) => rows.pop(),
        Err(error) => {
            tracing::warn!(%error, "CLIP embedding of a render failed");
            None
        }
    }
}

/// The safety check's verdict on `images` (flagged when any is): None without a checker. A
/// checker that fails flags them (fail closed: a flagged image is only withheld).
pub(super) fn safety_verdict(
    checker: Option<&zipp_clip::safety::SafetyChecker>,
    images: &[&image::RgbImage],
) -> Option<bool> {
    let checker = checker?;
    let images: Vec<_> = images
        .iter()
        .map(|i| image::DynamicImage::ImageRgb8((*i).clone()))
        .collect();
    match checker.check(&images) {
        Ok(verdicts) => Some(verdicts.iter().any(|v| v.nsfw)),
        Err(error) => {
            tracing::error!(%error, "the safety check failed; the render counts as flagged");
            Some(true)
        }
    }
}

/// Runs until `shutdown` becomes true. A job in progress at shutdown is handed back to the queue
/// (not lost, not counted as a failed attempt).
pub async fn run_worker(
    store: Store,
    renderer: Arc<dyn Renderer>,
    config: WorkerConfig,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::info!(owner = %config.owner, "render worker started");
    let lease_ms = config.lease.as_millis() as i64;
    while !*shutdown.borrow() {
        match store
            .lease_models(&config.owner, lease_ms, &config.models)
            .await
        {
            Ok(Some(leased)) => {
                // A renderer that batches takes the queued jobs that render like this one.
                let batch = renderer.max_batch().saturating_sub(1);
                let companions = match store
                    .lease_companions(&config.owner, lease_ms, &leased.job, batch)
                    .await
                {
                    Ok(companions) => companions,
                    Err(error) => {
                        tracing::warn!(%error, "leasing batch companions failed; rendering alone");
                        Vec::new()
                    }
                };
                if companions.is_empty() {
                    process(&store, &renderer, &config, leased, &mut shutdown).await;
                } else {
                    let mut group = vec![leased];
                    group.extend(companions);
                    super::batch::process_group(&store, &renderer, &config, group, &mut shutdown)
                        .await;
                }
                continue;
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, owner = %config.owner, "leasing a job failed"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(config.poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!(owner = %config.owner, "render worker stopped");
}

async fn process(
    store: &Store,
    renderer: &Arc<dyn Renderer>,
    config: &WorkerConfig,
    leased: LeasedJob,
    shutdown: &mut watch::Receiver<bool>,
) {
    let span = tracing::info_span!("render", job = %leased.job.id, attempt = leased.job.attempts, model = %leased.job.model);
    process_leased(store, renderer, config, &leased, shutdown)
        .instrument(span)
        .await;
}

async fn process_leased(
    store: &Store,
    renderer: &Arc<dyn Renderer>,
    config: &WorkerConfig,
    leased: &LeasedJob,
    shutdown: &mut watch::Receiver<bool>,
) {
    let job = &leased.job;
    let owner = leased.owner.as_str();
    let lease_ms = config.lease.as_millis() as i64;
    tracing::info!("job leased");

    // Vary and Upscale start from the parent's image.
    let source = match source_image(store, job).await {
        Ok(source) => source,
        Err(error) => {
            record_failure(store, config, job, owner, &error).await;
            return;
        }
    };
    let mut spec = RenderSpec {
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
    };
    let compare = job.compare.clone();
    let count = job.image_count.max(1);
    // (done, total, the latest live preview: its step and PNG). A preview rides with the
    // progress of its step, so both are stored in one statement; a newer value keeps a preview
    // not read yet.
    let (progress_tx, mut progress_rx) = watch::channel::<Progressed>((0, 0, None));
    let preview_every = if compare.is_some() {
        0
    } else {
        config.preview_every
    };
    let lease_lost = Arc::new(AtomicBool::new(false));
    let render = {
        let renderer = Arc::clone(renderer);
        let lease_lost = Arc::clone(&lease_lost);
        let clip = config.clip.clone();
        let safety = config.safety.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let preview_made: std::cell::RefCell<Option<(u32, Vec<u8>)>> = Default::default();
            if let Some(source) = source {
                let derive = source.derive;
                let image =
                    image::load_from_memory_with_format(&source.png, image::ImageFormat::Png)
                        .map_err(|e| {
                            RenderError::transient(format!("decoding the parent image: {e}"))
                        })?
                        .to_rgb8();
                // One image of the parent's grid (its U and V buttons).
                let image = match source.cell {
                    None => image,
                    Some((cell, count)) => {
                        png::grid_cell(&image, count, cell).ok_or_else(|| {
                            RenderError::permanent(
                                "render-error-source-gone",
                                format!("the parent's grid of {count} has no image {cell}"),
                            )
                        })?
                    }
                };
                let (width, height) = derive.size(image.dimensions());
                spec.width = width;
                spec.height = height;
                spec.aspect = None;
                spec.init = Some(InitImage {
                    image: Arc::new(image),
                    strength: derive.strength(),
                });
            }
            let progress = |done: u32, total: u32| {
                let preview = preview_made.borrow_mut().take();
                progress_tx.send_modify(|value| {
                    value.0 = done;
                    value.1 = total;
                    if preview.is_some() {
                        value.2 = preview;
                    }
                });
                !lease_lost.load(Ordering::Relaxed)
            };
            // The image the member asked for (the persona side of a comparison) is embedded.
            let embedded;
            let nsfw;
            let image = match &compare {
                // `count` images, seeds `seed`, `seed + 1`, …, one after the other (the memory
                // of one render at a time); progress and previews count the steps of all.
                // A renderer that batches renders text-to-image grids together (no live
                // previews); variations of an image render one by one.
                None if count > 1 && renderer.max_batch() > 1 && spec.init.is_none() => {
                    let specs: Vec<RenderSpec> = (0..count)
                        .map(|index| RenderSpec {
                            seed: crate::domain::image_seed(spec.seed, index),
                            ..spec.clone()
                        })
                        .collect();
                    let images =
                        renderer.render_batch(&specs, &mut |done, total| progress(done, total))?;
                    embedded = images.first().and_then(|i| embed(clip.as_deref(), i));
                    nsfw = safety_verdict(safety.as_deref(), &images.iter().collect::<Vec<_>>());
                    png::grid(&images)
                }
                None => {
                    let mut images = Vec::with_capacity(count as usize);
                    // Steps per image, known from the first progress report.
                    let per_image = std::cell::Cell::new(0);
                    for index in 0..count {
                        let spec = RenderSpec {
                            seed: crate::domain::image_seed(spec.seed, index),
                            ..spec.clone()
                        };
                        // Previews are small PNGs handed to the async side, which stores the
                        // latest.
                        let mut on_preview =
                            |step: u32, image: image::RgbImage| match png::encode_png(&image) {
                                Ok(bytes) => {
                                    *preview_made.borrow_mut() =
                                        Some((index * per_image.get() + step, bytes))
                                }
                                Err(error) => tracing::debug!(%error, "encoding a preview failed"),
                            };
                        let image = renderer.render_previewed(
                            &spec,
                            &mut |done, total| {
                                per_image.set(total);
                                progress(index * total + done, count * total)
                            },
                            preview_every,
                            &mut on_preview,
                        )?;
                        images.push(image);
                    }
                    // The first image stands for the job in the persona encoder's data.
                    embedded = images.first().and_then(|i| embed(clip.as_deref(), i));
                    nsfw = safety_verdict(safety.as_deref(), &images.iter().collect::<Vec<_>>());
                    if images.len() == 1 {
                        images.remove(0)
                    } else {
                        png::grid(&images)
                    }
                }
                // Compare mode: the persona prompt and the generic prompt, same seed, one image;
                // progress counts the steps of both renders.
                Some(compare) => {
                    let persona =
                        renderer.render(&spec, &mut |done, total| progress(done, 2 * total))?;
                    embedded = embed(clip.as_deref(), &persona);
                    let generic_spec = RenderSpec {
                        prompt: compare.generic_prompt.clone(),
                        ..spec.clone()
                    };
                    let generic = renderer.render(&generic_spec, &mut |done, total| {
                        progress(total + done, 2 * total)
                    })?;
                    nsfw = safety_verdict(safety.as_deref(), &[&persona, &generic]);
                    match compare.persona_side {
                        Side::Left => png::side_by_side(&persona, &generic),
                        Side::Right => png::side_by_side(&generic, &persona),
                    }
                }
            };
            let bytes = png::encode_png(&image)
                .map_err(|e| RenderError::transient(format!("PNG encoding: {e}")))?;
            Ok::<_, RenderError>((
                bytes,
                image.width(),
                image.height(),
                started.elapsed(),
                embedded,
                nsfw,
            ))
        })
    };
    tokio::pin!(render);
    let deadline = renderer.deadline(&job.model).unwrap_or(config.deadline)
        * if job.compare.is_some() { 2 } else { count };
    let past_deadline = tokio::time::sleep(deadline);
    tokio::pin!(past_deadline);
    let mut heartbeat = tokio::time::interval(config.lease / 3);
    heartbeat.tick().await;
    let mut progress_open = true;
    let mut preview_stored = 0;
    let outcome = loop {
        tokio::select! {
            result = &mut render => break Some(result),
            () = &mut past_deadline => {
                // A hung render ends here: the attempt fails as transient and counts. The
                // blocking thread stops at its next step (the callback now answers false).
                lease_lost.store(true, Ordering::Relaxed);
                break Some(Ok(Err(RenderError {
                    message_id: "render-error-timeout",
                    detail: format!("the render passed its deadline of {} s", deadline.as_secs_f64()),
                    retryable: true,
                })));
            }
            changed = progress_rx.changed(), if progress_open => {
                if changed.is_err() {
                    progress_open = false;
                    continue;
                }
                let (done, total, preview) = progress_rx.borrow_and_update().clone();
                // Only a preview newer than the one stored.
                let preview = preview
                    .as_ref()
                    .filter(|(step, _)| *step > preview_stored)
                    .map(|(step, png)| (png.as_slice(), *step));
                let stored = store
                    .set_progress_and_preview(job.id, owner, (done, total), lease_ms, preview)
                    .await;
                if let (Ok(true), Some((_, step))) = (&stored, preview) {
                    preview_stored = step;
                }
                keep_lease(stored, &lease_lost, "recording progress");
            }
            _ = heartbeat.tick() => {
                keep_lease(store.heartbeat(job.id, owner, lease_ms).await, &lease_lost, "heartbeat");
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
        match store.release_lease(job.id, owner).await {
            Ok(_) => tracing::info!("shutting down: job handed back to the queue"),
            Err(error) => {
                tracing::error!(%error, "shutting down: could not hand the job back; it is retried when its lease expires")
            }
        }
        return;
    };
    let result = result.unwrap_or_else(|join_error| {
        Err(RenderError::transient(format!(
            "renderer panicked: {join_error}"
        )))
    });
    match result {
        Ok((bytes, width, height, elapsed, embedded, nsfw)) => {
            let done = Rendered {
                png: bytes,
                size: (width, height),
                elapsed,
                embedded,
                nsfw,
            };
            store_result(store, job, owner, done, count).await;
        }
        Err(error) => record_failure(store, config, job, owner, &error).await,
    }
}

/// A finished render of one job: its PNG (one image, a grid or a comparison), its size, how
/// long it took, the CLIP embedding of its (first) image and the safety verdict.
pub(super) struct Rendered {
    pub(super) png: Vec<u8>,
    pub(super) size: (u32, u32),
    pub(super) elapsed: Duration,
    pub(super) embedded: Option<Vec<f32>>,
    pub(super) nsfw: Option<bool>,
}

/// Stores a finished render (only while this worker still holds the job's lease), records its
/// metrics and keeps its embedding where consent allows.
pub(super) async fn store_result(
    store: &Store,
    job: &RenderJob,
    owner: &str,
    done: Rendered,
    count: u32,
) {
    let Rendered {
        png: bytes,
        size: (width, height),
        elapsed,
        embedded,
        nsfw,
    } = done;
    let render_ms = elapsed.as_millis() as i64;
    match store
        .complete_checked(job.id, owner, &bytes, (width, height), render_ms, nsfw)
        .await
    {
        Ok(true) => {
            tracing::info!(render_ms, bytes = bytes.len(), ?nsfw, "job done");
            // The size of one image (of a grid, or one side of a comparison).
            let (cols, rows, gap) = match job.compare {
                Some(_) => (2, 1, png::COMPARE_GAP),
                None => {
                    let (cols, rows) = crate::domain::grid_shape(count);
                    (cols, rows, 0)
                }
            };
            let size = format!("{}x{}", (width - gap) / cols, height / rows);
            metrics::histogram!(
                crate::observe::name::RENDER_SECONDS,
                "model" => job.model.clone(),
                "size" => size
            )
            .record(elapsed);
            metrics::counter!(
                crate::observe::name::RENDERS,
                "model" => job.model.clone(),
                "outcome" => "ok"
            )
            .increment(1);
            // Kept only for a consenting member in a server with inference on: the
            // store checks, at the moment of the insert.
            if let Some(embedding) = embedded {
                match store
                    .add_image_embedding(job.id, job.guild_id, job.member_id, &embedding)
                    .await
                {
                    Ok(kept) => tracing::debug!(kept, "image embedding"),
                    Err(error) => {
                        tracing::warn!(%error, "storing the image embedding failed")
                    }
                }
            }
        }
        Ok(false) => tracing::warn!(
            "lease lost before completion; result discarded (another worker owns the job)"
        ),
        Err(error) => {
            tracing::error!(%error, "storing the result failed; the job is retried when its lease expires")
        }
    }
}

/// What a write that needs the job's lease found: `Ok(false)` means the lease is gone (another
/// worker owns the job), which stops the render at its next step; an error is only logged (the
/// next heartbeat tries again).
pub(super) fn keep_lease(
    written: Result<bool, crate::store::StoreError>,
    lease_lost: &AtomicBool,
    what: &str,
) {
    match written {
        Ok(true) => {}
        Ok(false) => lease_lost.store(true, Ordering::Relaxed),
        Err(error) => tracing::warn!(%error, "{what} failed"),
    }
}

/// What the render thread reports: steps done, of how many, and the latest live preview (its
/// step and PNG).
type Progressed = (u32, u32, Option<(u32, Vec<u8>)>);

/// What a Vary or Upscale job starts from: its parent's PNG, and which image of the parent's
/// grid (and of how many) when it starts from one.
struct Source {
    derive: Derive,
    png: Vec<u8>,
    cell: Option<(u32, u32)>,
}

/// The image a Vary or Upscale job starts from (its parent's), with how; None for a job that
/// renders from noise.
async fn source_image(store: &Store, job: &RenderJob) -> Result<Option<Source>, RenderError> {
    let Some(derive) = job.derive else {
        return Ok(None);
    };
    let gone = |detail: String| RenderError::permanent("render-error-source-gone", detail);
    let parent = job
        .parent_id
        .ok_or_else(|| gone("a Vary/Upscale job without a parent".to_owned()))?;
    let read_failed = |error: crate::store::StoreError| {
        RenderError::transient(format!("reading the image of job {parent}: {error}"))
    };
    let cell = match job.source_cell {
        None => None,
        Some(cell) => match store.job(parent).await.map_err(read_failed)? {
            Some(parent) => Some((cell, parent.image_count)),
            None => return Err(gone(format!("job {parent} is no longer kept"))),
        },
    };
    match store.rendered_image(parent).await.map_err(read_failed)? {
        Some(image) => Ok(Some(Source {
            derive,
            png: image.png,
            cell,
        })),
        // Swept by retention between the press and the render.
        None => Err(gone(format!("the image of job {parent} is no longer kept"))),
    }
}

/// Records a failed attempt: retried later with a backoff when another attempt may help,
/// else failed for good (the member is then told why).
pub(super) async fn record_failure(
    store: &Store,
    config: &WorkerConfig,
    job: &RenderJob,
    owner: &str,
    error: &RenderError,
) {
    let backoff = config.retry_backoff.as_millis() as i64
        * 2_i64.saturating_pow(job.attempts.saturating_sub(1));
    match store
        .fail(
            job.id,
            owner,
            error.message_id,
            &error.detail,
            error.retryable,
            backoff,
        )
        .await
    {
        Ok(outcome) => {
            let counted = match outcome {
                FailOutcome::WillRetry => Some("retry"),
                FailOutcome::Failed => Some("failed"),
                FailOutcome::LeaseLost => None,
            };
            if let Some(outcome) = counted {
                metrics::counter!(
                    crate::observe::name::RENDERS,
                    "model" => job.model.clone(),
                    "outcome" => outcome
                )
                .increment(1);
            }
            tracing::warn!(error = %error.detail, retryable = error.retryable, ?outcome, "render attempt failed")
        }
        Err(store_error) => {
            tracing::error!(%store_error, error = %error.detail, "render failed and recording the failure failed")
        }
    }
}
