//! Persona inference at server scale (issue 17): a scheduled pass reads its members' inputs in
//! batches and writes their versions in one transaction per batch — consent re-checked in every
//! insert, an edit made while the batch was verbalized never replaced — and a member's refresh
//! embeds their sampled neighbourhood, which gives exactly the whole-server result when the
//! fan-out covers every degree.

use zipp::lifecycle::seed::{seed_from_graph, seed_images};
use zipp::lifecycle::snapshot;
use zipp::store::{InferredWrite, NewInferred, Store};
use zipp_gat::graph::EdgeType;

use super::*;

fn inferred(member: MemberId, text: &str) -> NewInferred {
    NewInferred {
        member,
        text: text.to_owned(),
        evidence: Some("{}".to_owned()),
    }
}

/// Many members per query and per transaction, each with their own rows and consent.
async fn batched_reads_and_writes(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 2).await.expect("store");
    let guild = GuildId(1);
    let (alice, bob, carol) = (MemberId(11), MemberId(12), MemberId(13));
    for m in [alice, bob] {
        store.set_consent(guild, m, true).await.expect("consent");
    }
    let mut interaction = 0;
    for (member, n) in [(alice, 4), (bob, 2), (carol, 1)] {
        for i in 1..=n {
            interaction += 1;
            let job = zipp::store::NewJob {
                guild_id: Some(guild),
                member_id: member,
                prompt: format!("prompt {i} of {member}"),
                ..new_job(interaction)
            };
            store.enqueue(&job).await.expect("enqueue");
        }
    }
    // Bob wrote his own persona; Carol never consented.
    store
        .add_persona(guild, bob, "edited", "my own words", None)
        .await
        .expect("edit");
    let written = store
        .add_inferred_personas(
            guild,
            &[
                inferred(alice, "alice inferred"),
                inferred(bob, "bob inferred"),
                inferred(carol, "carol inferred"),
            ],
        )
        .await
        .expect("write");
    assert!(
        matches!(&written[0], InferredWrite::Activated(p) if p.member_id == alice && p.version == 1),
        "{written:?}"
    );
    assert!(
        matches!(&written[1], InferredWrite::Kept(p) if p.member_id == bob && p.version == 2),
        "{written:?}"
    );
    assert_eq!(written[2], InferredWrite::NoConsent);
    let active = store
        .active_persona(guild, bob)
        .await
        .expect("read")
        .expect("active");
    assert_eq!(active.text, "my own words", "the edit stays in use");
    assert!(store
        .active_persona(guild, carol)
        .await
        .expect("read")
        .is_none());

    let inputs = store
        .persona_inputs(guild, &[alice, bob, carol], 3, 0)
        .await
        .expect("inputs");
    let a = &inputs[&alice];
    assert_eq!(
        a.prompts,
        vec![
            format!("prompt 4 of {alice}"),
            format!("prompt 3 of {alice}"),
            format!("prompt 2 of {alice}"),
        ],
        "the newest three, newest first"
    );
    assert_eq!(
        a.latest_inferred.as_ref().map(|p| p.text.as_str()),
        Some("alice inferred")
    );
    let b = &inputs[&bob];
    assert_eq!(
        b.prompts,
        vec![format!("prompt 2 of {bob}"), format!("prompt 1 of {bob}")]
    );
    assert_eq!(
        b.latest_inferred
            .as_ref()
            .map(|p| (p.version, p.text.as_str())),
        Some((2, "bob inferred")),
        "the newest inferred version, not the edit"
    );
    assert!(
        !inputs.contains_key(&carol),
        "nothing of a member without consent: {:?}",
        inputs.get(&carol)
    );
    // More members than one query's list: every one is read.
    let many: Vec<MemberId> = (0..1200).map(|i| MemberId(100_000 + i)).collect();
    let mut with_alice = many.clone();
    with_alice.push(alice);
    let inputs = store
        .persona_inputs(guild, &with_alice, 3, 0)
        .await
        .expect("inputs");
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[&alice].prompts.len(), 3);
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(batched_reads_and_writes);

