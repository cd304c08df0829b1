//! Nothing is lost: a bot restarted with a job queued delivers it once; a worker killed mid-job
//! (its lease expires) is replaced by another, and the result is delivered exactly once.

use std::time::Duration;

use fake_discord::fixtures::opt_str;
use zipp::store::JobStatus;

use crate::harness::*;

async fn bot_restart_keeps_queued_job(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;

    // First life: a bot without workers queues the job, then stops.
    let app = setup.start_bot(0).await;
    let (_, token) = dispatch_imagine(
        fake,
        940_000_000_000_000_001,
        vec![opt_str("prompt", "a quiet harbour")],
        |b| b,
    )
    .await;
    let original = format!(
        "{}/messages/@original",
        webhook_path(fake.config().app_id, &token)
    );
    fake.wait_for_request("queued edit", WAIT, |r| {
        r.method == "PATCH" && r.path == original
    })
    .await
    .expect("queued");
    assert_eq!(
        app.store
            .count_jobs(JobStatus::Queued)
            .await
            .expect("count"),
        1
    );
    app.shutdown().await;

    // Second life: bot and worker; the job is rendered and delivered once.
    let app = setup.start(setup.config(), true, 1).await;
    let webhook = webhook_path(fake.config().app_id, &token);
    fake.wait_for_request("image followup", WAIT, |r| {
        r.method == "POST" && r.path == webhook && !r.files.is_empty()
    })
    .await
    .expect("delivered after restart");
    // Stopped, the bot can deliver nothing more: the count is final (no sleep guesses it).
    setup.guard.assert_none();
    app.shutdown().await;
    assert_eq!(
        image_followups(fake, &webhook).len(),
        1,
        "delivered exactly once"
    );
    assert_eq!(fake.identify_count(), 2, "two gateway sessions");
    setup.db.cleanup().await;
}

on_both_databases!(bot_restart_keeps_queued_job);

async fn killed_worker_is_replaced(kind: Db) {
    // Enough steps that the worker is surely killed mid-render.
    let setup = Setup::new(kind, 400).await;
    let (fake, db, dir, catalog) = (&setup.fake, &setup.db, &setup.dir, &setup.catalog);
    let config = setup.config();
    let bot = setup.start_bot(0).await;
    let (_, token) = dispatch_imagine(
        fake,
        950_000_000_000_000_001,
        vec![opt_str("prompt", "a windmill")],
        |b| b,
    )
    .await;
    let original = format!(
        "{}/messages/@original",
        webhook_path(fake.config().app_id, &token)
    );
    fake.wait_for_request("queued edit", WAIT, |r| {
        r.method == "PATCH" && r.path == original
    })
    .await
    .expect("queued");

    // A real `zipp worker` process takes the job …
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zipp"))
        .arg("worker")
        .current_dir(dir.path())
        .env("ZIPP_DATABASE__URL", &db.url)
        .env("ZIPP_RENDER__MODELS_FILE", catalog)
        .env("ZIPP_RENDER__DEFAULT_MODEL", "tiny")
        .env("ZIPP_RENDER__DEVICE", "cpu")
        .env("ZIPP_RENDER__LEASE_SECS", "1")
        .env("ZIPP_RENDER__POLL_MS", "50")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("spawn zipp worker");
    let started = std::time::Instant::now();
    let job_id = loop {
        let jobs = bot.store.jobs_to_notify(10).await.expect("read");
        if let Some(job) = jobs
            .iter()
            .find(|j| j.status == JobStatus::Running && j.progress_step >= 1)
        {
            break job.id;
        }
        assert!(
            started.elapsed() < WAIT,
            "the worker process never made progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // … and is killed mid-render (SIGKILL: no cleanup, no lease release).
    child.kill().expect("kill worker");
    child.wait().expect("reap worker");
    let job = bot.store.job(job_id).await.expect("read").expect("job");
    assert_eq!(job.status, JobStatus::Running, "killed mid-job");
    assert!(
        job.progress_step < job.progress_total,
        "killed before the end"
    );

    // Another worker takes over once the lease expires, with fewer steps to keep the test short.
    let catalog_fast = write_catalog(&dir.path().join("fast").tap_mkdir(), 2);
    let mut config2 = config.clone();
    config2.render.models_file = catalog_fast;
    let worker = setup.start(config2, false, 1).await;
    let webhook = webhook_path(fake.config().app_id, &token);
    fake.wait_for_request("image followup", WAIT, |r| {
        r.method == "POST" && r.path == webhook && !r.files.is_empty()
    })
    .await
    .expect("delivered by the second worker");
    let job = bot.store.job(job_id).await.expect("read").expect("job");
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(job.attempts, 2, "the killed attempt counts");
    // Stopped, the bot can deliver nothing more: the count is final (no sleep guesses it).
    worker.shutdown().await;
    setup.guard.assert_none();
    bot.shutdown().await;
    assert_eq!(
        image_followups(fake, &webhook).len(),
        1,
        "delivered exactly once"
    );
    setup.db.cleanup().await;
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).expect("mkdir");
        self
    }
}

on_both_databases!(killed_worker_is_replaced);
