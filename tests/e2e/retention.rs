//! Retention: the sweep deletes what the policy no longer keeps — old PNGs, old finished jobs
//! with what hangs off them, expired interaction tokens, old persona versions (never the active
//! one), old added images — and keeps everything younger. A server the bot is removed from (a
//! GUILD_DELETE that is not an outage) is erased after the grace period; an outage or being added
//! back erases nothing. Rows are backdated with SQL, so no test waits for time to pass.

use std::time::Duration;

use fake_discord::fixtures::guild_create;
use serde_json::json;
use zipp::ids::{GuildId, JobId, MemberId};
use zipp::store::{NewJob, RetentionPolicy, Store};

use crate::harness::*;

const DAY: i64 = 86_400_000;

fn job(interaction: u64, guild: GuildId) -> NewJob {
    NewJob {
        guild_id: Some(guild),
        max_attempts: 1,
        ..new_job(interaction)
    }
}

async fn rendered(store: &Store, interaction: u64, guild: GuildId) -> JobId {
    let id = store
        .enqueue(&job(interaction, guild))
        .await
        .expect("enqueue")
        .id;
    let leased = store.lease("w", 60_000).await.expect("lease").expect("job");
    assert_eq!(leased.job.id, id);
    assert!(store
        .complete(id, "w", b"png", 1, 1, 1)
        .await
        .expect("complete"));
    assert!(store
        .claim_delivery(id, "bot", 60_000)
        .await
        .expect("claim"));
    assert!(store
        .mark_delivered(id, "bot", "interaction")
        .await
        .expect("mark"));
    id
}

