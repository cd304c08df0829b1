//! The persona lifecycle end to end, and the bot without a checkpoint.

use fake_discord::fixtures::{opt_int, opt_str, DEFAULT_USER_ID};
use serde_json::Value;
use zipp::i18n::I18n;
use zipp::ids::{GuildId, MemberId};
use zipp::lifecycle::seed::seed_from_graph;

use super::*;

async fn persona_lifecycle(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let ckpt = setup.dir.path().join("encoder");
    let (graph, truth) = trained_checkpoint(&ckpt);
    let mut config = setup.config();
    config.persona.checkpoint = ckpt.clone();
    config.persona.infer_every_s = 0;
    config.persona.train_epochs = 2;
    config.ingest.flush_ms = 50;
    let app = setup.start(config, true, 1).await;
    wait_registered(fake).await;
    let guild = GuildId(fake.config().guild_id);
    let alice = MemberId(DEFAULT_USER_ID);
    seed_from_graph(&app.store, guild, &graph, zipp::store::now_ms())
        .await
        .expect("seeded");
    let i18n = I18n::load().expect("texts");
    let mut id = 930_000_000_000_000_000u64;
    let mut next = || {
        id += 1;
        id
    };

    // A member who consents from the prompt of their first /imagine: what they typed before
    // consenting is not evidence (the server has no history backfill); what they type after is.
    let (_, token) = dispatch_imagine(
        fake,
        next(),
        vec![opt_str("prompt", "a quiet meadow at dawn")],
        |b| b.user(CAROL, "carol"),
    )
    .await;
    image_of(fake, &token).await;
    component(fake, next(), CAROL, "zipp-consent:yes", None).await;
    let (_, token) = dispatch_imagine(
        fake,
        next(),
        vec![opt_str("prompt", "a neon cyberpunk city in the rain")],
        |b| b.user(CAROL, "carol"),
    )
    .await;
    image_of(fake, &token).await;
    let personas = app.personas.clone().expect("persona service");
    let refreshed = personas
        .refresh(guild, MemberId(CAROL), false)
        .await
        .expect("refresh");
    let carols = match refreshed {
        // The inference started by the consent itself may have stored it first.
        zipp::lifecycle::Refresh::Activated(p) | zipp::lifecycle::Refresh::Unchanged(p) => p,
        other => panic!("carol's persona is inferred after consent: {other:?}"),
    };
    assert_eq!(carols.source, "inferred");
    assert!(carols.text.contains("cyberpunk"), "{}", carols.text);
    assert!(
        !carols.text.contains("meadow"),
        "a prompt typed before consent is not evidence: {}",
        carols.text
    );

    // Nothing yet, and nothing is inferred without consent.
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "show", vec![]).await);
    assert!(
        text.starts_with("You have no persona in this server yet."),
        "{text}"
    );
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert!(text.starts_with("zipp can only infer a persona"), "{text}");

    // Consent; consenting again changes nothing and says so.
    let consent_on = |id: u64, user: u64| async move {
        ephemeral(
            &persona(
                fake,
                id,
                user,
                "en-US",
                "consent",
                vec![opt_int("state", 0)],
            )
            .await,
        )
    };
    let text = consent_on(next(), DEFAULT_USER_ID).await;
    assert!(text.starts_with("Thanks!"), "{text}");
    let text = consent_on(next(), DEFAULT_USER_ID).await;
    assert!(text.starts_with("You already allow zipp"), "{text}");

    // A member with no activity yet: nothing to infer, and the refresh still pays its cooldown
    // (a refresh that finds nothing ran the encoder all the same).
    const DAVE: u64 = 400_000_000_000_000_004;
    let text = consent_on(next(), DAVE).await;
    assert!(text.starts_with("Thanks!"), "{text}");
    // The consent started an inference; another one waits for the cooldown (withdrawing and
    // consenting again in a loop cannot run the encoder more often).
    assert!(!personas.on_consent(guild, MemberId(DAVE)));
    let text = refresh(fake, next(), DAVE).await;
    assert!(text.contains("not seen enough of your activity"), "{text}");
    let text = refresh(fake, next(), DAVE).await;
    assert_eq!(
        text,
        "You refreshed your persona recently. You can refresh again in 60 min."
    );

    // Alice is active in two channels of one planted taste.
    let taste = truth.channel_taste[0];
    let same: Vec<u32> = (0..graph.channels.len() as u32)
        .filter(|&c| truth.channel_taste[c as usize] == taste)
        .collect();
    activity(fake, &app, guild, same[0], 6, 950_000_000_000_000_000).await;
    activity(fake, &app, guild, same[1], 3, 950_000_000_000_000_100).await;
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert_eq!(
        text,
        "Done: zipp inferred a new persona for you (version 1). See it with /persona show."
    );
    let inferred = app
        .store
        .active_persona(guild, alice)
        .await
        .expect("read")
        .expect("an active persona");
    assert_eq!(
        (inferred.version, inferred.source.as_str()),
        (1, "inferred")
    );
    assert!(
        names_taste(&inferred.text, &truth, taste),
        "{} / {:?}",
        inferred.text,
        truth.tastes[taste]
    );
    assert!(inferred.text.chars().count() <= 600);
    let evidence: Value =
        serde_json::from_str(inferred.evidence.as_deref().expect("evidence")).expect("json");
    assert_eq!(evidence["verbalizer"], "offline");
    let top = evidence["channels"][0]["name"]
        .as_str()
        .expect("a channel")
        .to_owned();
    assert!(
        same.iter().any(|&c| graph.channels[c as usize].name == top),
        "the heaviest channel {top} is one alice posted in"
    );

    // /persona show: the text, its source, and why.
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "show", vec![]).await);
    assert!(
        text.starts_with("**Your persona** — version 1, inferred from your activity, <t:"),
        "{text}"
    );
    assert!(
        text.contains(&format!("> {}", inferred.text.lines().next().unwrap())),
        "{text}"
    );
    assert!(text.contains(&format!("#{top}")), "{text}");
    assert!(text.ends_with("(skip it with persona: off)."), "{text}");

    // /imagine uses it: the rendered prompt changes, the reply names the version, and its
    // button opens the persona for alice only.
    let (_, token) =
        dispatch_imagine(fake, next(), vec![opt_str("prompt", "a red fox")], |b| b).await;
    let followup = image_of(fake, &token).await;
    let rendered = field(&followup, "Prompt rendered");
    assert!(
        rendered.starts_with("a red fox, ") && rendered.len() > "a red fox, ".len(),
        "{rendered}"
    );
    assert_eq!(
        field(&followup, "Persona"),
        "version 1 (inferred from your activity)"
    );
    let button = |n: usize| {
        followup
            .json
            .as_ref()
            .and_then(|j| j.pointer(&format!("/components/0/components/{n}/custom_id")))
            .and_then(Value::as_str)
            .expect("a button")
            .to_owned()
    };
    let (reroll, info, plain, open) = (button(0), button(1), button(2), button(3));
    assert!(reroll.starts_with("zipp-reroll:"), "{reroll}");
    assert!(plain.starts_with("zipp-plain:"), "{plain}");
    assert_eq!(open, format!("zipp-persona-open:{}", inferred.id));
    // Info: how the image was made, for its owner only, without the persona's text.
    assert!(info.starts_with("zipp-info:"), "{info}");
    let answer = component(fake, next(), BOB, &info, None).await;
    assert_eq!(
        ephemeral(&answer),
        "Only the member who made this image can see its details."
    );
    let answer = component(fake, next(), DEFAULT_USER_ID, &info, None).await;
    let details = ephemeral(&answer);
    assert!(
        details.starts_with("**About this image** — model tiny, seed "),
        "{details}"
    );
    assert!(
        details.contains("\nPrompt as typed: `a red fox`\n"),
        "{details}"
    );
    assert!(
        details.contains(&format!("\nPrompt rendered: `{rendered}`\n")),
        "{details}"
    );
    assert!(details.contains("\nNegative prompt: none\n"), "{details}");
    assert!(
        details.ends_with("\nPersona: version 1 (inferred from your activity)"),
        "{details}"
    );
    // Without persona: the same seed, the prompt as typed.
    let press = next();
    let answer = component(fake, press, DEFAULT_USER_ID, &plain, None).await;
    assert_eq!(answer["type"], 5, "deferred: {answer}");
    let plain_webhook = webhook_path(fake.config().app_id, &format!("token-{press}"));
    let without = fake
        .wait_for_request("the image without persona", WAIT, |r| {
            is_image_delivery(r, &plain_webhook)
        })
        .await
        .expect("delivered");
    assert_eq!(field(&without, "Prompt rendered"), "a red fox");
    assert_eq!(field(&without, "Seed"), field(&followup, "Seed"));
    let answer = component(fake, next(), BOB, &open, None).await;
    assert_eq!(
        ephemeral(&answer),
        "Only the member who made this image can open the persona it used."
    );
    let answer = component(fake, next(), DEFAULT_USER_ID, &open, None).await;
    assert!(ephemeral(&answer).contains(&inferred.text), "{answer}");
    // Bob sees only his own (none).
    let text = ephemeral(&persona(fake, next(), BOB, "en-US", "show", vec![]).await);
    assert!(text.starts_with("You have no persona"), "{text}");
    assert!(!text.contains(&inferred.text));

    // The cooldown.
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert_eq!(
        text,
        "You refreshed your persona recently. You can refresh again in 60 min."
    );

    // /persona edit: a modal prefilled with the current text.
    let modal = persona(fake, next(), DEFAULT_USER_ID, "en-US", "edit", vec![]).await;
    assert_eq!(modal["type"], 9, "{modal}");
    assert_eq!(modal["data"]["custom_id"], "zipp-persona-edit");
    let input = &modal["data"]["components"][0]["components"][0];
    assert_eq!(input["value"], inferred.text.as_str());
    assert_eq!(input["max_length"], 1000);
    // What the modal refuses, with a clear answer and nothing lost.
    let long = "a".repeat(4000);
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-edit",
        &[("persona", &long)],
    )
    .await;
    let body = reply.json.clone().expect("json");
    assert!(
        ephemeral(&body).starts_with("That persona is 4000 characters long; the limit is 1000."),
        "{body}"
    );
    let file = reply
        .file("files[0]")
        .expect("the text comes back as a file");
    assert_eq!(file.bytes, long.as_bytes());
    let shorter = "b".repeat(1200);
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-edit",
        &[("persona", &shorter)],
    )
    .await;
    let text = ephemeral(&reply.json.clone().expect("json"));
    assert!(
        text.contains(&format!("```\n{shorter}\n```")),
        "short enough to quote: {text}"
    );
    for blank in [
        "   \n\t  ",
        "\u{200b}\u{200d}\u{feff}\u{2060}",
        "<@123456789012345678> <@&42>",
    ] {
        let reply = submit(
            fake,
            next(),
            DEFAULT_USER_ID,
            "zipp-persona-edit",
            &[("persona", blank)],
        )
        .await;
        let text = ephemeral(&reply.json.clone().expect("json"));
        assert!(
            text.starts_with("That persona is empty"),
            "{blank:?}: {text}"
        );
    }
    assert_eq!(
        app.store
            .persona_history(guild, alice, 50)
            .await
            .expect("history")
            .len(),
        1,
        "nothing refused was stored"
    );
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-edit",
        &[("persona", "I love @everyone, @here and <@123456789012345678>: rainy noir alleys and jazz.\u{200b}")],
    )
    .await;
    let text = ephemeral(&reply.json.clone().expect("json"));
    assert!(
        text.starts_with("Saved: your persona is now version 2"),
        "{text}"
    );
    let edited = app
        .store
        .active_persona(guild, alice)
        .await
        .expect("read")
        .expect("persona");
    assert_eq!(edited.source, "edited");
    assert!(
        !edited.text.contains('@')
            && !edited.text.contains('<')
            && !edited.text.contains('\u{200b}'),
        "{}",
        edited.text
    );
    assert!(
        edited.text.contains("rainy noir alleys and jazz."),
        "{}",
        edited.text
    );

    // Inference never overwrites an edit: new activity elsewhere, a scheduled pass stores a
    // new inferred version behind the edit.
    let other = (0..graph.channels.len() as u32)
        .find(|&c| truth.channel_taste[c as usize] != taste)
        .expect("another taste");
    activity(fake, &app, guild, other, 30, 950_000_000_000_000_200).await;
    let personas = app.personas.as_ref().expect("persona service");
    let run = personas
        .infer_guild(guild)
        .await
        .expect("scheduled inference");
    assert_eq!(
        run.members,
        graph.members.len() + 3,
        "every consenting member (alice, carol, dave and the seeded ones)"
    );
    assert!(run.kept >= 1, "{run:?}");
    assert!(
        run.activated >= graph.members.len() - 10,
        "the seeded members get personas: {run:?}"
    );
    let active = app
        .store
        .active_persona(guild, alice)
        .await
        .expect("read")
        .expect("persona");
    assert_eq!(active.id, edited.id, "the edit stays in use");
    let newest = app
        .store
        .latest_persona(guild, alice, "inferred")
        .await
        .expect("read")
        .expect("inferred");
    assert_eq!(newest.version, 3);
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "show", vec![]).await);
    assert!(text.contains("version 2, written by you"), "{text}");
    assert!(text.contains("until you run /persona reset"), "{text}");
    // The same evidence again adds no version.
    let again = personas.refresh(guild, alice, false).await.expect("again");
    assert!(
        matches!(&again, zipp::lifecycle::Refresh::Unchanged(p) if p.id == newest.id),
        "{again:?}"
    );

    // /persona reset: back to the newest inferred version.
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "reset", vec![]).await);
    assert_eq!(
        text,
        "Back to the inferred persona (version 3); /imagine uses it from now on."
    );
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "reset", vec![]).await);
    assert_eq!(text, "You are already using the inferred persona.");

    // /persona history: every version, the active one marked, a menu to restore one.
    let json = persona(fake, next(), DEFAULT_USER_ID, "en-US", "history", vec![]).await;
    let text = ephemeral(&json);
    assert!(
        text.starts_with("Your persona versions, newest first:"),
        "{text}"
    );
    assert!(
        text.contains("**v3** · inferred from your activity") && text.contains("(in use)"),
        "{text}"
    );
    assert!(text.contains("**v2** · written by you"), "{text}");
    let options: Vec<String> = json
        .pointer("/data/components/0/components/0/options")
        .and_then(Value::as_array)
        .expect("a select menu")
        .iter()
        .map(|o| o["value"].as_str().expect("value").to_owned())
        .collect();
    assert_eq!(options.len(), 3);
    let answer = component(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona:restore",
        Some(&[&edited.id.to_string()]),
    )
    .await;
    assert_eq!(answer["type"], 7, "{answer}");
    assert_eq!(
        answer["data"]["content"],
        "Restored version 2; /imagine uses it from now on."
    );
    assert_eq!(
        app.store
            .active_persona(guild, alice)
            .await
            .unwrap()
            .unwrap()
            .id,
        edited.id
    );
    // Bob cannot restore alice's version with a forged menu value.
    let answer = component(
        fake,
        next(),
        BOB,
        "zipp-persona:restore",
        Some(&[&inferred.id.to_string()]),
    )
    .await;
    assert_eq!(ephemeral(&answer), "That persona version no longer exists.");
    assert!(app
        .store
        .active_persona(guild, MemberId(BOB))
        .await
        .unwrap()
        .is_none());

    // /persona setup: the questionnaire.
    let modal = persona(fake, next(), DEFAULT_USER_ID, "en-US", "setup", vec![]).await;
    assert_eq!(modal["type"], 9, "{modal}");
    assert_eq!(
        modal["data"]["components"].as_array().map(Vec::len),
        Some(4)
    );
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-setup",
        &[
            ("who", "a night-shift nurse from Lyon."),
            ("work", ""),
            ("love", "jazz and my two cats"),
            ("visual", "muted colours, film grain"),
        ],
    )
    .await;
    assert!(
        ephemeral(&reply.json.clone().unwrap()).starts_with("Saved: your persona is now version 4")
    );
    let q = app
        .store
        .active_persona(guild, alice)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(q.source, "questionnaire");
    assert_eq!(
        q.text,
        "I am a night-shift nurse from Lyon. I love jazz and my two cats. Visually, I like muted colours, film grain."
    );
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-setup",
        &[("who", " "), ("love", "\u{200b}")],
    )
    .await;
    assert!(ephemeral(&reply.json.clone().unwrap()).starts_with("That persona is empty"));

    // Replies follow the member's locale (Discord's es-419 is served by es-ES).
    for (discord_locale, shipped) in [
        ("de", "de"),
        ("ja", "ja"),
        ("es-419", "es-ES"),
        ("pt-BR", "pt-BR"),
        ("fr", "fr"),
    ] {
        let text = ephemeral(&persona(fake, next(), BOB, discord_locale, "show", vec![]).await);
        assert_eq!(text, i18n.tr(shipped, "persona-none", None));
        assert_ne!(text, i18n.tr("en-US", "persona-none", None));
    }

    // Training on the collected graphs writes a new checkpoint, which the bot then loads.
    let auc = personas
        .train_now()
        .await
        .expect("training")
        .expect("data to train on");
    assert!(auc.is_finite());
    assert!(
        personas.reload_if_newer().await,
        "the new checkpoint is loaded"
    );
    assert!(!personas.reload_if_newer().await, "once");

    assert!(
        fake.unhandled_requests().is_empty(),
        "{:?}",
        fake.unhandled_requests()
    );
    assert_openapi_valid(fake);
    setup.finish(app).await;
}

