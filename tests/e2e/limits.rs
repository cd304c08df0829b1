//! Public safety in the store, on both databases: the limits on `/imagine` (per member, per
//! server, at once and per hour, tightened by moderators, race-free under concurrent requests),
//! the fair queue (servers, then members, take turns), and the blocklist with its audit entries.

use std::sync::Arc;

use tokio::sync::Barrier;
use zipp::ids::{GuildId, InteractionId, MemberId};
use zipp::store::{
    Acceptance, GuildSetting, JobLimits, JobStatus, LimitKind, NewJob, RefusalReason, Store,
};

use crate::harness::*;

const LIMITS: JobLimits = JobLimits {
    member_active: 2,
    member_hourly: 4,
    server_active: 5,
    server_hourly: 8,
};

fn job(interaction: u64, guild: Option<u64>, member: u64) -> NewJob {
    NewJob {
        guild_id: guild.map(GuildId),
        member_id: MemberId(member),
        interaction_id: InteractionId(interaction),
        ..new_job(interaction)
    }
}

async fn accept(store: &Store, job: &NewJob, limits: &JobLimits) -> Acceptance {
    store
        .accept(job, "bot", 60_000, limits)
        .await
        .expect("accept")
}

fn refused(acceptance: Acceptance) -> Option<(LimitKind, u32, Option<i64>)> {
    match acceptance {
        Acceptance::Refused(r) => Some((r.kind, r.limit, r.retry_at_ms)),
        Acceptance::Accepted { .. } => None,
    }
}

/// Finishes every unfinished job of `member` (so only the hourly limits remain).
async fn finish_all(db: &TestDb, kind: Db, member: u64) {
    db_execute(
        db,
        kind,
        &format!(
            "UPDATE render_jobs SET status = 'done', lease_owner = NULL WHERE member_id = {member}"
        ),
    )
    .await;
}

