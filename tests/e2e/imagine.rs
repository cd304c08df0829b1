//! `/imagine` end to end, its bad-input refusals, late delivery and the upload limit.

use fake_discord::fixtures::{opt_bool, opt_int, opt_str};
use fake_discord::RecordedRequest;
use serde_json::Value;
use zipp::store::JobStatus;

use crate::harness::*;

async fn imagine_end_to_end(kind: Db) {
    let setup = Setup::new(kind, 12).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;

    let (id, token) = dispatch_imagine(
        fake,
        900_000_000_000_000_001,
        vec![opt_str("prompt", "a red cat"), opt_int("seed", 42)],
        |b| b,
    )
    .await;
    let app_id = fake.config().app_id;
    let webhook = webhook_path(app_id, &token);
    let followup = fake
        .wait_for_request("image delivery", WAIT, |r| is_image_delivery(r, &webhook))
        .await
        .expect("the image arrives");

    // The deferral comes before anything else about this interaction.
    let about: Vec<RecordedRequest> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.contains(&token))
        .collect();
    assert_eq!(
        about[0].path,
        callback_path(id, &token),
        "first request: {}",
        about[0].summary()
    );
    assert_eq!(
        about[0].json.as_ref().and_then(|j| j.get("type")),
        Some(&Value::from(5))
    );
    assert_eq!(about[0].response_status, 204);

    // Progress: rendering steps, edited into the deferred reply (the queue position is shown
    // only while the job waits: `durability::bot_restart_keeps_queued_job`).
    let original = format!("{webhook}/messages/@original");
    let edits: Vec<String> = about
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == original)
        .filter_map(|r| r.json.as_ref()?.get("content")?.as_str().map(str::to_owned))
        .collect();
    assert!(
        edits.iter().any(|e| e.starts_with("Rendering")),
        "edits: {edits:?}"
    );

    // The image: a PNG of the requested size.
    let file = followup.file("files[0]").expect("files[0]");
    assert_eq!(file.content_type.as_deref(), Some("image/png"));
    let png =
        image::load_from_memory_with_format(&file.bytes, image::ImageFormat::Png).expect("a PNG");
    assert_eq!((png.width(), png.height()), (64, 64));

    // The embed: prompt, prompt rendered, model, seed, time.
    let json = followup.json.as_ref().expect("payload_json");
    let fields = json
        .pointer("/embeds/0/fields")
        .and_then(Value::as_array)
        .expect("embed fields");
    let field = |name: &str| {
        fields
            .iter()
            .find(|f| f["name"] == name)
            .and_then(|f| f["value"].as_str())
            .unwrap_or_else(|| panic!("no field {name}: {fields:?}"))
            .to_owned()
    };
    assert_eq!(field("Prompt"), "a red cat");
    assert_eq!(field("Prompt rendered"), "a red cat");
    assert_eq!(field("Model"), "tiny");
    assert_eq!(field("Seed"), "42");
    assert_eq!(field("Rewrite"), "unchanged");
    assert!(field("Time").ends_with(" s"));
    assert_eq!(
        json.pointer("/embeds/0/image/url"),
        Some(&Value::from("attachment://imagine.png"))
    );

    // Exactly one delivery (stopped, the bot can deliver nothing more), and nobody is ever
    // pinged.
    assert_eq!(
        app.store.count_jobs(JobStatus::Done).await.expect("count"),
        1
    );
    setup.guard.assert_none();
    app.shutdown().await;
    assert_eq!(image_deliveries(fake, &webhook).len(), 1);
    for request in fake.requests() {
        assert_mentions_nobody(&request);
    }
    assert!(
        fake.unhandled_requests().is_empty(),
        "unhandled: {:?}",
        fake.unhandled_requests()
            .iter()
            .map(|r| r.summary())
            .collect::<Vec<_>>()
    );
    assert_openapi_valid(fake);
    setup.db.cleanup().await;
}

on_both_databases!(imagine_end_to_end);