async fn sweep_keeps_only_what_the_policy_allows(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 4).await.expect("store");
    let guild = GuildId(5);
    let member = MemberId(3);
    store
        .set_consent(guild, member, true)
        .await
        .expect("consent");
    let policy = RetentionPolicy {
        images_ms: 7 * DAY,
        jobs_ms: 90 * DAY,
        tokens_ms: 16 * 60_000,
        persona_history_ms: 180 * DAY,
        added_images_ms: 365 * DAY,
        guild_grace_ms: 30 * DAY,
    };
    // Three delivered renders: fresh, 10 days old (image goes, job stays), 100 days old (all goes).
    let fresh = rendered(&store, 1, guild).await;
    let ten = rendered(&store, 2, guild).await;
    let hundred = rendered(&store, 3, guild).await;
    for (id, days) in [(ten, 10), (hundred, 100)] {
        let back = days * DAY;
        db_execute(
            &db,
            kind,
            &format!(
                "UPDATE render_jobs SET created_at = created_at - {back}, finished_at = finished_at - {back}, \
                 delivered_at = delivered_at - {back} WHERE id = {}",
                id.0
            ),
        )
        .await;
    }
    assert!(store
        .add_image_embedding(hundred, Some(guild), member, &[1.0; 4])
        .await
        .expect("embedding"));
    // Persona history: an old inactive version goes, an old active one stays.
    let old_inactive = store
        .add_persona(guild, member, "edited", "I like rain.", None)
        .await
        .expect("persona");
    let active = store
        .add_persona(guild, member, "edited", "I like neon.", None)
        .await
        .expect("persona");
    db_execute(
        &db,
        kind,
        &format!(
            "UPDATE personas SET created_at = created_at - {}",
            200 * DAY
        ),
    )
    .await;
    assert!(store
        .add_member_image(guild, member, &[0.5; 4])
        .await
        .expect("image"));
    db_execute(
        &db,
        kind,
        &format!(
            "UPDATE member_images SET created_at = created_at - {}",
            400 * DAY
        ),
    )
    .await;
    assert!(store
        .add_member_image(guild, member, &[0.25; 4])
        .await
        .expect("image"));

    let done = store.sweep_retention(&policy).await.expect("sweep");
    let deleted = |table: &str| {
        done.iter()
            .filter(|(t, _)| *t == table)
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    assert_eq!(deleted("render_jobs"), 1, "{done:?}");
    assert_eq!(deleted("image_embeddings"), 1, "{done:?}");
    assert_eq!(deleted("personas"), 1, "{done:?}");
    assert_eq!(deleted("member_images"), 1, "{done:?}");
    assert!(
        store.job(hundred).await.expect("read").is_none(),
        "old job gone"
    );
    let ten_job = store
        .job(ten)
        .await
        .expect("read")
        .expect("10-day job kept");
    assert_eq!(ten_job.interaction_token, "", "an expired token is blanked");
    assert!(
        store.rendered_image(ten).await.expect("read").is_none(),
        "its PNG is gone"
    );
    assert!(
        store.rendered_image(fresh).await.expect("read").is_some(),
        "a fresh PNG stays"
    );
    let fresh_job = store.job(fresh).await.expect("read").expect("fresh job");
    assert_eq!(fresh_job.interaction_token, "tok-1", "a live token stays");
    assert!(store
        .persona(old_inactive.id)
        .await
        .expect("read")
        .is_none());
    assert!(
        store.persona(active.id).await.expect("read").is_some(),
        "the active version stays"
    );
    assert_eq!(
        db_count(&db, kind, "SELECT COUNT(*) FROM member_images").await,
        1,
        "the recent added image stays"
    );
    // A second sweep finds nothing more.
    let again = store.sweep_retention(&policy).await.expect("sweep");
    assert!(again.iter().all(|(_, n)| *n == 0), "{again:?}");
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(sweep_keeps_only_what_the_policy_allows);

/// Every table with a `guild_id` column, from the schema.
async fn guild_tables(db: &TestDb, kind: Db) -> Vec<String> {
    schema_columns(db, kind)
        .await
        .into_iter()
        .filter(|(_, column)| column == "guild_id")
        .map(|(table, _)| table)
        .collect()
}

/// Removed from a server: an outage (`unavailable`) changes nothing; a real removal starts the
/// grace period; being added back cancels it; removed again and past the grace period, every
/// row of the server is erased — the check covers every table with a `guild_id`, from the schema.
async fn a_server_that_removes_the_bot_is_erased_after_the_grace_period(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    let guild = GuildId(fake.config().guild_id);
    let departures = format!(
        "SELECT COUNT(*) FROM guild_departures WHERE guild_id = {}",
        guild.0
    );
    // Something of the server's, through the real paths.
    let (_, token) = dispatch_imagine(
        fake,
        975_000_000_000_000_001,
        vec![fake_discord::fixtures::opt_str("prompt", "a red fox")],
        |b| b,
    )
    .await;
    image_of(fake, &token).await;
    app.store
        .add_persona(
            guild,
            MemberId(fake_discord::fixtures::DEFAULT_USER_ID),
            "edited",
            "I like foxes.",
            None,
        )
        .await
        .expect("persona");

    let outage = json!({"id": guild.0.to_string(), "unavailable": true});
    fake.dispatch("GUILD_DELETE", outage).await;
    let removed = json!({"id": guild.0.to_string()});
    fake.dispatch("GUILD_DELETE", removed.clone()).await;
    // Events are handled in order: the removal's row appears after the outage was handled.
    let mut seen = 0;
    for _ in 0..polls(10) {
        seen = db_count(&setup.db, kind, &departures).await;
        if seen == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen, 1, "a removal starts the grace period");
    fake.dispatch("GUILD_CREATE", guild_create(fake.config()))
        .await;
    for _ in 0..polls(10) {
        seen = db_count(&setup.db, kind, &departures).await;
        if seen == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen, 0, "added back: the erasure is cancelled");
    fake.dispatch("GUILD_DELETE", removed).await;
    for _ in 0..polls(10) {
        seen = db_count(&setup.db, kind, &departures).await;
        if seen == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen, 1);

    let policy = zipp::sweep::policy(&setup.config());
    let done = app.store.sweep_retention(&policy).await.expect("sweep");
    assert!(
        done.iter()
            .all(|(t, n)| !t.starts_with("guild_") || *n == 0),
        "within the grace period nothing is erased: {done:?}"
    );
    db_execute(
        &setup.db,
        kind,
        &format!(
            "UPDATE guild_departures SET left_at = left_at - {}",
            31 * DAY
        ),
    )
    .await;
    app.store.sweep_retention(&policy).await.expect("sweep");
    let tables = guild_tables(&setup.db, kind).await;
    assert!(tables.len() >= 14, "{tables:?}");
    for table in tables {
        let left = db_count(
            &setup.db,
            kind,
            &format!("SELECT COUNT(*) FROM {table} WHERE guild_id = {}", guild.0),
        )
        .await;
        assert_eq!(left, 0, "{table} still holds the server's rows");
    }
    setup.finish(app).await;
}

on_both_databases!(a_server_that_removes_the_bot_is_erased_after_the_grace_period);
