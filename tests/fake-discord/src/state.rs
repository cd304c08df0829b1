//! Shared state of one fake: what was recorded, what the fake remembers, live sessions.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::{FakeDiscordConfig, RecordedRequest};

/// First snowflake the fake hands out for messages, attachments, commands. Far above the
/// config ids so they never collide.
const FIRST_ID: u64 = 700_000_000_000_000_001;

/// State shared by the handle, the REST handler and the gateway sessions.
pub(crate) struct Shared {
    pub cfg: FakeDiscordConfig,
    /// The address actually bound (port resolved).
    pub addr: SocketAddr,
    state: Mutex<State>,
    /// Bumped on every change a waiter may care about (request recorded, IDENTIFY answered).
    pub changed: watch::Sender<u64>,
    /// Set to true once to stop the server and every session.
    pub shutdown: watch::Sender<bool>,
}

impl Shared {
    pub fn new(cfg: FakeDiscordConfig, addr: SocketAddr) -> Self {
        let state = State {
            next_id: FIRST_ID,
            requests: Vec::new(),
            messages: HashMap::new(),
            known_channels: HashSet::from([cfg.channel_id]),
            interactions: HashMap::new(),
            commands: HashMap::new(),
            overrides: Vec::new(),
            files: HashMap::new(),
            sessions: HashMap::new(),
            next_session: 0,
            identifies: Vec::new(),
            heartbeats: 0,
            received_ops: Vec::new(),
            heartbeat_ack: true,
            connects: Vec::new(),
        };
        Self {
            cfg,
            addr,
            state: Mutex::new(state),
            changed: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
        }
    }

    /// Locks the state. A panicking test thread must not poison the fake for the others, so a
    /// poisoned lock is simply taken over.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every waiter (`wait_for_*`).
    pub fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.addr)
    }
}

/// What the fake knows about an interaction it dispatched.
pub(crate) struct InteractionInfo {
    pub id: u64,
    pub channel_id: u64,
    /// For component interactions: the message the component sits on (becomes `@original`
    /// after a type 6/7 callback).
    pub component_message: Option<u64>,
    /// Set by the first callback; Discord refuses a second one (40060).
    pub acknowledged: bool,
    /// The `@original` message, once a callback created or adopted one.
    pub original: Option<u64>,
}

/// A stored upload, served back at `/attachments/{id}/{filename}`.
pub(crate) struct StoredFile {
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A fault injected by `set_response_override`.
pub(crate) struct ResponseOverride {
    pub method: String,
    pub path_prefix: String,
    pub status: u16,
    pub body: Option<Value>,
}

/// A frame queued for one gateway session; `done` fires once it is written.
pub(crate) enum Outbound {
    Dispatch {
        t: String,
        d: Value,
        done: oneshot::Sender<()>,
    },
    Raw {
        frame: Value,
        done: oneshot::Sender<()>,
    },
}

/// One connected gateway session.
pub(crate) struct SessionHandle {
    pub tx: mpsc::UnboundedSender<Outbound>,
    /// True after IDENTIFY (or RESUME): only then does it get dispatches.
    pub identified: bool,
    /// The `[shard, total]` it identified with (None: the whole bot).
    pub shard: Option<(u64, u64)>,
}

impl SessionHandle {
    /// Whether event `d` reaches this session: Discord sends a server's events to shard
    /// `(guild_id >> 22) % total`, and events of no server (DMs) to shard 0.
    pub fn receives(&self, d: &serde_json::Value) -> bool {
        let Some((shard, total)) = self.shard else {
            return true;
        };
        let guild = d["guild_id"].as_str().and_then(|g| g.parse::<u64>().ok());
        match guild {
            Some(guild) => (guild >> 22) % total.max(1) == shard,
            None => shard == 0,
        }
    }
}

pub(crate) struct State {
    next_id: u64,
    pub requests: Vec<RecordedRequest>,
    /// Every message the fake knows, by id, in REST shape.
    pub messages: HashMap<u64, Value>,
    /// Channels the REST message endpoints accept.
    pub known_channels: HashSet<u64>,
    /// Dispatched interactions by token.
    pub interactions: HashMap<String, InteractionInfo>,
    /// Last registered commands per scope (`None` = global, `Some(guild)`).
    pub commands: HashMap<Option<u64>, Vec<Value>>,
    pub overrides: Vec<ResponseOverride>,
    pub files: HashMap<u64, StoredFile>,
    pub sessions: HashMap<u64, SessionHandle>,
    pub next_session: u64,
    pub identifies: Vec<Value>,
    pub heartbeats: usize,
    pub received_ops: Vec<u64>,
    pub heartbeat_ack: bool,
    pub connects: Vec<String>,
}

impl State {
    /// A fresh snowflake, increasing.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Learns from an event the test dispatches, so that the REST side accepts what a real
    /// Discord would accept after that event.
    pub fn observe_dispatch(&mut self, cfg: &FakeDiscordConfig, event: &str, d: &Value) {
        let channel = snowflake(&d["channel_id"]);
        if let Some(c) = channel {
            self.known_channels.insert(c);
        }
        match event {
            "INTERACTION_CREATE" => {
                let Some(token) = d["token"].as_str() else {
                    return;
                };
                let component_message = if d["message"].is_object() {
                    self.remember_message(&d["message"])
                } else {
                    None
                };
                self.interactions.insert(
                    token.to_owned(),
                    InteractionInfo {
                        id: snowflake(&d["id"]).unwrap_or(0),
                        channel_id: channel.unwrap_or(cfg.channel_id),
                        component_message,
                        acknowledged: false,
                        original: None,
                    },
                );
            }
            "MESSAGE_CREATE" => {
                self.remember_message(d);
            }
            _ => {}
        }
    }

    /// Stores a message object (keeping the first copy if already known) and returns its id.
    fn remember_message(&mut self, m: &Value) -> Option<u64> {
        let id = snowflake(&m["id"])?;
        self.messages.entry(id).or_insert_with(|| m.clone());
        if let Some(c) = snowflake(&m["channel_id"]) {
            self.known_channels.insert(c);
        }
        Some(id)
    }
}

/// Parses a snowflake given as a JSON string or number.
pub(crate) fn snowflake(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}