async fn limits_refuse_and_say_when(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 8).await.expect("connect");
    let guild = 11;
    // Member active: 2 at once.
    for i in 1..=2 {
        assert!(refused(accept(&store, &job(i, Some(guild), 100), &LIMITS).await).is_none());
    }
    let third = refused(accept(&store, &job(3, Some(guild), 100), &LIMITS).await);
    assert_eq!(third, Some((LimitKind::MemberActive, 2, None)));
    assert_eq!(
        store.count_jobs(JobStatus::Rewriting).await.expect("count"),
        2,
        "a refused job is not stored"
    );
    // Discord re-sending an accepted interaction is not a new job, even at the limit.
    assert!(matches!(
        accept(&store, &job(1, Some(guild), 100), &LIMITS).await,
        Acceptance::Accepted {
            newly_created: false,
            ..
        }
    ));
    // The member's DMs count too (the limit is per member, over all servers).
    assert!(refused(accept(&store, &job(4, None, 100), &LIMITS).await).is_some());

    // Member hourly: 4 started in the hour; the refusal says when the oldest leaves the hour.
    finish_all(&db, kind, 100).await;
    let before = now_ms();
    for i in 5..=6 {
        assert!(refused(accept(&store, &job(i, Some(guild), 100), &LIMITS).await).is_none());
    }
    finish_all(&db, kind, 100).await;
    let (kind_, limit, retry) =
        refused(accept(&store, &job(7, Some(guild), 100), &LIMITS).await).expect("refused");
    assert_eq!((kind_, limit), (LimitKind::MemberHourly, 4));
    let retry = retry.expect("a time to retry");
    let hour = 3_600_000;
    assert!(
        (before - 5_000 + hour..=now_ms() + hour).contains(&retry),
        "retry at {retry}, now {}",
        now_ms()
    );
    // Backdate the first job out of the hour: one more fits.
    finish_all(&db, kind, 100).await;
    db_execute(
        &db,
        kind,
        "UPDATE render_jobs SET created_at = created_at - 3700000 WHERE interaction_id = 1",
    )
    .await;
    assert!(refused(accept(&store, &job(8, Some(guild), 100), &LIMITS).await).is_none());

    // Server active: 5 unfinished in a server, from members each under their own limit.
    let mut n = 100;
    let mut server_refusal = None;
    for member in 200..210 {
        n += 1;
        if let Some(r) = refused(accept(&store, &job(n, Some(15), member), &LIMITS).await) {
            server_refusal = Some((member, r));
            break;
        }
    }
    let (member, refusal) = server_refusal.expect("the server limit refuses");
    assert_eq!(refusal, (LimitKind::ServerActive, 5, None));
    assert_eq!(member, 205, "five members fit");
    // Server hourly: 8 started in the hour, whatever finished.
    for member in 220..228 {
        n += 1;
        assert!(refused(accept(&store, &job(n, Some(16), member), &LIMITS).await).is_none());
        finish_all(&db, kind, member).await;
    }
    let (kind_, limit, retry) =
        refused(accept(&store, &job(n + 1, Some(16), 230), &LIMITS).await).expect("refused");
    assert_eq!((kind_, limit), (LimitKind::ServerHourly, 8));
    assert!(retry.expect("a time to retry") > now_ms() + hour - 60_000);
    // Another server is not affected.
    assert!(refused(accept(&store, &job(900, Some(12), 300), &LIMITS).await).is_none());

    // Moderators tighten: one at once per member in server 13.
    let guild13 = GuildId(13);
    store
        .change_guild_setting(
            guild13,
            GuildSetting::Limit(LimitKind::MemberActive),
            Some("1"),
            MemberId(1),
        )
        .await
        .expect("tighten");
    assert_eq!(
        store
            .guild_limits(Some(guild13), &LIMITS)
            .await
            .expect("limits")
            .member_active,
        1
    );
    assert!(refused(accept(&store, &job(1000, Some(13), 400), &LIMITS).await).is_none());
    assert_eq!(
        refused(accept(&store, &job(1001, Some(13), 400), &LIMITS).await),
        Some((LimitKind::MemberActive, 1, None))
    );
    // A server's value above the operator's does not loosen it.
    store
        .change_guild_setting(
            GuildId(14),
            GuildSetting::Limit(LimitKind::MemberActive),
            Some("50"),
            MemberId(1),
        )
        .await
        .expect("set");
    for i in 0..2 {
        assert!(refused(accept(&store, &job(1100 + i, Some(14), 500), &LIMITS).await).is_none());
    }
    assert!(refused(accept(&store, &job(1102, Some(14), 500), &LIMITS).await).is_some());

    // Refusals are counted per server for /stats.
    store
        .count_refusal(
            GuildId(guild),
            RefusalReason::Limit(LimitKind::MemberActive),
        )
        .await
        .expect("count");
    store
        .count_refusal(
            GuildId(guild),
            RefusalReason::Limit(LimitKind::MemberActive),
        )
        .await
        .expect("count");
    store
        .count_refusal(GuildId(guild), RefusalReason::Blocklist)
        .await
        .expect("count");
    assert_eq!(
        store.refusal_counts(GuildId(guild)).await.expect("counts"),
        vec![("member_active".to_owned(), 2), ("blocklist".to_owned(), 1)]
    );
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(limits_refuse_and_say_when);

