//! Consent and ingestion end to end: the consent prompt on the first `/imagine`, gateway events
//! from consenting members becoming edges (and nothing about anyone else), consent off, channel
//! renames, `/persona forget` leaving no row that mentions the member, and the final flush on a
//! clean shutdown.

use std::time::Duration;

use fake_discord::fixtures::{
    message, message_create, opt_int, opt_str, opt_sub, reaction_add, user, InteractionBuilder,
    DEFAULT_USER_ID,
};
use fake_discord::FakeDiscord;
use serde_json::{json, Value};
use sqlx::{Connection, Row};
use zipp::app::App;
use zipp::ids::{GuildId, MemberId};
use zipp::store::{EdgeKind, Store};

use crate::harness::*;

const BOB: u64 = 400_000_000_000_000_002;
const CAROL: u64 = 400_000_000_000_000_003;
const ROLE: u64 = 700_000_000_000_000_001;

async fn press(fake: &FakeDiscord, id: u64, user: u64, custom_id: &str) -> Value {
    let token = format!("token-{id}");
    let message = message(
        800_000_000_000_000_001,
        fake.config().channel_id,
        json!(null),
        "",
    );
    let mut message = message;
    message["author"] = fake_discord::fixtures::bot_user(fake.config());
    let event = InteractionBuilder::new(fake.config(), id, &token)
        .user(user, "someone")
        .button(custom_id, message);
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    fake.wait_for_request("button", WAIT, |r| r.path == callback)
        .await
        .expect("answered")
        .json
        .expect("json")
}

/// A guild message from `author`, optionally replying to `reply_to` and mentioning `mentions`.
fn msg(fake: &FakeDiscord, id: u64, author: u64, reply_to: Option<u64>, mentions: &[u64]) -> Value {
    let mut m = message_create(fake.config(), id, author, "someone", "text is never stored");
    m["member"]["roles"] = json!([ROLE.to_string()]);
    if let Some(other) = reply_to {
        m["referenced_message"] =
            message(id - 1, fake.config().channel_id, user(other, "other"), "hi");
        m["message_reference"] = json!({"message_id": (id - 1).to_string(), "channel_id": fake.config().channel_id.to_string()});
        m["type"] = json!(19);
    }
    m["mentions"] = json!(mentions
        .iter()
        .map(|u| user(*u, "other"))
        .collect::<Vec<_>>());
    m
}

async fn edges(store: &Store, guild: GuildId) -> Vec<(u64, &'static str, u64, i64)> {
    store
        .guild_edges(guild)
        .await
        .expect("edges")
        .into_iter()
        .map(|e| (e.member_id.0, e.kind.as_str(), e.target_id, e.count))
        .collect()
}

async fn wait_flushed(
    store: &Store,
    guild: GuildId,
    want: usize,
) -> Vec<(u64, &'static str, u64, i64)> {
    for _ in 0..polls(50) {
        let got = edges(store, guild).await;
        if got.len() >= want {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    edges(store, guild).await
}

/// The ingestor's count of handled events, read before dispatching what a check is about.
fn handled(app: &App) -> u64 {
    app.ingestor.as_ref().expect("the bot runs").handled()
}

/// Waits until the ingestor has handled `count` events since `before`, then flushes: the
/// store then holds all it will ever hold of them (a fence, not a sleep).
async fn settled(app: &App, before: u64, count: u64) {
    let ingestor = app.ingestor.as_ref().expect("the bot runs");
    tokio::time::timeout(WAIT, ingestor.handled_at_least(before + count))
        .await
        .expect("the events are handled");
    ingestor.flush().await.expect("flush");
}

/// Rows of any table whose any column mentions `needle` (every table but sqlx's bookkeeping).
async fn rows_mentioning(db: &TestDb, kind: Db, needle: u64) -> Vec<String> {
    let mut found = Vec::new();
    let pattern = format!("%{needle}%");
    match kind {
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            let tables: Vec<String> = sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
            )
            .fetch_all(&mut conn)
            .await
            .expect("tables")
            .iter()
            .map(|r| r.get("name"))
            .collect();
            assert!(tables.len() >= 10, "{tables:?}");
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(&mut conn)
                        .await
                        .expect("columns")
                        .iter()
                        .map(|r| r.get("name"))
                        .collect();
                let filter = columns
                    .iter()
                    .map(|c| format!("CAST({c} AS TEXT) LIKE $1"))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                let n: i64 =
                    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table} WHERE {filter}"))
                        .bind(&pattern)
                        .fetch_one(&mut conn)
                        .await
                        .expect("scan")
                        .get("n");
                if n > 0 {
                    found.push(format!("{table}: {n}"));
                }
            }
        }
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            let tables: Vec<String> = sqlx::query(
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%'",
            )
            .fetch_all(&mut conn)
            .await
            .expect("tables")
            .iter()
            .map(|r| r.get("name"))
            .collect();
            assert!(tables.len() >= 10, "{tables:?}");
            for table in tables {
                let n: i64 = sqlx::query(&format!(
                    "SELECT COUNT(*) AS n FROM {table} t WHERE t::text LIKE $1"
                ))
                .bind(&pattern)
                .fetch_one(&mut conn)
                .await
                .expect("scan")
                .get("n");
                if n > 0 {
                    found.push(format!("{table}: {n}"));
                }
            }
        }
    }
    found
}

