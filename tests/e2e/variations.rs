//! Vary (subtle, strong) and Upscale: a new job made from a result's own image with img2img,
//! through the real bot, store and diffusion pipeline (the tiny model).

use fake_discord::fixtures::{opt_int, opt_str};
use fake_discord::FakeDiscord;
use serde_json::Value;
use zipp::domain::Derive;
use zipp::ids::JobId;

use crate::harness::*;

const OWNER: u64 = fake_discord::fixtures::DEFAULT_USER_ID;
const STRANGER: u64 = 400_000_000_000_000_009;

/// The custom ids of the second button row of a result message.
fn derive_ids(message: &Value) -> Vec<String> {
    message
        .pointer("/components/1/components")
        .and_then(Value::as_array)
        .map(|row| {
            row.iter()
                .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Presses `custom_id` as the owner and returns the delivered image (its PNG bytes).
async fn press_for_image(fake: &FakeDiscord, id: u64, custom_id: &str, message: &Value) -> Vec<u8> {
    let answer = press_button(fake, id, OWNER, custom_id, message).await;
    assert_eq!(
        answer["type"], 5,
        "deferred, a new public message: {answer}"
    );
    let webhook = webhook_path(fake.config().app_id, &format!("token-{id}"));
    let delivered = fake
        .wait_for_request("the new image", WAIT, |r| is_image_delivery(r, &webhook))
        .await
        .expect("the new image arrives");
    delivered.file("files[0]").expect("the image").bytes.clone()
}

fn size_of(png: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(png).expect("a PNG");
    (image.width(), image.height())
}

/// Each button makes a new job linked to the result, rendered from the result's image: the
/// same size for a variation (a new seed), twice it for an upscale (the same seed); fewer
/// denoising steps run the subtler the change, which only img2img does. Only the owner may
/// press them; Info says what the image was made from.
async fn vary_and_upscale_start_from_the_result(kind: Db) {
    let setup = Setup::new(kind, 4).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    let (_, token) = dispatch_imagine(
        fake,
        905_000_000_000_000_001,
        vec![
            opt_str("prompt", "a red cat"),
            opt_int("seed", 5),
            opt_int("aspect", 5),
        ],
        |b| b,
    )
    .await;
    let delivered = image_of(fake, &token).await;
    let message = delivered.response_json.clone().expect("the message");
    let parent_png = delivered.file("files[0]").expect("the image").bytes.clone();
    assert_eq!(size_of(&parent_png), (88, 48));
    assert_eq!(
        derive_ids(&message),
        ["zipp-vary-subtle:1", "zipp-vary-strong:1", "zipp-upscale:1"]
    );

    // Someone else: a private note, no job.
    let answer = press_button(
        fake,
        905_000_000_000_000_002,
        STRANGER,
        "zipp-vary-subtle:1",
        &message,
    )
    .await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert!(app.store.job(JobId(2)).await.expect("read").is_none());

    let subtle = press_for_image(
        fake,
        905_000_000_000_000_003,
        "zipp-vary-subtle:1",
        &message,
    )
    .await;
    let strong = press_for_image(
        fake,
        905_000_000_000_000_004,
        "zipp-vary-strong:1",
        &message,
    )
    .await;
    let upscaled = press_for_image(fake, 905_000_000_000_000_005, "zipp-upscale:1", &message).await;
    assert_eq!(size_of(&subtle), (88, 48), "a variation keeps the size");
    assert_eq!(size_of(&strong), (88, 48), "a variation keeps the size");
    assert_eq!(size_of(&upscaled), (176, 96), "twice the size");
    assert_ne!(subtle, strong);
    assert_ne!(subtle, parent_png);

    let job = |id: i64| {
        let store = app.store.clone();
        async move { store.job(JobId(id)).await.expect("read").expect("the job") }
    };
    let parent = job(1).await;
    let (subtle, strong, upscale) = (job(2).await, job(3).await, job(4).await);
    for (child, derive) in [
        (&subtle, Derive::VarySubtle),
        (&strong, Derive::VaryStrong),
        (&upscale, Derive::Upscale),
    ] {
        assert_eq!(child.parent_id, Some(parent.id));
        assert_eq!(child.derive, Some(derive));
        assert_eq!(child.prompt, parent.prompt);
    }
    assert_ne!(subtle.seed, parent.seed, "a variation has a new seed");
    assert_eq!(
        upscale.seed, parent.seed,
        "an upscale redraws the same image"
    );
    // img2img runs strength × steps of the schedule: 4 steps from noise, fewer from an image.
    assert_eq!(parent.progress_total, 4);
    assert!(
        subtle.progress_total < strong.progress_total && strong.progress_total < 4,
        "subtle {} < strong {} < 4",
        subtle.progress_total,
        strong.progress_total
    );

    // A variation's own result offers the buttons again, and Info names its origin.
    let webhook = webhook_path(fake.config().app_id, "token-905000000000000003");
    let vary_message = fake
        .requests()
        .into_iter()
        .find(|r| is_image_delivery(r, &webhook))
        .and_then(|r| r.response_json)
        .expect("the variation's message");
    assert_eq!(derive_ids(&vary_message).len(), 3);
    let answer = press_button(
        fake,
        905_000_000_000_000_006,
        OWNER,
        "zipp-info:2",
        &vary_message,
    )
    .await;
    let text = answer["data"]["content"].as_str().expect("content");
    assert!(
        text.ends_with("Made from image #1 with Vary (subtle)."),
        "{text}"
    );
    assert_openapi_valid(fake);
    setup.finish(app).await;
}

on_both_databases!(vary_and_upscale_start_from_the_result);

/// When the image to start from is gone: a press is refused privately (no job); and an image
/// swept between the press and the render fails that job for good, and the member is told.
async fn a_vary_without_its_image_is_refused_or_told(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    // The bot alone; renders come from a worker started only when wanted.
    let bot = setup.start(setup.config(), true, 0).await;
    wait_registered(fake).await;
    let worker = setup.start(setup.config(), false, 1).await;
    let (_, token) = dispatch_imagine(
        fake,
        906_000_000_000_000_001,
        vec![opt_str("prompt", "a red cat")],
        |b| b,
    )
    .await;
    let delivered = image_of(fake, &token).await;
    let message = delivered.response_json.clone().expect("the message");
    worker.shutdown().await;

    // Pressed while the image is kept: accepted, then waits for a worker.
    let answer = press_button(
        fake,
        906_000_000_000_000_002,
        OWNER,
        "zipp-upscale:1",
        &message,
    )
    .await;
    assert_eq!(answer["type"], 5, "{answer}");
    assert!(bot.store.job(JobId(2)).await.expect("read").is_some());

    // Retention deletes the image (and no other row of the queued job).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let swept = bot
        .store
        .sweep_retention(&zipp::store::RetentionPolicy {
            images_ms: 1,
            ..Default::default()
        })
        .await
        .expect("sweep");
    assert!(swept.contains(&("rendered_images", 1)), "{swept:?}");

    // A new press: refused at once, privately, no job.
    let answer = press_button(
        fake,
        906_000_000_000_000_003,
        OWNER,
        "zipp-vary-strong:1",
        &message,
    )
    .await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert_eq!(
        answer["data"]["content"],
        "This image is no longer kept, so it cannot be varied or upscaled. Reroll still works."
    );
    assert!(bot.store.job(JobId(3)).await.expect("read").is_none());

    // The queued upscale: a worker finds no image, fails it for good, the member is told.
    let worker = setup.start(setup.config(), false, 1).await;
    let webhook = webhook_path(fake.config().app_id, "token-906000000000000002");
    let told = fake
        .wait_for_request("the failure", WAIT, |r| {
            r.method == "PATCH"
                && r.path.strip_prefix(webhook.as_str()) == Some("/messages/@original")
                && r.json.as_ref().is_some_and(|j| {
                    j["content"]
                        .as_str()
                        .is_some_and(|c| c.contains("no longer kept"))
                })
        })
        .await
        .expect("the member is told");
    assert_eq!(
        told.json.as_ref().expect("json")["content"],
        "Sorry, the image to start from is no longer kept. Reroll still works."
    );
    let job = bot.store.job(JobId(2)).await.expect("read").expect("job");
    assert_eq!(job.status, zipp::domain::JobStatus::Failed);
    assert_eq!(job.attempts, 1, "not retried: it cannot succeed");
    worker.shutdown().await;
    setup.finish(bot).await;
}

on_both_databases!(a_vary_without_its_image_is_refused_or_told);

/// Presses after Discord's 15 minutes: the result's own interaction expired (its token blanked
/// by retention) — a press still works, for it is a new interaction; and a press Discord no
/// longer accepts (its callback answered "Unknown interaction") keeps no job and renders
/// nothing, for the member was told it failed.
async fn presses_outlive_the_result_interaction(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    let (_, token) = dispatch_imagine(
        fake,
        907_000_000_000_000_001,
        vec![opt_str("prompt", "a red cat")],
        |b| b,
    )
    .await;
    let delivered = image_of(fake, &token).await;
    let message = delivered.response_json.clone().expect("the message");

    // The result's token expires: retention blanks it.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let swept = app
        .store
        .sweep_retention(&zipp::store::RetentionPolicy {
            tokens_ms: 1,
            ..Default::default()
        })
        .await
        .expect("sweep");
    assert!(
        swept
            .iter()
            .any(|(what, n)| what.contains("token") && *n >= 1),
        "{swept:?}"
    );
    let parent = app.store.job(JobId(1)).await.expect("read").expect("job");
    assert_eq!(parent.interaction_token, "", "blanked");
    let subtle = press_for_image(
        fake,
        907_000_000_000_000_002,
        "zipp-vary-subtle:1",
        &message,
    )
    .await;
    assert_eq!(size_of(&subtle), (64, 64));

    // A press whose own interaction Discord no longer knows.
    let id = 907_000_000_000_000_003_u64;
    let callback = callback_path(id, &format!("token-{id}"));
    fake.set_response_override(
        "POST",
        &callback,
        404,
        Some(serde_json::json!({"message": "Unknown interaction", "code": 10062})),
    );
    let event =
        fake_discord::fixtures::InteractionBuilder::new(fake.config(), id, &format!("token-{id}"))
            .button("zipp-reroll:1", message.clone());
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    fake.wait_for_request("the refused callback", WAIT, |r| r.path == callback)
        .await
        .expect("the bot answers");
    // The job stored before the acknowledgement is dropped again.
    let mut dropped = false;
    for _ in 0..polls(10) {
        if app.store.job(JobId(3)).await.expect("read").is_none() {
            dropped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(dropped, "the unacknowledged press keeps no job");
    assert_eq!(
        app.store
            .count_jobs(zipp::domain::JobStatus::Done)
            .await
            .expect("count"),
        2,
        "the result and the variation, nothing else"
    );
    setup.finish(app).await;
}

on_both_databases!(presses_outlive_the_result_interaction);
