//! Nothing is lost: a bot restarted with a job queued delivers it once; a bot process killed
//! (SIGKILL) after Discord received the deferral but while the prompt was being rewritten — the
//! worst instant: acknowledged, nothing rendered — is finished by the next bot, once; a worker
//! killed mid-job (its lease expires) is replaced by another, and the result is delivered
//! exactly once.

use std::time::Duration;

use fake_discord::fixtures::{opt_str, DEFAULT_USER_ID};
use fake_discord::llm::{start as start_llm, Mode};
use zipp::ids::{GuildId, MemberId};
use zipp::store::{JobStatus, Store};

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
    let queued = fake
        .wait_for_request("queued edit", WAIT, |r| {
            r.method == "PATCH" && r.path == original
        })
        .await
        .expect("queued");
    assert_eq!(
        queued.json.as_ref().and_then(|j| j["content"].as_str()),
        Some("Queued — position 1. I'll update this message as it renders."),
        "a waiting job shows its place in the queue"
    );
    // The rewrite (no persona: the prompt as typed) queues the job for a worker.
    wait_queued(&app.store, 1).await;
    app.shutdown().await;

    // Second life: bot and worker; the job is rendered and delivered once.
    let app = setup.start(setup.config(), true, 1).await;
    let webhook = webhook_path(fake.config().app_id, &token);
    fake.wait_for_request("image delivery", WAIT, |r| is_image_delivery(r, &webhook))
        .await
        .expect("delivered after restart");
    // Stopped, the bot can deliver nothing more: the count is final (no sleep guesses it).
    setup.guard.assert_none();
    app.shutdown().await;
    assert_eq!(
        image_deliveries(fake, &webhook).len(),
        1,
        "delivered exactly once"
    );
    assert_eq!(fake.identify_count(), 2, "two gateway sessions");
    setup.db.cleanup().await;
}

on_both_databases!(bot_restart_keeps_queued_job);

async fn bot_killed_during_rewrite_delivers_once(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    // The first bot's LLM never answers: its rewrite is in flight when it is killed.
    let hang = start_llm(Mode::Hang).await;
    let normal = start_llm(Mode::Normal).await;
    add_llm(&setup.catalog, "hang", &hang.url);
    add_llm(&setup.catalog, "normal", &normal.url);
    {
        // The member has a persona, so the rewrite asks the LLM.
        let store = Store::connect(&setup.db.url, 1).await.expect("store");
        store
            .add_persona(
                GuildId(fake.config().guild_id),
                MemberId(DEFAULT_USER_ID),
                "edited",
                "I love watercolor harbours.",
                None,
            )
            .await
            .expect("persona");
        store.close().await;
    }
    let mut child = spawn_zipp(
        std::path::Path::new(env!("CARGO_BIN_EXE_zipp")),
        &["bot"],
        &setup.db,
        fake,
        setup.dir.path(),
        &setup.catalog,
        &[
            ("ZIPP_REWRITE__DEFAULT_LLM", "hang".to_owned()),
            // Rewrite lease: budget + 5 s.
            ("ZIPP_REWRITE__BUDGET_MS", "3000".to_owned()),
        ],
    );
    wait_registered(fake).await;
    let (id, token) = dispatch_imagine(
        fake,
        945_000_000_000_000_001,
        vec![opt_str("prompt", "a quiet harbour")],
        |b| b,
    )
    .await;
    // The LLM has the request: the job was stored and deferred, its rewrite is running.
    for _ in 0..polls(5) {
        if hang.hits.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("kill the bot");
    child.wait().expect("reap the bot");
    assert_eq!(
        hang.hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "killed during the rewrite"
    );
    let deferral = fake
        .requests()
        .into_iter()
        .find(|r| r.path == callback_path(id, &token))
        .expect("Discord received the deferral before the kill");
    assert_eq!(deferral.response_status, 204);

    // The next bot (with a working LLM) takes the expired rewrite lease over; a worker renders.
    let mut config = setup.config();
    config.rewrite.default_llm = "normal".to_owned();
    let app = setup.start(config, true, 1).await;
    let delivered = image_of(fake, &token).await;
    assert!(
        field(&delivered, "Prompt rendered").contains("watercolor"),
        "rewritten by the second bot's LLM"
    );
    let job = app
        .store
        .jobs_to_notify(10)
        .await
        .expect("read")
        .into_iter()
        .find(|j| j.interaction_id.0 == id);
    assert!(job.is_none(), "nothing left to deliver");
    setup.guard.assert_none();
    app.shutdown().await;
    let webhook = webhook_path(fake.config().app_id, &token);
    assert_eq!(image_deliveries(fake, &webhook).len(), 1, "delivered once");
    setup.db.cleanup().await;
}

on_both_databases!(bot_killed_during_rewrite_delivers_once);

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
        .env("ZIPP_RENDER__SAFETY_CHECKER", tiny_checker_dir(false))
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
    fake.wait_for_request("image delivery", WAIT, |r| is_image_delivery(r, &webhook))
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
        image_deliveries(fake, &webhook).len(),
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
