//! Forget during inference: the verbalizer has finished (the slow part: an LLM call of up to a
//! minute) and the persona is about to be stored when the member is forgotten — nothing is
//! stored. Another member's inference, unpaused, stores theirs (the control). And a look at
//! the checkpoint while another one loads it waits for that load.

use zipp::lifecycle::seed::seed_from_graph;
use zipp::lifecycle::Refresh;

use super::*;

async fn forget_during_inference(kind: Db) {
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
    let inferring = tokio::spawn({
        let personas = std::sync::Arc::clone(&personas);
        let member = members[0];
        async move { personas.refresh(guild, member, false).await }
    });
    reached.wait().await;
    consent.forget(guild, members[0]).await.expect("forget");
    resume.wait().await;
    let outcome = inferring.await.expect("task").expect("refresh");
    assert!(matches!(outcome, Refresh::NoConsent), "{outcome:?}");
    assert!(app
        .store
        .latest_persona(guild, members[0], "inferred")
        .await
        .expect("read")
        .is_none());
    assert!(app
        .store
        .active_persona(guild, members[0])
        .await
        .expect("read")
        .is_none());

    let control = personas
        .refresh(guild, members[1], false)
        .await
        .expect("refresh");
    assert!(matches!(control, Refresh::Activated(_)), "{control:?}");
    setup.finish(app).await;
}

on_both_databases!(forget_during_inference);

/// Two looks at a new checkpoint at once (the schedule's, and a test's or the trainer's): the
/// second returns only once the first has loaded it, never "nothing new" while the encoder is
/// not there yet. `join!` polls the first look until it awaits the load, then the second.
#[tokio::test]
async fn a_second_look_waits_for_the_load_in_flight() {
    let db = TestDb::new(Db::Sqlite).await;
    let store = zipp::store::Store::connect(&db.url, 2)
        .await
        .expect("store");
    let dir = tempfile::tempdir().expect("tempdir");
    let ckpt = dir.path().join("encoder");
    trained_checkpoint(&ckpt);
    let catalog_file = dir.path().join("models.toml");
    std::fs::write(&catalog_file, "[llm.template]\nbackend = \"template\"\n").expect("catalog");
    let catalog = zipp::models::Catalog::load(&catalog_file).expect("catalog");
    let rewriters = std::sync::Arc::new(zipp::rewrite::registry::Rewriters::new(
        &catalog,
        &zipp::config::RewriteConfig::default(),
        zipp::rewrite::template::counter(|t: &str| t.split_whitespace().count()),
    ));
    let personas = zipp::lifecycle::PersonaService::new(
        store.clone(),
        zipp::config::PersonaSettings {
            checkpoint: ckpt,
            ..zipp::config::PersonaSettings::default()
        },
        rewriters,
        None,
        0,
    )
    .expect("service");
    let second = async {
        let loaded = personas.reload_if_newer().await;
        (loaded, personas.encoder_loaded())
    };
    let (first, (second, there)) = tokio::join!(personas.reload_if_newer(), second);
    assert!(first, "the first look loads it");
    assert!(!second, "loaded once");
    assert!(
        there,
        "the second look returned before the encoder was there"
    );
    store.close().await;
    db.cleanup().await;
}