/// A member's neighbourhood with a fan-out above every degree gives the encoder exactly the
/// embedding and attention the whole server gives; a small fan-out bounds it.
async fn neighbourhood_matches_the_server(kind: Db) {
    let db = TestDb::new(kind).await;
    let store = Store::connect(&db.url, 2).await.expect("store");
    let dir = tempfile::tempdir().expect("tempdir");
    let (graph, _) = trained_checkpoint(dir.path());
    let (model, _) = checkpoint::load(dir.path(), &candle_core::Device::Cpu).expect("load");
    let guild = GuildId(7);
    let now = zipp::store::now_ms();
    let members = seed_from_graph(&store, guild, &graph, now)
        .await
        .expect("seeded");
    let images = seed_images(&store, guild, &graph).await.expect("images");
    assert!(images > 0);
    let device = candle_core::Device::Cpu;
    let full = snapshot::snapshot(&store, guild, now)
        .await
        .expect("snapshot");
    let whole = zipp_gat::infer::infer(&model, &full.graph, 5, &device).expect("infer");
    let embeddings = whole.embeddings.to_vec2::<f32>().expect("embeddings");
    let mut compared = 0;
    for &member in members.iter().step_by(9) {
        let near = snapshot::neighbourhood(&store, guild, member, 100_000, now)
            .await
            .expect("neighbourhood");
        let (i, j) = (
            full.index_of(member).expect("in the server"),
            near.index_of(member).expect("in its neighbourhood"),
        );
        let local = zipp_gat::infer::infer(&model, &near.graph, 5, &device).expect("infer");
        let mine = local.embeddings.to_vec2::<f32>().expect("embeddings");
        let gap = embeddings[i]
            .iter()
            .zip(&mine[j])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(gap < 1e-4, "{member}: embedding differs by {gap}");
        let (a, b) = (&whole.evidence[i], &local.evidence[j]);
        let names = |e: &zipp_gat::infer::MemberEvidence| {
            (
                e.channels
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>(),
                e.roles.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(names(a), names(b), "{member}: the same evidence");
        for (x, y) in a.channels.iter().zip(&b.channels) {
            assert!(
                (x.weight - y.weight).abs() < 1e-5,
                "{member}: {x:?} vs {y:?}"
            );
        }
        assert!((a.self_weight - b.self_weight).abs() < 1e-5);
        assert_eq!(a.has_images, b.has_images);
        compared += 1;

        // Fan-out 2: every edge of the member, at most 2 more into each of its channels and
        // roles, at most 2 + 2 around each partner.
        let small = snapshot::neighbourhood(&store, guild, member, 2, now)
            .await
            .expect("neighbourhood");
        let j = small.index_of(member).expect("in its neighbourhood") as u32;
        let own: Vec<_> = small
            .graph
            .edges
            .iter()
            .filter(|e| e.src == j || (e.edge_type == EdgeType::Replied && e.dst == j))
            .collect();
        let degree = full
            .graph
            .edges
            .iter()
            .filter(|e| {
                e.src == i as u32 || (e.edge_type == EdgeType::Replied && e.dst == i as u32)
            })
            .count();
        assert_eq!(own.len(), degree, "{member}: the first hop is complete");
        let first_hop = own.len();
        assert!(
            small.graph.edges.len() <= first_hop * (1 + 4),
            "{member}: {} edges for {first_hop} first-hop edges",
            small.graph.edges.len()
        );
        assert!(small.graph.edges.len() < full.graph.edges.len());
        let again = snapshot::neighbourhood(&store, guild, member, 2, now)
            .await
            .expect("neighbourhood");
        assert_eq!(
            again.members, small.members,
            "the same sample for the same data"
        );
    }
    assert!(compared >= 10, "{compared}");
    store.close().await;
    db.cleanup().await;
}

on_both_databases!(neighbourhood_matches_the_server);

/// A scheduled pass paused after verbalizing, before its batch's write: one member withdraws,
/// another writes their own persona. The write stores nothing for the first, keeps the second's
/// edit in use, and activates everyone else's — all in the same batch.
async fn pass_rechecks_consent_and_edits_at_the_write(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let (app, graph, _) = bot_with_encoder(&setup).await;
    let guild = GuildId(setup.fake.config().guild_id);
    let members = seed_from_graph(&app.store, guild, &graph, zipp::store::now_ms())
        .await
        .expect("seeded");
    let personas = app.personas.clone().expect("persona service");
    personas.reload_if_newer().await;
    let consent = app.consent.clone().expect("consent service");

    let (pause, reached, resume) = one_shot_pause();
    personas.pause_before_write(pause);
    let pass = tokio::spawn({
        let personas = std::sync::Arc::clone(&personas);
        async move { personas.infer_guild(guild).await }
    });
    reached.wait().await;
    let (gone, editor) = (members[0], members[1]);
    consent.forget(guild, gone).await.expect("forget");
    app.store
        .add_persona(guild, editor, "edited", "I paint lighthouses.", None)
        .await
        .expect("edit");
    resume.wait().await;
    let run = pass.await.expect("task").expect("pass");
    assert_eq!(run.members, members.len(), "{run:?}");
    assert_eq!(run.kept, 1, "{run:?}");
    assert_eq!(run.activated, members.len() - 2, "{run:?}");
    assert!(app
        .store
        .latest_persona(guild, gone, "inferred")
        .await
        .expect("read")
        .is_none());
    let active = app
        .store
        .active_persona(guild, editor)
        .await
        .expect("read")
        .expect("active");
    assert_eq!(active.text, "I paint lighthouses.");
    assert!(app
        .store
        .latest_persona(guild, editor, "inferred")
        .await
        .expect("read")
        .is_some());
    setup.finish(app).await;
}

on_both_databases!(pass_rechecks_consent_and_edits_at_the_write);
