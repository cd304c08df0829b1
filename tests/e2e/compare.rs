//! The ZIPP rewrite in `/imagine`: the member's persona (from the store) conditions the prompt
//! with the server's LLM; `persona:off` skips it; `persona:compare` renders both side by side,
//! the requester picks, and `/stats` reports the persona win rate with its Wilson interval.

use fake_discord::fixtures::{opt_int, opt_str, DEFAULT_USER_ID};
use fake_discord::FakeDiscord;
use serde_json::Value;
use zipp::ids::{GuildId, JobId, MemberId};
use zipp::store::Side;

use crate::harness::*;

const OTHER_USER: u64 = 400_000_000_000_000_777;

async fn ephemeral_reply(
    fake: &FakeDiscord,
    id: u64,
    command: &str,
    options: Vec<Value>,
) -> String {
    let json = run_command(fake, id, OTHER_USER, command, options).await;
    assert_eq!(json["type"], 4, "{json}");
    assert_eq!(json["data"]["flags"], 64, "ephemeral: {json}");
    json["data"]["content"]
        .as_str()
        .expect("content")
        .to_owned()
}

async fn persona_rewrite_and_compare(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let app = setup.start_bot(1).await;
    let guild = GuildId(fake.config().guild_id);
    let alice = MemberId(DEFAULT_USER_ID);
    // Picks are evidence of taste: kept only for a consenting member.
    app.consent
        .as_ref()
        .expect("consent service")
        .grant(guild, alice)
        .await
        .expect("consent");
    let persona = app
        .store
        .add_persona(
            guild,
            alice,
            "questionnaire",
            "I hike in nature every weekend and paint watercolors.",
            None,
        )
        .await
        .expect("persona stored");

    // Persona on (the default): the template LLM adds descriptors from the persona.
    let (_, token) = dispatch_imagine(
        fake,
        910_000_000_000_000_001,
        vec![opt_str("prompt", "a red fox")],
        |b| b,
    )
    .await;
    let followup = image_of(fake, &token).await;
    let rendered = field(&followup, "Prompt rendered");
    assert!(
        rendered.starts_with("a red fox, ") && rendered.contains("natural light"),
        "{rendered}"
    );
    assert_eq!(field(&followup, "Rewrite"), "template");
    let job = app.store.job(JobId(1)).await.expect("read").expect("job 1");
    assert_eq!(job.persona_id, Some(persona.id));

    // persona:off renders the prompt as typed (choice index 1).
    let (_, token) = dispatch_imagine(
        fake,
        910_000_000_000_000_002,
        vec![opt_str("prompt", "a red fox"), opt_int("persona", 1)],
        |b| b,
    )
    .await;
    let followup = image_of(fake, &token).await;
    assert_eq!(field(&followup, "Prompt rendered"), "a red fox");
    assert_eq!(field(&followup, "Rewrite"), "unchanged");

    // persona:compare (index 2): one image, both renders, buttons.
    let (_, token) = dispatch_imagine(
        fake,
        910_000_000_000_000_003,
        vec![
            opt_str("prompt", "a red fox"),
            opt_int("seed", 7),
            opt_int("persona", 2),
        ],
        |b| b,
    )
    .await;
    let followup = image_of(fake, &token).await;
    let png =
        image::load_from_memory(&followup.file("files[0]").expect("file").bytes).expect("png");
    assert_eq!(
        (png.width(), png.height()),
        (64 + 8 + 64, 64),
        "two 64×64 renders and a gap"
    );
    let job = app.store.job(JobId(3)).await.expect("read").expect("job 3");
    let compare = job.compare.clone().expect("a compare job");
    assert_eq!(compare.generic_prompt, "a red fox");
    let (persona_field, generic_field) = match compare.persona_side {
        Side::Left => ("Left", "Right"),
        Side::Right => ("Right", "Left"),
    };
    assert_eq!(field(&followup, generic_field), "a red fox");
    assert_eq!(field(&followup, persona_field), job.rendered_prompt);
    assert_ne!(job.rendered_prompt, "a red fox");
    let message = followup.response_json.clone().expect("the posted message");
    let buttons: Vec<String> = message
        .pointer("/components/0/components")
        .and_then(Value::as_array)
        .expect("a button row")
        .iter()
        .map(|b| b["custom_id"].as_str().expect("custom_id").to_owned())
        .collect();
    assert_eq!(buttons, ["zipp-pick:3:left", "zipp-pick:3:right"]);

    // Someone else cannot pick.
    let answer = press_button(
        fake,
        910_000_000_000_000_010,
        OTHER_USER,
        &buttons[0],
        &message,
    )
    .await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64);
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Only the member"),
        "{answer}"
    );
    // The requester picks the persona side: buttons disabled, the pick highlighted.
    let persona_button = format!("zipp-pick:3:{}", compare.persona_side.as_str());
    let answer = press_button(
        fake,
        910_000_000_000_000_011,
        DEFAULT_USER_ID,
        &persona_button,
        &message,
    )
    .await;
    assert_eq!(answer["type"], 7, "an update of the message: {answer}");
    let row = &answer["data"]["components"][0]["components"];
    assert!(
        row.as_array()
            .unwrap()
            .iter()
            .all(|b| b["disabled"] == true),
        "{answer}"
    );
    let picked = row
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["custom_id"] == persona_button.as_str())
        .unwrap();
    assert_eq!(picked["style"], 3, "success style on the pick");
    // The result's other buttons stay under it.
    let others: Vec<&str> = answer["data"]["components"][1]["components"]
        .as_array()
        .expect("the result's buttons")
        .iter()
        .filter_map(|b| b["custom_id"].as_str())
        .collect();
    assert!(
        others[0] == "zipp-reroll:3" && others[1] == "zipp-info:3",
        "{others:?}"
    );
    // A second pick does not count.
    let other_side = format!("zipp-pick:3:{}", compare.persona_side.other().as_str());
    let answer = press_button(
        fake,
        910_000_000_000_000_012,
        DEFAULT_USER_ID,
        &other_side,
        &message,
    )
    .await;
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("already picked"),
        "{answer}"
    );

    let stats = app.store.compare_stats(guild).await.expect("stats");
    assert_eq!((stats.persona_wins, stats.picks), (1, 1));
    // The pick becomes a few-shot example: prompt → the preferred (persona) rewrite.
    let examples = app
        .store
        .preferred_rewrites(guild, alice, 3)
        .await
        .expect("examples");
    assert_eq!(
        examples,
        vec![("a red fox".to_owned(), job.rendered_prompt.clone())]
    );

    // /stats, for anyone in the server.
    let text = ephemeral_reply(fake, 910_000_000_000_000_020, "stats", vec![]).await;
    assert_eq!(
        text,
        "Persona images won 100% of 1 comparisons (1 wins; 95% interval 21–100%)."
    );

    // Compare needs a persona: bob has none → a polite refusal, nothing queued.
    let text = ephemeral_reply(
        fake,
        910_000_000_000_000_021,
        "imagine",
        vec![opt_str("prompt", "a red fox"), opt_int("persona", 2)],
    )
    .await;
    assert!(text.contains("needs a persona"), "{text}");
    assert!(app.store.job(JobId(4)).await.expect("read").is_none());

    for request in fake.requests() {
        assert_mentions_nobody(&request);
    }
    assert!(fake.unhandled_requests().is_empty());
    assert_openapi_valid(fake);
    setup.finish(app).await;
}

on_both_databases!(persona_rewrite_and_compare);
