//! The persona's image taste (issue 17): where the encoder places a member in image space,
//! read against the vocabulary's phrases, joins the evidence. Without phrase embeddings (no
//! CLIP) there is none; with them every member the encoder places gets one, members without a
//! single image of their own included, it names their planted taste, and `/persona show`
//! says where it came from.

use zipp::lifecycle::seed::{member_id, seed_from_graph, seed_images, synthetic_text_tower};
use zipp::verbalize::{PersonaEvidence, Vocabulary};

use super::*;

fn evidence(p: &zipp::store::Persona) -> PersonaEvidence {
    serde_json::from_str(p.evidence.as_deref().expect("evidence")).expect("evidence json")
}

async fn image_taste_names_what_the_graph_knows(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let (app, graph, truth) = bot_with_encoder(&setup).await;
    let guild = GuildId(setup.fake.config().guild_id);
    let other = GuildId(guild.0 + 1);
    let personas = app.personas.clone().expect("persona service");
    personas.reload_if_newer().await;
    assert!(personas.encoder_loaded());
    let mut members = Vec::new();
    for g in [other, guild] {
        members = seed_from_graph(&app.store, g, &graph, zipp::store::now_ms())
            .await
            .expect("seeded");
        assert!(seed_images(&app.store, g, &graph).await.expect("images") > 0);
    }

    // No CLIP, no phrase embeddings: no image taste.
    let run = personas.infer_guild(other).await.expect("pass");
    assert_eq!(run.activated, members.len(), "{run:?}");
    for &m in &members {
        let p = app
            .store
            .active_persona(other, m)
            .await
            .expect("read")
            .expect("persona");
        assert!(evidence(&p).image_taste.is_empty(), "{m}: {:?}", p.evidence);
    }

    // The vocabulary in the community's image space: every member gets an image taste.
    let vocab = Vocabulary::bundled();
    let tower = synthetic_text_tower(&vocab, &truth, graph.image_dim().expect("images"));
    assert!(
        !personas.set_phrase_embeddings(tower[1..].to_vec()),
        "one per phrase"
    );
    assert!(personas.set_phrase_embeddings(tower.clone()));
    assert!(!personas.set_phrase_embeddings(tower), "set once");
    let run = personas.infer_guild(guild).await.expect("pass");
    assert_eq!(run.activated, members.len(), "{run:?}");
    let names_a_planted_taste = |i: usize, phrases: &[String]| {
        truth.member_mixture[i].iter().any(|&(t, _)| {
            truth.tastes[t]
                .descriptors
                .iter()
                .any(|d| phrases.iter().any(|p| p.contains(d.as_str())))
        })
    };
    let (mut placed, mut named, mut cold, mut cold_named) = (0, 0, 0, 0);
    for (i, &m) in members.iter().enumerate() {
        let p = app
            .store
            .active_persona(guild, m)
            .await
            .expect("read")
            .expect("persona");
        let e = evidence(&p);
        assert!(e.image_taste.len() <= 3, "{:?}", e.image_taste);
        placed += usize::from(!e.image_taste.is_empty());
        let hit = usize::from(names_a_planted_taste(i, &e.image_taste));
        named += hit;
        if truth.cold_start.contains(&(i as u32)) {
            cold += 1;
            cold_named += hit;
        }
    }
    let n = members.len();
    assert!(placed * 10 >= n * 9, "{placed} of {n} placed");
    // Four planted tastes: a phrase at random would name one about a third of the time.
    assert!(named * 10 >= n * 7, "{named} of {n} name a planted taste");
    assert!(cold > 0);
    assert!(
        cold_named * 10 >= cold * 6,
        "{cold_named} of {cold} members without images name a planted taste"
    );

    // `/persona show` says where it came from.
    let (i, member) = members
        .iter()
        .enumerate()
        .find(|&(i, _)| truth.cold_start.contains(&(i as u32)))
        .map(|(i, &m)| (i, m))
        .expect("a member without images");
    assert_eq!(member, member_id(i as u32));
    let shown = ephemeral(
        &persona(
            &setup.fake,
            950_000_000_000_000_001,
            member.0,
            "en-US",
            "show",
            vec![],
        )
        .await,
    );
    assert!(
        shown.contains("as the persona encoder places you"),
        "{shown}"
    );
    setup.finish(app).await;
}

on_both_databases!(image_taste_names_what_the_graph_knows);
