//! Sustained ingestion rate: the fake Discord sends MESSAGE_CREATE events as fast as it can (from
//! 200 consenting members over 20 channels, a third of them replies); the clock stops when the
//! store holds every event's count. Prints events/s, the bot process's CPU time and peak RSS,
//! and the ceiling: a plain loop inserting the same number of rows in batches of 1000 into the
//! same database.
//!
//! `cargo run --release --example bench_ingest -- [--events 100000]`

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

use std::time::{Duration, Instant};

use fake_discord::fixtures::{message, message_create, user};
use harness::*;
use serde_json::json;
use zipp::ids::{GuildId, MemberId};
use zipp::store::{EdgeDelta, EdgeKind, Store};

const MEMBERS: u64 = 200;
const CHANNELS: u64 = 20;

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

async fn posted_total(store: &Store, guild: GuildId) -> i64 {
    store
        .guild_edges(guild)
        .await
        .map(|edges| {
            edges
                .iter()
                .filter(|e| e.kind == EdgeKind::Posted)
                .map(|e| e.count)
                .sum()
        })
        .unwrap_or(0)
}

async fn ceiling(store: &Store, guild: GuildId, n: u64) -> f64 {
    let started = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        batch.push(EdgeDelta {
            guild_id: guild,
            member_id: MemberId(1_000_000 + i),
            kind: EdgeKind::Posted,
            target_id: i % CHANNELS,
            count: 1,
            last_at: 0,
        });
        if batch.len() == 1000 {
            store.add_edges(&batch).await.expect("insert");
            batch.clear();
        }
    }
    store.add_edges(&batch).await.expect("insert");
    n as f64 / started.elapsed().as_secs_f64()
}

async fn run(kind: Db, n: u64) -> anyhow::Result<()> {
    let db = TestDb::new(kind).await;
    let fake = start_fake().await;
    let dir = tempfile::tempdir()?;
    let catalog = write_catalog(dir.path(), 1);
    let guard = UnknownEventGuard::default();
    let mut config = test_config(&db, &fake, &catalog);
    config.log.filter = "warn".to_owned();
    let app = start_app(config, true, 0, None, &guard).await;
    wait_registered(&fake).await;
    let cfg = *fake.config();
    let guild = GuildId(cfg.guild_id);
    for m in 0..MEMBERS {
        app.store
            .set_consent(guild, MemberId(500 + m), true)
            .await?;
    }
    // Build the payloads first, so only sending and ingesting are timed.
    let events: Vec<_> = (0..n)
        .map(|i| {
            let author = 500 + i % MEMBERS;
            let mut m = message_create(&cfg, 10_000_000 + i, author, "member", "");
            m["channel_id"] = json!((900_000 + i % CHANNELS).to_string());
            if i % 3 == 0 {
                let other = 500 + (i + 7) % MEMBERS;
                m["referenced_message"] =
                    message(20_000_000 + i, cfg.channel_id, user(other, "other"), "");
                m["type"] = json!(19);
            }
            m
        })
        .collect();
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    fake.dispatch_many("MESSAGE_CREATE", events).await;
    let sent = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(600);
    while posted_total(&app.store, guild).await < n as i64 {
        anyhow::ensure!(Instant::now() < deadline, "events not flushed within 600 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let ceiling = ceiling(&app.store, GuildId(cfg.guild_id + 1), n).await;
    println!(
        "{}",
        json!({
            "db": format!("{kind:?}"), "events": n, "sent_s": sent, "flushed_s": elapsed,
            "events_per_s": n as f64 / elapsed, "ceiling_rows_per_s": ceiling,
            "ratio_to_ceiling": (n as f64 / elapsed) / ceiling,
            "cpu_s_bench_process": cpu, "cpu_share_of_2_cores": cpu / elapsed / 2.0,
            "peak_rss_mib_bench_process": peak_rss_mib(),
        })
    );
    guard.assert_none();
    app.shutdown().await;
    db.cleanup().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = std::env::args()
        .skip_while(|a| a != "--events")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    run(Db::Sqlite, n).await?;
    run(Db::Postgres, n).await?;
    Ok(())
}
