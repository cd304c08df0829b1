//! Jobs batched across members: a worker that can batch (`render.max_batch`) renders queued
//! jobs of the same model and size together, one denoiser call per step for all, and each is
//! still delivered on its own, once.

use fake_discord::fixtures::{opt_int, opt_str};
use zipp::ids::JobId;
use zipp::store::JobStatus;

use crate::harness::*;

/// A bot without workers accepts one `/imagine` per prompt (interaction ids from `first_id`,
/// seeds 40, 41, …), waits until all are queued and stops; returns their tokens.
async fn queue_without_workers(
    setup: &Setup,
    config: &zipp::config::Config,
    first_id: u64,
    prompts: &[&str],
) -> Vec<String> {
    let fake = &setup.fake;
    let app = setup.start(config.clone(), true, 0).await;
    wait_registered(fake).await;
    let mut tokens = Vec::new();
    for (i, prompt) in (0u64..).zip(prompts) {
        let (_, token) = dispatch_imagine(
            fake,
            first_id + i,
            vec![opt_str("prompt", prompt), opt_int("seed", 40 + i as i64)],
            |b| b,
        )
        .await;
        tokens.push(token);
    }
    wait_queued(&app.store, prompts.len() as u64).await;
    app.shutdown().await;
    tokens
}

async fn queued_jobs_render_in_one_batch(kind: Db) {
    const STEPS: u32 = 2;
    let setup = Setup::new(kind, STEPS).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.limits.member_active = 10;
    config.limits.member_hourly = 100;

    // First life: a bot without workers queues three jobs.
    let tokens = queue_without_workers(
        &setup,
        &config,
        963_000_000_000_000_001,
        &["a red cat", "a blue whale", "a green forest"],
    )
    .await;

    // Second life: one worker that batches up to four.
    config.render.max_batch = 4;
    let app = setup.start(config, true, 1).await;
    for token in &tokens {
        let png = image_of(fake, token).await;
        assert!(!png.files.is_empty(), "each job is delivered");
    }
    // Rendered together: the two companions were leased in one statement, before the first
    // job finished (one after the other, each would start after the one before finished).
    let mut times = Vec::new();
    for id in 1..=3 {
        let job = app.store.job(JobId(id)).await.expect("read").expect("job");
        assert_eq!(job.status, JobStatus::Done, "job {id}");
        assert_eq!(job.attempts, 1, "job {id} rendered once");
        times.push((
            job.started_at.expect("started"),
            job.finished_at.expect("finished"),
        ));
    }
    assert_eq!(
        times[1].0, times[2].0,
        "one lease for both companions: {times:?}"
    );
    assert!(
        times[1].0 <= times[0].1,
        "the companions started before the first job finished: {times:?}"
    );
    setup.guard.assert_none();
    app.shutdown().await;
    for token in &tokens {
        let webhook = webhook_path(fake.config().app_id, token);
        assert_eq!(image_deliveries(fake, &webhook).len(), 1, "delivered once");
    }
    setup.db.cleanup().await;
}

on_both_databases!(queued_jobs_render_in_one_batch);

/// A batch whose render fails (transiently) fails each of its jobs on its own lease: each is
/// retried and delivered once, none is lost.
struct FailFirstBatch {
    inner: zipp::render::engine::DiffusionRenderer,
    failed: std::sync::atomic::AtomicBool,
}

impl zipp::render::Renderer for FailFirstBatch {
    fn render(
        &self,
        spec: &zipp::render::RenderSpec,
        progress: zipp::render::Progress<'_>,
    ) -> Result<image::RgbImage, zipp::render::RenderError> {
        self.inner.render(spec, progress)
    }

    fn max_batch(&self) -> usize {
        4
    }

    fn render_batch(
        &self,
        specs: &[zipp::render::RenderSpec],
        progress: zipp::render::Progress<'_>,
    ) -> Result<Vec<image::RgbImage>, zipp::render::RenderError> {
        if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(zipp::render::RenderError::transient(format!(
                "out of memory in a batch of {}",
                specs.len()
            )));
        }
        self.inner.render_batch(specs, progress)
    }
}

async fn a_failed_batch_retries_each_job(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.limits.member_active = 10;
    let tokens = queue_without_workers(
        &setup,
        &config,
        964_000_000_000_000_001,
        &["a lighthouse", "a lighthouse"],
    )
    .await;

    let renderer = std::sync::Arc::new(FailFirstBatch {
        inner: zipp::render::engine::DiffusionRenderer::new(
            zipp::models::Catalog::load(&setup.catalog).expect("catalog"),
            candle_core::Device::Cpu,
            None,
        )
        .with_max_batch(4),
        failed: std::sync::atomic::AtomicBool::new(false),
    });
    let app = start_app(config, true, 1, Some(renderer), &setup.guard).await;
    for token in &tokens {
        image_of(fake, token).await;
    }
    for id in 1..=2 {
        let job = app.store.job(JobId(id)).await.expect("read").expect("job");
        assert_eq!(
            (job.status, job.attempts),
            (JobStatus::Done, 2),
            "job {id}: failed with its batch, then rendered"
        );
    }
    app.shutdown().await;
    for token in &tokens {
        let webhook = webhook_path(fake.config().app_id, token);
        assert_eq!(image_deliveries(fake, &webhook).len(), 1, "delivered once");
    }
    setup.db.cleanup().await;
}

on_both_databases!(a_failed_batch_retries_each_job);
