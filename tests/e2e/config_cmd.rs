//! `/config`: moderators choose the server's models; members without Manage Server are refused
//! politely; every change is audited and used by `/imagine`.

use fake_discord::fixtures::{opt_str, opt_sub, InteractionBuilder};
use serde_json::Value;
use zipp::ids::GuildId;

use crate::harness::*;

/// Manage Server (0x20) plus the usual member permissions.
const MODERATOR: &str = "1071698660961";
/// Send messages and use commands, no Manage Server.
const MEMBER: &str = "2147485696";

async fn config_reply(
    fake: &fake_discord::FakeDiscord,
    id: u64,
    permissions: &str,
    sub: Value,
) -> String {
    let token = format!("token-{id}");
    let event = InteractionBuilder::new(fake.config(), id, &token)
        .member_permissions(permissions)
        .command("config", vec![sub]);
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    let reply = fake
        .wait_for_request("config reply", WAIT, |r| r.path == callback)
        .await
        .expect("a reply");
    let json = reply.json.as_ref().expect("json");
    assert_eq!(json["type"], 4, "{json}");
    assert_eq!(json["data"]["flags"], 64, "ephemeral: {json}");
    assert_mentions_nobody(&reply);
    json["data"]["content"]
        .as_str()
        .expect("content")
        .to_owned()
}

async fn moderators_configure_the_server(kind: Db) {
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    // A second catalog entry to switch to.
    let mut catalog = std::fs::read_to_string(&setup.catalog).expect("read");
    let tiny2 = catalog
        .split("[llm.template]")
        .next()
        .expect("diffusion part")
        .replace("[diffusion.tiny]", "[diffusion.tiny2]");
    catalog.push_str(&tiny2);
    std::fs::write(&setup.catalog, catalog).expect("write");
    let app = setup.start_bot(1).await;
    let guild = GuildId(fake.config().guild_id);

    let refused = config_reply(
        fake,
        970_000_000_000_000_001,
        MEMBER,
        opt_sub("diffusion", vec![opt_str("name", "tiny2")]),
    )
    .await;
    assert!(refused.contains("Manage Server"), "{refused}");
    assert!(app
        .store
        .config_audit(guild, 10)
        .await
        .expect("audit")
        .is_empty());

    let unknown = config_reply(
        fake,
        970_000_000_000_000_002,
        MODERATOR,
        opt_sub("diffusion", vec![opt_str("name", "nope")]),
    )
    .await;
    assert!(unknown.contains("not in the catalog"), "{unknown}");

    let changed = config_reply(
        fake,
        970_000_000_000_000_003,
        MODERATOR,
        opt_sub("diffusion", vec![opt_str("name", "tiny2")]),
    )
    .await;
    assert!(changed.contains("tiny2"), "{changed}");
    let changed = config_reply(
        fake,
        970_000_000_000_000_004,
        MODERATOR,
        opt_sub("llm", vec![opt_str("name", "template")]),
    )
    .await;
    assert!(changed.contains("template"), "{changed}");

    let shown = config_reply(
        fake,
        970_000_000_000_000_005,
        MODERATOR,
        opt_sub("show", vec![]),
    )
    .await;
    assert!(
        shown.contains("tiny2") && shown.contains("template"),
        "{shown}"
    );

    let audit = app.store.config_audit(guild, 10).await.expect("audit");
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[1].setting, "diffusion_model");
    assert_eq!(audit[1].old_value, None);
    assert_eq!(audit[1].new_value.as_deref(), Some("tiny2"));
    assert_eq!(
        audit[1].member_id.0,
        fake_discord::fixtures::DEFAULT_USER_ID
    );

    // History backfill, in the member's words.
    let changed = config_reply(
        fake,
        970_000_000_000_000_006,
        MODERATOR,
        opt_sub(
            "backfill",
            vec![fake_discord::fixtures::opt_int("state", 0)],
        ),
    )
    .await;
    assert_eq!(
        changed,
        "History backfill is now on. The change is in the audit log."
    );
    let shown = config_reply(
        fake,
        970_000_000_000_000_007,
        MODERATOR,
        opt_sub("show", vec![]),
    )
    .await;
    assert!(
        shown.ends_with(
            "persona inference: on; history backfill: on; image metadata: on; \
             models members may pick: tiny2."
        ),
        "{shown}"
    );

    // /imagine now renders with the server's model.
    let (_, token) = dispatch_imagine(
        fake,
        970_000_000_000_000_010,
        vec![opt_str("prompt", "a fox")],
        |b| b,
    )
    .await;
    let followup = image_of(fake, &token).await;
    let fields = followup.json.as_ref().expect("json")["embeds"][0]["fields"].clone();
    assert!(
        fields
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["name"] == "Model" && f["value"] == "tiny2"),
        "{fields}"
    );
    // The PNG carries its generation parameters (on by default).
    let seed = fields
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "Seed")
        .and_then(|f| f["value"].as_str())
        .expect("a seed")
        .to_owned();
    let png = &followup.file("files[0]").expect("the image").bytes;
    assert_eq!(
        png_texts(png),
        vec![(
            "parameters".to_owned(),
            format!("a fox\nSteps: 2, Seed: {seed}, Size: 64x64, Model: tiny2")
        )]
    );

    // Moderators can turn that off.
    let changed = config_reply(
        fake,
        970_000_000_000_000_011,
        MODERATOR,
        opt_sub(
            "metadata",
            vec![fake_discord::fixtures::opt_int("state", 1)],
        ),
    )
    .await;
    assert_eq!(
        changed,
        "Image metadata is now off. The change is in the audit log."
    );
    let (_, token) = dispatch_imagine(
        fake,
        970_000_000_000_000_012,
        vec![opt_str("prompt", "a fox")],
        |b| b,
    )
    .await;
    let followup = image_of(fake, &token).await;
    let png = &followup.file("files[0]").expect("the image").bytes;
    assert!(png_texts(png).is_empty());
    assert_openapi_valid(fake);
    setup.finish(app).await;
}

on_both_databases!(moderators_configure_the_server);