async fn bad_input_is_refused_politely(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let app = setup.start_bot(0).await;

    let long = "x".repeat(6000);
    let cases: Vec<(Vec<Value>, &str)> = vec![
        (vec![opt_str("prompt", "")], "the prompt is empty"),
        (vec![opt_str("prompt", "   \n\t ")], "the prompt is empty"),
        (vec![opt_str("prompt", &long)], "6000 characters long"),
        (
            vec![opt_str("prompt", "a cat\u{7}\u{0}")],
            "control characters",
        ),
        (
            vec![opt_str("prompt", "a cat"), opt_int("seed", -1)],
            "seed must be",
        ),
        (
            vec![opt_str("prompt", "a cat"), opt_int("seed", 1 << 40)],
            "seed must be",
        ),
        (
            vec![opt_str("prompt", "a cat"), opt_str("negative", &long)],
            "negative prompt",
        ),
    ];
    for (n, (options, expected)) in cases.into_iter().enumerate() {
        let (id, token) =
            dispatch_imagine(fake, 910_000_000_000_000_000 + n as u64, options, |b| b).await;
        let callback = callback_path(id, &token);
        let reply = fake
            .wait_for_request("ephemeral refusal", WAIT, |r| r.path == callback)
            .await
            .expect("a reply");
        let json = reply.json.as_ref().expect("json");
        assert_eq!(
            json["type"], 4,
            "case {n}: an immediate message, not a deferral: {json}"
        );
        assert_eq!(json["data"]["flags"], 64, "case {n}: ephemeral: {json}");
        let content = json["data"]["content"].as_str().expect("content");
        assert!(
            content.contains(expected),
            "case {n}: {content:?} lacks {expected:?}"
        );
        assert_mentions_nobody(&reply);
    }
    for status in [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Failed,
    ] {
        assert_eq!(
            app.store.count_jobs(status).await.expect("count"),
            0,
            "nothing enqueued"
        );
    }
    // The bot is still alive and serving.
    let (id, token) = dispatch_imagine(
        fake,
        919_000_000_000_000_000,
        vec![opt_str("prompt", "a cat")],
        |b| b,
    )
    .await;
    let callback = callback_path(id, &token);
    let deferral = fake
        .wait_for_request("deferral", WAIT, |r| r.path == callback)
        .await
        .expect("deferral");
    assert_eq!(deferral.json.as_ref().expect("json")["type"], 5);
    setup.finish(app).await;
}

on_both_databases!(bad_input_is_refused_politely);

/// A job that finishes after the interaction token's lifetime is posted as a channel message
/// that mentions nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_result_is_delivered_as_a_channel_message() {
    let setup = Setup::new(Db::Sqlite, 2).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.discord.interaction_token_lifetime_secs = 0;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;

    let (_, token) = dispatch_imagine(
        fake,
        920_000_000_000_000_001,
        vec![opt_str("prompt", "a lighthouse")],
        |b| b,
    )
    .await;
    let channel_path = format!("/api/v10/channels/{}/messages", fake.config().channel_id);
    let message = fake
        .wait_for_request("channel message", WAIT, |r| {
            r.method == "POST" && r.path == channel_path
        })
        .await
        .expect("posted to the channel");
    let file = message.file("files[0]").expect("image attached");
    image::load_from_memory_with_format(&file.bytes, image::ImageFormat::Png).expect("a PNG");
    let json = message.json.as_ref().expect("json");
    let content = json["content"].as_str().expect("content");
    assert!(
        content.contains("took longer than Discord lets me edit"),
        "{content}"
    );
    assert!(!content.contains("<@"), "mentions nobody: {content}");
    assert_mentions_nobody(&message);
    // Stopped, the bot can send nothing more: no followup ever went to the expired token.
    setup.guard.assert_none();
    app.shutdown().await;
    let webhook = webhook_path(fake.config().app_id, &token);
    assert!(
        image_deliveries(fake, &webhook).is_empty(),
        "no followup with an expired token"
    );
    assert_openapi_valid(fake);
    setup.db.cleanup().await;
}

