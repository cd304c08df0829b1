//! Personas members own, end to end on the fake Discord: a consenting member's activity in a
//! seeded synthetic server → our trained encoder → the offline verbalizer → `/persona show` →
//! `/imagine` uses it; editing in a modal (and what the modal refuses), the questionnaire,
//! reset, history restore, the refresh cooldown, inference never overwriting an edit, nobody
//! else ever seeing it, replies in the member's locale, and no checkpoint at all
//! (`lifecycle.rs`); the LLM verbalizer and its fallbacks (`verbalizer.rs`); renders embedded
//! for ImageAlign and `/persona add-image` (`images.rs`). The helpers here drive the commands,
//! modals and components they share.

mod image_taste;
mod images;
mod lifecycle;
mod races;
mod scale;
mod shutdown;
mod verbalizer;

use std::path::Path;
use std::time::Duration;

use fake_discord::fixtures::{
    message, message_create, opt_sub, InteractionBuilder, DEFAULT_USER_ID,
};
use fake_discord::{FakeDiscord, RecordedRequest};
use serde_json::{json, Value};
use zipp::ids::{GuildId, MemberId};
use zipp::lifecycle::seed::channel_id;
use zipp_gat::checkpoint::{self, CheckpointMeta, DataStats};
use zipp_gat::encoder::PersonaEncoderConfig;
use zipp_gat::graph::synth::{generate, GroundTruth, SynthConfig};
use zipp_gat::graph::Graph;
use zipp_gat::train::{train, TrainConfig};

use crate::harness::*;

const BOB: u64 = 400_000_000_000_000_002;
const CAROL: u64 = 400_000_000_000_000_003;

/// A small synthetic server and an encoder trained on it, written as a checkpoint in `dir`.
fn trained_checkpoint(dir: &Path) -> (Graph, GroundTruth) {
    let (graph, truth) = generate(&SynthConfig {
        n_members: 120,
        n_tastes: 4,
        n_channels: 8,
        n_roles: 4,
        image_dim: 16,
        seed: 5,
        ..SynthConfig::default()
    });
    let config = PersonaEncoderConfig {
        hidden: 16,
        heads: 2,
        out_dim: 16,
        image_dim: 16,
        text_dim: 32,
        ..PersonaEncoderConfig::default()
    };
    let training = TrainConfig {
        epochs: 20,
        lr: 2e-2,
        patience: 0,
        ..TrainConfig::default()
    };
    let varmap = candle_nn::VarMap::new();
    let (_, report) = train(
        &graph,
        &config,
        &training,
        &varmap,
        &candle_core::Device::Cpu,
    )
    .expect("training");
    let meta = CheckpointMeta::new(config, training, report, DataStats::of(&graph, "test"));
    checkpoint::save(dir, &varmap, &meta).expect("checkpoint saved");
    (graph, truth)
}

/// The bot (no workers, no scheduled passes) with an encoder trained on a small synthetic
/// server — the server's graph and planted truth come back with it, to seed and to check.
async fn bot_with_encoder(setup: &Setup) -> (zipp::app::App, Graph, GroundTruth) {
    let ckpt = setup.dir.path().join("encoder");
    let (graph, truth) = trained_checkpoint(&ckpt);
    let mut config = setup.config();
    config.persona.checkpoint = ckpt;
    config.persona.infer_every_s = 0;
    let app = setup.start(config, true, 0).await;
    wait_registered(&setup.fake).await;
    (app, graph, truth)
}

/// Runs `/persona SUB` as `user` in `locale`; returns the callback body (mentions nobody).
async fn persona(
    fake: &FakeDiscord,
    id: u64,
    user: u64,
    locale: &str,
    sub: &str,
    options: Vec<Value>,
) -> Value {
    let token = format!("token-{id}");
    let event = InteractionBuilder::new(fake.config(), id, &token)
        .user(user, "someone")
        .locale(locale)
        .command("persona", vec![opt_sub(sub, options)]);
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    let reply = fake
        .wait_for_request("persona reply", WAIT, |r| r.path == callback)
        .await
        .expect("a reply");
    assert_eq!(reply.response_status, 204, "{}", reply.summary());
    assert_mentions_nobody(&reply);
    reply.json.clone().expect("json")
}

/// The text of an ephemeral reply (type 4, flags 64).
fn ephemeral(json: &Value) -> String {
    assert_eq!(json["type"], 4, "{json}");
    assert_eq!(json["data"]["flags"], 64, "ephemeral: {json}");
    json["data"]["content"]
        .as_str()
        .expect("content")
        .to_owned()
}

/// `/persona refresh` defers ephemerally, then edits the reply: returns the edited text.
async fn refresh(fake: &FakeDiscord, id: u64, user: u64) -> String {
    let json = persona(fake, id, user, "en-US", "refresh", vec![]).await;
    assert_eq!(json["type"], 5, "deferred: {json}");
    assert_eq!(json["data"]["flags"], 64, "ephemeral: {json}");
    // poise answers a deferred command with a followup (Discord shows it in place of the
    // "thinking" message).
    let token = format!("token-{id}");
    let webhook = webhook_path(fake.config().app_id, &token);
    let reply = fake
        .wait_for_request("refresh answer", WAIT, |r| {
            r.path.starts_with(&webhook) && ["POST", "PATCH"].contains(&r.method.as_str())
        })
        .await
        .expect("the refresh is answered");
    assert!(reply.response_status < 300, "{}", reply.summary());
    assert_mentions_nobody(&reply);
    reply.json.expect("json")["content"]
        .as_str()
        .expect("content")
        .to_owned()
}

