//! A fake Discord for zipp's integration tests and local trials.
//!
//! [`FakeDiscord::start`] binds one HTTP server (default `127.0.0.1:0`) that plays both halves of
//! Discord that serenity 0.12.5 talks to:
//!
//! * **REST** under `/api/v10/…`. The bot reaches it by passing [`FakeDiscord::base_url`] to
//!   serenity's `HttpBuilder::proxy` (together with `ratelimiter_disabled(true)`, or the proxy
//!   is silently ignored). Every request is recorded as a [`RecordedRequest`] and answered with
//!   the smallest JSON that serenity deserializes *and* that passes Discord's OpenAPI spec.
//!   Unknown routes are recorded too and answered `404 {"message":"Unknown","code":0}`, so a test
//!   sees them instead of hanging.
//! * **Gateway** at `/gateway` (serenity opens it as `/gateway?v=10`, the URL comes from
//!   `GET /api/v10/gateway`). Plain-text JSON frames: HELLO → IDENTIFY → READY + GUILD_CREATE,
//!   heartbeat ACKs, RESUMED, and whatever the test injects with [`FakeDiscord::dispatch`].
//!
//! The payload shapes follow `shared/notes/discord-offline-testing.md`; serenity silently drops
//! events whose `d` fails to deserialize, so the [`fixtures`] carry every key it needs.
//!
//! A typical test:
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use fake_discord::{fixtures, FakeDiscord, FakeDiscordConfig};
//!
//! let fake = FakeDiscord::start(FakeDiscordConfig::default()).await?;
//! // … start the bot with `fake.base_url()` as its API base …
//! fake.wait_for_identify(Duration::from_secs(10)).await?;
//! fake.wait_for_request("command registration", Duration::from_secs(10), |r| {
//!     r.is("PUT", "/api/v10/applications/")
//! })
//! .await?;
//! let cfg = *fake.config();
//! fake.dispatch(
//!     "INTERACTION_CREATE",
//!     fixtures::interaction_command(&cfg, 900, "tok", 400, "alice", "imagine",
//!         vec![fixtures::opt_str("prompt", "a red cat")]),
//! )
//! .await;
//! let followup = fake
//!     .wait_for_request("followup", Duration::from_secs(10), |r| {
//!         r.is("POST", "/api/v10/webhooks/")
//!     })
//!     .await?;
//! assert_eq!(followup.files[0].content_type.as_deref(), Some("image/png"));
//! fake.write_capture(std::path::Path::new("target/capture.json"))?;
//! # Ok(()) }
//! ```
//!
//! The capture written by [`FakeDiscord::write_capture`] is checked against the spec by
//! `tests/openapi/validate.py`.

#![allow(
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a test double: a broken fixture should stop the test at once, and its standalone mode prints what Discord would show"
)]
#![warn(missing_docs)]

pub mod console;
pub mod fixtures;
mod gateway;
pub mod llm;
mod rest;
mod state;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::state::{Outbound, ResponseOverride, Shared, State};

/// Settings for one fake Discord; all ids are the snowflakes the fake and its fixtures use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FakeDiscordConfig {
    /// Application id, which is also the bot user's id (as for every modern Discord bot).
    pub app_id: u64,
    /// The one guild the bot is in (sent as GUILD_CREATE after READY).
    pub guild_id: u64,
    /// The guild's one text channel; interactions and messages default to it.
    pub channel_id: u64,
    /// Owner of the application in `GET /oauth2/applications/@me` (poise reads it as the owner).
    pub owner_id: u64,
    /// `heartbeat_interval` sent in HELLO. Serenity heartbeats one interval after IDENTIFY, so
    /// the real 41250 ms means a short test never sees a heartbeat; use ~300 to exercise ACKs.
    pub heartbeat_interval_ms: u64,
    /// Largest total upload per request before the fake answers 413 (code 40005) like Discord.
    pub max_upload_bytes: u64,
    /// Where to listen. Port 0 picks a free port; a trial tool can set a fixed one.
    pub bind: SocketAddr,
}

