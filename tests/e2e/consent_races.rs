//! Consent is the store's rule: work in flight when a member withdraws or is forgotten stores
//! nothing. Each race is forced at its worst instant with barriers (never sleeps): an ingest
//! batch already out of memory, a render already running. (Inference: `persona::races`.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fake_discord::fixtures::{message_create, opt_str, DEFAULT_USER_ID};
use zipp::ids::{GuildId, MemberId};
use zipp::render::{Progress, RenderError, RenderSpec, Renderer};

use crate::harness::*;

const BOB: u64 = 400_000_000_000_000_002;

/// Forget lands after a flush took its batch out of memory and before it writes: the member's
/// counts are not written (another member's, in the same batch, are — the batch did run).
async fn forget_during_a_flush(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    // Only the test flushes.
    config.ingest.flush_ms = 3_600_000;
    config.ingest.flush_max = 1_000_000;
    let app = setup.start(config, true, 0).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    let (alice, bob) = (MemberId(DEFAULT_USER_ID), MemberId(BOB));
    let consent = app.consent.clone().expect("consent service");
    let ingestor = app.ingestor.clone().expect("ingestor");
    consent.grant(guild, alice).await.expect("grant");
    consent.grant(guild, bob).await.expect("grant");
    let before = ingestor.handled();
    for (i, (user, name)) in [(DEFAULT_USER_ID, "alice"), (BOB, "bob")]
        .into_iter()
        .enumerate()
    {
        let m = message_create(
            fake.config(),
            970_000_000_000_000_000 + i as u64,
            user,
            name,
            "x",
        );
        fake.dispatch("MESSAGE_CREATE", m).await;
    }
    ingestor.handled_at_least(before + 2).await;
    assert!(ingestor.pending() >= 2, "both members' counts are pending");

    let (pause, reached, resume) = one_shot_pause();
    ingestor.pause_before_write(pause);
    let flushing = tokio::spawn({
        let ingestor = Arc::clone(&ingestor);
        async move { ingestor.flush().await }
    });
    reached.wait().await;
    assert_eq!(ingestor.pending(), 0, "the batch has left memory");
    consent.forget(guild, alice).await.expect("forget");
    resume.wait().await;
    flushing.await.expect("flush task").expect("flush");

    let edges = app.store.guild_edges(guild).await.expect("edges");
    assert!(
        edges.iter().all(|e| e.member_id != alice),
        "nothing about alice landed after forget: {edges:?}"
    );
    assert!(
        edges.iter().any(|e| e.member_id == bob),
        "the batch was written (bob's counts): {edges:?}"
    );
    setup.finish(app).await;
}

on_both_databases!(forget_during_a_flush);

/// A flush called while another is between taking its batch and writing it returns only after
/// that write: what was pending when it was called is in the store then (the fence tests and
/// shutdown rely on). Without it, the second flush found nothing pending and returned at once.
async fn a_flush_waits_for_the_one_writing(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    // Only the test flushes.
    config.ingest.flush_ms = 3_600_000;
    config.ingest.flush_max = 1_000_000;
    let app = setup.start(config, true, 0).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    let alice = MemberId(DEFAULT_USER_ID);
    let consent = app.consent.clone().expect("consent service");
    let ingestor = app.ingestor.clone().expect("ingestor");
    consent.grant(guild, alice).await.expect("grant");
    let before = ingestor.handled();
    let m = message_create(
        fake.config(),
        971_000_000_000_000_000,
        DEFAULT_USER_ID,
        "alice",
        "x",
    );
    fake.dispatch("MESSAGE_CREATE", m).await;
    ingestor.handled_at_least(before + 1).await;

    let (pause, reached, resume) = one_shot_pause();
    ingestor.pause_before_write(pause);
    let first = tokio::spawn({
        let ingestor = Arc::clone(&ingestor);
        async move { ingestor.flush().await }
    });
    reached.wait().await;
    let second = tokio::spawn({
        let ingestor = Arc::clone(&ingestor);
        async move { ingestor.flush().await }
    });
    // While the first is held before its write, the second does not return (a wrong flush
    // would, at once: nothing is pending).
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), async {
        while !second.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        early.is_err(),
        "a flush returned while another was still writing"
    );
    resume.wait().await;
    second.await.expect("second flush").expect("flush");
    // Returned: the first flush's batch is in the store.
    let edges = app.store.guild_edges(guild).await.expect("edges");
    assert!(edges.iter().any(|e| e.member_id == alice), "{edges:?}");
    first.await.expect("first flush").expect("flush");
    setup.finish(app).await;
}

