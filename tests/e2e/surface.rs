//! The registered slash-command surface, snapshotted so every change is reviewed.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_commands_snapshot() {
    let db = TestDb::new(Db::Sqlite).await;
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = write_catalog(dir.path(), 2);
    let guard = UnknownEventGuard::default();
    let mut config = test_config(&db, &fake, &catalog);
    config.discord.dev_guild = fake.config().guild_id;
    let app = start_app(config, true, 0, None, &guard).await;
    let registration = wait_registered(&fake).await;
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
    guard.assert_none();
    app.shutdown().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_register_globally_by_default() {
    let db = TestDb::new(Db::Sqlite).await;
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = write_catalog(dir.path(), 2);
    let guard = UnknownEventGuard::default();
    let app = start_app(test_config(&db, &fake, &catalog), true, 0, None, &guard).await;
    let registration = wait_registered(&fake).await;
    assert_eq!(
        registration.path,
        format!("/api/v10/applications/{}/commands", fake.config().app_id)
    );
    app.shutdown().await;
    db.cleanup().await;
}
