//! The job queue's contract on both databases: idempotent enqueue, the rewrite stage's lease and
//! its takeover, exclusive leases, lease expiry and takeover, bounded retries, exactly-once
//! completion and delivery claims (leased, taken over when stale).

use std::collections::HashSet;
use std::sync::Arc;

use zipp::ids::JobId;
use zipp::store::{Acceptance, FailOutcome, JobLimits, JobStatus, NewJob, Store};

use crate::harness::new_job as harness_job;
use crate::harness::*;

fn new_job(interaction: u64, max_attempts: u32) -> NewJob {
    NewJob {
        max_attempts,
        ..harness_job(interaction)
    }
}

/// Accepts without limits (their contract is `limits.rs`'s): the job and whether it is new.
async fn accept(store: &Store, job: &NewJob, owner: &str, lease_ms: i64) -> (JobId, bool) {
    match store
        .accept(job, owner, lease_ms, &JobLimits::UNLIMITED)
        .await
        .expect("accept")
    {
        Acceptance::Accepted { id, newly_created } => (id, newly_created),
        Acceptance::Refused(refusal) => panic!("no limits, yet refused: {refusal:?}"),
    }
}

async fn store_for(db: &TestDb) -> Store {
    Store::connect(&db.url, 8).await.expect("connect")
}

