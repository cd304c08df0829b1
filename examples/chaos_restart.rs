//! Crash-restart stress: a real `zipp run` process (bot + worker) is SIGKILLed at random
//! instants — while prompts are rewritten by a slow LLM, rendered, delivered — and restarted,
//! for `--cycles` cycles, with `/imagine` interactions dispatched by the fake Discord in every
//! life. At the end one last life drains the queue, and every interaction is accounted for:
//!
//! - **acknowledged**: Discord received the deferral (the member saw "thinking…");
//! - **delivered**: its result (image, or failure notice) replaced the deferred response;
//! - **duplicated**: more than one message carries its image;
//! - **lost**: acknowledged and never delivered;
//! - **unacknowledged delivered**: killed before the deferral reached Discord (the member was
//!   told it failed), yet delivered anyway.
//!
//! Goal: 0 lost, 0 duplicated, 0 unacknowledged delivered. It also counts repeated sends (a
//! delivery repeated after a kill between Discord's answer and the bot's record: harmless,
//! because the send is an idempotent edit) and the job states seen at the kills.
//!
//! `cargo run --release --example chaos_restart -- [--cycles 100] [--db sqlite|postgres]
//! [--seed 1] [--llm-ms 300] [--steps 4] [--window-ms 1500]`
//! (builds `zipp` in the same profile first when it is missing).

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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fake_discord::fixtures::{opt_str, DEFAULT_USER_ID};
use fake_discord::llm::{start as start_llm, Mode};
use harness::*;
use rand::{Rng, SeedableRng};
use zipp::ids::{GuildId, MemberId};
use zipp::store::{JobStatus, Store};

struct Args {
    cycles: u64,
    db: Db,
    seed: u64,
    llm_ms: u64,
    steps: u32,
    window_ms: u64,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        cycles: 100,
        db: Db::Sqlite,
        seed: 1,
        llm_ms: 300,
        steps: 4,
        window_ms: 1500,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--cycles" => args.cycles = value()?.parse()?,
            "--db" => {
                args.db = match value()?.as_str() {
                    "sqlite" => Db::Sqlite,
                    "postgres" => Db::Postgres,
                    other => anyhow::bail!("--db sqlite|postgres, not {other}"),
                }
            }
            "--seed" => args.seed = value()?.parse()?,
            "--llm-ms" => args.llm_ms = value()?.parse()?,
            "--steps" => args.steps = value()?.parse()?,
            "--window-ms" => args.window_ms = value()?.parse()?,
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    Ok(args)
}

/// The `zipp` binary beside this example's profile folder, built first when missing.
fn zipp_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow::anyhow!("unexpected example path {}", exe.display()))?;
    let binary = profile_dir.join("zipp");
    if !binary.is_file() {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        eprintln!(
            "building zipp ({})",
            if release { "release" } else { "debug" }
        );
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "--bin", "zipp"]);
        if release {
            build.arg("--release");
        }
        anyhow::ensure!(build.status()?.success(), "building zipp failed");
    }
    Ok(binary)
}

/// A bot process, SIGKILLed and reaped when dropped (also on an early return).
struct Bot(std::process::Child);