on_both_databases!(a_flush_waits_for_the_one_writing);

/// The tiny diffusion renderer, paused (once) inside a render until the test lets it finish.
struct PausingRenderer {
    inner: Arc<dyn Renderer>,
    armed: AtomicBool,
    reached: std::sync::Barrier,
    resume: std::sync::Barrier,
}

impl Renderer for PausingRenderer {
    fn render(
        &self,
        spec: &RenderSpec,
        progress: Progress<'_>,
    ) -> Result<image::RgbImage, RenderError> {
        let image = self.inner.render(spec, progress)?;
        if self.armed.swap(false, Ordering::SeqCst) {
            self.reached.wait();
            self.resume.wait();
        }
        Ok(image)
    }
}

/// Consent is withdrawn while the member's render runs: the image is still delivered (they
/// asked for it), but its CLIP embedding — evidence of their taste — is not kept. A render
/// finished under consent is (the control), and the withdrawal deletes it.
async fn withdraw_during_a_render(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let clip_dir = setup.dir.path().join("clip");
    zipp_clip::write_tiny(&clip_dir).expect("tiny CLIP");
    let mut config = setup.config();
    config.render.clip_model = clip_dir.display().to_string();
    let catalog = zipp::models::Catalog::load(&setup.catalog).expect("catalog");
    let renderer = Arc::new(PausingRenderer {
        inner: Arc::new(zipp::render::engine::DiffusionRenderer::new(
            catalog,
            candle_core::Device::Cpu,
            None,
        )),
        armed: AtomicBool::new(false),
        reached: std::sync::Barrier::new(2),
        resume: std::sync::Barrier::new(2),
    });
    let app = start_app(
        config,
        true,
        1,
        Some(Arc::clone(&renderer) as Arc<dyn Renderer>),
        &setup.guard,
    )
    .await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    let alice = MemberId(DEFAULT_USER_ID);
    let consent = app.consent.clone().expect("consent service");
    consent.grant(guild, alice).await.expect("grant");

    // Control: a render under consent keeps its embedding.
    let (_, token) = dispatch_imagine(
        fake,
        971_000_000_000_000_001,
        vec![opt_str("prompt", "a red fox")],
        |b| b,
    )
    .await;
    image_of(fake, &token).await;
    let mut kept = 0;
    for _ in 0..polls(20) {
        kept = app.store.engaged_images(guild).await.expect("read").len();
        if kept == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(kept, 1, "a render under consent is evidence");

    // The race: consent withdrawn while the next render runs.
    renderer.armed.store(true, Ordering::SeqCst);
    let (_, token) = dispatch_imagine(
        fake,
        971_000_000_000_000_002,
        vec![opt_str("prompt", "a blue heron")],
        |b| b,
    )
    .await;
    let paused = Arc::clone(&renderer);
    tokio::task::spawn_blocking(move || {
        paused.reached.wait();
    })
    .await
    .expect("the render is running");
    let erased = consent.withdraw(guild, alice).await.expect("withdraw");
    assert!(
        erased.rows.contains(&("image_embeddings", 1)),
        "the withdrawal deletes the kept embedding: {erased:?}"
    );
    let resumed = Arc::clone(&renderer);
    tokio::task::spawn_blocking(move || {
        resumed.resume.wait();
    })
    .await
    .expect("resume");
    image_of(fake, &token).await;
    // The one worker finishes a job — completion, then the embedding insert — before it takes
    // the next: once a third render is delivered, the second's insert has surely been tried.
    let (_, token) = dispatch_imagine(
        fake,
        971_000_000_000_000_003,
        vec![opt_str("prompt", "a grey owl")],
        |b| b,
    )
    .await;
    image_of(fake, &token).await;
    assert!(
        app.store
            .engaged_images(guild)
            .await
            .expect("read")
            .is_empty(),
        "no embedding kept after the withdrawal"
    );
    setup.finish(app).await;
}

on_both_databases!(withdraw_during_a_render);
