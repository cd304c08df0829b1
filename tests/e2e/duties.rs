//! Many bot processes: two on one PostgreSQL database share the scheduled persona passes and
//! the retention sweep out — exactly one leads each — and when the leader stops, the other takes
//! its duties over (on SQLite, one machine's database, every process leads); two running shards
//! 0 and 1 of 2 each get the events of their own servers only; a worker in another process is
//! woken by PostgreSQL's NOTIFY, not its poll.

use std::time::Duration;

use zipp::app::App;

use crate::harness::*;

const DUTIES: [&str; 2] = ["personas", "retention"];

/// Who leads each duty once every process has tried every duty (each records its tries: a
/// signal, not a wait).
async fn leaders(apps: &[&App]) -> Vec<Vec<&'static str>> {
    let tried = |app: &App| {
        let duties: Vec<_> = app.store.duties().into_iter().map(|(d, _)| d).collect();
        duties == DUTIES
    };
    for _ in 0..polls(20) {
        if apps.iter().all(|a| tried(a)) {
            return apps.iter().map(|a| a.store.leading()).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "not every process tried every duty: {:?}",
        apps.iter().map(|a| a.store.duties()).collect::<Vec<_>>()
    );
}

async fn each_duty_runs_in_one_process(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let mut config = setup.config();
    config.retention.sweep_every_s = 1;
    config.persona.infer_every_s = 1;
    let first = setup.start(config.clone(), true, 0).await;
    wait_registered(&setup.fake).await;
    let second = setup.start(config.clone(), true, 0).await;
    let leading = leaders(&[&first, &second]).await;
    match kind {
        Db::Postgres => {
            for duty in DUTIES {
                let holders = leading.iter().filter(|l| l.contains(&duty)).count();
                assert_eq!(holders, 1, "{duty}: {leading:?}");
            }
        }
        Db::Sqlite => assert_eq!(leading, [DUTIES.to_vec(), DUTIES.to_vec()]),
    }
    if kind == Db::Postgres {
        // The first process stops: its locks go with its connections; the second takes over.
        let before = first.store.leading();
        first.shutdown().await;
        let mut now = Vec::new();
        for _ in 0..polls(50) {
            now = second.store.leading();
            if now == DUTIES {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(now, DUTIES, "the first led {before:?}");
    } else {
        first.shutdown().await;
    }
    setup.finish(second).await;
}

on_both_databases!(each_duty_runs_in_one_process);

/// Two bot processes, shards 0 and 1 of 2: each identifies its own shard, each server's
/// interactions reach the process of the server's shard only (and are answered once), and a
/// stopped process's servers reach nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_shard_s_events_reach_its_process() {
    use zipp::config::DiscordConfig;
    let setup = Setup::new(Db::Postgres, 1).await;
    let fake = &setup.fake;
    let home = fake.config().guild_id;
    let home_shard = DiscordConfig::shard_of(home, 2);
    // A server on the other shard.
    let away = (1..)
        .map(|i| home + (i << 22))
        .find(|g| DiscordConfig::shard_of(*g, 2) != home_shard)
        .expect("a server on the other shard");
    let mut config = setup.config();
    config.discord.shards = "0/2".to_owned();
    let zero = setup.start(config.clone(), true, 0).await;
    config.discord.shards = "1-1/2".to_owned();
    let one = setup.start(config.clone(), true, 0).await;
    for _ in 0..polls(50) {
        if fake.identify_count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut shards: Vec<_> = fake
        .identifies()
        .iter()
        .map(|d| d["shard"].clone())
        .collect();
    shards.sort_by_key(|s| s[0].as_u64());
    assert_eq!(
        shards,
        [serde_json::json!([0, 2]), serde_json::json!([1, 2])]
    );

    let ask = |id: u64, guild: u64| {
        let token = format!("token-{id}");
        let event = fake_discord::fixtures::InteractionBuilder::new(fake.config(), id, &token)
            .guild(guild)
            .command("settings", vec![]);
        async move { (fake.dispatch("INTERACTION_CREATE", event).await, token) }
    };
    for (id, guild) in [
        (912_000_000_000_000_001, home),
        (912_000_000_000_000_002, away),
    ] {
        let (reached, token) = ask(id, guild).await;
        // One session got it, so one process answers it (and only one can).
        assert_eq!(reached, 1, "one process gets server {guild}'s events");
        let callback = callback_path(id, &token);
        fake.wait_for_request("the answer", WAIT, |r| r.path == callback)
            .await
            .expect("answered");
    }
    // The process of the away server's shard stops: its events reach nobody; home's still do.
    let (stopped, kept) = if home_shard == 0 {
        (one, zero)
    } else {
        (zero, one)
    };
    stopped.shutdown().await;
    // Its gateway session is closed (the fake notices the socket close a moment later).
    for _ in 0..polls(50) {
        if fake.connected_sessions() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.connected_sessions(), 1);
    assert_eq!(ask(912_000_000_000_000_003, away).await.0, 0);
    assert_eq!(ask(912_000_000_000_000_004, home).await.0, 1);
    setup.finish(kept).await;
}

/// A worker process that polls only every ten minutes renders a job another process queued
/// at once: queuing NOTIFYs, and the worker process LISTENs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_in_another_process_wakes_on_notify() {
    let setup = Setup::new(Db::Postgres, 1).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.render.poll_ms = 600_000;
    let worker = setup.start(config, false, 1).await;
    // Let its first look at the queue (empty) pass; the next poll is ten minutes away. This wait
    // only guards against a false pass (a job found by that first look): the test cannot fail
    // because of it, and without the listener it fails (checked).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bot = setup.start(setup.config(), true, 0).await;
    wait_registered(fake).await;
    let started = std::time::Instant::now();
    let (_, token) = dispatch_imagine(
        fake,
        913_000_000_000_000_001,
        vec![fake_discord::fixtures::opt_str("prompt", "a red cat")],
        |b| b,
    )
    .await;
    // WAIT (60 s) is far below the poll: only the notification can bring the image.
    image_of(fake, &token).await;
    assert!(started.elapsed() < WAIT);
    worker.shutdown().await;
    setup.finish(bot).await;
}