/// Submits modal `custom_id` as `user`; returns the callback request.
async fn submit(
    fake: &FakeDiscord,
    id: u64,
    user: u64,
    custom_id: &str,
    fields: &[(&str, &str)],
) -> RecordedRequest {
    let token = format!("token-{id}");
    let event = InteractionBuilder::new(fake.config(), id, &token)
        .user(user, "someone")
        .modal_submit(custom_id, fields);
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    let reply = fake
        .wait_for_request("modal answer", WAIT, |r| r.path == callback)
        .await
        .expect("the modal is answered");
    assert_eq!(reply.response_status, 204, "{}", reply.summary());
    assert_mentions_nobody(&reply);
    reply
}

/// A message of the bot's (for component interactions).
fn bot_message(fake: &FakeDiscord) -> Value {
    let mut m = message(
        800_000_000_000_000_001,
        fake.config().channel_id,
        json!(null),
        "",
    );
    m["author"] = fake_discord::fixtures::bot_user(fake.config());
    m
}

/// Presses `custom_id` (a button, or a select when `values` is given) as `user`.
async fn component(
    fake: &FakeDiscord,
    id: u64,
    user: u64,
    custom_id: &str,
    values: Option<&[&str]>,
) -> Value {
    let token = format!("token-{id}");
    let builder = InteractionBuilder::new(fake.config(), id, &token).user(user, "someone");
    let event = match values {
        Some(values) => builder.select(custom_id, values, bot_message(fake)),
        None => builder.button(custom_id, bot_message(fake)),
    };
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    let reply = fake
        .wait_for_request("component answer", WAIT, |r| r.path == callback)
        .await
        .expect("answered");
    assert_eq!(reply.response_status, 204, "{}", reply.summary());
    assert_mentions_nobody(&reply);
    reply.json.clone().expect("json")
}

/// Alice posts `n` messages and reacts once in synthetic channel `c`; waits until stored.
async fn activity(
    fake: &FakeDiscord,
    app: &zipp::app::App,
    guild: GuildId,
    c: u32,
    n: u64,
    first_id: u64,
) {
    let alice = MemberId(DEFAULT_USER_ID);
    let before = edge_count(app, guild, alice).await;
    for i in 0..n {
        let mut m = message_create(
            fake.config(),
            first_id + i,
            DEFAULT_USER_ID,
            "alice",
            "text is never stored",
        );
        m["channel_id"] = json!(channel_id(c).to_string());
        fake.dispatch("MESSAGE_CREATE", m).await;
    }
    for _ in 0..polls(25) {
        if edge_count(app, guild, alice).await >= before + n as i64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("alice's activity was never stored");
}

async fn edge_count(app: &zipp::app::App, guild: GuildId, member: MemberId) -> i64 {
    app.store
        .guild_edges(guild)
        .await
        .expect("edges")
        .iter()
        .filter(|e| e.member_id == member)
        .map(|e| e.count)
        .sum()
}

/// Whether `text` names one of `taste`'s planted descriptor words.
fn names_taste(text: &str, truth: &GroundTruth, taste: usize) -> bool {
    let lower = text.to_lowercase();
    truth.tastes[taste]
        .descriptors
        .iter()
        .any(|d| lower.contains(d.as_str()))
}

fn image_bytes(format: image::ImageFormat, w: u32, h: u32) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([x as u8, y as u8, 200])
    }));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// `/persona add-image` as `user` with an attachment; returns the reply text (the immediate
/// ephemeral answer, or the deferred one's followup).
async fn add_image(fake: &FakeDiscord, id: u64, user: u64, attachment: Value) -> String {
    let token = format!("token-{id}");
    let attachment_id = attachment["id"].as_str().expect("id").to_owned();
    let mut event = InteractionBuilder::new(fake.config(), id, &token)
        .user(user, "someone")
        .command(
            "persona",
            vec![opt_sub(
                "add-image",
                vec![json!({"name": "image", "type": 11, "value": attachment_id})],
            )],
        );
    event["data"]["resolved"] = json!({"attachments": {attachment_id: attachment}});
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    let reply = fake
        .wait_for_request("add-image reply", WAIT, |r| r.path == callback)
        .await
        .expect("a reply");
    assert_mentions_nobody(&reply);
    let json = reply.json.clone().expect("json");
    assert_eq!(json["data"]["flags"], 64, "ephemeral: {json}");
    if json["type"] == 4 {
        return json["data"]["content"]
            .as_str()
            .expect("content")
            .to_owned();
    }
    assert_eq!(json["type"], 5, "{json}");
    let webhook = webhook_path(fake.config().app_id, &token);
    let followup = fake
        .wait_for_request("add-image answer", WAIT, |r| {
            r.path.starts_with(&webhook) && ["POST", "PATCH"].contains(&r.method.as_str())
        })
        .await
        .expect("answered");
    assert_mentions_nobody(&followup);
    followup.json.expect("json")["content"]
        .as_str()
        .expect("content")
        .to_owned()
}
