//! The LLM verbalizer and its fallbacks.

use serde_json::Value;
use zipp::ids::{GuildId, MemberId};
use zipp::lifecycle::seed::seed_from_graph;

use super::*;

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
        .map(|m| zipp::verbalize::estimate_tokens(m["content"].as_str().unwrap()))
        .sum();
    assert!(tokens <= 300, "{tokens}");
    // The same sources again: no new version, and the LLM is not asked again.
    let calls = ok.hits.load(std::sync::atomic::Ordering::SeqCst);
    let again = personas
        .refresh(guild, member, false)
        .await
        .expect("refresh");
    assert!(
        matches!(&again, zipp::lifecycle::Refresh::Unchanged(q) if q.id == p.id),
        "{again:?}"
    );
    assert_eq!(ok.hits.load(std::sync::atomic::Ordering::SeqCst), calls);
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