impl Bot {
    /// SIGKILL (no cleanup: the crash under test), then reap.
    fn kill(mut self) -> anyhow::Result<()> {
        self.0.kill()?;
        self.0.wait()?;
        Ok(())
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let binary = zipp_binary()?;
    let db = TestDb::new(args.db).await;
    let fake = start_fake().await;
    let dir = tempfile::tempdir()?;
    let catalog = write_catalog(dir.path(), args.steps);
    let llm = start_llm(Mode::Slow(Duration::from_millis(args.llm_ms))).await;
    add_llm(&catalog, "slow", &llm.url);
    let store = Store::connect(&db.url, 2).await?;
    // The member has a persona, so every rewrite asks the slow LLM.
    store
        .add_persona(
            GuildId(fake.config().guild_id),
            MemberId(DEFAULT_USER_ID),
            "edited",
            "I love watercolor harbours.",
            None,
        )
        .await?;
    let env = [
        ("ZIPP_REWRITE__DEFAULT_LLM", "slow".to_owned()),
        ("ZIPP_REWRITE__BUDGET_MS", "2000".to_owned()),
        ("ZIPP_RENDER__LEASE_SECS", "2".to_owned()),
        ("ZIPP_DISCORD__DELIVERY_LEASE_SECS", "3".to_owned()),
        ("RUST_LOG", "error".to_owned()),
    ];
    let spawn = || {
        Bot(spawn_zipp(
            &binary,
            &["run"],
            &db,
            &fake,
            dir.path(),
            &catalog,
            &env,
        ))
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut tokens: Vec<(u64, String)> = Vec::new();
    let mut states_at_kill: BTreeMap<&'static str, u64> = BTreeMap::new();
    let started = Instant::now();
    let mut lives = 0usize;
    for cycle in 0..args.cycles {
        let child = spawn();
        lives += 1;
        fake.wait_for_requests("command registration", lives, WAIT, |r| {
            r.method == "PUT" && r.path.ends_with("/commands")
        })
        .await?;
        let n = rng.gen_range(1..=3u64);
        for k in 0..n {
            let id = 990_000_000_000_000_000 + cycle * 10 + k;
            let (id, token) =
                dispatch_imagine(&fake, id, vec![opt_str("prompt", "a harbour")], |b| b).await;
            tokens.push((id, token));
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..200))).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..args.window_ms))).await;
        child.kill()?;
        for state in job_states(&store).await? {
            *states_at_kill.entry(state).or_default() += 1;
        }
        if cycle % 10 == 9 {
            eprintln!(
                "{} cycles, {} interactions, {:.0} s",
                cycle + 1,
                tokens.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }

    // The last life drains everything that can still be delivered.
    let child = spawn();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let open = store
            .jobs_to_notify(1000)
            .await?
            .into_iter()
            .filter(|j| j.status != JobStatus::Running)
            .count()
            + store.count_jobs(JobStatus::Rewriting).await? as usize
            + store.count_jobs(JobStatus::Queued).await? as usize
            + store.count_jobs(JobStatus::Running).await? as usize;
        if open == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child.kill()?;

    // Accounting, from what Discord (the fake) received.
    let app_id = fake.config().app_id;
    let requests = fake.requests();
    let jobs = store_jobs(&store).await?;
    let messages = fake.messages();
    let (mut acknowledged, mut delivered, mut duplicated, mut lost) = (0, 0, 0, 0);
    let (mut unacked, mut unacked_delivered, mut repeated_sends) = (0, 0, 0);
    for (id, token) in &tokens {
        let acked = requests
            .iter()
            .any(|r| r.path == callback_path(*id, token) && r.response_status == 204);
        let webhook = webhook_path(app_id, token);
        let original = fake.original_response(token);
        let result_in_original = original.as_ref().is_some_and(|m| {
            m["attachments"].as_array().is_some_and(|a| !a.is_empty())
                || m["content"]
                    .as_str()
                    .is_some_and(|c| !c.starts_with("Queued") && !c.starts_with("Rendering"))
        });
        let nonce = jobs.get(id).map(|job| format!("zipp-{job}"));
        let in_channel = messages
            .iter()
            .filter(|m| nonce.is_some() && m["nonce"].as_str() == nonce.as_deref())
            .count();
        let copies = usize::from(result_in_original) + in_channel;
        let sends = requests
            .iter()
            .filter(|r| is_image_delivery(r, &webhook))
            .count();
        repeated_sends += sends.saturating_sub(1);
        if acked {
            acknowledged += 1;
            match copies {
                0 => lost += 1,
                1 => delivered += 1,
                _ => {
                    delivered += 1;
                    duplicated += 1;
                }
            }
        } else {
            unacked += 1;
            if copies > 0 {
                unacked_delivered += 1;
            }
        }
    }
    println!(
        "chaos_restart: {} cycles on {:?}, seed {}, slow LLM {} ms, {} steps, kills within {} ms, {:.0} s",
        args.cycles,
        args.db,
        args.seed,
        args.llm_ms,
        args.steps,
        args.window_ms,
        started.elapsed().as_secs_f64()
    );
    println!("job states seen right after the kills: {states_at_kill:?}");
    println!(
        "interactions {} | acknowledged {acknowledged} | delivered {delivered} | duplicated {duplicated} | lost {lost}",
        tokens.len()
    );
    println!(
        "unacknowledged {unacked} (delivered anyway: {unacked_delivered}) | repeated idempotent sends {repeated_sends}"
    );
    store.close().await;
    fake.shutdown().await;
    db.cleanup().await;
    if lost > 0 || duplicated > 0 || unacked_delivered > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// The states of the jobs not yet delivered, plus `delivering` for claimed deliveries.
async fn job_states(store: &Store) -> anyhow::Result<Vec<&'static str>> {
    let mut states = Vec::new();
    for (status, name) in [
        (JobStatus::Rewriting, "rewriting"),
        (JobStatus::Queued, "queued"),
        (JobStatus::Running, "rendering"),
    ] {
        for _ in 0..store.count_jobs(status).await? {
            states.push(name);
        }
    }
    for job in store.jobs_to_notify(1000).await? {
        if matches!(job.status, JobStatus::Done | JobStatus::Failed) {
            states.push("finished, undelivered");
        }
    }
    Ok(states)
}

/// Interaction id → job id, for every stored job.
async fn store_jobs(store: &Store) -> anyhow::Result<HashMap<u64, i64>> {
    let mut out = HashMap::new();
    for status in [
        JobStatus::Rewriting,
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Failed,
    ] {
        for job in store.jobs_with_status(status).await? {
            out.insert(job.interaction_id.0, job.id.0);
        }
    }
    Ok(out)
}
