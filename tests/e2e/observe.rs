//! `observe.listen`: Prometheus metrics and the health endpoints of a real bot and worker,
//! scraped over HTTP while `/imagine` runs against the fake Discord, on both databases.

use fake_discord::fixtures::{opt_int, opt_str};
use zipp::app::App;

use crate::harness::*;

/// GETs `path` from the app's observe server: (status, body).
async fn get(app: &App, path: &str) -> (u16, String) {
    let address = app.observe.as_ref().expect("observe.listen is set").address;
    let response = reqwest::get(format!("http://{address}{path}"))
        .await
        .expect("the observe server answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// Waits until `/readyz` answers 200 (the gateway connects after the start).
async fn until_ready(app: &App) {
    for _ in 0..polls(20) {
        if get(app, "/readyz").await.0 == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("never ready: {:?}", get(app, "/readyz").await);
}

/// Runs `zipp ready` (`--live`) against the observe server at `address`.
async fn zipp_ready(address: &str, live: bool) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_zipp"));
    command
        .arg("ready")
        .env("ZIPP_OBSERVE__LISTEN", address)
        .env("ZIPP_LOG__FILTER", "warn")
        .kill_on_drop(true);
    if live {
        command.arg("--live");
    }
    command.output().await.expect("zipp runs")
}

/// The lines of the `/metrics` text that start with `prefix`.
fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

async fn metrics_and_health_follow_the_work(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.observe.listen = "127.0.0.1:0".to_owned();
    // The bot alone first: its job waits in the queue for a worker.
    let bot = setup.start(config.clone(), true, 0).await;
    wait_registered(fake).await;
    assert_eq!(get(&bot, "/healthz").await, (200, "ok\n".to_owned()));
    until_ready(&bot).await;

    let (_, token) = dispatch_imagine(
        fake,
        911_000_000_000_000_001,
        vec![opt_str("prompt", "a red cat"), opt_int("seed", 3)],
        |b| b,
    )
    .await;
    let refused = run_command(
        fake,
        911_000_000_000_000_002,
        fake_discord::fixtures::DEFAULT_USER_ID,
        "imagine",
        vec![opt_str("prompt", "a red cat"), opt_int("count", 9)],
    )
    .await;
    assert_eq!(refused["data"]["flags"], 64, "{refused}");
    // Queued once the rewrite is done.
    let mut queued = Vec::new();
    for _ in 0..polls(20) {
        let (_, text) = get(&bot, "/metrics").await;
        queued = lines(&text, "zipp_jobs{")
            .into_iter()
            .map(str::to_owned)
            .collect();
        if queued
            .iter()
            .any(|l| l == "zipp_jobs{status=\"queued\",model=\"tiny\"} 1")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        queued
            .iter()
            .any(|l| l == "zipp_jobs{status=\"queued\",model=\"tiny\"} 1"),
        "{queued:?}"
    );

    // A worker renders it.
    let worker = setup.start(config.clone(), false, 1).await;
    image_of(fake, &token).await;
    let (status, text) = get(&bot, "/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        "zipp_interactions_total{command=\"imagine\",outcome=\"ok\"}",
        "zipp_interactions_total{command=\"imagine\",outcome=\"refused\"}",
        "zipp_ack_seconds_bucket{via=\"imagine\",le=\"0.005\"}",
        "zipp_render_seconds_bucket{model=\"tiny\",size=\"64x64\",le=\"0.005\"}",
        "zipp_renders_total{model=\"tiny\",outcome=\"ok\"}",
        "zipp_rewrites_total{backend=",
        "zipp_rewrite_seconds_count{backend=",
        "zipp_db_connections{state=\"idle\"}",
        "zipp_jobs{status=\"queued\",model=\"tiny\"} 0",
    ] {
        assert!(
            !lines(&text, expected).is_empty(),
            "no {expected} in\n{text}"
        );
    }
    // Never a member, a server, a channel or a prompt in a label or a value.
    let config_ids = fake.config();
    for private in [
        fake_discord::fixtures::DEFAULT_USER_ID.to_string(),
        config_ids.guild_id.to_string(),
        config_ids.channel_id.to_string(),
        "red cat".to_owned(),
    ] {
        assert!(!text.contains(&private), "{private} in /metrics");
    }

    // `zipp ready`, the containers' health check, says so too.
    let address = bot.observe.as_ref().expect("served").address;
    let ready = zipp_ready(&address.to_string(), false).await;
    assert!(ready.status.success(), "{ready:?}");
    assert_eq!(String::from_utf8_lossy(&ready.stdout), "ready\n");

    // A worker whose default model cannot be loaded is not ready, and says why.
    let mut broken = config.clone();
    broken.render.default_model = "nope".to_owned();
    let lost = setup.start(broken, false, 1).await;
    let (status, body) = get(&lost, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("model: "), "{body}");
    let lost_address = lost.observe.as_ref().expect("served").address.to_string();
    let ready = zipp_ready(&lost_address, false).await;
    assert!(!ready.status.success(), "{ready:?}");
    assert!(
        String::from_utf8_lossy(&ready.stderr).contains("503"),
        "{ready:?}"
    );
    assert!(
        zipp_ready(&lost_address, true).await.status.success(),
        "alive"
    );
    lost.shutdown().await;
    // Nothing listening: a clear failure.
    let ready = zipp_ready(&lost_address, true).await;
    assert!(!ready.status.success(), "{ready:?}");
    assert!(
        String::from_utf8_lossy(&ready.stderr).contains("no answer from"),
        "{ready:?}"
    );

    // The database gone: not ready (alive still).
    worker.shutdown().await;
    bot.store.close().await;
    let (status, body) = get(&bot, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("database: "), "{body}");
    assert_eq!(get(&bot, "/healthz").await.0, 200);
    setup.finish(bot).await;
}

on_both_databases!(metrics_and_health_follow_the_work);