/// Many requests of one member at the same instant: exactly the limit is accepted (PostgreSQL
/// takes advisory locks; SQLite serialises writers).
async fn concurrent_requests_cannot_pass_the_limit(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 16).await.expect("connect");
    let tries = 12;
    let barrier = Arc::new(Barrier::new(tries));
    let mut tasks = Vec::new();
    for i in 0..tries {
        let (store, barrier) = (store.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            let job = job(5000 + i as u64, Some(21), 600);
            barrier.wait().await;
            accept(&store, &job, &LIMITS).await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        if matches!(task.await.expect("task"), Acceptance::Accepted { .. }) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, LIMITS.member_active, "{kind:?}");
    assert_eq!(
        store.count_jobs(JobStatus::Rewriting).await.expect("count"),
        u64::from(LIMITS.member_active)
    );

    // Many members of one server at the same instant: exactly the server's limit (near it,
    // PostgreSQL takes the server's lock too).
    let barrier = Arc::new(Barrier::new(tries));
    let mut tasks = Vec::new();
    for i in 0..tries {
        let (store, barrier) = (store.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            let job = job(6000 + i as u64, Some(22), 610 + i as u64);
            barrier.wait().await;
            accept(&store, &job, &LIMITS).await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        if matches!(task.await.expect("task"), Acceptance::Accepted { .. }) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, LIMITS.server_active, "{kind:?}");
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(concurrent_requests_cannot_pass_the_limit);

/// Renders started before the newcomer's job, with `workers` workers: one member queued 200
/// jobs first.
async fn renders_before_newcomer(store: &Store, workers: usize, base: u64) -> usize {
    for i in 0..200 {
        store
            .enqueue(&job(base + i, Some(31), 700))
            .await
            .expect("enqueue");
    }
    // Each worker is busy with one of the flood's jobs when the newcomer arrives.
    let mut running = Vec::new();
    for w in 0..workers {
        running.push(
            store
                .lease(&format!("w{w}"), 60_000)
                .await
                .expect("lease")
                .expect("a job"),
        );
    }
    let newcomer = store
        .enqueue(&job(base + 1000, Some(31), 701))
        .await
        .expect("enqueue")
        .id;
    let mut started_before = running.len();
    // Workers finish in turn and lease again until the newcomer's job starts.
    for round in 0.. {
        let w = round % workers;
        let done = &running[w];
        assert!(store
            .complete(done.job.id, &done.owner, b"x", 1, 1, 1)
            .await
            .expect("complete"));
        let next = store
            .lease(&format!("w{w}"), 60_000)
            .await
            .expect("lease")
            .expect("a job");
        if next.job.id == newcomer {
            break;
        }
        started_before += 1;
        running[w] = next;
    }
    started_before
}

async fn a_flood_delays_a_newcomer_by_one_render_per_worker(kind: Db) {
    for workers in [1, 4] {
        let db = TestDb::new(kind).await;
        let store = Store::connect(&db.url, 8).await.expect("connect");
        let before = renders_before_newcomer(&store, workers, 10_000).await;
        println!(
            "fairness ({kind:?}): 200 jobs of one member, then one of another; {workers} worker(s): \
             {before} render(s) started before the newcomer's"
        );
        assert!(
            before <= workers,
            "{before} renders before, {workers} workers"
        );
        store.close().await;
        db.cleanup().await;
    }

    // Servers take turns too: a server with two flooding members does not starve another.
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 8).await.expect("connect");
    for i in 0..20 {
        store
            .enqueue(&job(20_000 + i, Some(41), 800 + i % 2))
            .await
            .expect("enqueue");
    }
    let first = store.lease("w", 60_000).await.expect("lease").expect("job");
    let other = store
        .enqueue(&job(20_100, Some(42), 900))
        .await
        .expect("enqueue")
        .id;
    let second = store.lease("w", 60_000).await.expect("lease").expect("job");
    assert_eq!(second.job.id, other, "the other server's job goes next");
    // Within server 41, the two members alternate.
    let third = store.lease("w", 60_000).await.expect("lease").expect("job");
    let fourth = store.lease("w", 60_000).await.expect("lease").expect("job");
    assert_ne!(first.job.member_id, third.job.member_id);
    assert_eq!(first.job.member_id, fourth.job.member_id);
    // The retention sweep forgets turns older than a day (they hold member ids).
    let turns = "SELECT COUNT(*) FROM member_turns";
    assert_eq!(db_count(&db, kind, turns).await, 3);
    db_execute(
        &db,
        kind,
        "UPDATE member_turns SET served_at = served_at - 90000000 WHERE member_id = 900",
    )
    .await;
    store
        .sweep_retention(&zipp::store::RetentionPolicy::default())
        .await
        .expect("sweep");
    assert_eq!(db_count(&db, kind, turns).await, 2);
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(a_flood_delays_a_newcomer_by_one_render_per_worker);

async fn blocklist_is_bounded_and_audited(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 8).await.expect("connect");
    let guild = GuildId(51);
    let (moderator, other) = (MemberId(61), MemberId(62));
    assert_eq!(
        store
            .add_blocked(guild, "red cat", moderator, 2)
            .await
            .expect("add"),
        (true, 1)
    );
    assert_eq!(
        store
            .add_blocked(guild, "red cat", other, 2)
            .await
            .expect("again"),
        (false, 1)
    );
    assert_eq!(
        store
            .add_blocked(guild, "dog", other, 2)
            .await
            .expect("add"),
        (true, 2)
    );
    assert_eq!(
        store
            .add_blocked(guild, "fish", other, 2)
            .await
            .expect("full"),
        (false, 2)
    );
    assert_eq!(
        store.blocklist(guild).await.expect("list"),
        vec!["dog".to_owned(), "red cat".to_owned()]
    );
    assert!(store.blocklist(GuildId(52)).await.expect("list").is_empty());
    assert!(store
        .remove_blocked(guild, "dog", moderator)
        .await
        .expect("remove"));
    assert!(!store
        .remove_blocked(guild, "dog", moderator)
        .await
        .expect("again"));
    let audit = store.config_audit(guild, 10).await.expect("audit");
    let got: Vec<_> = audit
        .iter()
        .map(|e| {
            (
                e.member_id,
                e.setting.as_str(),
                e.old_value.as_deref(),
                e.new_value.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (moderator, "blocklist", Some("dog"), None),
            (other, "blocklist", None, Some("dog")),
            (moderator, "blocklist", None, Some("red cat")),
        ]
    );
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(blocklist_is_bounded_and_audited);

/// A renderer that never finishes on its own: it steps until told to stop.
struct Hanging {
    stopped: std::sync::atomic::AtomicUsize,
}

impl zipp::render::Renderer for Hanging {
    fn render(
        &self,
        _spec: &zipp::render::RenderSpec,
        progress: zipp::render::Progress<'_>,
    ) -> Result<image::RgbImage, zipp::render::RenderError> {
        let mut step = 0;
        while progress(step, 1_000_000) {
            step += 1;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        self.stopped
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(zipp::render::RenderError::transient("stopped"))
    }
}

/// A hung render ends at its deadline: the attempt fails as transient and counts, the blocking
/// render stops, and after `max_attempts` the job fails for good with the timeout message.
async fn a_hung_render_ends_at_its_deadline(kind: Db) {
    use std::time::Duration;
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 8).await.expect("connect");
    let queued = store
        .enqueue(&NewJob {
            max_attempts: 2,
            ..job(30_000, Some(71), 1)
        })
        .await
        .expect("enqueue");
    let renderer = Arc::new(Hanging {
        stopped: std::sync::atomic::AtomicUsize::new(0),
    });
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(zipp::render::worker::run_worker(
        store.clone(),
        Arc::clone(&renderer) as Arc<dyn zipp::render::Renderer>,
        zipp::render::worker::WorkerConfig {
            owner: "w".to_owned(),
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(20),
            retry_backoff: Duration::ZERO,
            clip: None,
            deadline: Duration::from_millis(300),
            safety: None,
            preview_every: 0,
            models: Vec::new(),
        },
        Arc::new(tokio::sync::Notify::new()),
        shutdown_rx,
    ));
    // The store is the worker's only output: polled, within the harness's bound.
    let started = std::time::Instant::now();
    let failed = loop {
        let job = store.job(queued.id).await.expect("read").expect("job");
        if job.status == JobStatus::Failed {
            break job;
        }
        assert!(
            started.elapsed() < WAIT,
            "the hung render never ended: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(failed.attempts, 2, "each deadline counts an attempt");
    assert_eq!(
        failed.error_message_id.as_deref(),
        Some("render-error-timeout")
    );
    shutdown_tx.send(true).expect("shutdown");
    worker.await.expect("worker");
    // Both blocking renders saw the stop.
    for _ in 0..100 {
        if renderer.stopped.load(std::sync::atomic::Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        renderer.stopped.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(a_hung_render_ends_at_its_deadline);

/// A member keeps at most `MAX_MEMBER_IMAGES` added images per server: the newest.
async fn added_images_are_capped(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 8).await.expect("connect");
    let (guild, member) = (GuildId(81), MemberId(82));
    store
        .set_consent(guild, member, true)
        .await
        .expect("consent");
    let cap = zipp::store::MAX_MEMBER_IMAGES as usize;
    for i in 0..cap + 3 {
        assert!(store
            .add_member_image(guild, member, &[i as f32; 4])
            .await
            .expect("add"));
    }
    let kept: Vec<f32> = store
        .engaged_images(guild)
        .await
        .expect("images")
        .into_iter()
        .map(|(_, e)| e[0])
        .collect();
    let newest: Vec<f32> = (3..cap + 3).map(|i| i as f32).collect();
    assert_eq!(kept, newest, "the {cap} newest are kept");
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(added_images_are_capped);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// The hourly limits count images: a job of three counts three. A job without a count takes
/// the member's default from `/settings` inside the insert; a job of more images than the
/// limit is refused with no time to wait for, for none would help.
async fn hourly_limits_count_images(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 8).await.expect("connect");
    let guild = 12;
    let counted = |interaction: u64, member: u64, count: Option<u32>| NewJob {
        image_count: count,
        ..job(interaction, Some(guild), member)
    };
    let before = now_ms();
    assert!(refused(accept(&store, &counted(1, 200, Some(3)), &LIMITS).await).is_none());
    finish_all(&db, kind, 200).await;
    // 3 + 2 > 4: refused until the job of three leaves the hour.
    let (what, limit, retry) =
        refused(accept(&store, &counted(2, 200, Some(2)), &LIMITS).await).expect("refused");
    assert_eq!((what, limit), (LimitKind::MemberHourly, 4));
    let retry = retry.expect("a time to retry");
    assert!((before + 3_600_000..=now_ms() + 3_600_000).contains(&retry));
    // 3 + 1 fits.
    assert!(refused(accept(&store, &counted(3, 200, Some(1)), &LIMITS).await).is_none());

    // More than the limit in one job: refused, and no wait helps.
    assert_eq!(
        refused(accept(&store, &counted(4, 201, Some(5)), &LIMITS).await),
        Some((LimitKind::MemberHourly, 4, None))
    );

    // The member's default count, settled by the insert.
    store
        .set_member_settings(
            GuildId(guild),
            MemberId(202),
            zipp::store::MemberSettings {
                image_count: Some(4),
                ..Default::default()
            },
        )
        .await
        .expect("settings");
    let Acceptance::Accepted { id, .. } = accept(&store, &counted(5, 202, None), &LIMITS).await
    else {
        panic!("four images fit an hourly limit of four");
    };
    let stored = store.job(id).await.expect("read").expect("job");
    assert_eq!(stored.image_count, 4);
    finish_all(&db, kind, 202).await;
    assert_eq!(
        refused(accept(&store, &counted(6, 202, None), &LIMITS).await).map(|r| r.0),
        Some(LimitKind::MemberHourly)
    );
    // An explicit count overrides the default; none fits now, though.
    assert!(refused(accept(&store, &counted(7, 202, Some(1)), &LIMITS).await).is_some());
    // The server counts its members' images: 3 + 1 + 4 = 8 of 8.
    assert_eq!(
        refused(accept(&store, &counted(8, 203, Some(1)), &LIMITS).await).map(|r| r.0),
        Some(LimitKind::ServerHourly)
    );
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(hourly_limits_count_images);