async fn queue_contract(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = store_for(&db).await;
    // Migrations are idempotent.
    store.migrate().await.expect("migrate twice");

    let first = store.enqueue(&new_job(1, 2)).await.expect("enqueue");
    assert!(first.newly_created);
    assert_eq!(first.position, 1);
    let again = store.enqueue(&new_job(1, 2)).await.expect("enqueue again");
    assert_eq!(again.id, first.id);
    assert!(
        !again.newly_created,
        "the same interaction is enqueued once"
    );
    let second = store.enqueue(&new_job(2, 2)).await.expect("enqueue");
    assert_eq!(second.position, 2);

    // Leases are exclusive and in order.
    let a = store
        .lease("a", 60_000)
        .await
        .expect("lease")
        .expect("a job");
    assert_eq!(a.job.id, first.id);
    assert_eq!(a.job.status, JobStatus::Running);
    assert_eq!(a.job.attempts, 1);
    let b = store
        .lease("b", 60_000)
        .await
        .expect("lease")
        .expect("a job");
    assert_eq!(b.job.id, second.id);
    assert!(store.lease("c", 60_000).await.expect("lease").is_none());

    // Progress and completion only by the owner.
    assert!(store
        .set_progress(first.id, "a", 3, 10, 60_000)
        .await
        .expect("progress"));
    assert!(!store
        .set_progress(first.id, "b", 4, 10, 60_000)
        .await
        .expect("progress"));
    assert!(!store
        .complete(first.id, "b", b"png", 1, 1, 5)
        .await
        .expect("complete"));
    assert!(store
        .complete(first.id, "a", b"png", 1, 1, 5)
        .await
        .expect("complete"));
    assert!(!store
        .complete(first.id, "a", b"png", 1, 1, 5)
        .await
        .expect("complete twice"));
    let image = store
        .rendered_image(first.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(image.png, b"png");

    // A retryable failure goes back to the queue (backoff 0), the last attempt fails for good.
    assert_eq!(
        store
            .fail(second.id, "b", "render-error-internal", "boom", true, 0)
            .await
            .expect("fail"),
        FailOutcome::WillRetry
    );
    let b2 = store
        .lease("b", 60_000)
        .await
        .expect("lease")
        .expect("retried");
    assert_eq!((b2.job.id, b2.job.attempts), (second.id, 2));
    assert_eq!(
        store
            .fail(second.id, "b", "render-error-internal", "boom", true, 0)
            .await
            .expect("fail"),
        FailOutcome::Failed
    );
    let failed = store.job(second.id).await.expect("read").expect("job");
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(
        failed.error_message_id.as_deref(),
        Some("render-error-internal")
    );
    assert_eq!(failed.last_error.as_deref(), Some("boom"));

    // A backoff keeps a retried job out of reach until it passes.
    let third = store.enqueue(&new_job(3, 3)).await.expect("enqueue");
    let c = store.lease("c", 60_000).await.expect("lease").expect("job");
    assert_eq!(
        store
            .fail(
                third.id,
                &c.owner,
                "render-error-internal",
                "x",
                true,
                60_000
            )
            .await
            .expect("fail"),
        FailOutcome::WillRetry
    );
    assert!(
        store.lease("c", 60_000).await.expect("lease").is_none(),
        "still backing off"
    );

    // A permanent failure is not retried.
    let fourth = store.enqueue(&new_job(4, 3)).await.expect("enqueue");
    let d = store.lease("d", 60_000).await.expect("lease").expect("job");
    assert_eq!(d.job.id, fourth.id);
    assert_eq!(
        store
            .fail(
                fourth.id,
                "d",
                "render-error-model-unavailable",
                "no model",
                false,
                0
            )
            .await
            .expect("fail"),
        FailOutcome::Failed
    );

    // An expired lease is taken over; the old owner can no longer finish.
    let fifth = store.enqueue(&new_job(5, 2)).await.expect("enqueue");
    let e = store.lease("e", 1).await.expect("lease").expect("job");
    assert_eq!(e.job.id, fifth.id);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let f = store
        .lease("f", 1)
        .await
        .expect("lease")
        .expect("taken over");
    assert_eq!((f.job.id, f.job.attempts), (fifth.id, 2));
    assert!(!store
        .heartbeat(fifth.id, "e", 60_000)
        .await
        .expect("heartbeat"));
    assert!(!store
        .complete(fifth.id, "e", b"late", 1, 1, 1)
        .await
        .expect("complete"));
    assert_eq!(
        store
            .fail(fifth.id, "e", "render-error-internal", "late", true, 0)
            .await
            .expect("fail"),
        FailOutcome::LeaseLost
    );
    // … and when that lease expires too, the attempts are used up: failed as crashed.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(store.lease("g", 60_000).await.expect("lease").is_none());
    let crashed = store.job(fifth.id).await.expect("read").expect("job");
    assert_eq!(crashed.status, JobStatus::Failed);
    assert_eq!(
        crashed.error_message_id.as_deref(),
        Some("render-error-crashed")
    );

    // A worker shutting down hands its job back without using an attempt.
    let sixth = store.enqueue(&new_job(6, 2)).await.expect("enqueue");
    let h = store.lease("h", 60_000).await.expect("lease").expect("job");
    assert_eq!(h.job.id, sixth.id);
    assert!(store.release_lease(sixth.id, "h").await.expect("release"));
    let back = store.job(sixth.id).await.expect("read").expect("job");
    assert_eq!((back.status, back.attempts), (JobStatus::Queued, 0));

    // Delivery is claimed exactly once; a released claim can be claimed again.
    assert!(store
        .claim_delivery(first.id, "bot-a", 60_000)
        .await
        .expect("claim"));
    assert!(!store
        .claim_delivery(first.id, "bot-b", 60_000)
        .await
        .expect("claim"));
    store
        .release_delivery(first.id, "bot-a")
        .await
        .expect("release");
    assert!(store
        .claim_delivery(first.id, "bot-b", 60_000)
        .await
        .expect("claim again"));
    assert!(!store
        .claim_delivery(sixth.id, "bot-b", 60_000)
        .await
        .expect("unfinished jobs are not deliverable"));
    // A claim whose holder died goes stale and is taken over; the dead holder cannot record the
    // delivery afterwards, the new one can, and a delivered job is never claimed again.
    let second_done = store.job(second.id).await.expect("read").expect("job");
    assert!(matches!(
        second_done.status,
        JobStatus::Done | JobStatus::Failed
    ));
    assert!(store
        .claim_delivery(second.id, "dead", -1)
        .await
        .expect("claim"));
    assert!(
        store
            .jobs_to_notify(100)
            .await
            .expect("read")
            .iter()
            .any(|j| j.id == second.id),
        "a stale claim is news again"
    );
    assert!(store
        .claim_delivery(second.id, "alive", 60_000)
        .await
        .expect("take over"));
    assert!(!store
        .mark_delivered(second.id, "dead", "interaction")
        .await
        .expect("mark"));
    assert!(store
        .mark_delivered(second.id, "alive", "interaction")
        .await
        .expect("mark"));
    assert!(!store
        .claim_delivery(second.id, "late", 60_000)
        .await
        .expect("delivered"));

    store.close().await;
    db.cleanup().await;
}

on_both_databases!(queue_contract);

/// The rewrite stage: an accepted job is invisible to workers until its rewrite is finished by
/// the lease holder; an expired rewrite lease is taken over once, and the old holder can no
/// longer finish it; a job dropped before acknowledgement is gone.
async fn rewrite_stage_contract(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = store_for(&db).await;
    let (id, fresh) = accept(&store, &new_job(1, 2), "bot-a", 60_000).await;
    assert!(fresh);
    let (again, fresh) = accept(&store, &new_job(1, 2), "bot-b", 60_000).await;
    assert_eq!((again, fresh), (id, false), "one job per interaction");
    assert_eq!(store.queue_position(id).await.expect("position"), 1);
    assert!(
        store.lease("w", 60_000).await.expect("lease").is_none(),
        "workers never see a job before its rewrite"
    );
    assert!(
        store
            .lease_rewrite("bot-b", 60_000)
            .await
            .expect("lease rewrite")
            .is_none(),
        "a live rewrite lease is not taken over"
    );
    let finished = |prompt: &'static str, kind: &'static str| zipp::store::FinishedRewrite {
        rendered_prompt: prompt,
        rewrite_kind: kind,
        model: "tiny",
        persona_mode: zipp::store::PersonaMode::On,
        persona_id: None,
        default_aspect: None,
    };
    assert!(store
        .finish_rewrite(id, "bot-a", &finished("a cat, watercolor", "llm"))
        .await
        .expect("finish"));
    let job = store.job(id).await.expect("read").expect("job");
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(
        (job.rendered_prompt.as_str(), job.rewrite_kind.as_str()),
        ("a cat, watercolor", "llm")
    );
    assert!(store.lease("w", 60_000).await.expect("lease").is_some());

    // bot-a dies holding a rewrite lease (already expired here): bot-b takes the job over.
    let (dead, _) = accept(&store, &new_job(2, 2), "bot-a", -1).await;
    let taken = store
        .lease_rewrite("bot-b", 60_000)
        .await
        .expect("lease rewrite")
        .expect("the expired rewrite is taken over");
    assert_eq!((taken.id, taken.rewrite_attempts), (dead, 2));
    assert!(
        store
            .lease_rewrite("bot-c", 60_000)
            .await
            .expect("lease rewrite")
            .is_none(),
        "taken over once"
    );
    assert!(
        !store
            .finish_rewrite(dead, "bot-a", &finished("late", "llm"))
            .await
            .expect("finish"),
        "the dead holder lost its lease"
    );
    assert!(store
        .finish_rewrite(dead, "bot-b", &finished("a cat", "unchanged"))
        .await
        .expect("finish"));

    // A handed-off job renews its lease as its rewrite starts; one that waited past its lease
    // and was taken over — even by the same process — is not rewritten a second time.
    let (waiting, _) = accept(&store, &new_job(4, 2), "bot-a", 60_000).await;
    assert!(store
        .renew_rewrite(waiting, "bot-a", 1, 60_000)
        .await
        .expect("renew"));
    let (stale, _) = accept(&store, &new_job(5, 2), "bot-a", -1).await;
    let taken = store
        .lease_rewrite("bot-a", 60_000)
        .await
        .expect("lease rewrite")
        .expect("taken over");
    assert_eq!(taken.id, stale);
    assert!(!store
        .renew_rewrite(stale, "bot-a", 1, 60_000)
        .await
        .expect("renew"));

    // An interaction that could not be acknowledged: its job is dropped by its holder only.
    let (unacked, _) = accept(&store, &new_job(3, 2), "bot-a", 60_000).await;
    store.discard_job(unacked, "bot-b").await.expect("discard");
    assert!(store.job(unacked).await.expect("read").is_some());
    store.discard_job(unacked, "bot-a").await.expect("discard");
    assert!(store.job(unacked).await.expect("read").is_none());
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(rewrite_stage_contract);

/// Concurrent workers never lease the same job twice.
async fn concurrent_leases_are_exclusive(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = store_for(&db).await;
    let n_jobs = 40;
    for i in 0..n_jobs {
        store.enqueue(&new_job(1000 + i, 1)).await.expect("enqueue");
    }
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        let seen = Arc::clone(&seen);
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            while let Some(leased) = store.lease(&owner, 60_000).await.expect("lease") {
                assert!(store
                    .complete(leased.job.id, &owner, b"x", 1, 1, 1)
                    .await
                    .expect("complete"));
                seen.lock().expect("lock").push(leased.job.id);
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
    let seen = seen.lock().expect("lock").clone();
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), n_jobs as usize, "every job leased once");
    assert_eq!(unique.len(), n_jobs as usize, "no job leased twice");
    assert_eq!(
        store.count_jobs(JobStatus::Done).await.expect("count"),
        n_jobs
    );
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(concurrent_leases_are_exclusive);

/// A worker that renders some models (`render.models`) leases only their jobs, oldest first
/// among them; one that renders every model takes the oldest of all.
async fn workers_lease_only_the_models_they_render(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = store_for(&db).await;
    let mut ids = Vec::new();
    for (i, model) in ["sdxl", "sd-turbo", "sdxl"].into_iter().enumerate() {
        let job = NewJob {
            model: model.to_owned(),
            ..new_job(930_000_000_000_000_001 + i as u64, 1)
        };
        ids.push(store.enqueue(&job).await.expect("enqueue").id);
    }
    let models = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let leased = |models: Vec<String>| {
        let store = store.clone();
        async move {
            store
                .lease_models("w", 60_000, &models)
                .await
                .expect("lease")
                .map(|l| (l.job.id, l.job.model))
        }
    };
    assert_eq!(leased(models(&["flux"])).await, None, "no job of its model");
    assert_eq!(
        leased(models(&["sd-turbo"])).await,
        Some((ids[1], "sd-turbo".to_owned())),
        "past an older job of another model"
    );
    assert_eq!(
        leased(models(&["sdxl", "flux"])).await,
        Some((ids[0], "sdxl".to_owned()))
    );
    assert_eq!(
        leased(Vec::new()).await,
        Some((ids[2], "sdxl".to_owned())),
        "every model"
    );
    assert_eq!(leased(Vec::new()).await, None);
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(workers_lease_only_the_models_they_render);