impl Default for FakeDiscordConfig {
    fn default() -> Self {
        Self {
            app_id: 100_000_000_000_000_001,
            guild_id: 200_000_000_000_000_001,
            channel_id: 300_000_000_000_000_001,
            owner_id: 400_000_000_000_000_999,
            heartbeat_interval_ms: 41_250,
            max_upload_bytes: 10_485_760,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// One REST request the fake received, with the answer it gave.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Arrival order, starting at 0.
    pub seq: usize,
    /// When the request arrived (after its body was read).
    pub at: Instant,
    /// HTTP method, upper case (`POST`).
    pub method: String,
    /// Path as sent, still percent-encoded, e.g. `/api/v10/interactions/9…/tok/callback`.
    pub path: String,
    /// Raw query string without `?` (serenity sends e.g. `&limit=50`).
    pub query: Option<String>,
    /// All headers, names lower case, values lossily decoded as UTF-8.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or the `payload_json` part of a multipart body.
    pub json: Option<Value>,
    /// Multipart parts other than `payload_json` (the uploads, `files[n]`).
    pub files: Vec<RecordedFile>,
    /// Whether the body was `multipart/form-data`.
    pub is_multipart: bool,
    /// False when no fake endpoint matched and the fake answered 404 `Unknown`.
    pub handled: bool,
    /// HTTP status the fake answered with.
    pub response_status: u16,
    /// JSON the fake answered with (`None` for 204).
    pub response_json: Option<Value>,
}

impl RecordedRequest {
    /// True when `method` matches (case-insensitively) and the path starts with `path_prefix`.
    pub fn is(&self, method: &str, path_prefix: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path.starts_with(path_prefix)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The upload sent in multipart part `field` (e.g. `files[0]`).
    pub fn file(&self, field: &str) -> Option<&RecordedFile> {
        self.files.iter().find(|f| f.field == field)
    }

    /// One line for error messages: `POST /api/v10/... -> 200`.
    pub fn summary(&self) -> String {
        let query = self
            .query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        format!(
            "#{} {} {}{} -> {}",
            self.seq, self.method, self.path, query, self.response_status
        )
    }
}

/// One uploaded multipart part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedFile {
    /// Part name, `files[0]`, `files[1]`, …
    pub field: String,
    /// The part's filename (empty when the part had none).
    pub filename: String,
    /// The part's `Content-Type`, e.g. `image/png`.
    pub content_type: Option<String>,
    /// The uploaded bytes.
    pub bytes: Vec<u8>,
}

/// Handle to a running fake Discord. Clones share the same server; dropping the last clone
/// stops it (server task aborted, gateway sessions closed).
#[derive(Clone)]
pub struct FakeDiscord {
    shared: Arc<Shared>,
    guard: Arc<ServerGuard>,
}

/// Owns the server task. Kept apart from [`Shared`] because the server and the sessions hold
/// `Arc<Shared>`; if the task lived there its `Drop` could never run.
struct ServerGuard {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl FakeDiscord {
    /// Binds `cfg.bind` and serves REST + gateway on it until shut down or dropped.
    pub async fn start(cfg: FakeDiscordConfig) -> anyhow::Result<FakeDiscord> {
        let listener = tokio::net::TcpListener::bind(cfg.bind)
            .await
            .with_context(|| format!("fake discord: binding {}", cfg.bind))?;
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            // Bound to 0.0.0.0/[::]: URLs handed to the bot must still name a reachable host.
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let shared = Arc::new(Shared::new(cfg, addr));
        let app = rest::router(shared.clone());
        let mut stop = shared.shutdown.subscribe();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            if let Err(err) = serve.await {
                tracing::warn!("fake discord server stopped: {err}");
            }
        });
        tracing::debug!("fake discord listening on {addr}");
        Ok(FakeDiscord {
            guard: Arc::new(ServerGuard {
                shared: shared.clone(),
                task: Mutex::new(Some(task)),
            }),
            shared,
        })
    }

    /// `http://127.0.0.1:PORT`: what the bot passes to serenity's `HttpBuilder::proxy`.
    pub fn base_url(&self) -> String {
        self.shared.base_url()
    }

    /// `ws://127.0.0.1:PORT/gateway`: what `GET /api/v10/gateway` answers.
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_url()
    }

