//! Queue throughput: jobs/s through enqueue → lease → complete, with a renderer that returns a
//! fixed image (so only the queue and the worker loop are measured), 1 and 4 workers, on SQLite
//! and PostgreSQL (127.0.0.1:5432, as for the tests).
//!
//! `cargo run --release --example bench_queue -- [--jobs 2000]`

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark or tool run by hand: its report is its output, and it may stop at the first error"
)]

#[allow(dead_code)]
#[path = "../tests/e2e/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{Db, TestDb};
use tokio::sync::{watch, Notify};
use zipp::ids::{ApplicationId, ChannelId, GuildId, InteractionId, MemberId};
use zipp::render::worker::{run_worker, WorkerConfig};
use zipp::render::{Progress, RenderError, RenderSpec, Renderer};
use zipp::store::{JobStatus, NewJob, Store};

struct FixedImage(image::RgbImage);

impl Renderer for FixedImage {
    fn render(
        &self,
        _spec: &RenderSpec,
        progress: Progress<'_>,
    ) -> Result<image::RgbImage, RenderError> {
        progress(1, 1);
        Ok(self.0.clone())
    }
}

fn job(i: u64) -> NewJob {
    NewJob {
        guild_id: Some(GuildId(1)),
        channel_id: ChannelId(2),
        member_id: MemberId(3 + i % 50),
        interaction_id: InteractionId(1_000_000 + i),
        application_id: ApplicationId(4),
        interaction_token: format!("token-{i}"),
        locale: "en-US".to_owned(),
        prompt: "a red cat".to_owned(),
        rendered_prompt: "a red cat".to_owned(),
        rewrite_kind: "unchanged".to_owned(),
        negative_prompt: String::new(),
        model: "fixed".to_owned(),
        seed: i,
        width: 8,
        height: 8,
        steps: 1,
        attachment_size_limit: 1 << 20,
        max_attempts: 3,
        compare: None,
        persona_id: None,
        persona_mode: zipp::store::PersonaMode::On,
        channel_nsfw: false,
        aspect: None,
        parent_id: None,
        derive: None,
        source_cell: None,
        image_count: None,
        model_choice: None,
    }
}

async fn run(kind: Db, workers: usize, n_jobs: u64) -> anyhow::Result<f64> {
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 8).await?;
    let renderer: Arc<dyn Renderer> = Arc::new(FixedImage(image::RgbImage::new(8, 8)));
    let wake = Arc::new(Notify::new());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        tasks.push(tokio::spawn(run_worker(
            store.clone(),
            Arc::clone(&renderer),
            WorkerConfig {
                owner: format!("bench-{w}"),
                lease: Duration::from_secs(60),
                poll: Duration::from_millis(5),
                retry_backoff: Duration::from_secs(1),
                clip: None,
                deadline: Duration::from_secs(600),
                safety: None,
                preview_every: 0,
                models: Vec::new(),
            },
            Arc::clone(&wake),
            shutdown_rx.clone(),
        )));
    }
    for i in 0..n_jobs {
        store.enqueue(&job(i)).await?;
        wake.notify_one();
    }
    while store.count_jobs(JobStatus::Done).await? < n_jobs {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    shutdown_tx.send(true)?;
    for task in tasks {
        task.await?;
    }
    store.close().await;
    db.cleanup().await;
    Ok(n_jobs as f64 / elapsed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n_jobs: u64 = args
        .iter()
        .position(|a| a == "--jobs")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(2000);
    for kind in [Db::Sqlite, Db::Postgres] {
        for workers in [1, 4] {
            let rate = run(kind, workers, n_jobs).await?;
            println!(
                "{{\"db\":\"{kind:?}\",\"workers\":{workers},\"jobs\":{n_jobs},\"jobs_per_s\":{rate:.1}}}"
            );
        }
    }
    Ok(())
}
