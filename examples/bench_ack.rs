//! Interaction acknowledgement latency: the fake Discord dispatches N `/imagine` interactions as
//! fast as it can; for each, the time from dispatch to the bot's deferral callback arriving.
//! Discord's deadline is 3 s. Runs the real bot (no workers, so only acknowledging and enqueuing
//! are measured) on SQLite and on PostgreSQL. Every deferral follows the durable write of its job
//! (`ImagineService::accept`), so the figure includes it; the run checks that all N jobs exist.
//!
//! With `--press`, the same for presses of a result's Reroll, Without persona, Vary (subtle,
//! strong) and Upscale buttons, and of U3 and V3 under a grid of four (each a new job, stored
//! before its deferral like `/imagine`): N finished parent jobs of N members, each owner
//! presses once.
//!
//! With `--metrics`, the `/imagine` runs again with the metrics server on (`observe.listen`),
//! for the overhead of recording them.
//!
//! `cargo run --release --example bench_ack -- [--n 500] [--press] [--metrics]`

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

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fake_discord::fixtures::opt_str;
use harness::*;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The real bot (no workers) on a fresh database of `kind` and a fake Discord, with the
/// production pool and server limits of `limit` (far above the run: every limit is checked, in
/// the accepting insert, and none refuses).
struct Bench {
    db: TestDb,
    fake: fake_discord::FakeDiscord,
    _dir: tempfile::TempDir,
    guard: UnknownEventGuard,
    app: zipp::app::App,
}

async fn bench(kind: Db, limit: u64) -> anyhow::Result<Bench> {
    bench_with(kind, limit, false).await
}

/// [`bench`], with the metrics server on (`observe.listen`) when `metrics`.
async fn bench_with(kind: Db, limit: u64, metrics: bool) -> anyhow::Result<Bench> {
    let db = TestDb::new(kind).await;
    let fake = start_fake().await;
    let dir = tempfile::tempdir()?;
    let catalog = write_catalog(dir.path(), 2);
    let guard = UnknownEventGuard::default();
    let mut config = test_config(&db, &fake, &catalog);
    config.log.filter = "warn".to_owned();
    if metrics {
        config.observe.listen = "127.0.0.1:0".to_owned();
    }
    // The production pool, not the tests' small one.
    config.database.max_connections = zipp::config::Config::default().database.max_connections;
    // On PostgreSQL only requests near a server's limits take its lock: the common case.
    config.limits.server_active = u32::try_from(limit)?;
    config.limits.server_hourly = u32::try_from(limit)?;
    let app = start_app(config, true, 0, None, &guard).await;
    wait_registered(&fake).await;
    Ok(Bench {
        db,
        fake,
        _dir: dir,
        guard,
        app,
    })
}