async fn consent_ingestion_and_forget(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.ingest.flush_ms = 50;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;
    let store = app.store.clone();
    let guild = GuildId(fake.config().guild_id);
    let channel = fake.config().channel_id;

    // The first /imagine asks for consent, privately, with Accept / Not now.
    let (_, token) = dispatch_imagine(
        fake,
        950_000_000_000_000_001,
        vec![opt_str("prompt", "a cat")],
        |b| b,
    )
    .await;
    let webhook = webhook_path(fake.config().app_id, &token);
    let prompt = fake
        .wait_for_request("consent prompt", WAIT, |r| {
            r.method == "POST"
                && r.path == webhook
                && r.json.as_ref().is_some_and(|j| j["flags"] == 64)
        })
        .await
        .expect("a consent prompt");
    let body = prompt.json.clone().expect("json");
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .contains("never what you write"),
        "{body}"
    );
    let buttons: Vec<&str> = body["components"][0]["components"]
        .as_array()
        .expect("buttons")
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(buttons, ["zipp-consent:yes", "zipp-consent:no"]);
    // Nothing is recorded before the answer.
    let before = handled(&app);
    fake.dispatch(
        "MESSAGE_CREATE",
        msg(fake, 960_000_000_000_000_001, DEFAULT_USER_ID, None, &[]),
    )
    .await;
    settled(&app, before, 1).await;
    assert!(edges(&store, guild).await.is_empty());

    let answer = press(
        fake,
        950_000_000_000_000_002,
        DEFAULT_USER_ID,
        "zipp-consent:yes",
    )
    .await;
    assert_eq!(answer["type"], 7, "{answer}");
    assert_eq!(
        store
            .consent(guild, MemberId(DEFAULT_USER_ID))
            .await
            .unwrap(),
        Some(true)
    );
    // Carol says "not now": recorded as declined, and the prompt does not come back.
    press(fake, 950_000_000_000_000_003, CAROL, "zipp-consent:no").await;
    assert_eq!(
        store.consent(guild, MemberId(CAROL)).await.unwrap(),
        Some(false)
    );

    // Alice (consenting) posts, replies to Bob (not asked), mentions Carol (declined), reacts.
    let before = handled(&app);
    fake.dispatch(
        "MESSAGE_CREATE",
        msg(fake, 960_000_000_000_000_011, DEFAULT_USER_ID, None, &[]),
    )
    .await;
    fake.dispatch(
        "MESSAGE_CREATE",
        msg(
            fake,
            960_000_000_000_000_013,
            DEFAULT_USER_ID,
            Some(BOB),
            &[CAROL],
        ),
    )
    .await;
    fake.dispatch(
        "MESSAGE_REACTION_ADD",
        reaction_add(fake.config(), DEFAULT_USER_ID, "alice", 1, "🔥"),
    )
    .await;
    // Bob (no consent) posts and replies to Alice: nothing about Bob is kept.
    fake.dispatch(
        "MESSAGE_CREATE",
        msg(
            fake,
            960_000_000_000_000_015,
            BOB,
            Some(DEFAULT_USER_ID),
            &[],
        ),
    )
    .await;
    settled(&app, before, 4).await;
    let got = edges(&store, guild).await;
    assert_eq!(
        got,
        vec![
            (DEFAULT_USER_ID, "has_role", ROLE, 1),
            (DEFAULT_USER_ID, "posted", channel, 2),
            (DEFAULT_USER_ID, "reacted", channel, 1),
        ]
    );

    // Reactions on the message carrying Alice's render: hers become feedback on that image
    // (and are removed with the reaction); Bob's (not consenting, not his render) leave nothing.
    let followup = image_of(fake, &token).await;
    // The bot notes which message carries the image before it records the delivery.
    for _ in 0..polls(10) {
        let done = store
            .jobs_with_status(zipp::store::JobStatus::Done)
            .await
            .expect("jobs");
        if done.iter().all(|j| j.delivered_at.is_some()) && !done.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let message_id: u64 = followup.response_json.as_ref().expect("the posted message")["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("snowflake");
    let on_render = |user: u64| {
        let mut r = reaction_add(fake.config(), user, "someone", message_id, "❤️");
        r["message_author_id"] = json!(fake.config().app_id.to_string());
        r
    };
    let alice = MemberId(DEFAULT_USER_ID);
    fake.dispatch("MESSAGE_REACTION_ADD", on_render(BOB)).await;
    fake.dispatch("MESSAGE_REACTION_ADD", on_render(DEFAULT_USER_ID))
        .await;
    let mut liked = Vec::new();
    for _ in 0..polls(20) {
        liked = store
            .liked_prompts(guild, alice, "reacted", 5)
            .await
            .expect("liked");
        if !liked.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(liked, vec!["a cat".to_owned()]);
    assert!(store
        .liked_prompts(guild, MemberId(BOB), "reacted", 5)
        .await
        .unwrap()
        .is_empty());
    let mut removed = on_render(DEFAULT_USER_ID);
    // As Discord sends it: no member, no message author.
    for key in ["member", "message_author_id"] {
        removed.as_object_mut().expect("object").remove(key);
    }
    fake.dispatch("MESSAGE_REACTION_REMOVE", removed).await;
    for _ in 0..polls(20) {
        liked = store
            .liked_prompts(guild, alice, "reacted", 5)
            .await
            .unwrap();
        if liked.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(liked.is_empty(), "removed with the reaction");
    // The removed reaction also counts down Alice's reactions in that channel (2 → 1).
    let mut reacted = 0;
    for _ in 0..polls(20) {
        reacted = edges(&store, guild)
            .await
            .iter()
            .find(|e| e.0 == DEFAULT_USER_ID && e.1 == "reacted")
            .map_or(0, |e| e.3);
        if reacted == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reacted, 1);
    fake.dispatch("MESSAGE_REACTION_ADD", on_render(DEFAULT_USER_ID))
        .await;

    // Bob opts in with /persona consent on; then Alice's reply to Bob counts, both ways.
    let reply = run_command(
        fake,
        950_000_000_000_000_020,
        BOB,
        "persona",
        vec![opt_sub("consent", vec![opt_int("state", 0)])],
    )
    .await;
    assert_eq!(reply["data"]["flags"], 64);
    fake.dispatch(
        "MESSAGE_CREATE",
        msg(
            fake,
            960_000_000_000_000_021,
            DEFAULT_USER_ID,
            Some(BOB),
            &[BOB],
        ),
    )
    .await;
    fake.dispatch(
        "MESSAGE_CREATE",
        msg(
            fake,
            960_000_000_000_000_023,
            BOB,
            Some(DEFAULT_USER_ID),
            &[],
        ),
    )
    .await;
    let got = wait_flushed(&store, guild, 8).await;
    assert!(
        got.contains(&(DEFAULT_USER_ID, "replied", BOB, 1)),
        "{got:?}"
    );
    assert!(
        got.contains(&(DEFAULT_USER_ID, "mentioned", BOB, 1)),
        "{got:?}"
    );
    assert!(
        got.contains(&(BOB, "replied", DEFAULT_USER_ID, 1)),
        "{got:?}"
    );
    assert!(
        got.contains(&(DEFAULT_USER_ID, "posted", channel, 3)),
        "{got:?}"
    );

    // A channel rename updates its node.
    let mut renamed = fake_discord::fixtures::guild_create(fake.config())["channels"][0].clone();
    renamed["name"] = json!("watercolor-club");
    renamed["topic"] = json!("paint together");
    fake.dispatch("CHANNEL_UPDATE", renamed).await;
    let mut node = None;
    for _ in 0..polls(20) {
        node = store
            .guild_nodes(guild)
            .await
            .unwrap()
            .into_iter()
            .find(|n| n.node_id == channel);
        if node.as_ref().is_some_and(|n| n.name == "watercolor-club") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let node = node.expect("the channel node");
    assert_eq!(
        (node.name.as_str(), node.topic.as_deref()),
        ("watercolor-club", Some("paint together"))
    );

    // Bob forgets: confirm button, then no row anywhere mentions him.
    store
        .add_persona(guild, MemberId(BOB), "edited", "I love boats", None)
        .await
        .unwrap();
    let reply = run_command(
        fake,
        950_000_000_000_000_030,
        BOB,
        "persona",
        vec![opt_sub("forget", vec![])],
    )
    .await;
    assert_eq!(
        reply["data"]["components"][0]["components"][0]["custom_id"],
        "zipp-forget:confirm"
    );
    assert!(
        !rows_mentioning(&setup.db, kind, BOB).await.is_empty(),
        "Bob has data before"
    );
    let answer = press(fake, 950_000_000_000_000_031, BOB, "zipp-forget:confirm").await;
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("deleted"),
        "{answer}"
    );
    assert_eq!(
        rows_mentioning(&setup.db, kind, BOB).await,
        Vec::<String>::new()
    );
    // Alice's own edges stay; those pointing at Bob are gone.
    let got = edges(&store, guild).await;
    assert!(got.iter().all(|e| e.0 != BOB && e.2 != BOB), "{got:?}");
    assert!(
        got.contains(&(DEFAULT_USER_ID, "posted", channel, 3)),
        "{got:?}"
    );

    // Consent off: Alice's recorded activity is deleted and new events are ignored.
    run_command(
        fake,
        950_000_000_000_000_040,
        DEFAULT_USER_ID,
        "persona",
        vec![opt_sub("consent", vec![opt_int("state", 1)])],
    )
    .await;
    let before = handled(&app);
    fake.dispatch(
        "MESSAGE_CREATE",
        msg(fake, 960_000_000_000_000_041, DEFAULT_USER_ID, None, &[]),
    )
    .await;
    settled(&app, before, 1).await;
    assert!(edges(&store, guild).await.is_empty());
    assert!(
        store
            .liked_prompts(guild, alice, "reacted", 5)
            .await
            .unwrap()
            .is_empty(),
        "consent off deletes the feedback too"
    );

    assert!(fake.unhandled_requests().is_empty());
    assert_openapi_valid(fake);
    let _ = EdgeKind::ALL;
    setup.finish(app).await;
}

on_both_databases!(consent_ingestion_and_forget);

/// Counts still in memory are written when the bot shuts down cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_counts_survive_a_clean_shutdown() {
    let setup = Setup::new(Db::Sqlite, 1).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.ingest.flush_ms = 3_600_000;
    let app = setup.start(config.clone(), true, 0).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    app.store
        .set_consent(guild, MemberId(DEFAULT_USER_ID), true)
        .await
        .unwrap();
    let before = handled(&app);
    for i in 0..5 {
        fake.dispatch(
            "MESSAGE_CREATE",
            msg(
                fake,
                970_000_000_000_000_001 + i,
                DEFAULT_USER_ID,
                None,
                &[],
            ),
        )
        .await;
    }
    let ingestor = app.ingestor.as_ref().expect("the bot runs");
    tokio::time::timeout(WAIT, ingestor.handled_at_least(before + 5))
        .await
        .expect("the events are handled");
    assert!(
        edges(&app.store, guild).await.is_empty(),
        "nothing flushed yet"
    );
    setup.guard.assert_none();
    app.shutdown().await;
    let store = Store::connect(&config.database.url, 1)
        .await
        .expect("reopen");
    let got = edges(&store, guild).await;
    assert!(
        got.contains(&(DEFAULT_USER_ID, "posted", fake.config().channel_id, 5)),
        "{got:?}"
    );
    store.close().await;
    setup.db.cleanup().await;
}

/// A server with history backfill on (at most `pages` pages per member) and, before anyone
/// consented: one message of Alice's 40 days old, then 120 recent ones by her, 5 by Bob replying
/// to her (recorded live: none, as nobody consents yet).
async fn backfill_server(kind: Db, pages: usize) -> (Setup, App) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    // No timed flush: recorded activity reaches the store only at the backfill's own final
    // flush (or a test's explicit one), so seeing it there means the backfill is over.
    config.ingest.flush_ms = 3_600_000;
    config.ingest.backfill_days = 30;
    config.ingest.backfill_messages = 500;
    config.ingest.backfill_page_ms = 0;
    config.ingest.backfill_pages = pages;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    app.store
        .change_guild_setting(
            guild,
            zipp::store::GuildSetting::HistoryBackfill,
            Some("on"),
            MemberId(1),
        )
        .await
        .expect("setting");
    let now = zipp::store::now_ms() / 1000;
    let at = |secs_ago: i64| {
        serenity::model::Timestamp::from_unix_timestamp(now - secs_ago)
            .expect("timestamp")
            .to_string()
    };
    let mut events = Vec::new();
    let mut old = msg(fake, 980_000_000_000_000_000, DEFAULT_USER_ID, None, &[]);
    old["timestamp"] = json!(at(40 * 86_400));
    events.push(old);
    for i in 0..120u64 {
        let mut m = msg(
            fake,
            980_000_000_000_000_010 + i,
            DEFAULT_USER_ID,
            None,
            &[],
        );
        m["timestamp"] = json!(at(3600 * (120 - i as i64)));
        events.push(m);
    }
    for i in 0..5u64 {
        let mut m = msg(
            fake,
            980_000_000_000_000_200 + i,
            BOB,
            Some(DEFAULT_USER_ID),
            &[],
        );
        m["timestamp"] = json!(at(60));
        events.push(m);
    }
    let (before, count) = (handled(&app), events.len() as u64);
    fake.dispatch_many("MESSAGE_CREATE", events).await;
    settled(&app, before, count).await;
    assert!(edges(&app.store, guild).await.is_empty());
    (setup, app)
}

/// The channel-history pages the bot has read so far.
fn history_pages(fake: &FakeDiscord) -> usize {
    let channel = fake.config().channel_id;
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/channels/{channel}/messages")))
        .count()
}

/// Waits until Alice's `posted` edge counts `n` messages, and returns the server's edges.
async fn posted_by_alice(
    store: &Store,
    guild: GuildId,
    n: i64,
) -> Vec<(u64, &'static str, u64, i64)> {
    let mut got = Vec::new();
    for _ in 0..polls(25) {
        got = edges(store, guild).await;
        if got.iter().any(|e| e.1 == "posted" && e.3 >= n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    got
}

/// History backfill: with `/config backfill on`, consenting also records the metadata of the
/// member's messages of the last `backfill_days` (paged through the channel history), and the
/// consent prompt says so; other members' messages and older ones are left out. It runs once
/// per member: consenting again, even after a withdrawal, reads no history.
async fn history_backfill(kind: Db) {
    let (setup, app) = backfill_server(kind, 100).await;
    let fake = &setup.fake;
    let store = app.store.clone();
    let guild = GuildId(fake.config().guild_id);
    let channel = fake.config().channel_id;

    // The consent prompt of the first /imagine says how far back it reaches.
    let (_, token) = dispatch_imagine(
        fake,
        981_000_000_000_000_001,
        vec![opt_str("prompt", "a cat")],
        |b| b,
    )
    .await;
    let webhook = webhook_path(fake.config().app_id, &token);
    let prompt = fake
        .wait_for_request("consent prompt", WAIT, |r| {
            r.method == "POST"
                && r.path == webhook
                && r.json.as_ref().is_some_and(|j| j["flags"] == 64)
        })
        .await
        .expect("a consent prompt");
    let text = prompt.json.expect("json")["content"]
        .as_str()
        .expect("content")
        .to_owned();
    assert!(
        text.ends_with("for your messages of the last 30 days."),
        "{text}"
    );
    press(
        fake,
        981_000_000_000_000_002,
        DEFAULT_USER_ID,
        "zipp-consent:yes",
    )
    .await;
    // 120 recent messages over two pages of history; the 40-day-old one and Bob's are left out.
    let got = posted_by_alice(&store, guild, 120).await;
    assert_eq!(got, vec![(DEFAULT_USER_ID, "posted", channel, 120)]);
    assert_eq!(history_pages(fake), 2, "100 + 26 messages");
    let alice = MemberId(DEFAULT_USER_ID);
    let marker = store
        .backfill_claimed_at(guild, alice)
        .await
        .expect("read")
        .expect("the backfill is marked");

    // Consenting again (the button of an old prompt) changes nothing and reads nothing.
    let answer = press(
        fake,
        981_000_000_000_000_003,
        DEFAULT_USER_ID,
        "zipp-consent:yes",
    )
    .await;
    assert!(
        answer["data"]["content"]
            .as_str()
            .is_some_and(|t| t.starts_with("You already allow zipp")),
        "{answer}"
    );
    // Withdrawing deletes what the backfill recorded; consenting once more records live activity
    // from now on but starts no second backfill.
    press(
        fake,
        981_000_000_000_000_004,
        DEFAULT_USER_ID,
        "zipp-consent:no",
    )
    .await;
    assert!(edges(&store, guild).await.is_empty());
    press(
        fake,
        981_000_000_000_000_005,
        DEFAULT_USER_ID,
        "zipp-consent:yes",
    )
    .await;
    let (before, live) = (
        handled(&app),
        msg(fake, 982_000_000_000_000_001, DEFAULT_USER_ID, None, &[]),
    );
    fake.dispatch_many("MESSAGE_CREATE", vec![live]).await;
    settled(&app, before, 1).await;
    let posted: Vec<_> = edges(&store, guild)
        .await
        .into_iter()
        .filter(|e| e.1 == "posted")
        .collect();
    assert_eq!(
        posted,
        vec![(DEFAULT_USER_ID, "posted", channel, 1)],
        "the live message only"
    );
    assert_eq!(
        store.backfill_claimed_at(guild, alice).await.expect("read"),
        Some(marker),
        "no second backfill was claimed"
    );
    assert_eq!(history_pages(fake), 2, "no second backfill");
    assert!(fake.unhandled_requests().is_empty());
    setup.finish(app).await;
}

on_both_databases!(history_backfill);

/// The page cap: a member's backfill reads at most `ingest.backfill_pages` pages of history.
async fn backfill_page_cap(kind: Db) {
    let (setup, app) = backfill_server(kind, 1).await;
    let fake = &setup.fake;
    let guild = GuildId(fake.config().guild_id);
    press(
        fake,
        983_000_000_000_000_001,
        DEFAULT_USER_ID,
        "zipp-consent:yes",
    )
    .await;
    // The newest page: Bob's 5 messages and 95 of Alice's.
    let got = posted_by_alice(&app.store, guild, 95).await;
    assert_eq!(
        got,
        vec![(DEFAULT_USER_ID, "posted", fake.config().channel_id, 95)]
    );
    // The backfill is over (its final flush stored the edges): it read one page.
    assert_eq!(history_pages(fake), 1);
    setup.finish(app).await;
}

on_both_databases!(backfill_page_cap);
