//! Personas members own, end to end on the fake Discord: a consenting member's activity in a
//! seeded synthetic server → our trained encoder → the offline verbalizer → `/persona show` →
//! `/imagine` uses it; editing in a modal (and what the modal refuses), the questionnaire,
//! reset, history restore, the refresh cooldown, inference never overwriting an edit, nobody
//! else ever seeing it, replies in the member's locale, and no checkpoint at all.

use std::path::Path;
use std::time::Duration;

use fake_discord::fixtures::{
    message, message_create, opt_int, opt_str, opt_sub, InteractionBuilder, DEFAULT_USER_ID,
};
use fake_discord::{FakeDiscord, RecordedRequest};
use serde_json::{json, Value};
use zipp::graph::synth::{generate, GroundTruth, SynthConfig};
use zipp::graph::Graph;
use zipp::i18n::I18n;
use zipp::ids::{GuildId, MemberId};
use zipp::lifecycle::seed::{channel_id, seed_from_graph};
use zipp::persona::checkpoint::{self, CheckpointMeta, DataStats};
use zipp::persona::encoder::PersonaEncoderConfig;
use zipp::persona::train::{train, TrainConfig};

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
    for _ in 0..200 {
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

async fn persona_lifecycle(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let ckpt = setup.dir.path().join("encoder");
    let (graph, truth) = trained_checkpoint(&ckpt);
    let mut config = setup.config();
    config.persona.checkpoint = ckpt.clone();
    config.persona.infer_every_s = 0;
    config.persona.train_epochs = 2;
    config.ingest.flush_ms = 50;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    let alice = MemberId(DEFAULT_USER_ID);
    seed_from_graph(&app.store, guild, &graph, zipp::store::now_ms())
        .await
        .expect("seeded");
    let i18n = I18n::load().expect("texts");
    let mut id = 930_000_000_000_000_000u64;
    let mut next = || {
        id += 1;
        id
    };

    // A member who consents from the prompt of their first /imagine gets a persona at once,
    // from what they asked for so far.
    let (_, token) = dispatch_imagine(
        fake,
        next(),
        vec![opt_str("prompt", "a neon cyberpunk city in the rain")],
        |b| b.user(CAROL, "carol"),
    )
    .await;
    image_of(fake, &token).await;
    component(fake, next(), CAROL, "zipp-consent:yes", None).await;
    let mut carols = None;
    for _ in 0..200 {
        carols = app
            .store
            .active_persona(guild, MemberId(CAROL))
            .await
            .expect("read");
        if carols.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let carols = carols.expect("carol's persona is inferred after consent");
    assert_eq!(carols.source, "inferred");
    assert!(carols.text.contains("cyberpunk"), "{}", carols.text);

    // Nothing yet, and nothing is inferred without consent.
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "show", vec![]).await);
    assert!(
        text.starts_with("You have no persona in this server yet."),
        "{text}"
    );
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert!(text.starts_with("zipp can only infer a persona"), "{text}");

    // Consent, but no activity yet: nothing to infer, and no cooldown used up.
    let text = ephemeral(
        &persona(
            fake,
            next(),
            DEFAULT_USER_ID,
            "en-US",
            "consent",
            vec![opt_int("state", 0)],
        )
        .await,
    );
    assert!(text.starts_with("Thanks!"), "{text}");
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert!(text.contains("not seen enough of your activity"), "{text}");

    // Alice is active in two channels of one planted taste.
    let taste = truth.channel_taste[0];
    let same: Vec<u32> = (0..graph.channels.len() as u32)
        .filter(|&c| truth.channel_taste[c as usize] == taste)
        .collect();
    activity(fake, &app, guild, same[0], 6, 950_000_000_000_000_000).await;
    activity(fake, &app, guild, same[1], 3, 950_000_000_000_000_100).await;
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert_eq!(
        text,
        "Done: zipp inferred a new persona for you (version 1). See it with /persona show."
    );
    let inferred = app
        .store
        .active_persona(guild, alice)
        .await
        .expect("read")
        .expect("an active persona");
    assert_eq!(
        (inferred.version, inferred.source.as_str()),
        (1, "inferred")
    );
    assert!(
        names_taste(&inferred.text, &truth, taste),
        "{} / {:?}",
        inferred.text,
        truth.tastes[taste]
    );
    assert!(inferred.text.chars().count() <= 600);
    let evidence: Value =
        serde_json::from_str(inferred.evidence.as_deref().expect("evidence")).expect("json");
    assert_eq!(evidence["verbalizer"], "offline");
    let top = evidence["channels"][0]["name"]
        .as_str()
        .expect("a channel")
        .to_owned();
    assert!(
        same.iter().any(|&c| graph.channels[c as usize].name == top),
        "the heaviest channel {top} is one alice posted in"
    );

    // /persona show: the text, its source, and why.
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "show", vec![]).await);
    assert!(
        text.starts_with("**Your persona** — version 1, inferred from your activity, <t:"),
        "{text}"
    );
    assert!(
        text.contains(&format!("> {}", inferred.text.lines().next().unwrap())),
        "{text}"
    );
    assert!(text.contains(&format!("#{top}")), "{text}");
    assert!(text.ends_with("(skip it with persona: off)."), "{text}");

    // /imagine uses it: the rendered prompt changes, the reply names the version, and its
    // button opens the persona for alice only.
    let (_, token) =
        dispatch_imagine(fake, next(), vec![opt_str("prompt", "a red fox")], |b| b).await;
    let followup = image_of(fake, &token).await;
    let rendered = field(&followup, "Prompt rendered");
    assert!(
        rendered.starts_with("a red fox, ") && rendered.len() > "a red fox, ".len(),
        "{rendered}"
    );
    assert_eq!(
        field(&followup, "Persona"),
        "version 1 (inferred from your activity)"
    );
    let open = followup
        .json
        .as_ref()
        .and_then(|j| j.pointer("/components/0/components/0/custom_id"))
        .and_then(Value::as_str)
        .expect("the open button")
        .to_owned();
    assert_eq!(open, format!("zipp-persona-open:{}", inferred.id));
    let answer = component(fake, next(), BOB, &open, None).await;
    assert_eq!(
        ephemeral(&answer),
        "Only the member who made this image can open the persona it used."
    );
    let answer = component(fake, next(), DEFAULT_USER_ID, &open, None).await;
    assert!(ephemeral(&answer).contains(&inferred.text), "{answer}");
    // Bob sees only his own (none).
    let text = ephemeral(&persona(fake, next(), BOB, "en-US", "show", vec![]).await);
    assert!(text.starts_with("You have no persona"), "{text}");
    assert!(!text.contains(&inferred.text));

    // The cooldown.
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert_eq!(
        text,
        "You refreshed your persona recently. You can refresh again in 60 min."
    );

    // /persona edit: a modal prefilled with the current text.
    let modal = persona(fake, next(), DEFAULT_USER_ID, "en-US", "edit", vec![]).await;
    assert_eq!(modal["type"], 9, "{modal}");
    assert_eq!(modal["data"]["custom_id"], "zipp-persona-edit");
    let input = &modal["data"]["components"][0]["components"][0];
    assert_eq!(input["value"], inferred.text.as_str());
    assert_eq!(input["max_length"], 1000);
    // What the modal refuses, with a clear answer and nothing lost.
    let long = "a".repeat(4000);
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-edit",
        &[("persona", &long)],
    )
    .await;
    let body = reply.json.clone().expect("json");
    assert!(
        ephemeral(&body).starts_with("That persona is 4000 characters long; the limit is 1000."),
        "{body}"
    );
    let file = reply
        .file("files[0]")
        .expect("the text comes back as a file");
    assert_eq!(file.bytes, long.as_bytes());
    let shorter = "b".repeat(1200);
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-edit",
        &[("persona", &shorter)],
    )
    .await;
    let text = ephemeral(&reply.json.clone().expect("json"));
    assert!(
        text.contains(&format!("```\n{shorter}\n```")),
        "short enough to quote: {text}"
    );
    for blank in [
        "   \n\t  ",
        "\u{200b}\u{200d}\u{feff}\u{2060}",
        "<@123456789012345678> <@&42>",
    ] {
        let reply = submit(
            fake,
            next(),
            DEFAULT_USER_ID,
            "zipp-persona-edit",
            &[("persona", blank)],
        )
        .await;
        let text = ephemeral(&reply.json.clone().expect("json"));
        assert!(
            text.starts_with("That persona is empty"),
            "{blank:?}: {text}"
        );
    }
    assert_eq!(
        app.store
            .persona_history(guild, alice, 50)
            .await
            .expect("history")
            .len(),
        1,
        "nothing refused was stored"
    );
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-edit",
        &[("persona", "I love @everyone, @here and <@123456789012345678>: rainy noir alleys and jazz.\u{200b}")],
    )
    .await;
    let text = ephemeral(&reply.json.clone().expect("json"));
    assert!(
        text.starts_with("Saved: your persona is now version 2"),
        "{text}"
    );
    let edited = app
        .store
        .active_persona(guild, alice)
        .await
        .expect("read")
        .expect("persona");
    assert_eq!(edited.source, "edited");
    assert!(
        !edited.text.contains('@')
            && !edited.text.contains('<')
            && !edited.text.contains('\u{200b}'),
        "{}",
        edited.text
    );
    assert!(
        edited.text.contains("rainy noir alleys and jazz."),
        "{}",
        edited.text
    );

    // Inference never overwrites an edit: new activity elsewhere, a scheduled pass stores a
    // new inferred version behind the edit.
    let other = (0..graph.channels.len() as u32)
        .find(|&c| truth.channel_taste[c as usize] != taste)
        .expect("another taste");
    activity(fake, &app, guild, other, 30, 950_000_000_000_000_200).await;
    let personas = app.personas.as_ref().expect("persona service");
    let run = personas
        .infer_guild(guild)
        .await
        .expect("scheduled inference");
    assert_eq!(
        run.members,
        graph.members.len() + 2,
        "every consenting member"
    );
    assert!(run.kept >= 1, "{run:?}");
    assert!(
        run.activated >= graph.members.len() - 10,
        "the seeded members get personas: {run:?}"
    );
    let active = app
        .store
        .active_persona(guild, alice)
        .await
        .expect("read")
        .expect("persona");
    assert_eq!(active.id, edited.id, "the edit stays in use");
    let newest = app
        .store
        .latest_persona(guild, alice, "inferred")
        .await
        .expect("read")
        .expect("inferred");
    assert_eq!(newest.version, 3);
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "show", vec![]).await);
    assert!(text.contains("version 2, written by you"), "{text}");
    assert!(text.contains("until you run /persona reset"), "{text}");
    // The same evidence again adds no version.
    let again = personas.refresh(guild, alice, false).await.expect("again");
    assert!(
        matches!(&again, zipp::lifecycle::Refresh::Unchanged(p) if p.id == newest.id),
        "{again:?}"
    );

    // /persona reset: back to the newest inferred version.
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "reset", vec![]).await);
    assert_eq!(
        text,
        "Back to the inferred persona (version 3); /imagine uses it from now on."
    );
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "reset", vec![]).await);
    assert_eq!(text, "You are already using the inferred persona.");

    // /persona history: every version, the active one marked, a menu to restore one.
    let json = persona(fake, next(), DEFAULT_USER_ID, "en-US", "history", vec![]).await;
    let text = ephemeral(&json);
    assert!(
        text.starts_with("Your persona versions, newest first:"),
        "{text}"
    );
    assert!(
        text.contains("**v3** · inferred from your activity") && text.contains("(in use)"),
        "{text}"
    );
    assert!(text.contains("**v2** · written by you"), "{text}");
    let options: Vec<String> = json
        .pointer("/data/components/0/components/0/options")
        .and_then(Value::as_array)
        .expect("a select menu")
        .iter()
        .map(|o| o["value"].as_str().expect("value").to_owned())
        .collect();
    assert_eq!(options.len(), 3);
    let answer = component(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona:restore",
        Some(&[&edited.id.to_string()]),
    )
    .await;
    assert_eq!(answer["type"], 7, "{answer}");
    assert_eq!(
        answer["data"]["content"],
        "Restored version 2; /imagine uses it from now on."
    );
    assert_eq!(
        app.store
            .active_persona(guild, alice)
            .await
            .unwrap()
            .unwrap()
            .id,
        edited.id
    );
    // Bob cannot restore alice's version with a forged menu value.
    let answer = component(
        fake,
        next(),
        BOB,
        "zipp-persona:restore",
        Some(&[&inferred.id.to_string()]),
    )
    .await;
    assert_eq!(ephemeral(&answer), "That persona version no longer exists.");
    assert!(app
        .store
        .active_persona(guild, MemberId(BOB))
        .await
        .unwrap()
        .is_none());

    // /persona setup: the questionnaire.
    let modal = persona(fake, next(), DEFAULT_USER_ID, "en-US", "setup", vec![]).await;
    assert_eq!(modal["type"], 9, "{modal}");
    assert_eq!(
        modal["data"]["components"].as_array().map(Vec::len),
        Some(4)
    );
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-setup",
        &[
            ("who", "a night-shift nurse from Lyon."),
            ("work", ""),
            ("love", "jazz and my two cats"),
            ("visual", "muted colours, film grain"),
        ],
    )
    .await;
    assert!(
        ephemeral(&reply.json.clone().unwrap()).starts_with("Saved: your persona is now version 4")
    );
    let q = app
        .store
        .active_persona(guild, alice)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(q.source, "questionnaire");
    assert_eq!(
        q.text,
        "I am a night-shift nurse from Lyon. I love jazz and my two cats. Visually, I like muted colours, film grain."
    );
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-setup",
        &[("who", " "), ("love", "\u{200b}")],
    )
    .await;
    assert!(ephemeral(&reply.json.clone().unwrap()).starts_with("That persona is empty"));

    // Replies follow the member's locale (Discord's es-419 is served by es-ES).
    for (discord_locale, shipped) in [
        ("de", "de"),
        ("ja", "ja"),
        ("es-419", "es-ES"),
        ("pt-BR", "pt-BR"),
        ("fr", "fr"),
    ] {
        let text = ephemeral(&persona(fake, next(), BOB, discord_locale, "show", vec![]).await);
        assert_eq!(text, i18n.tr(shipped, "persona-none", None));
        assert_ne!(text, i18n.tr("en-US", "persona-none", None));
    }

    // Training on the collected graphs writes a new checkpoint, which the bot then loads.
    let auc = personas
        .train_now()
        .await
        .expect("training")
        .expect("data to train on");
    assert!(auc.is_finite());
    assert!(
        personas.reload_if_newer().await,
        "the new checkpoint is loaded"
    );
    assert!(!personas.reload_if_newer().await, "once");

    assert!(
        fake.unhandled_requests().is_empty(),
        "{:?}",
        fake.unhandled_requests()
    );
    assert_openapi_valid(fake);
    setup.finish(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persona_lifecycle_sqlite() {
    persona_lifecycle(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persona_lifecycle_postgres() {
    persona_lifecycle(Db::Postgres).await;
}

/// Without a checkpoint the bot still works: inference is reported unavailable, members can
/// write personas; moderators turning inference off is reported too.
async fn no_checkpoint(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    // A folder with no checkpoint in it (yet).
    config.persona.checkpoint = setup.dir.path().join("missing");
    let app = setup.start(config, true, 0).await;
    wait_registered(fake).await;
    let mut id = 940_000_000_000_000_000u64;
    let mut next = || {
        id += 1;
        id
    };
    ephemeral(
        &persona(
            fake,
            next(),
            DEFAULT_USER_ID,
            "en-US",
            "consent",
            vec![opt_int("state", 0)],
        )
        .await,
    );
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert!(
        text.starts_with("Persona inference is not available right now"),
        "{text}"
    );
    // No CLIP model configured: images cannot be added.
    let png = image_bytes(image::ImageFormat::Png, 8, 8);
    let n = png.len();
    let text = add_image(
        fake,
        next(),
        DEFAULT_USER_ID,
        fake.add_attachment("a.png", "image/png", png, n),
    )
    .await;
    assert!(text.starts_with("Adding images is not available"), "{text}");
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-edit",
        &[("persona", "I paint foggy harbours.")],
    )
    .await;
    assert!(
        ephemeral(&reply.json.clone().unwrap()).starts_with("Saved: your persona is now version 1")
    );
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "show", vec![]).await);
    assert!(text.contains("> I paint foggy harbours."), "{text}");
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "reset", vec![]).await);
    assert!(
        text.starts_with("There is no inferred persona to go back to yet"),
        "{text}"
    );
    // Moderators turn inference off.
    let guild = GuildId(fake.config().guild_id);
    app.store
        .change_guild_setting(
            guild,
            zipp::store::GuildSetting::PersonaInference,
            Some("off"),
            MemberId(1),
        )
        .await
        .expect("setting");
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert!(
        text.starts_with("The moderators turned persona inference off"),
        "{text}"
    );
    assert!(fake.unhandled_requests().is_empty());
    setup.finish(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_checkpoint_sqlite() {
    no_checkpoint(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_checkpoint_postgres() {
    no_checkpoint(Db::Postgres).await;
}

/// The LLM verbalizer: the server's LLM writes the persona from the evidence (sent as data,
/// within the token budget); a refusal or no answer in time falls back to the offline one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_verbalizer_and_its_fallbacks() {
    use fake_discord::llm::{start, Mode};
    let setup = Setup::new(Db::Sqlite, 2).await;
    let fake = &setup.fake;
    let ckpt = setup.dir.path().join("encoder");
    let (graph, truth) = trained_checkpoint(&ckpt);
    let written = "I'm a night owl who loves pixel art, chiptune and rainy city streets.";
    let ok = start(Mode::Fixed(format!("\"{written}\""))).await;
    let refusal = start(Mode::Refusal).await;
    let hang = start(Mode::Hang).await;
    let mut catalog = std::fs::read_to_string(&setup.catalog).expect("catalog");
    for (name, server) in [("ok", &ok), ("refuses", &refusal), ("hangs", &hang)] {
        catalog.push_str(&format!(
            "\n[llm.{name}]\nbackend = \"openai\"\nbase_url = \"{}\"\nmodel = \"{name}\"\n",
            server.url
        ));
    }
    std::fs::write(&setup.catalog, catalog).expect("catalog");
    let mut config = setup.config();
    config.persona.checkpoint = ckpt;
    config.persona.infer_every_s = 0;
    config.persona.verbalize_timeout_ms = 500;
    config.persona.evidence_tokens = 300;
    let app = setup.start(config, true, 0).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    let members = seed_from_graph(&app.store, guild, &graph, zipp::store::now_ms())
        .await
        .expect("seeded");
    let member = members[3];
    let personas = app.personas.as_ref().expect("persona service");
    let set_llm = |name: &'static str| {
        let store = app.store.clone();
        async move {
            store
                .change_guild_setting(
                    guild,
                    zipp::store::GuildSetting::Llm,
                    Some(name),
                    MemberId(1),
                )
                .await
                .expect("setting")
        }
    };
    let verbalizer = |p: &zipp::store::Persona| -> String {
        let e: Value =
            serde_json::from_str(p.evidence.as_deref().expect("evidence")).expect("json");
        e["verbalizer"].as_str().expect("verbalizer").to_owned()
    };

    set_llm("ok").await;
    let outcome = personas
        .refresh(guild, member, false)
        .await
        .expect("refresh");
    let zipp::lifecycle::Refresh::Activated(p) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(p.text, written, "unquoted, as the LLM wrote it");
    assert_eq!(verbalizer(&p), "llm (ok)");
    // What the LLM was given: the instructions, and the evidence as delimited data within the
    // budget, heaviest channel first.
    let bodies = ok.bodies.lock().expect("bodies").clone();
    let body = bodies.last().expect("a request");
    let system = body["messages"][0]["content"].as_str().expect("system");
    assert!(system.contains("in the first person") && system.contains("At most 600 characters"));
    let user = body["messages"][1]["content"].as_str().expect("user");
    assert!(
        user.starts_with("<evidence>\nChannels where I am active:\n- #"),
        "{user}"
    );
    let tokens: usize = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| zipp::persona::verbalize::estimate_tokens(m["content"].as_str().unwrap()))
        .sum();
    assert!(tokens <= 300, "{tokens}");
    let ev: Value = serde_json::from_str(p.evidence.as_deref().unwrap()).unwrap();
    let top = ev["channels"][0]["name"].as_str().expect("top channel");
    assert!(user.contains(&format!("- #{top}")), "{user}");
    let taste = truth.channel_taste[graph.channels.iter().position(|c| c.name == top).unwrap()];
    assert!(
        truth.has_taste(3, taste),
        "the top channel is one of the member's tastes"
    );

    // A refusal: the offline verbalizer writes it.
    set_llm("refuses").await;
    let outcome = personas
        .refresh(guild, member, false)
        .await
        .expect("refresh");
    let zipp::lifecycle::Refresh::Activated(p) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(verbalizer(&p), "offline");
    assert!(
        p.text.starts_with("I'm drawn to") || p.text.starts_with("In this server"),
        "{}",
        p.text
    );
    // No answer within the time limit: offline again (the same text: no new version).
    set_llm("hangs").await;
    let started = std::time::Instant::now();
    let outcome = personas
        .refresh(guild, member, false)
        .await
        .expect("refresh");
    assert!(
        matches!(&outcome, zipp::lifecycle::Refresh::Unchanged(q) if q.id == p.id),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    setup.finish(app).await;
}

/// With a CLIP model configured, the worker embeds every render; the snapshot gives the encoder
/// the images members kept (not the persona side of a comparison they decided against); an
/// encoder trained on it aligns members with their images; forget removes the embeddings.
async fn renders_feed_image_align(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let clip_dir = setup.dir.path().join("clip");
    zipp::clip::write_tiny(&clip_dir).expect("tiny CLIP");
    let mut config = setup.config();
    config.render.clip_model = clip_dir.display().to_string();
    config.persona.checkpoint = setup.dir.path().join("encoder");
    config.persona.train_epochs = 2;
    config.persona.infer_every_s = 0;
    config.ingest.flush_ms = 50;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    let alice = MemberId(DEFAULT_USER_ID);
    ephemeral(
        &persona(
            fake,
            990_000_000_000_000_001,
            DEFAULT_USER_ID,
            "en-US",
            "consent",
            vec![opt_int("state", 0)],
        )
        .await,
    );
    app.store
        .add_persona(guild, alice, "edited", "I love foggy harbours.", None)
        .await
        .expect("persona");
    // Some activity in four channels, so there are links to learn from.
    for c in 0..4u64 {
        for i in 0..2u64 {
            let mut m = message_create(
                fake.config(),
                991_000_000_000_000_000 + 10 * c + i,
                DEFAULT_USER_ID,
                "alice",
                "text is never stored",
            );
            m["channel_id"] = json!((2_000_000 + c).to_string());
            fake.dispatch("MESSAGE_CREATE", m).await;
        }
    }
    for _ in 0..200 {
        if edge_count(&app, guild, alice).await >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(edge_count(&app, guild, alice).await, 8);
    let (_, token) = dispatch_imagine(
        fake,
        990_000_000_000_000_002,
        vec![opt_str("prompt", "a red fox")],
        |b| b,
    )
    .await;
    image_of(fake, &token).await;
    let (_, token) = dispatch_imagine(
        fake,
        990_000_000_000_000_003,
        vec![opt_str("prompt", "a boat"), opt_int("persona", 2)],
        |b| b,
    )
    .await;
    image_of(fake, &token).await;
    let mut images = Vec::new();
    for _ in 0..200 {
        images = app.store.engaged_images(guild).await.expect("images");
        if images.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(images.len(), 2, "both renders are embedded");
    assert!(images.iter().all(|(m, e)| *m == alice && e.len() == 16));
    let norm: f32 = images[0].1.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    // Alice prefers the generic side of the comparison: its persona image no longer counts.
    let job = app
        .store
        .job(zipp::ids::JobId(2))
        .await
        .expect("read")
        .expect("job 2");
    let generic = job.compare.expect("compare").persona_side.other();
    component(
        fake,
        990_000_000_000_000_004,
        DEFAULT_USER_ID,
        &format!("zipp-pick:2:{}", generic.as_str()),
        None,
    )
    .await;
    assert_eq!(
        app.store.engaged_images(guild).await.expect("images").len(),
        1
    );
    let snap = zipp::lifecycle::snapshot::snapshot(&app.store, guild, zipp::store::now_ms())
        .await
        .expect("snapshot");
    assert_eq!(snap.graph.images.len(), 1);
    assert_eq!(snap.graph.image_dim(), Some(16));

    // Training on what the bot collected uses them: the encoder's image space is CLIP's.
    let personas = app.personas.as_ref().expect("persona service");
    personas.train_now().await.expect("training").expect("data");
    assert!(personas.reload_if_newer().await);
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(setup.dir.path().join("encoder/persona.json")).expect("meta"),
    )
    .expect("json");
    assert_eq!(meta["encoder"]["image_dim"], 16);
    // Channels and roles are described by CLIP's text embeddings too.
    assert_eq!(meta["encoder"]["text_features"], "clip");
    assert_eq!(meta["encoder"]["text_dim"], 16);
    assert_eq!(meta["data"]["images"], 1, "{}", meta["data"]);

    // Inference with the new encoder and the images; the offline verbalizer also matches with
    // CLIP's text tower. Alice's own persona stays in use.
    let outcome = personas
        .refresh(guild, alice, false)
        .await
        .expect("refresh with CLIP");
    let zipp::lifecycle::Refresh::Kept(p) = outcome else {
        panic!("{outcome:?}");
    };
    // (The tiny CLIP's weights are random: which descriptors it adds means nothing here.)
    assert!(p.text.starts_with("I'm drawn to"), "{}", p.text);
    assert!(p.text.contains("\"a boat\""), "{}", p.text);

    // Forget: the embeddings go with everything else.
    let answer = component(
        fake,
        990_000_000_000_000_005,
        DEFAULT_USER_ID,
        "zipp-forget:confirm",
        None,
    )
    .await;
    assert_eq!(answer["type"], 7, "{answer}");
    assert!(app
        .store
        .engaged_images(guild)
        .await
        .expect("images")
        .is_empty());
    setup.finish(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_feed_image_align_sqlite() {
    renders_feed_image_align(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_feed_image_align_postgres() {
    renders_feed_image_align(Db::Postgres).await;
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

/// Images members hand over: PNG, JPEG and WebP are embedded and count toward their taste;
/// a truncated file, a 20000×20000 header, a non-image, a 30 MB file, a body larger than it
/// claimed — each a clear ephemeral refusal with nothing stored.
async fn members_add_images(kind: Db) {
    use image::ImageFormat::{Jpeg, Png, WebP};
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let clip_dir = setup.dir.path().join("clip");
    zipp::clip::write_tiny(&clip_dir).expect("tiny CLIP");
    let mut config = setup.config();
    config.render.clip_model = clip_dir.display().to_string();
    config.persona.max_image_bytes = 2 * 1024 * 1024;
    let app = setup.start(config, true, 0).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    let mut id = 995_000_000_000_000_000u64;
    let mut next = || {
        id += 1;
        id
    };
    let attach = |name: &str, ct: &str, bytes: Vec<u8>| {
        let n = bytes.len();
        fake.add_attachment(name, ct, bytes, n)
    };

    // Without consent, nothing is taken.
    let png = image_bytes(Png, 48, 40);
    let text = add_image(
        fake,
        next(),
        DEFAULT_USER_ID,
        attach("a.png", "image/png", png.clone()),
    )
    .await;
    assert_eq!(
        text,
        "Images you add count toward your persona, so zipp needs your consent first: /persona consent on."
    );
    ephemeral(
        &persona(
            fake,
            next(),
            DEFAULT_USER_ID,
            "en-US",
            "consent",
            vec![opt_int("state", 0)],
        )
        .await,
    );

    for (name, ct, bytes) in [
        ("a.png", "image/png", png.clone()),
        ("b.jpg", "image/jpeg", image_bytes(Jpeg, 64, 32)),
        ("c.webp", "image/webp", image_bytes(WebP, 20, 20)),
    ] {
        let text = add_image(fake, next(), DEFAULT_USER_ID, attach(name, ct, bytes)).await;
        assert!(
            text.starts_with("Added: this image now counts toward your taste."),
            "{name}: {text}"
        );
    }
    // A PNG whose header claims 20000×20000 (CRC fixed, so only the size lies).
    let mut bomb = image_bytes(Png, 1, 1);
    bomb[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    let refusals = [
        (
            attach("t.png", "image/png", png[..png.len() / 2].to_vec()),
            "I couldn't read that image",
        ),
        (
            attach("bomb.png", "image/png", bomb),
            "That image has too many pixels; the limit is 40 megapixels.",
        ),
        (
            attach(
                "notes.png",
                "image/png",
                b"just some text, not an image".to_vec(),
            ),
            "That file is not a PNG, JPEG or WebP image.",
        ),
        (
            attach("doc.pdf", "application/pdf", b"%PDF-1.4".to_vec()),
            "That file is not a PNG, JPEG or WebP image.",
        ),
        (
            fake.add_attachment("huge.png", "image/png", png.clone(), 30 * 1024 * 1024),
            "That file is too large; the limit is 2 MB.",
        ),
        (
            // Claims to be small, is 3 MB: caught while downloading.
            fake.add_attachment("liar.png", "image/png", vec![0x89; 3 * 1024 * 1024], 1000),
            "That file is too large; the limit is 2 MB.",
        ),
    ];
    for (attachment, want) in refusals {
        let name = attachment["filename"].as_str().unwrap().to_owned();
        let text = add_image(fake, next(), DEFAULT_USER_ID, attachment).await;
        assert!(text.starts_with(want), "{name}: {text}");
    }
    let images = app.store.engaged_images(guild).await.expect("images");
    assert_eq!(images.len(), 3, "only the three valid images");
    assert!(images
        .iter()
        .all(|(m, e)| m.0 == DEFAULT_USER_ID && e.len() == 16));
    assert!(fake.unhandled_requests().is_empty());
    setup.finish(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_add_images_sqlite() {
    members_add_images(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_add_images_postgres() {
    members_add_images(Db::Postgres).await;
}
