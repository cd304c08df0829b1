//! Forget during inference: the verbalizer has finished (the slow part: an LLM call of up to a
//! minute) and the persona is about to be stored when the member is forgotten — nothing is
//! stored. Another member's inference, unpaused, stores theirs (the control).

use zipp::lifecycle::seed::seed_from_graph;
use zipp::lifecycle::Refresh;

use super::*;

async fn forget_during_inference(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let ckpt = setup.dir.path().join("encoder");
    let (graph, _) = trained_checkpoint(&ckpt);
    let mut config = setup.config();
    config.persona.checkpoint = ckpt;
    config.persona.infer_every_s = 0;
    let app = setup.start(config, true, 0).await;
    wait_registered(&setup.fake).await;
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
