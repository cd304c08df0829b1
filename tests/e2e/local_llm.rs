//! The `local` backend inside the bot: a server switches to an embedded GGUF model with
//! `/config llm`; the model loads in the background (members get the template meanwhile), then
//! rewrites `/imagine` prompts. Run with a tiny generated GGUF and with the real SmolLM2.

use std::time::{Duration, Instant};

use fake_discord::fixtures::{opt_str, opt_sub, InteractionBuilder, DEFAULT_USER_ID};
use fake_discord::FakeDiscord;
use zipp::ids::{GuildId, MemberId};

use crate::harness::*;

/// Manage Server (0x20) plus the usual member permissions.
const MODERATOR: &str = "1071698660961";

/// The rendered prompt and the rewrite kind of an `/imagine`: as stored (with the reason of a
/// failure) and as the public reply shows it (without).
async fn rewrite_kind(
    fake: &FakeDiscord,
    app: &zipp::app::App,
    id: u64,
    prompt: &str,
) -> (String, String) {
    let (_, token) = dispatch_imagine(fake, id, vec![opt_str("prompt", prompt)], |b| b).await;
    let followup = image_of(fake, &token).await;
    let mut stored = None;
    for n in 1.. {
        let job = app
            .store
            .job(zipp::ids::JobId(n))
            .await
            .expect("read")
            .expect("the job is stored");
        if job.interaction_id.0 == id {
            stored = Some(job.rewrite_kind);
            break;
        }
    }
    let stored = stored.expect("found");
    assert_eq!(
        field(&followup, "Rewrite"),
        zipp::rewrite::public_kind(&stored),
        "shown without the reason"
    );
    (field(&followup, "Prompt rendered"), stored)
}

/// SQLite only: the database plays no part in this path (both databases run every store test).
async fn local_llm_chosen_by_moderators(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let tiny = setup.dir.path().join("tiny.gguf");
    zipp_llm::write_tiny_gguf(&tiny, 7).expect("tiny GGUF");
    let mut catalog = std::fs::read_to_string(&setup.catalog).expect("read");
    catalog.push_str(&format!(
        "\n[llm.tiny-local]\nbackend = \"local\"\npath = {:?}\n\
         \n[llm.smollm2]\nbackend = \"local\"\npath = {:?}\n",
        tiny.display().to_string(),
        test_gguf().display().to_string(),
    ));
    std::fs::write(&setup.catalog, catalog).expect("write");
    let mut config = setup.config();
    config.rewrite.max_tokens = 24;
    // Generous: the suite runs tests in parallel on 2 cores; latency is measured in bench_rewrite.
    config.rewrite.budget_ms = 120_000;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;
    app.store
        .add_persona(
            GuildId(fake.config().guild_id),
            MemberId(DEFAULT_USER_ID),
            "questionnaire",
            "I paint watercolor landscapes and love the sea.",
            None,
        )
        .await
        .expect("persona");

    let mut id = 940_000_000_000_000_000;
    for model in ["tiny-local", "smollm2"] {
        id += 100;
        let token = format!("token-{id}");
        let event = InteractionBuilder::new(fake.config(), id, &token)
            .member_permissions(MODERATOR)
            .command("config", vec![opt_sub("llm", vec![opt_str("name", model)])]);
        assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
        let callback = callback_path(id, &token);
        let reply = fake
            .wait_for_request("config reply", WAIT, |r| r.path == callback)
            .await
            .expect("the change is confirmed");
        let text = reply
            .json
            .as_ref()
            .and_then(|j| j["data"]["content"].as_str())
            .unwrap_or("");
        assert!(text.contains(model), "/config llm {model}: {text}");
        // The model loads in the background; until then the template answers.
        let started = Instant::now();
        let (rendered, kind) = loop {
            id += 1;
            let (rendered, kind) = rewrite_kind(fake, &app, id, "a lighthouse on a cliff").await;
            if !kind.contains("model loading") {
                break (rendered, kind);
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{model} never loaded"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        println!("{model}: {rendered:?} [{kind}]");
        // Loaded: the model answered; its answer was accepted or rejected by the post-checks
        // (the tiny model writes noise), never lost to a load failure or the budget.
        assert!(
            kind == format!("llm (local ({model}))") || kind.starts_with("template (llm failed: "),
            "{kind}"
        );
        for bad in ["unavailable", "timeout", "panicked", "model loading"] {
            assert!(!kind.contains(bad), "{kind}");
        }
        assert!(rendered.to_lowercase().contains("lighthouse"), "{rendered}");
    }
    for request in fake.requests() {
        assert_mentions_nobody(&request);
    }
    setup.finish(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_llm_chosen_by_moderators_sqlite() {
    local_llm_chosen_by_moderators(Db::Sqlite).await;
}