on_both_databases!(persona_lifecycle);

/// Without a checkpoint the bot still works: inference is reported unavailable, members can
/// write personas; moderators turning inference off is reported too.
async fn no_checkpoint(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    // A folder with no checkpoint in it (yet).
    config.persona.checkpoint = setup.dir.path().join("missing");
    let app = setup.start(config, true, 0).await;
    wait_registered(fake).await;
    let mut id = 940_000_000_000_000_000u64;
    let mut next = || {
        id += 1;
        id
    };
    ephemeral(
        &persona(
            fake,
            next(),
            DEFAULT_USER_ID,
            "en-US",
            "consent",
            vec![opt_int("state", 0)],
        )
        .await,
    );
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert!(
        text.starts_with("Persona inference is not available right now"),
        "{text}"
    );
    // No CLIP model configured: images cannot be added.
    let png = image_bytes(image::ImageFormat::Png, 8, 8);
    let n = png.len();
    let text = add_image(
        fake,
        next(),
        DEFAULT_USER_ID,
        fake.add_attachment("a.png", "image/png", png, n),
    )
    .await;
    assert!(text.starts_with("Adding images is not available"), "{text}");
    let reply = submit(
        fake,
        next(),
        DEFAULT_USER_ID,
        "zipp-persona-edit",
        &[("persona", "I paint foggy harbours.")],
    )
    .await;
    assert!(
        ephemeral(&reply.json.clone().unwrap()).starts_with("Saved: your persona is now version 1")
    );
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "show", vec![]).await);
    assert!(text.contains("> I paint foggy harbours."), "{text}");
    let text = ephemeral(&persona(fake, next(), DEFAULT_USER_ID, "en-US", "reset", vec![]).await);
    assert!(
        text.starts_with("There is no inferred persona to go back to yet"),
        "{text}"
    );
    // Moderators turn inference off.
    let guild = GuildId(fake.config().guild_id);
    app.store
        .change_guild_setting(
            guild,
            zipp::store::GuildSetting::PersonaInference,
            Some("off"),
            MemberId(1),
        )
        .await
        .expect("setting");
    let text = refresh(fake, next(), DEFAULT_USER_ID).await;
    assert!(
        text.starts_with("The moderators turned persona inference off"),
        "{text}"
    );
    assert!(fake.unhandled_requests().is_empty());
    setup.finish(app).await;
}

on_both_databases!(no_checkpoint);
