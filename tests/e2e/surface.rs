//! The registered slash-command surface, snapshotted so every change is reviewed.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_commands_snapshot() {
    let setup = Setup::new(Db::Sqlite, 2).await;
    let fake = &setup.fake;
    let mut config = setup.config();
    config.discord.dev_guild = fake.config().guild_id;
    let app = setup.start(config, true, 0).await;
    let registration = wait_registered(fake).await;
    assert_eq!(
        registration.path,
        format!(
            "/api/v10/applications/{}/guilds/{}/commands",
            fake.config().app_id,
            fake.config().guild_id
        ),
        "dev_guild registers in that guild only"
    );
    insta::assert_json_snapshot!("registered_commands", registration.json.expect("json body"));
    setup.finish(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_register_globally_by_default() {
    let setup = Setup::new(Db::Sqlite, 2).await;
    let fake = &setup.fake;
    let app = setup.start(setup.config(), true, 0).await;
    let registration = wait_registered(fake).await;
    assert_eq!(
        registration.path,
        format!("/api/v10/applications/{}/commands", fake.config().app_id)
    );
    setup.finish(app).await;
}
