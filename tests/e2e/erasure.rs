//! `forget` erases a member completely. The scan is generated from the schema: every column of
//! every table whose name says it holds a member id (`*member_id`, `target_id`, `user_id`,
//! `author_id`, `*_by`) is checked for the member, so a table added later is covered without
//! editing this test. The member's data is written through the real store paths first — in the
//! server and in DMs — and the scan must find it before, and nothing after.

use zipp::ids::{GuildId, MemberId};
use zipp::store::{Compare, EdgeDelta, EdgeKind, GuildSetting, NewJob, PickOutcome, Side, Store};

use crate::harness::*;

const ALICE: u64 = 400_000_000_000_000_001;
const BOB: u64 = 400_000_000_000_000_002;

fn is_member_column(name: &str) -> bool {
    name.ends_with("member_id")
        || name.ends_with("_by")
        || ["target_id", "user_id", "author_id"].contains(&name)
}

/// Rows per `table.column` holding `member`, over every member-id column of the schema.
async fn rows_of(db: &TestDb, kind: Db, member: u64) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for (table, column) in schema_columns(db, kind).await {
        if !is_member_column(&column) {
            continue;
        }
        let sql = format!(
            "SELECT COUNT(*) FROM {table} WHERE {column} = {}",
            member as i64
        );
        out.push((format!("{table}.{column}"), db_count(db, kind, &sql).await));
    }
    out
}

fn inferred(member: MemberId, text: &str) -> zipp::store::NewInferred {
    zipp::store::NewInferred {
        member,
        text: text.to_owned(),
        evidence: None,
    }
}

fn job(interaction: u64, guild: Option<GuildId>, compare: bool) -> NewJob {
    NewJob {
        guild_id: guild,
        member_id: MemberId(ALICE),
        rendered_prompt: "a cat, watercolor".to_owned(),
        rewrite_kind: "template".to_owned(),
        compare: compare.then(|| Compare {
            generic_prompt: "a cat".to_owned(),
            persona_side: Side::Left,
        }),
        ..new_job(interaction)
    }
}

/// Renders `new` through the queue (lease, complete) and returns its id.
async fn rendered(store: &Store, new: &NewJob) -> zipp::ids::JobId {
    let queued = store.enqueue(new).await.expect("enqueue");
    let leased = store.lease("w", 60_000).await.expect("lease").expect("job");
    assert_eq!(leased.job.id, queued.id);
    assert!(store
        .complete(queued.id, "w", b"png", 1, 1, 1)
        .await
        .expect("complete"));
    queued.id
}

