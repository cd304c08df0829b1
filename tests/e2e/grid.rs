//! `/imagine count` (a grid of up to four images with a `U` and a `V` button per image, as
//! Midjourney's) and `/imagine model` (the models a server's moderators let members pick),
//! through the real bot, store and diffusion pipeline (the tiny model), on both databases.

use fake_discord::fixtures::{opt_int, opt_str, opt_sub, InteractionBuilder};
use fake_discord::FakeDiscord;
use serde_json::Value;
use zipp::domain::Derive;
use zipp::ids::JobId;

use crate::harness::*;

const OWNER: u64 = fake_discord::fixtures::DEFAULT_USER_ID;
const STRANGER: u64 = 400_000_000_000_000_019;
/// Manage Server (0x20) plus the usual member permissions.
const MODERATOR: &str = "1071698660961";

/// The custom ids of button row `row` of a result message.
fn row_ids(message: &Value, row: usize) -> Vec<String> {
    message
        .pointer(&format!("/components/{row}/components"))
        .and_then(Value::as_array)
        .map(|row| {
            row.iter()
                .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The labels of button row `row` of a result message.
fn row_labels(message: &Value, row: usize) -> Vec<String> {
    message
        .pointer(&format!("/components/{row}/components"))
        .and_then(Value::as_array)
        .map(|row| {
            row.iter()
                .filter_map(|b| b["label"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn pixels(png: &[u8]) -> image::RgbImage {
    image::load_from_memory(png).expect("a PNG").to_rgb8()
}

/// Image `cell` of a 2 × 2 grid.
fn quarter(grid: &image::RgbImage, cell: u32) -> image::RgbImage {
    let (w, h) = (grid.width() / 2, grid.height() / 2);
    image::imageops::crop_imm(grid, (cell % 2) * w, (cell / 2) * h, w, h).to_image()
}

/// The image delivered for interaction `id` (its PNG) and the message carrying it.
async fn delivered(fake: &FakeDiscord, id: u64) -> (Vec<u8>, Value) {
    let delivered = image_of(fake, &format!("token-{id}")).await;
    (
        delivered.file("files[0]").expect("the image").bytes.clone(),
        delivered.response_json.clone().expect("the message"),
    )
}

/// A press by the owner, answered by a new public message ("thinking…").
async fn press(fake: &FakeDiscord, id: u64, custom_id: &str, message: &Value) {
    let answer = press_button(fake, id, OWNER, custom_id, message).await;
    assert_eq!(answer["type"], 5, "deferred: {answer}");
}

/// Four images in one grid, their seeds following each other (each is the very image its own
/// seed renders alone); a `U` press upscales one image with its own seed, a `V` press makes a
/// new grid of variations of one image; only the owner may press; Info and the PNG's
/// parameters name the seeds.
async fn a_grid_has_an_upscale_and_a_vary_button_per_image(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    let prompt = opt_str("prompt", "a red cat");
    dispatch_imagine(
        fake,
        908_000_000_000_000_001,
        vec![prompt.clone(), opt_int("seed", 5), opt_int("count", 4)],
        |b| b,
    )
    .await;
    let (grid_png, message) = delivered(fake, 908_000_000_000_000_001).await;
    let grid = pixels(&grid_png);
    assert_eq!(grid.dimensions(), (128, 128), "2 × 2 images of 64 × 64");
    let content = message["content"].as_str().expect("content");
    assert!(content.contains("Here are your 4 images."), "{content}");
    assert_eq!(
        row_ids(&message, 1),
        (0..4)
            .map(|i| format!("zipp-upscale:1:{i}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        row_ids(&message, 2),
        (0..4)
            .map(|i| format!("zipp-vary-strong:1:{i}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(row_labels(&message, 1), ["U1", "U2", "U3", "U4"]);
    assert_eq!(row_labels(&message, 2), ["V1", "V2", "V3", "V4"]);
    let texts = png_texts(&grid_png);
    let parameters = &texts
        .iter()
        .find(|(k, _)| k == "parameters")
        .expect("parameters")
        .1;
    assert!(
        parameters.contains("Seed: 5, Size: 64x64") && parameters.ends_with("Batch size: 4"),
        "{parameters}"
    );

    // Image 3 is seed 7's image.
    dispatch_imagine(
        fake,
        908_000_000_000_000_002,
        vec![prompt.clone(), opt_int("seed", 7)],
        |b| b,
    )
    .await;
    let (alone, alone_message) = delivered(fake, 908_000_000_000_000_002).await;
    assert_eq!(
        pixels(&alone),
        quarter(&grid, 2),
        "image 3 of the grid is seed 7"
    );
    assert_eq!(
        row_ids(&alone_message, 1),
        ["zipp-vary-subtle:2", "zipp-vary-strong:2", "zipp-upscale:2"],
        "a single image keeps its three buttons"
    );

    // Someone else: a private note, no job.
    let answer = press_button(
        fake,
        908_000_000_000_000_003,
        STRANGER,
        "zipp-upscale:1:2",
        &message,
    )
    .await;
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert!(app.store.job(JobId(3)).await.expect("read").is_none());

    // U3: image 3 twice its size, from its own seed.
    press(fake, 908_000_000_000_000_004, "zipp-upscale:1:2", &message).await;
    let (upscaled, upscaled_message) = delivered(fake, 908_000_000_000_000_004).await;
    assert_eq!(pixels(&upscaled).dimensions(), (128, 128));
    let upscale = app.store.job(JobId(3)).await.expect("read").expect("job");
    assert_eq!(
        (
            upscale.derive,
            upscale.source_cell,
            upscale.image_count,
            upscale.seed
        ),
        (Some(Derive::Upscale), Some(2), 1, 7)
    );
    assert_eq!(
        row_ids(&upscaled_message, 1).len(),
        3,
        "one image: Vary, Vary, Upscale"
    );

    // V2: a new grid of four variations of image 2.
    press(
        fake,
        908_000_000_000_000_005,
        "zipp-vary-strong:1:1",
        &message,
    )
    .await;
    let (varied, varied_message) = delivered(fake, 908_000_000_000_000_005).await;
    let varied = pixels(&varied);
    assert_eq!(varied.dimensions(), (128, 128));
    assert_ne!(
        quarter(&varied, 0),
        quarter(&varied, 1),
        "each has its own seed"
    );
    let vary = app.store.job(JobId(4)).await.expect("read").expect("job");
    assert_eq!(
        (vary.derive, vary.source_cell, vary.image_count),
        (Some(Derive::VaryStrong), Some(1), 4)
    );
    assert_eq!(row_ids(&varied_message, 1)[0], "zipp-upscale:4:0");
    // img2img from an image: fewer steps than the 2 from noise, for each of the four.
    let parent = app.store.job(JobId(1)).await.expect("read").expect("job");
    assert_eq!(parent.progress_total, 4 * 2);
    assert_eq!(vary.progress_total % 4, 0);
    assert!(vary.progress_total < parent.progress_total);

    // Info names the seeds, and what a variation came from.
    let answer = press_button(
        fake,
        908_000_000_000_000_006,
        OWNER,
        "zipp-info:1",
        &message,
    )
    .await;
    let text = answer["data"]["content"].as_str().expect("content");
    assert!(text.contains("seed 5–8"), "{text}");
    let answer = press_button(
        fake,
        908_000_000_000_000_007,
        OWNER,
        "zipp-info:4",
        &varied_message,
    )
    .await;
    let text = answer["data"]["content"].as_str().expect("content");
    assert!(
        text.ends_with("Made from image #1 (2) with Vary (strong)."),
        "{text}"
    );
    assert_openapi_valid(fake);
    setup.finish(app).await;
}

on_both_databases!(a_grid_has_an_upscale_and_a_vary_button_per_image);

/// `/settings count` is the count of an `/imagine` that gives none; a count out of range, or
/// beside `persona: compare`, is refused privately and stores nothing.
async fn counts_default_from_settings_and_bad_counts_are_refused(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    let reply = run_command(
        fake,
        909_000_000_000_000_001,
        OWNER,
        "settings",
        vec![opt_int("count", 3)],
    )
    .await;
    let text = reply["data"]["content"].as_str().expect("content");
    assert!(text.contains("images: 3"), "{text}");
    dispatch_imagine(
        fake,
        909_000_000_000_000_002,
        vec![opt_str("prompt", "a red cat")],
        |b| b,
    )
    .await;
    let (png, message) = delivered(fake, 909_000_000_000_000_002).await;
    assert_eq!(pixels(&png).dimensions(), (192, 64), "three in a row");
    assert_eq!(row_labels(&message, 1), ["U1", "U2", "U3"]);

    for (id, options, expected) in [
        (
            909_000_000_000_000_003_u64,
            vec![opt_int("count", 5)],
            "The count must be from 1 to 4.",
        ),
        (
            909_000_000_000_000_004,
            vec![opt_int("count", 0)],
            "The count must be from 1 to 4.",
        ),
        (
            909_000_000_000_000_005,
            vec![opt_int("count", 2), opt_int("persona", 2)],
            "A comparison is one pair of images: leave the count at 1 with persona: compare.",
        ),
    ] {
        let mut options = options;
        options.insert(0, opt_str("prompt", "a red cat"));
        let reply = run_command(fake, id, OWNER, "imagine", options).await;
        assert_eq!(reply["type"], 4, "{reply}");
        assert_eq!(reply["data"]["flags"], 64, "{reply}");
        assert_eq!(reply["data"]["content"], expected);
    }
    assert!(app.store.job(JobId(2)).await.expect("read").is_none());
    setup.finish(app).await;
}

on_both_databases!(counts_default_from_settings_and_bad_counts_are_refused);

/// The autocomplete choices of `/imagine model` typed as `partial`.
async fn model_choices(fake: &FakeDiscord, id: u64, partial: &str) -> Vec<String> {
    let token = format!("token-{id}");
    let event = InteractionBuilder::new(fake.config(), id, &token).autocomplete(
        "imagine",
        vec![opt_str("prompt", "a cat")],
        "model",
        partial,
    );
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    let reply = fake
        .wait_for_request("autocomplete", WAIT, |r| r.path == callback)
        .await
        .expect("choices");
    let json = reply.json.clone().expect("json");
    assert_eq!(json["type"], 8, "{json}");
    json["data"]["choices"]
        .as_array()
        .expect("choices")
        .iter()
        .map(|c| c["value"].as_str().expect("value").to_owned())
        .collect()
}

async fn moderator(fake: &FakeDiscord, id: u64, name: &str, role: i64) -> String {
    let token = format!("token-{id}");
    let event = InteractionBuilder::new(fake.config(), id, &token)
        .member_permissions(MODERATOR)
        .command(
            "config",
            vec![opt_sub(
                "diffusion",
                vec![opt_str("name", name), opt_int("role", role)],
            )],
        );
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    let reply = fake
        .wait_for_request("config reply", WAIT, |r| r.path == callback)
        .await
        .expect("a reply");
    let json = reply.json.clone().expect("json");
    assert_eq!(json["data"]["flags"], 64, "{json}");
    json["data"]["content"]
        .as_str()
        .expect("content")
        .to_owned()
}

/// Members pick only the models their server offers: its own, and those moderators allowed
/// (autocomplete lists them); a pick renders with that model, and so does its Reroll while the
/// server still offers it; every change is audited.
async fn members_pick_the_models_their_server_allows(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    // A second model, 96 × 64 by default, so its images tell which model ran.
    let mut catalog = std::fs::read_to_string(&setup.catalog).expect("read");
    let wide = catalog
        .split("[llm.template]")
        .next()
        .expect("diffusion part")
        .replace("[diffusion.tiny]", "[diffusion.tiny-wide]")
        .replace("width = 64", "width = 96");
    catalog.push_str(&wide);
    std::fs::write(&setup.catalog, catalog).expect("write");
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    let guild = zipp::ids::GuildId(fake.config().guild_id);

    let pick = |id: u64| {
        run_command(
            fake,
            id,
            OWNER,
            "imagine",
            vec![
                opt_str("prompt", "a red cat"),
                opt_str("model", "tiny-wide"),
            ],
        )
    };
    let refused = pick(910_000_000_000_000_001).await;
    assert_eq!(refused["data"]["flags"], 64, "{refused}");
    assert_eq!(
        refused["data"]["content"],
        "This server does not offer that model. You can pick: tiny."
    );
    assert_eq!(
        model_choices(fake, 910_000_000_000_000_002, "").await,
        ["tiny"]
    );

    let text = moderator(fake, 910_000_000_000_000_003, "tiny-wide", 1).await;
    assert!(text.contains("/imagine model: tiny, tiny-wide."), "{text}");
    assert_eq!(
        model_choices(fake, 910_000_000_000_000_004, "WIDE").await,
        ["tiny-wide"]
    );
    let accepted = pick(910_000_000_000_000_005).await;
    assert_eq!(accepted["type"], 5, "{accepted}");
    let (png, message) = delivered(fake, 910_000_000_000_000_005).await;
    assert_eq!(pixels(&png).dimensions(), (96, 64), "rendered by tiny-wide");
    let job = app.store.job(JobId(1)).await.expect("read").expect("job");
    assert_eq!(
        (job.model.as_str(), job.model_choice.as_deref()),
        ("tiny-wide", Some("tiny-wide"))
    );
    // Its Reroll keeps the pick.
    press(fake, 910_000_000_000_000_006, "zipp-reroll:1", &message).await;
    let (png, _) = delivered(fake, 910_000_000_000_000_006).await;
    assert_eq!(pixels(&png).dimensions(), (96, 64));

    // Taken off the list: the pick, and a Reroll of it, are refused privately.
    let text = moderator(fake, 910_000_000_000_000_007, "tiny-wide", 2).await;
    assert!(text.contains("/imagine model: tiny."), "{text}");
    let answer = press_button(
        fake,
        910_000_000_000_000_008,
        OWNER,
        "zipp-reroll:1",
        &message,
    )
    .await;
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert_eq!(
        answer["data"]["content"],
        "This server does not offer that model. You can pick: tiny."
    );
    assert!(app.store.job(JobId(3)).await.expect("read").is_none());

    let audit = app.store.config_audit(guild, 10).await.expect("audit");
    let changes: Vec<_> = audit
        .iter()
        .map(|e| {
            (
                e.setting.as_str(),
                e.old_value.as_deref(),
                e.new_value.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("diffusion_allowed", Some("tiny-wide"), None),
            ("diffusion_allowed", None, Some("tiny-wide")),
        ]
    );
    setup.finish(app).await;
}

on_both_databases!(members_pick_the_models_their_server_allows);

/// With `render.max_batch = 4` a grid's four images render in one batch (one denoiser call per
/// step for all four: the progress counts the batch's steps, not four images' worth) and each
/// is still the image its seed renders alone; a variation grid (from an image) renders one by
/// one as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_renders_in_one_batch() {
    const STEPS: u32 = 2;
    let setup = Setup::new(Db::Sqlite, STEPS).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.render.max_batch = 4;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;
    let prompt = opt_str("prompt", "a red cat");
    dispatch_imagine(
        fake,
        908_000_000_000_000_101,
        vec![prompt.clone(), opt_int("seed", 5), opt_int("count", 4)],
        |b| b,
    )
    .await;
    let (grid_png, message) = delivered(fake, 908_000_000_000_000_101).await;
    let grid = pixels(&grid_png);
    assert_eq!(grid.dimensions(), (128, 128));
    let original = format!(
        "{}/messages/@original",
        webhook_path(fake.config().app_id, "token-908000000000000101")
    );
    let totals: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path == original)
        .filter_map(|r| r.json.as_ref()?.get("content")?.as_str().map(str::to_owned))
        .filter_map(|c| {
            let rest = c.strip_prefix("Rendering — step ")?;
            Some(rest.split('/').nth(1)?.trim_end_matches('…').to_owned())
        })
        .collect();
    assert!(!totals.is_empty(), "progress was shown");
    assert!(
        totals.iter().all(|t| *t == STEPS.to_string()),
        "one batch of {STEPS} steps, not four images' worth: {totals:?}"
    );

    for cell in 0..4u32 {
        let id = 908_000_000_000_000_102 + u64::from(cell);
        dispatch_imagine(
            fake,
            id,
            vec![prompt.clone(), opt_int("seed", 5 + i64::from(cell))],
            |b| b,
        )
        .await;
        let (alone, _) = delivered(fake, id).await;
        let alone = pixels(&alone);
        let cell_image = quarter(&grid, cell);
        let worst = alone
            .as_raw()
            .iter()
            .zip(cell_image.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(u8::MAX);
        assert!(
            worst <= 1,
            "image {cell} differs from seed {} alone by {worst}",
            5 + cell
        );
    }

    // V1 on the batched grid: four variations of image 1, one by one, all delivered.
    press(
        fake,
        908_000_000_000_000_110,
        "zipp-vary-strong:1:0",
        &message,
    )
    .await;
    let (variations, _) = delivered(fake, 908_000_000_000_000_110).await;
    assert_eq!(pixels(&variations).dimensions(), (128, 128));
    setup.finish(app).await;
}