/// The image is scaled down to fit the interaction's `attachment_size_limit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_respects_the_attachment_size_limit() {
    let setup = Setup::new(Db::Sqlite, 2).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;

    let limit = 2500;
    let (_, token) = dispatch_imagine(
        fake,
        930_000_000_000_000_001,
        vec![opt_str("prompt", "a forest")],
        |b| b.attachment_size_limit(limit),
    )
    .await;
    let webhook = webhook_path(fake.config().app_id, &token);
    let followup = fake
        .wait_for_request("image delivery", WAIT, |r| {
            r.method == "PATCH"
                && r.path == format!("{webhook}/messages/@original")
                && r.json
                    .as_ref()
                    .and_then(|j| j["embeds"].as_array())
                    .is_some_and(|e| !e.is_empty())
        })
        .await
        .expect("delivered");
    let json = followup.json.as_ref().expect("json");
    let content = json["content"].as_str().expect("content");
    match followup.file("files[0]") {
        Some(file) => {
            assert!(
                file.bytes.len() as u64 <= limit,
                "{} bytes > {limit}",
                file.bytes.len()
            );
            let png = image::load_from_memory(&file.bytes).expect("PNG");
            assert!(png.width() < 64, "scaled down");
            assert!(content.contains("scaled down"), "{content}");
        }
        None => assert!(content.contains("too large"), "{content}"),
    }
    setup.finish(app).await;
}

/// Waits for the "Sorry…" edit of the deferral of `token` and returns its text.
pub(crate) async fn failure_notice(fake: &fake_discord::FakeDiscord, token: &str) -> String {
    let original = format!(
        "{}/messages/@original",
        webhook_path(fake.config().app_id, token)
    );
    let edit = fake
        .wait_for_request("failure notice", WAIT, |r| {
            r.method == "PATCH"
                && r.path == original
                && r.json
                    .as_ref()
                    .and_then(|j| j["content"].as_str())
                    .is_some_and(|c| c.starts_with("Sorry"))
        })
        .await
        .expect("the member is told");
    edit.json.as_ref().expect("json")["content"]
        .as_str()
        .expect("content")
        .to_owned()
}

/// The CPU profile's kind of catalog entry: one step, no guidance, decoded by a TAESD-layout
/// autoencoder named by `vae`. An entry whose `vae` cannot be loaded fails politely, which
/// also shows the renderer really reads the entry's autoencoder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_with_its_own_autoencoder_renders() {
    let setup = Setup::new(Db::Sqlite, 2).await;
    let fake = &setup.fake;
    let taesd = setup.dir.path().join("taesd");
    zipp_diffusion::tiny::write_tiny_taesd(&taesd).expect("tiny TAESD");
    let broken = setup.dir.path().join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::copy(taesd.join("config.json"), broken.join("config.json")).expect("copy");
    let mut catalog = std::fs::read_to_string(&setup.catalog).expect("catalog");
    for (name, vae) in [("turbo", &taesd), ("broken", &broken)] {
        catalog.push_str(&format!(
            "\n[diffusion.{name}]\npath = {:?}\nvae = {:?}\nsteps = 1\nguidance_scale = 0.0\nwidth = 64\nheight = 64\n",
            tiny_model_dir().display().to_string(),
            vae.display().to_string()
        ));
    }
    std::fs::write(&setup.catalog, catalog).expect("write catalog");
    let mut config = setup.config();
    config.render.default_model = "turbo".to_owned();
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;

    let (_, token) = dispatch_imagine(
        fake,
        961_000_000_000_000_001,
        vec![opt_str("prompt", "a cat")],
        |b| b,
    )
    .await;
    let delivered = image_of(fake, &token).await;
    assert!(!delivered.files.is_empty(), "a PNG is attached");
    let png = image::load_from_memory(&delivered.files[0].bytes).expect("a PNG");
    assert_eq!((png.width(), png.height()), (64, 64));

    // A server that chose the entry whose autoencoder is missing its weights.
    app.store
        .change_guild_setting(
            zipp::ids::GuildId(fake.config().guild_id),
            zipp::store::GuildSetting::DiffusionModel,
            Some("broken"),
            zipp::ids::MemberId(1),
        )
        .await
        .expect("choose the model");
    let (_, token) = dispatch_imagine(
        fake,
        961_000_000_000_000_002,
        vec![opt_str("prompt", "a dog")],
        |b| b,
    )
    .await;
    let content = failure_notice(fake, &token).await;
    assert!(content.contains("could not be loaded"), "{content}");
    assert!(!content.contains("safetensors"), "no raw error: {content}");
    setup.finish(app).await;
}

