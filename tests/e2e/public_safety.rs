//! A public server's rules through the real bot: moderators keep a blocklist and tighten the
//! limits with `/config`, see every change in `/config audit`; members' refused prompts get an
//! ephemeral answer that never repeats the blocked words; `/stats` counts the refusals.

use fake_discord::fixtures::{opt_int, opt_str, opt_sub, InteractionBuilder};
use serde_json::{json, Value};

use crate::harness::*;

/// Manage Server (0x20) plus the usual member permissions.
const MODERATOR: &str = "1071698660961";
/// Send messages and use commands, no Manage Server.
const MEMBER: &str = "2147485696";

fn group(name: &str, sub: Value) -> Value {
    json!({"name": name, "type": 2, "options": [sub]})
}

/// Sends a command; returns the interaction callback's JSON.
async fn answer(
    fake: &fake_discord::FakeDiscord,
    id: u64,
    permissions: &str,
    command: &str,
    options: Vec<Value>,
) -> Value {
    let token = format!("token-{id}");
    let event = InteractionBuilder::new(fake.config(), id, &token)
        .member_permissions(permissions)
        .command(command, options);
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    let reply = fake
        .wait_for_request("a reply", WAIT, |r| r.path == callback)
        .await
        .expect("a reply");
    assert_mentions_nobody(&reply);
    reply.json.clone().expect("json")
}

/// The text of an ephemeral reply.
fn ephemeral(json: &Value) -> String {
    assert_eq!(json["type"], 4, "a reply, not a deferral: {json}");
    assert_eq!(json["data"]["flags"], 64, "ephemeral: {json}");
    json["data"]["content"]
        .as_str()
        .expect("content")
        .to_owned()
}