    /// The configuration the fake was started with (`bind` as requested, see
    /// [`FakeDiscord::base_url`] for the real port).
    pub fn config(&self) -> &FakeDiscordConfig {
        &self.shared.cfg
    }

    /// Waits until at least one IDENTIFY has been answered with READY + GUILD_CREATE.
    /// Errors after `timeout`, e.g. when the bot fell back to real Discord (its
    /// `GET /gateway` failed) or never connected.
    pub async fn wait_for_identify(&self, timeout: Duration) -> anyhow::Result<()> {
        self.wait_for_identifies(1, timeout).await
    }

    /// Waits until `n` IDENTIFYs in total have been answered (re-identify tests).
    pub async fn wait_for_identifies(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        let found = self
            .wait_until(timeout, |st| (st.identifies.len() >= n).then_some(()))
            .await;
        found.ok_or_else(|| {
            let st = self.shared.lock();
            anyhow::anyhow!(
                "fake discord: timed out after {timeout:?} waiting for IDENTIFY #{n} \
                 (identifies so far: {}, gateway connections: {:?}, REST requests: [{}])",
                st.identifies.len(),
                st.connects,
                recent_summaries(&st.requests)
            )
        })
    }

    /// Sends `{"op":0,"s":<seq>,"t":event_name,"d":d}` to every identified gateway session,
    /// each with its own sequence number, and waits until the frames are written.
    ///
    /// Returns how many sessions got it (0 logs a warning: nothing was delivered). The fake also
    /// learns from what it dispatches: an INTERACTION_CREATE makes its token valid for the
    /// callback and followup endpoints, MESSAGE_CREATE (and a component's `message`) makes the
    /// message known to the REST message endpoints.
    pub async fn dispatch(&self, event_name: &str, d: Value) -> usize {
        let pending = {
            let mut st = self.shared.lock();
            st.observe_dispatch(&self.shared.cfg, event_name, &d);
            st.sessions
                .values()
                .filter(|s| s.identified && s.receives(&d))
                .filter_map(|s| {
                    let (done, rx) = oneshot::channel();
                    let out = Outbound::Dispatch {
                        t: event_name.to_owned(),
                        d: d.clone(),
                        done,
                    };
                    s.tx.send(out).ok().map(|()| rx)
                })
                .collect::<Vec<_>>()
        };
        let delivered = await_all(pending).await;
        if delivered == 0 {
            tracing::warn!("fake discord: {event_name} dispatched to no identified session");
        }
        delivered
    }

    /// Dispatches many events of one kind back to back, waiting only once at the end (for load
    /// tests: the frames are queued without a round trip each). Returns how many frames went out.
    pub async fn dispatch_many(&self, event_name: &str, events: Vec<Value>) -> usize {
        let pending = {
            let mut st = self.shared.lock();
            let mut pending = Vec::with_capacity(events.len());
            for d in events {
                st.observe_dispatch(&self.shared.cfg, event_name, &d);
                for s in st
                    .sessions
                    .values()
                    .filter(|s| s.identified && s.receives(&d))
                {
                    let (done, rx) = oneshot::channel();
                    let out = Outbound::Dispatch {
                        t: event_name.to_owned(),
                        d: d.clone(),
                        done,
                    };
                    if s.tx.send(out).is_ok() {
                        pending.push(rx);
                    }
                }
            }
            pending
        };
        await_all(pending).await
    }

    /// Sends an arbitrary frame (e.g. `{"op":7,"d":null}` RECONNECT or `{"op":9,"d":false}`)
    /// to every connected session, identified or not. Returns how many got it.
    pub async fn send_raw(&self, frame: Value) -> usize {
        let pending = {
            let st = self.shared.lock();
            st.sessions
                .values()
                .filter_map(|s| {
                    let (done, rx) = oneshot::channel();
                    let out = Outbound::Raw {
                        frame: frame.clone(),
                        done,
                    };
                    s.tx.send(out).ok().map(|()| rx)
                })
                .collect::<Vec<_>>()
        };
        await_all(pending).await
    }