/// A request whose estimated peak memory is over `render.max_memory_gib` is refused before it
/// starts, once and for good, with a short explanation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_too_large_for_memory_is_refused() {
    let setup = Setup::new(Db::Sqlite, 2).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.render.max_memory_gib = 0.001;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;
    let (_, token) = dispatch_imagine(
        fake,
        962_000_000_000_000_001,
        vec![opt_str("prompt", "a cat")],
        |b| b,
    )
    .await;
    let content = failure_notice(fake, &token).await;
    assert!(content.contains("does not fit"), "{content}");
    assert!(!content.contains("GiB"), "no raw error: {content}");
    let failed = app
        .store
        .count_jobs(JobStatus::Failed)
        .await
        .expect("count");
    assert_eq!(failed, 1);
    setup.finish(app).await;
}

/// A render that cannot succeed (the configured model does not exist) fails once, for good, and
/// the member reads a short explanation instead of a raw error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_render_is_explained_politely() {
    let setup = Setup::new(Db::Sqlite, 2).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.render.default_model = "no-such-model".to_owned();
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;

    let (_, token) = dispatch_imagine(
        fake,
        960_000_000_000_000_001,
        vec![opt_str("prompt", "a cat")],
        |b| b,
    )
    .await;
    let original = format!(
        "{}/messages/@original",
        webhook_path(fake.config().app_id, &token)
    );
    let edit = fake
        .wait_for_request("failure notice", WAIT, |r| {
            r.method == "PATCH"
                && r.path == original
                && r.json
                    .as_ref()
                    .and_then(|j| j["content"].as_str())
                    .is_some_and(|c| c.starts_with("Sorry"))
        })
        .await
        .expect("the member is told");
    let content = edit.json.as_ref().expect("json")["content"]
        .as_str()
        .expect("content")
        .to_owned();
    assert!(content.contains("could not be loaded"), "{content}");
    assert!(
        !content.contains("no-such-model") && !content.contains("error:"),
        "no raw error: {content}"
    );
    let failed = app
        .store
        .count_jobs(JobStatus::Failed)
        .await
        .expect("count");
    assert_eq!(failed, 1);
    let jobs = app.store.jobs_to_notify(10).await.expect("read");
    assert!(jobs.is_empty(), "delivered, nothing left to tell");
    setup.finish(app).await;
}

/// `aspect`: the image has that shape, with about the model's pixel count on its size grid
/// (the tiny model: 64×64, factor 8), and the choice is stored with the job.
async fn aspect_shapes_the_image(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    // Choice indices in the order of the command: square, landscape, portrait, photo,
    // photo-portrait, wide, tall.
    for (i, (choice, size, stored)) in [
        (5, (88, 48), "16:9"),
        (2, (56, 72), "3:4"),
        (0, (64, 64), "1:1"),
    ]
    .into_iter()
    .enumerate()
    {
        let (_, token) = dispatch_imagine(
            fake,
            901_000_000_000_000_001 + i as u64,
            vec![opt_str("prompt", "a red cat"), opt_int("aspect", choice)],
            |b| b,
        )
        .await;
        let followup = image_of(fake, &token).await;
        let png = &followup.file("files[0]").expect("the image").bytes;
        let image = image::load_from_memory(png).expect("a PNG");
        assert_eq!((image.width(), image.height()), size, "choice {choice}");
        let parameters = &png_texts(png)[0].1;
        assert!(
            parameters.contains(&format!("Size: {}x{}", size.0, size.1)),
            "{parameters}"
        );
        let job = app
            .store
            .job(zipp::ids::JobId(i as i64 + 1))
            .await
            .expect("read")
            .expect("the job");
        assert_eq!(job.aspect.map(|a| a.as_str()), Some(stored));
    }
    setup.finish(app).await;
}

on_both_databases!(aspect_shapes_the_image);