async fn forget_leaves_nothing(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 4).await.expect("store");
    let guild = GuildId(77);
    let (alice, bob) = (MemberId(ALICE), MemberId(BOB));
    store
        .set_consent(guild, alice, true)
        .await
        .expect("consent");
    store.set_consent(guild, bob, true).await.expect("consent");
    let at = zipp::store::now_ms();
    let stored = store
        .add_edges(&[
            EdgeDelta {
                guild_id: guild,
                member_id: alice,
                kind: EdgeKind::Posted,
                target_id: 5,
                count: 3,
                last_at: at,
            },
            EdgeDelta {
                guild_id: guild,
                member_id: bob,
                kind: EdgeKind::Replied,
                target_id: ALICE,
                count: 1,
                last_at: at,
            },
        ])
        .await
        .expect("edges");
    assert_eq!(stored, 2);
    store
        .add_persona(guild, alice, "edited", "I love cats.", None)
        .await
        .expect("persona");
    store
        .set_member_settings(
            guild,
            alice,
            zipp::store::MemberSettings {
                aspect: Some(zipp::store::Aspect::Wide16x9),
                persona_mode: Some(zipp::store::PersonaMode::Off),
                image_count: Some(4),
            },
        )
        .await
        .expect("settings");
    assert!(matches!(
        store
            .add_inferred_personas(guild, &[inferred(alice, "I like watercolor.")])
            .await
            .expect("inferred")[..],
        [zipp::store::InferredWrite::Activated(_) | zipp::store::InferredWrite::Kept(_)]
    ));
    let in_guild = rendered(&store, &job(1, Some(guild), false)).await;
    let in_dm = rendered(&store, &job(2, None, false)).await;
    let compared = rendered(&store, &job(3, Some(guild), true)).await;
    assert!(store
        .add_image_embedding(in_guild, Some(guild), alice, &[0.5; 4])
        .await
        .expect("embedding"));
    store.set_job_message(in_guild, 900).await.expect("message");
    assert!(store
        .record_feedback(guild, 900, alice, "reacted")
        .await
        .expect("feedback")
        .is_some());
    assert!(matches!(
        store
            .record_pick(compared, alice, Side::Left)
            .await
            .expect("pick"),
        PickOutcome::Recorded { .. }
    ));
    assert!(store
        .add_member_image(guild, alice, &[0.25; 4])
        .await
        .expect("image"));
    store
        .change_guild_setting(guild, GuildSetting::Llm, Some("template"), alice)
        .await
        .expect("setting");
    store
        .add_blocked(guild, "red cat", alice, 10)
        .await
        .expect("blocklist");
    assert!(store.job(in_dm).await.expect("read").is_some());

    let before = rows_of(&db, kind, ALICE).await;
    let tables: std::collections::BTreeSet<&str> = before
        .iter()
        .map(|(c, _)| c.split('.').next().unwrap_or(c))
        .collect();
    let holding = before.iter().filter(|(_, n)| *n > 0).count();
    println!(
        "forget scan ({kind:?}): {} member columns in {} tables; {holding} hold the member before",
        before.len(),
        tables.len()
    );
    assert!(tables.len() >= 14, "the scan sees the schema: {tables:?}");
    for column in [
        "consents.member_id",
        "member_edges.member_id",
        "member_edges.target_id",
        "personas.member_id",
        "persona_active.member_id",
        "render_jobs.member_id",
        "rendered_images.member_id",
        "image_embeddings.member_id",
        "render_feedback.member_id",
        "compare_picks.member_id",
        "member_images.member_id",
        "config_audit.member_id",
        "guild_settings.updated_by",
        "guild_blocklist.added_by",
        "member_turns.member_id",
    ] {
        assert!(
            before.iter().any(|(c, n)| c == column && *n > 0),
            "{column} holds the member before forget: {before:?}"
        );
    }

    let erased = store.forget_member(guild, alice).await.expect("forget");
    let after = rows_of(&db, kind, ALICE).await;
    let left: Vec<_> = after.iter().filter(|(_, n)| *n > 0).collect();
    assert!(
        left.is_empty(),
        "left after forget: {left:?} (erased {erased:?})"
    );
    println!(
        "forget scan ({kind:?}): 0 rows left in {} columns",
        after.len()
    );
    // Bob's own data stays (his reply to alice is about her, and went).
    assert!(store.consent(guild, bob).await.expect("read") == Some(true));

    // Without consent now, every insert of alice's data stores nothing — the store's rule.
    let compared = rendered(&store, &job(4, Some(guild), true)).await;
    assert!(matches!(
        store
            .record_pick(compared, alice, Side::Right)
            .await
            .expect("pick"),
        PickOutcome::NotKept { .. }
    ));
    assert!(!store
        .add_image_embedding(compared, Some(guild), alice, &[0.5; 4])
        .await
        .expect("embedding"));
    store.set_job_message(compared, 901).await.expect("message");
    assert!(store
        .record_feedback(guild, 901, alice, "reacted")
        .await
        .expect("feedback")
        .is_none());
    assert!(!store
        .add_member_image(guild, alice, &[0.25; 4])
        .await
        .expect("image"));
    assert_eq!(
        store
            .add_inferred_personas(guild, &[inferred(alice, "I like rain.")])
            .await
            .expect("inferred"),
        vec![zipp::store::InferredWrite::NoConsent]
    );
    let edges = store
        .add_edges(&[
            EdgeDelta {
                guild_id: guild,
                member_id: alice,
                kind: EdgeKind::Posted,
                target_id: 5,
                count: 1,
                last_at: at,
            },
            EdgeDelta {
                guild_id: guild,
                member_id: bob,
                kind: EdgeKind::Replied,
                target_id: ALICE,
                count: 1,
                last_at: at,
            },
        ])
        .await
        .expect("edges");
    assert_eq!(edges, 0, "neither her counts nor a reply to her");
    // A DM render is never evidence, even with consent.
    store
        .set_consent(guild, alice, true)
        .await
        .expect("consent");
    let dm = rendered(&store, &job(5, None, false)).await;
    assert!(!store
        .add_image_embedding(dm, None, alice, &[0.5; 4])
        .await
        .expect("embedding"));
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(forget_leaves_nothing);