impl Bench {
    /// Waits for the `n` deferrals and returns their latencies (ms, sorted) from `sent`.
    ///
    /// Polled (every 10 ms) rather than awaited: a waiter would rescan every recorded request
    /// under the fake's lock on each new one, slowing the fake down. Each request carries its
    /// own arrival time, so polling does not change the figures.
    async fn latencies(&self, n: u64, sent: &HashMap<String, Instant>) -> anyhow::Result<Vec<f64>> {
        let is_callback = |r: &fake_discord::RecordedRequest| r.path.ends_with("/callback");
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.fake.count_requests(is_callback) < n as usize {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the deferrals did not all arrive"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let callbacks: Vec<_> = self
            .fake
            .requests()
            .into_iter()
            .filter(is_callback)
            .collect();
        anyhow::ensure!(
            callbacks
                .iter()
                .all(|r| r.json.as_ref().is_some_and(|j| j["type"] == 5)),
            "every request was deferred (a new job)"
        );
        let mut latencies: Vec<f64> = callbacks
            .iter()
            .map(|r| r.at.duration_since(sent[&r.path]).as_secs_f64() * 1000.0)
            .collect();
        latencies.sort_by(f64::total_cmp);
        Ok(latencies)
    }

    async fn finish(self) {
        self.guard.assert_none();
        self.app.shutdown().await;
        self.db.cleanup().await;
    }
}

/// One JSON line: `what` (e.g. `"interactions":500`) and the latency percentiles.
fn report(kind: Db, what: &str, latencies: &[f64]) {
    println!(
        "{{\"db\":\"{kind:?}\",{what},\"ack_p50_ms\":{:.1},\"ack_p99_ms\":{:.1},\"ack_max_ms\":{:.1}}}",
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
}

/// N members each send one `/imagine`.
async fn run(kind: Db, n: u64, metrics: bool) -> anyhow::Result<()> {
    let bench = bench_with(kind, 2 * n, metrics).await?;
    let fake = &bench.fake;
    let mut sent = HashMap::new();
    for i in 0..n {
        let id = 980_000_000_000_000_000 + i;
        let token = format!("token-{id}");
        let event = fake_discord::fixtures::InteractionBuilder::new(fake.config(), id, &token)
            .user(400_000_000_000_000_000 + i, "member")
            .command("imagine", vec![opt_str("prompt", "a red cat")]);
        sent.insert(harness::callback_path(id, &token), Instant::now());
        fake.dispatch("INTERACTION_CREATE", event).await;
    }
    let latencies = bench.latencies(n, &sent).await?;
    // Every job was stored before its deferral; once the rewrites settle, all N are queued.
    let store = &bench.app.store;
    while store.count_jobs(zipp::store::JobStatus::Rewriting).await? > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = store.count_jobs(zipp::store::JobStatus::Queued).await?;
    anyhow::ensure!(stored == n, "{stored} of {n} jobs stored");
    report(
        kind,
        &format!("\"interactions\":{n},\"metrics\":{metrics}"),
        &latencies,
    );
    bench.finish().await;
    Ok(())
}

/// N owners each press `button` (`zipp-reroll`, `zipp-plain`, `zipp-vary-subtle`, …) under
/// their own result (a finished job with an image: Vary and Upscale check it is kept); with
/// `cell`, under image `cell` of a grid of four (the U and V buttons).
async fn run_presses(kind: Db, n: u64, button: &str, cell: Option<u32>) -> anyhow::Result<()> {
    // The server's hourly limit counts images: grids of four, then up to four more per press.
    let bench = bench(kind, if cell.is_some() { 9 * n } else { 4 * n }).await?;
    let fake = &bench.fake;
    let cfg = *fake.config();
    let owner = |i: u64| 400_000_000_000_000_000 + i;
    let mut parents = Vec::new();
    for i in 0..n {
        let job = zipp::store::NewJob {
            guild_id: Some(zipp::ids::GuildId(cfg.guild_id)),
            channel_id: zipp::ids::ChannelId(cfg.channel_id),
            member_id: zipp::ids::MemberId(owner(i)),
            image_count: cell.map(|_| 4),
            ..new_job(970_000_000_000_000_000 + i)
        };
        parents.push(bench.app.store.enqueue(&job).await?.id);
    }
    let png = {
        let mut bytes = Vec::new();
        image::RgbImage::new(8, 8).write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )?;
        bytes
    };
    for _ in 0..n {
        let leased = bench
            .app
            .store
            .lease("bench", 60_000)
            .await?
            .ok_or_else(|| anyhow::anyhow!("a parent job to finish"))?;
        bench
            .app
            .store
            .complete(leased.job.id, "bench", &png, 8, 8, 1)
            .await?;
    }
    let mut message = fake_discord::fixtures::message(
        800_000_000_000_000_001,
        cfg.channel_id,
        serde_json::Value::Null,
        "",
    );
    message["author"] = fake_discord::fixtures::bot_user(&cfg);
    let custom_id = |parent: i64| match cell {
        Some(cell) => format!("{button}:{parent}:{cell}"),
        None => format!("{button}:{parent}"),
    };
    let mut sent = HashMap::new();
    for (i, parent) in parents.iter().enumerate() {
        let id = 990_000_000_000_000_000 + i as u64;
        let token = format!("token-{id}");
        let event = fake_discord::fixtures::InteractionBuilder::new(&cfg, id, &token)
            .user(owner(i as u64), "member")
            .button(&custom_id(parent.0), message.clone());
        sent.insert(harness::callback_path(id, &token), Instant::now());
        fake.dispatch("INTERACTION_CREATE", event).await;
    }
    let latencies = bench.latencies(n, &sent).await?;
    report(
        kind,
        &format!(
            "\"button\":\"{button}{}\",\"presses\":{n}",
            cell.map(|c| format!(" of image {}", c + 1))
                .unwrap_or_default()
        ),
        &latencies,
    );
    bench.finish().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .iter()
        .position(|a| a == "--n")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(500);
    let press = args.iter().any(|a| a == "--press");
    for kind in [Db::Sqlite, Db::Postgres] {
        if press {
            for (button, cell) in [
                ("zipp-reroll", None),
                ("zipp-plain", None),
                ("zipp-vary-subtle", None),
                ("zipp-vary-strong", None),
                ("zipp-upscale", None),
                // U3 and V3 under a grid of four.
                ("zipp-upscale", Some(2)),
                ("zipp-vary-strong", Some(2)),
            ] {
                run_presses(kind, n, button, cell).await?;
            }
        } else {
            run(kind, n, false).await?;
        }
    }
    // The same with metrics recorded and served: after every run without them, for the
    // recorder, once installed, stays for the whole process.
    if args.iter().any(|a| a == "--metrics") {
        for kind in [Db::Sqlite, Db::Postgres] {
            run(kind, n, true).await?;
        }
    }
    Ok(())
}