    /// Every REST request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Requests no fake endpoint matched (answered 404 `Unknown`); tests can assert it is empty.
    pub fn unhandled_requests(&self) -> Vec<RecordedRequest> {
        let st = self.shared.lock();
        st.requests.iter().filter(|r| !r.handled).cloned().collect()
    }

    /// The first request (already recorded or still to come) for which `pred` holds.
    /// `what` names it in the timeout error, which also lists the requests seen.
    pub async fn wait_for_request(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&RecordedRequest) -> bool,
    ) -> anyhow::Result<RecordedRequest> {
        let mut found = self.wait_for_requests(what, 1, timeout, pred).await?;
        Ok(found.remove(0))
    }

    /// The first `n` requests for which `pred` holds, waiting up to `timeout` for them.
    pub async fn wait_for_requests(
        &self,
        what: &str,
        n: usize,
        timeout: Duration,
        pred: impl Fn(&RecordedRequest) -> bool,
    ) -> anyhow::Result<Vec<RecordedRequest>> {
        let found = self
            .wait_until(timeout, |st| {
                let hits: Vec<_> = st.requests.iter().filter(|r| pred(r)).take(n).collect();
                (hits.len() >= n).then(|| hits.into_iter().cloned().collect())
            })
            .await;
        found.ok_or_else(|| {
            let st = self.shared.lock();
            let seen = st.requests.iter().filter(|r| pred(r)).count();
            anyhow::anyhow!(
                "fake discord: timed out after {timeout:?} waiting for {n} x {what} \
                 ({seen} matched; {} requests recorded: [{}])",
                st.requests.len(),
                recent_summaries(&st.requests)
            )
        })
    }

    /// How many recorded requests satisfy `pred` (no waiting, nothing cloned): for benchmarks
    /// that poll, so the fake's lock is not held by a scan on every request it answers.
    pub fn count_requests(&self, pred: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| pred(r))
            .count()
    }

    /// How many IDENTIFY frames were answered, over all sessions.
    pub fn identify_count(&self) -> usize {
        self.shared.lock().identifies.len()
    }

    /// The `d` of every IDENTIFY received (token, intents, shard, …), in order.
    pub fn identifies(&self) -> Vec<Value> {
        self.shared.lock().identifies.clone()
    }

    /// How many HEARTBEAT (op 1) frames were received, over all sessions.
    pub fn heartbeat_count(&self) -> usize {
        self.shared.lock().heartbeats
    }

    /// The `op` of every frame received from clients, in order (e.g. `[2, 1, 1]`).
    pub fn received_ops(&self) -> Vec<u64> {
        self.shared.lock().received_ops.clone()
    }

    /// Request URIs of gateway connections so far (serenity's is `/gateway?v=10`).
    pub fn gateway_connections(&self) -> Vec<String> {
        self.shared.lock().connects.clone()
    }

    /// Gateway sessions currently connected.
    pub fn connected_sessions(&self) -> usize {
        self.shared.lock().sessions.len()
    }

    /// Whether HEARTBEATs are answered with op 11 (default true). Turning it off makes
    /// serenity restart the shard and IDENTIFY afresh after about one interval + 5 s.
    pub fn set_heartbeat_ack(&self, enabled: bool) {
        self.shared.lock().heartbeat_ack = enabled;
    }

    /// Makes every request whose method matches (`"*"` matches any) and whose path starts with
    /// `path_prefix` (full path, e.g. `/api/v10/webhooks/`) answer `status` with `body` instead
    /// of the normal behaviour, until [`FakeDiscord::clear_response_overrides`]. The request is
    /// still recorded. A `None` body sends no body; a Discord-style error is
    /// `json!({"message":"boom","code":0})`. Later overrides win over earlier ones.
    pub fn set_response_override(
        &self,
        method: &str,
        path_prefix: &str,
        status: u16,
        body: Option<Value>,
    ) {
        self.shared.lock().overrides.push(ResponseOverride {
            method: method.to_ascii_uppercase(),
            path_prefix: path_prefix.to_owned(),
            status,
            body,
        });
    }

    /// Removes all response overrides.
    pub fn clear_response_overrides(&self) {
        self.shared.lock().overrides.clear();
    }

    /// Stores a file as if a member had uploaded it (served at its `url`, like Discord's CDN)
    /// and returns its attachment object, for an interaction's `data.resolved.attachments`.
    /// `declared_size` is what Discord reports (normally `bytes.len()`).
    pub fn add_attachment(
        &self,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
        declared_size: usize,
    ) -> Value {
        let mut st = self.shared.lock();
        let id = st.next_id();
        let url = format!("{}/attachments/{id}/{filename}", self.base_url());
        st.files.insert(
            id,
            crate::state::StoredFile {
                content_type: Some(content_type.to_owned()),
                bytes,
            },
        );
        json!({
            "id": id.to_string(),
            "filename": filename,
            "size": declared_size,
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        })
    }

    /// A message the fake stores (sent by the bot or dispatched as MESSAGE_CREATE), as REST
    /// would return it.
    pub fn message(&self, message_id: u64) -> Option<Value> {
        self.shared.lock().messages.get(&message_id).cloned()
    }

    /// Every message the fake stores, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        let state = self.shared.lock();
        let mut ids: Vec<u64> = state.messages.keys().copied().collect();
        ids.sort_unstable();
        ids.iter().map(|id| state.messages[id].clone()).collect()
    }

    /// The original response of the interaction with `token`, once it was acknowledged with a
    /// message (a deferral or a reply).
    pub fn original_response(&self, token: &str) -> Option<Value> {
        let state = self.shared.lock();
        let id = state.interactions.get(token)?.original?;
        state.messages.get(&id).cloned()
    }

    /// Writes every exchange so far as a JSON array for `tests/openapi/validate.py`:
    /// `[{"method","path","query","request_json","is_multipart","files","status","response_json"}]`
    /// (`request_json` is the `payload_json` part for multipart bodies; `files` lists the
    /// other parts without their bytes).
    pub fn write_capture(&self, path: &Path) -> anyhow::Result<()> {
        let exchanges: Vec<Value> = self
            .shared
            .lock()
            .requests
            .iter()
            .map(|r| {
                let files: Vec<Value> = r
                    .files
                    .iter()
                    .map(|f| {
                        json!({"field": f.field, "filename": f.filename,
                               "content_type": f.content_type, "size": f.bytes.len()})
                    })
                    .collect();
                json!({
                    "method": r.method,
                    "path": r.path,
                    "query": r.query,
                    "request_json": r.json,
                    "is_multipart": r.is_multipart,
                    "files": files,
                    "status": r.response_status,
                    "response_json": r.response_json,
                })
            })
            .collect();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&exchanges)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Stops the server and closes every gateway session, waiting (briefly) for the server
    /// task to finish. Other clones of the handle become inert.
    pub async fn shutdown(self) {
        self.shared.shutdown.send_replace(true);
        let task = self
            .guard
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut task) = task {
            // Graceful shutdown waits for open keep-alive connections; don't let a client that
            // keeps one open stall the test.
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    /// Polls `check` under the state lock each time the state changes, until it yields or
    /// `timeout` passes. The watch channel is marked seen *before* each check, so a change
    /// between the check and the wait still wakes us.
    async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.shared.changed.subscribe();
        loop {
            changes.borrow_and_update();
            if let Some(found) = check(&self.shared.lock()) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}

/// Waits for every session to confirm a write; sessions that died in between don't count.
/// A bounded wait, because a client that stops reading could otherwise hang the test.
async fn await_all(pending: Vec<oneshot::Receiver<()>>) -> usize {
    let mut delivered = 0;
    for rx in pending {
        if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(10), rx).await {
            delivered += 1;
        }
    }
    delivered
}

/// The last few requests, for timeout errors.
fn recent_summaries(requests: &[RecordedRequest]) -> String {
    let skip = requests.len().saturating_sub(20);
    requests[skip..]
        .iter()
        .map(RecordedRequest::summary)
        .collect::<Vec<_>>()
        .join(", ")
}