async fn moderators_set_rules_and_members_are_refused_politely(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    // No workers: accepted jobs stay unfinished, so the limit at once applies.
    let app = setup.start_bot(0).await;
    let mut id = 975_000_000_000_000_000;
    let mut next = || {
        id += 1;
        id
    };

    // Members cannot touch the rules.
    let refused = ephemeral(
        &answer(
            fake,
            next(),
            MEMBER,
            "config",
            vec![group(
                "blocklist",
                opt_sub("add", vec![opt_str("phrase", "x")]),
            )],
        )
        .await,
    );
    assert!(refused.contains("Manage Server"), "{refused}");

    let added = ephemeral(
        &answer(
            fake,
            next(),
            MODERATOR,
            "config",
            vec![group(
                "blocklist",
                opt_sub("add", vec![opt_str("phrase", "Red  Cat")]),
            )],
        )
        .await,
    );
    assert!(added.starts_with("Added to the blocklist"), "{added}");
    let empty = ephemeral(
        &answer(
            fake,
            next(),
            MODERATOR,
            "config",
            vec![group(
                "blocklist",
                opt_sub("add", vec![opt_str("phrase", "\u{200B} ...")]),
            )],
        )
        .await,
    );
    assert!(empty.contains("is empty"), "{empty}");
    let listed = ephemeral(
        &answer(
            fake,
            next(),
            MODERATOR,
            "config",
            vec![group("blocklist", opt_sub("list", vec![]))],
        )
        .await,
    );
    assert_eq!(listed, "Blocklist (1): `red cat`");

    // Refused before deferral, ephemeral, naming no blocked word; nothing stored.
    for prompt in ["a RED\u{200B} CAT on a mat", "ｎｕｄｅ child"] {
        let json = answer(
            fake,
            next(),
            MEMBER,
            "imagine",
            vec![opt_str("prompt", prompt)],
        )
        .await;
        let text = ephemeral(&json);
        assert!(text.contains("against this server's rules"), "{text}");
        assert!(
            !text.to_lowercase().contains("cat") && !text.contains("child"),
            "{text}"
        );
    }
    assert_eq!(
        app.store
            .count_jobs(zipp::store::JobStatus::Rewriting)
            .await
            .expect("count")
            + app
                .store
                .count_jobs(zipp::store::JobStatus::Queued)
                .await
                .expect("count"),
        0
    );

    // Tighter limits: one job at once per member.
    let limits = ephemeral(
        &answer(
            fake,
            next(),
            MODERATOR,
            "config",
            vec![opt_sub("limits", vec![opt_int("member_active", 1)])],
        )
        .await,
    );
    assert!(
        limits.contains("per member: 1 at once, 30 per hour"),
        "{limits}"
    );
    let loosen = ephemeral(
        &answer(
            fake,
            next(),
            MODERATOR,
            "config",
            vec![opt_sub("limits", vec![opt_int("server_active", 5000)])],
        )
        .await,
    );
    assert!(loosen.contains("from 1 to 50"), "{loosen}");

    let fox_id = next();
    let fox_token = format!("token-{fox_id}");
    let first = answer(
        fake,
        fox_id,
        MEMBER,
        "imagine",
        vec![opt_str("prompt", "a fox")],
    )
    .await;
    assert_eq!(first["type"], 5, "deferred: {first}");
    let second = ephemeral(
        &answer(
            fake,
            next(),
            MEMBER,
            "imagine",
            vec![opt_str("prompt", "a dog")],
        )
        .await,
    );
    assert_eq!(
        second,
        "You already have 1 images on the way. Please wait until one is done, then try again."
    );

    // Moderators see who changed what, and the refusals.
    let audit = ephemeral(
        &answer(
            fake,
            next(),
            MODERATOR,
            "config",
            vec![opt_sub("audit", vec![])],
        )
        .await,
    );
    assert!(
        audit.starts_with("Latest changes, newest first:"),
        "{audit}"
    );
    assert!(
        audit.contains("member_active_limit: default → `1`"),
        "{audit}"
    );
    assert!(audit.contains("blocklist: default → `red cat`"), "{audit}");
    assert!(
        audit.contains(&format!("<@{}>", fake_discord::fixtures::DEFAULT_USER_ID)),
        "{audit}"
    );
    let stats = ephemeral(&answer(fake, next(), MEMBER, "stats", vec![]).await);
    assert!(
        stats.ends_with(
            "Refused requests: 3 (1 over limits, 1 by the server's blocklist, 1 by the built-in list, 0 images withheld by the safety check)."
        ),
        "{stats}"
    );

    // Removing the phrase lets the prompt through (the cache is dropped at once).
    let removed = ephemeral(
        &answer(
            fake,
            next(),
            MODERATOR,
            "config",
            vec![group(
                "blocklist",
                opt_sub("remove", vec![opt_str("phrase", "red cat")]),
            )],
        )
        .await,
    );
    assert!(
        removed.starts_with("Removed from the blocklist"),
        "{removed}"
    );
    let now = answer(
        fake,
        next(),
        MEMBER,
        "imagine",
        vec![opt_str("prompt", "a red cat")],
    )
    .await;
    // Refused by the limit (the fox is unfinished), not by the blocklist.
    assert!(
        ephemeral(&now).starts_with("You already have 1 images"),
        "{now}"
    );

    // /queue lists the fox with its place and a Cancel button; moderators see the server's
    // length. Only the owner can cancel.
    let started = std::time::Instant::now();
    let fox = loop {
        let queued = app
            .store
            .jobs_with_status(zipp::store::JobStatus::Queued)
            .await
            .expect("jobs");
        if let Some(job) = queued.first() {
            break job.id;
        }
        assert!(started.elapsed() < WAIT, "the fox was never queued");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let listed = answer(fake, next(), MODERATOR, "queue", vec![]).await;
    let text = ephemeral(&listed);
    assert!(
        text.starts_with("1. `a fox` — waiting, place 1 in the queue"),
        "{text}"
    );
    assert!(
        text.ends_with("This server has 1 images on the way (1 on the whole bot)."),
        "{text}"
    );
    let button = &listed["data"]["components"][0]["components"][0];
    let cancel = button["custom_id"].as_str().expect("a Cancel button");
    assert_eq!(cancel, format!("zipp:cancel:{}", fox.0));
    assert_eq!(button["label"], "Cancel 1");
    let message = fake_discord::fixtures::message(
        975_100_000_000_000_001,
        fake.config().channel_id,
        fake_discord::fixtures::user(fake.config().app_id, "zipp"),
        &text,
    );
    let by_bob = press_button(fake, next(), 400_000_000_000_000_002, cancel, &message).await;
    assert!(
        by_bob["data"]["content"]
            .as_str()
            .expect("content")
            .starts_with("That image is no longer on the way (or is not yours)"),
        "{by_bob}"
    );
    assert_eq!(
        app.store.job(fox).await.expect("read").expect("job").status,
        zipp::store::JobStatus::Queued
    );
    let by_owner = press_button(
        fake,
        next(),
        fake_discord::fixtures::DEFAULT_USER_ID,
        cancel,
        &message,
    )
    .await;
    assert_eq!(by_owner["type"], 7, "the list is updated: {by_owner}");
    assert_eq!(
        by_owner["data"]["content"],
        "Cancelled.\nYou have no images on the way here."
    );
    let job = app.store.job(fox).await.expect("read").expect("job");
    assert_eq!(job.status, zipp::store::JobStatus::Failed);
    assert_eq!(job.error_message_id.as_deref(), Some("render-cancelled"));
    // The deferred reply says so.
    let fox_webhook = format!(
        "/api/v10/webhooks/{}/{}/messages/@original",
        fake.config().app_id,
        fox_token
    );
    let edited = fake
        .wait_for_request("the cancelled reply", WAIT, |r| {
            r.path == fox_webhook
                && r.json
                    .as_ref()
                    .is_some_and(|j| j["content"] == "You cancelled this image.")
        })
        .await;
    edited.expect("the deferred reply says it was cancelled");
    // With the fox gone, the member may ask again.
    let again = answer(
        fake,
        next(),
        MEMBER,
        "imagine",
        vec![opt_str("prompt", "a red cat")],
    )
    .await;
    assert_eq!(again["type"], 5, "deferred: {again}");
    assert_openapi_valid(fake);
    setup.finish(app).await;
}

on_both_databases!(moderators_set_rules_and_members_are_refused_politely);

/// Every render passes the safety checker (a tiny real one in the diffusers layout, whose
/// thresholds flag every image here). Outside age-restricted channels a flagged image is never
/// posted: the public reply is deleted and its owner told privately. In an age-restricted
/// channel the server decides: blocked by default, behind a spoiler with `/config nsfw spoiler`.
async fn flagged_images_are_withheld_or_spoilered(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.render.safety_checker = tiny_checker_dir(true).display().to_string();
    let app = start_app(config, true, 1, None, &setup.guard).await;
    wait_registered(fake).await;
    let app_id = fake.config().app_id;

    // An ordinary channel: withheld, whatever the server's policy.
    let (_, token) = dispatch_imagine(
        fake,
        976_000_000_000_000_001,
        vec![opt_str("prompt", "a fox")],
        |b| b,
    )
    .await;
    let original = format!("/api/v10/webhooks/{app_id}/{token}/messages/@original");
    fake.wait_for_request("the public reply deleted", WAIT, |r| {
        r.method == "DELETE" && r.path == original
    })
    .await
    .expect("the deferred reply is deleted");
    let webhook = webhook_path(app_id, &token);
    let note = fake
        .wait_for_request("a private note", WAIT, |r| {
            r.method == "POST"
                && r.path == webhook
                && r.json.as_ref().is_some_and(|j| {
                    j["content"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("The safety check"))
                })
        })
        .await
        .expect("a followup");
    let json = note.json.as_ref().expect("json");
    assert_eq!(json["flags"], 64, "ephemeral: {json}");
    assert!(
        json["content"]
            .as_str()
            .expect("content")
            .starts_with("The safety check flagged this image"),
        "{json}"
    );
    assert_mentions_nobody(&note);
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| is_image_delivery(r, &webhook)),
        "no image was posted"
    );

    // An age-restricted channel, and a server that chose spoilers.
    let adults = fake.config().channel_id + 7;
    let channel = json!({
        "id": adults.to_string(),
        "type": 0,
        "guild_id": fake.config().guild_id.to_string(),
        "name": "adults",
        "position": 1,
        "permission_overwrites": [],
        "nsfw": true,
        "topic": null,
        "rate_limit_per_user": 0,
    });
    assert!(fake.dispatch("CHANNEL_CREATE", channel).await > 0);
    let set = ephemeral(
        &answer(
            fake,
            976_000_000_000_000_002,
            MODERATOR,
            "config",
            vec![opt_sub("nsfw", vec![opt_int("policy", 1)])],
        )
        .await,
    );
    assert_eq!(
        set,
        "Flagged images in age-restricted channels is now behind a spoiler. The change is in the audit log."
    );
    let (_, token) = dispatch_imagine(
        fake,
        976_000_000_000_000_003,
        vec![opt_str("prompt", "a fox")],
        |b| b.channel_id(adults),
    )
    .await;
    let webhook = webhook_path(app_id, &token);
    let delivered = fake
        .wait_for_request("the spoilered image", WAIT, |r| {
            is_image_delivery(r, &webhook)
        })
        .await
        .expect("delivered");
    assert_eq!(
        delivered.files[0].filename, "SPOILER_imagine.png",
        "a spoiler attachment"
    );
    let json = delivered.json.as_ref().expect("json");
    assert!(
        json["embeds"][0].get("image").is_none(),
        "the embed does not show it unblurred: {json}"
    );
    let stats = ephemeral(&answer(fake, 976_000_000_000_000_004, MEMBER, "stats", vec![]).await);
    assert!(
        stats.ends_with("1 images withheld by the safety check)."),
        "{stats}"
    );
    setup.finish(app).await;
}

on_both_databases!(flagged_images_are_withheld_or_spoilered);