/// Reroll: only the member who made an image may press it; a press is a new job (same prompt,
/// persona mode and shape, a new seed) linked to its parent, acknowledged with a new public
/// message that the result then replaces — also after the bot restarted.
async fn reroll_makes_a_new_image_from_a_result(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    let (_, token) = dispatch_imagine(
        fake,
        902_000_000_000_000_001,
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
    let reroll = message
        .pointer("/components/0/components/0/custom_id")
        .and_then(Value::as_str)
        .expect("a Reroll button")
        .to_owned();
    assert_eq!(reroll, "zipp-reroll:1");

    // Someone else: a private note, no job.
    let answer = press_button(
        fake,
        902_000_000_000_000_002,
        400_000_000_000_000_009,
        &reroll,
        &message,
    )
    .await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert_eq!(
        answer["data"]["content"],
        "Only the member who made this image can make new ones from it."
    );
    assert!(app
        .store
        .job(zipp::ids::JobId(2))
        .await
        .expect("read")
        .is_none());

    // The bot restarts: the button still works (the result's job is in the database).
    app.shutdown().await;
    let app = setup.start(setup.config(), true, 1).await;
    for _ in 0..polls(10) {
        if fake.identify_count() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(fake.identify_count(), 2, "the second bot is connected");

    // The owner: a public "thinking…" message, then the new image in it.
    let answer = press_button(
        fake,
        902_000_000_000_000_003,
        fake_discord::fixtures::DEFAULT_USER_ID,
        &reroll,
        &message,
    )
    .await;
    assert_eq!(answer["type"], 5, "deferred: {answer}");
    assert!(answer["data"]["flags"].is_null(), "public: {answer}");
    let webhook = webhook_path(fake.config().app_id, "token-902000000000000003");
    let again = fake
        .wait_for_request("rerolled image", WAIT, |r| is_image_delivery(r, &webhook))
        .await
        .expect("the new image arrives");
    let png = &again.file("files[0]").expect("the image").bytes;
    let image = image::load_from_memory(png).expect("a PNG");
    assert_eq!((image.width(), image.height()), (88, 48), "the same shape");
    let (parent, child) = (
        app.store
            .job(zipp::ids::JobId(1))
            .await
            .expect("read")
            .expect("the first job"),
        app.store
            .job(zipp::ids::JobId(2))
            .await
            .expect("read")
            .expect("the rerolled job"),
    );
    assert_eq!(child.parent_id, Some(parent.id));
    assert_eq!(
        (child.prompt.as_str(), child.persona_mode, child.aspect),
        (parent.prompt.as_str(), parent.persona_mode, parent.aspect)
    );
    assert_ne!(child.seed, parent.seed, "a new seed");
    assert_openapi_valid(fake);
    setup.finish(app).await;
}

on_both_databases!(reroll_makes_a_new_image_from_a_result);

/// Info fits Discord's 2000 characters whatever the prompt's length, and still answers once the
/// image itself is gone (images are kept for less long than jobs).
async fn info_fits_and_outlives_the_image(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    let long = "a red cat on a roof ".repeat(50);
    let negative = "blurry, ".repeat(60);
    let (_, token) = dispatch_imagine(
        fake,
        903_000_000_000_000_001,
        vec![
            opt_str("prompt", long.trim()),
            opt_str("negative", negative.trim()),
        ],
        |b| b,
    )
    .await;
    let delivered = image_of(fake, &token).await;
    let message = delivered.response_json.clone().expect("the message");
    let info = |id: u64| {
        let message = message.clone();
        async move {
            let answer = press_button(
                fake,
                id,
                fake_discord::fixtures::DEFAULT_USER_ID,
                "zipp-info:1",
                &message,
            )
            .await;
            assert_eq!(answer["data"]["flags"], 64, "{answer}");
            answer["data"]["content"]
                .as_str()
                .expect("content")
                .to_owned()
        }
    };
    let text = info(903_000_000_000_000_002).await;
    assert!(text.chars().count() <= 2000, "{}", text.chars().count());
    assert!(text.contains(", 64×64."), "{text}");
    assert!(text.contains("…\nPrompt rendered: "), "cut, marked: {text}");
    // The image row goes (the retention of images is shorter than that of jobs).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let swept = app
        .store
        .sweep_retention(&zipp::store::RetentionPolicy {
            images_ms: 1,
            ..Default::default()
        })
        .await
        .expect("sweep");
    assert!(swept.contains(&("rendered_images", 1)), "{swept:?}");
    let text = info(903_000_000_000_000_003).await;
    assert!(
        text.starts_with("**About this image** — model tiny"),
        "{text}"
    );
    setup.finish(app).await;
}

on_both_databases!(info_fits_and_outlives_the_image);

/// A press passes the limits like `/imagine`: over them, a private refusal that says when to
/// try again, and no job.
async fn a_press_over_the_limits_is_refused_privately(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.limits.member_hourly = 1;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;
    let (_, token) = dispatch_imagine(
        fake,
        904_000_000_000_000_001,
        vec![opt_str("prompt", "a red cat")],
        |b| b,
    )
    .await;
    let delivered = image_of(fake, &token).await;
    let message = delivered.response_json.clone().expect("the message");
    let answer = press_button(
        fake,
        904_000_000_000_000_002,
        fake_discord::fixtures::DEFAULT_USER_ID,
        "zipp-reroll:1",
        &message,
    )
    .await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    let text = answer["data"]["content"].as_str().expect("content");
    assert!(text.contains("<t:"), "says when: {text}");
    assert!(app
        .store
        .job(zipp::ids::JobId(2))
        .await
        .expect("read")
        .is_none());
    setup.finish(app).await;
}

on_both_databases!(a_press_over_the_limits_is_refused_privately);

/// `/settings`: a member's defaults for `/imagine` here (shape, persona on or off), private,
/// overridden by the options of `/imagine`, and cleared by `reset`.
async fn member_defaults_apply_until_overridden(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    let guild = zipp::ids::GuildId(fake.config().guild_id);
    let alice = zipp::ids::MemberId(fake_discord::fixtures::DEFAULT_USER_ID);
    app.store
        .add_persona(guild, alice, "edited", "I love the sea and sailing.", None)
        .await
        .expect("persona");
    let settings = |id: u64, options: Vec<Value>| async move {
        let token = format!("token-{id}");
        let event = fake_discord::fixtures::InteractionBuilder::new(fake.config(), id, &token)
            .command("settings", options);
        assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
        let reply = fake
            .wait_for_request("settings reply", WAIT, |r| {
                r.path == callback_path(id, &token)
            })
            .await
            .expect("a reply");
        let json = reply.json.clone().expect("json");
        assert_eq!(json["data"]["flags"], 64, "private: {json}");
        json["data"]["content"]
            .as_str()
            .expect("content")
            .to_owned()
    };
    let image = |id: u64, options: Vec<Value>| async move {
        let (_, token) = dispatch_imagine(fake, id, options, |b| b).await;
        let delivered = image_of(fake, &token).await;
        let png = &delivered.file("files[0]").expect("the image").bytes;
        let decoded = image::load_from_memory(png).expect("a PNG");
        (
            (decoded.width(), decoded.height()),
            field(&delivered, "Prompt rendered"),
        )
    };

    assert_eq!(
        settings(905_000_000_000_000_001, vec![]).await,
        "Your defaults in this server — shape: the model's own; persona: on; images: 1. \
         The options of /imagine override them."
    );
    // Persona on by default: the template rewrites the prompt.
    let (size, rendered) = image(905_000_000_000_000_002, vec![opt_str("prompt", "a cat")]).await;
    assert_eq!(size, (64, 64));
    assert_ne!(rendered, "a cat");

    let shown = settings(
        905_000_000_000_000_003,
        vec![opt_int("aspect", 5), opt_int("persona", 1)],
    )
    .await;
    assert!(
        shown.contains("shape: 16:9; persona: off; images: 1."),
        "{shown}"
    );
    let (size, rendered) = image(905_000_000_000_000_004, vec![opt_str("prompt", "a cat")]).await;
    assert_eq!(
        (size, rendered.as_str()),
        ((88, 48), "a cat"),
        "the defaults"
    );
    // The options of /imagine win.
    let (size, rendered) = image(
        905_000_000_000_000_005,
        vec![
            opt_str("prompt", "a cat"),
            opt_int("aspect", 0),
            opt_int("persona", 0),
        ],
    )
    .await;
    assert_eq!(size, (64, 64));
    assert_ne!(rendered, "a cat");

    assert!(
        settings(905_000_000_000_000_006, vec![opt_bool("reset", true)])
            .await
            .starts_with("Your defaults are cleared")
    );
    assert_eq!(
        app.store.member_settings(guild, alice).await.expect("read"),
        zipp::store::MemberSettings::default()
    );
    setup.finish(app).await;
}

on_both_databases!(member_defaults_apply_until_overridden);
