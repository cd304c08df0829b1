//! REST: one catch-all handler that records every request and routes `/api/v10/...` by hand.
//!
//! A fallback handler (rather than axum routes per endpoint) sees every request, including ones
//! no endpoint matches, so those get recorded and answered 404 instead of vanishing.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use crate::fixtures;
use crate::gateway;
use crate::state::{snowflake, Shared, State as FakeState, StoredFile};
use crate::{FakeDiscordConfig, RecordedFile, RecordedRequest};

/// Bodies above this are refused by the server itself; uploads above
/// `FakeDiscordConfig::max_upload_bytes` get Discord's 413 from the handler instead.
const BODY_LIMIT: usize = 256 * 1024 * 1024;

/// Status and optional JSON body of an answer.
type Answer = (u16, Option<Value>);

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/gateway", get(gateway::upgrade))
        .route("/attachments/{id}/{filename}", get(attachment))
        .fallback(handle)
        // The multipart extractor otherwise stops at 2 MB, less than one rendered PNG.
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

/// Serves uploaded files back (the `url` of returned attachments), like Discord's CDN. Not an
/// API call, so not recorded.
async fn attachment(
    State(shared): State<Arc<Shared>>,
    Path((id, _filename)): Path<(u64, String)>,
) -> Response {
    let st = shared.lock();
    match st.files.get(&id) {
        Some(f) => {
            let mut resp = Response::new(Body::from(f.bytes.clone()));
            if let Some(ct) = f
                .content_type
                .as_deref()
                .and_then(|c| HeaderValue::from_str(c).ok())
            {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            resp
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The request body, decoded.
struct DecodedBody {
    json: Option<Value>,
    files: Vec<RecordedFile>,
    is_multipart: bool,
    /// Set when the body could not be decoded; answered with Discord's 400.
    error: Option<String>,
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = read_body(req).await;

    let (status, response_json, handled) = {
        let mut st = shared.lock();
        let (answer, handled) =
            if let Some(err) = &body.error {
                (
                    error(
                        400,
                        50109,
                        &format!("The request body contains invalid JSON. ({err})"),
                    ),
                    true,
                )
            } else if let Some(ov) = st.overrides.iter().rev().find(|o| {
                (o.method == "*" || o.method == method) && path.starts_with(&o.path_prefix)
            }) {
                ((ov.status, ov.body.clone()), true)
            } else {
                let req = Req {
                    cfg: &shared.cfg,
                    base_url: shared.base_url(),
                    query: query.as_deref(),
                    json: body.json.as_ref(),
                    files: &body.files,
                };
                match route(&mut st, &req, &method, &path, &shared.gateway_url()) {
                    Some(answer) => (answer, true),
                    None => ((404, Some(json!({"message": "Unknown", "code": 0}))), false),
                }
            };
        let seq = st.requests.len();
        st.requests.push(RecordedRequest {
            seq,
            at: Instant::now(),
            method: method.clone(),
            path: path.clone(),
            query,
            headers,
            json: body.json,
            files: body.files,
            is_multipart: body.is_multipart,
            handled,
            response_status: answer.0,
            response_json: answer.1.clone(),
        });
        (answer.0, answer.1, handled)
    };
    shared.notify();
    if !handled {
        tracing::warn!("fake discord: no endpoint for {method} {path}");
    }

    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match response_json {
        Some(v) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response(),
        None => status.into_response(),
    }
}

async fn read_body(req: Request) -> DecodedBody {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    let mut body = DecodedBody {
        json: None,
        files: Vec::new(),
        is_multipart,
        error: None,
    };
    if is_multipart {
        if let Err(err) = read_multipart(req, &mut body).await {
            body.error = Some(err);
        }
    } else {
        match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
            Ok(bytes) if bytes.is_empty() => {}
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(v) => body.json = Some(v),
                Err(err) => body.error = Some(err.to_string()),
            },
            Err(err) => body.error = Some(err.to_string()),
        }
    }
    body
}

/// Splits a multipart body into `payload_json` (parsed) and the other parts (uploads).
async fn read_multipart(req: Request, body: &mut DecodedBody) -> Result<(), String> {
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| e.body_text())?;
    while let Some(field) = mp.next_field().await.map_err(|e| e.body_text())? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().unwrap_or_default().to_owned();
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| e.body_text())?;
        if name == "payload_json" {
            body.json = Some(serde_json::from_slice(&bytes).map_err(|e| e.to_string())?);
        } else {
            body.files.push(RecordedFile {
                field: name,
                filename,
                content_type,
                bytes: bytes.to_vec(),
            });
        }
    }
    Ok(())
}

/// What the routes need from the request besides method and path.
struct Req<'a> {
    cfg: &'a FakeDiscordConfig,
    base_url: String,
    query: Option<&'a str>,
    json: Option<&'a Value>,
    files: &'a [RecordedFile],
}

/// Routes one request. `None` means no endpoint matched.
fn route(
    st: &mut FakeState,
    req: &Req<'_>,
    method: &str,
    path: &str,
    gateway_url: &str,
) -> Option<Answer> {
    let rest = path.strip_prefix("/api/v10/")?;
    let segs: Vec<&str> = rest.split('/').collect();
    let cfg = req.cfg;
    let app = cfg.app_id.to_string();
    let answer = match (method, segs.as_slice()) {
        ("GET", ["gateway"]) => ok(json!({"url": gateway_url})),
        ("GET", ["gateway", "bot"]) => ok(json!({
            "url": gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1
            },
        })),
        ("GET", ["oauth2", "applications", "@me"]) => ok(fixtures::application(cfg)),
        (_, ["applications", a, ..]) if *a != app => unknown_application(),
        ("PUT", ["applications", _, "commands"]) => put_commands(st, cfg, None, req.json),
        ("GET", ["applications", _, "commands"]) => get_commands(st, None),
        ("PUT", ["applications", _, "guilds", g, "commands"]) => match guild(cfg, g) {
            Ok(g) => put_commands(st, cfg, Some(g), req.json),
            Err(e) => e,
        },
        ("GET", ["applications", _, "guilds", g, "commands"]) => match guild(cfg, g) {
            Ok(g) => get_commands(st, Some(g)),
            Err(e) => e,
        },
        ("POST", ["interactions", id, token, "callback"]) => callback(st, req, id, token),
        (_, ["webhooks", a, ..]) if *a != app => unknown_webhook(),
        ("POST", ["webhooks", _, token]) => followup(st, req, token),
        (_, ["webhooks", _, token, "messages", which]) => {
            webhook_message(st, req, method, token, which)
        }
        ("POST", ["channels", c, "messages"]) => match channel(st, c) {
            Ok(c) => create_channel_message(st, req, c),
            Err(e) => e,
        },
        ("GET", ["channels", c, "messages"]) => match channel(st, c) {
            Ok(c) => list_messages(st, c, req.query),
            Err(e) => e,
        },
        (_, ["channels", c, "messages", m]) => match channel_message(st, c, m) {
            Ok((_, m)) => match method {
                "GET" => ok(st.messages[&m].clone()),
                "PATCH" => edit_message(st, req, m),
                "DELETE" => {
                    st.messages.remove(&m);
                    no_content()
                }
                _ => return None,
            },
            Err(e) => e,
        },
        ("PUT" | "DELETE", ["channels", c, "messages", m, "reactions", _emoji, "@me"])
        | ("DELETE", ["channels", c, "messages", m, "reactions", _emoji, _]) => {
            match channel_message(st, c, m) {
                Ok(_) => no_content(),
                Err(e) => e,
            }
        }
        _ => return None,
    };
    Some(answer)
}

fn ok(v: Value) -> Answer {
    (200, Some(v))
}

fn no_content() -> Answer {
    (204, None)
}

/// Discord's error body shape.
fn error(status: u16, code: u32, message: &str) -> Answer {
    (status, Some(json!({"message": message, "code": code})))
}

fn unknown_application() -> Answer {
    error(404, 10002, "Unknown Application")
}

fn unknown_webhook() -> Answer {
    error(404, 10015, "Unknown Webhook")
}

fn unknown_message() -> Answer {
    error(404, 10008, "Unknown Message")
}

fn invalid_form_body(what: &str) -> Answer {
    (
        400,
        Some(json!({"message": format!("Invalid Form Body ({what})"), "code": 50035})),
    )
}

fn guild(cfg: &FakeDiscordConfig, g: &str) -> Result<u64, Answer> {
    match g.parse() {
        Ok(g) if g == cfg.guild_id => Ok(g),
        _ => Err(error(404, 10004, "Unknown Guild")),
    }
}

fn channel(st: &FakeState, c: &str) -> Result<u64, Answer> {
    match c.parse() {
        Ok(c) if st.known_channels.contains(&c) => Ok(c),
        _ => Err(error(404, 10003, "Unknown Channel")),
    }
}

fn channel_message(st: &FakeState, c: &str, m: &str) -> Result<(u64, u64), Answer> {
    let c = channel(st, c)?;
    match m.parse::<u64>() {
        Ok(m)
            if st
                .messages
                .get(&m)
                .is_some_and(|msg| snowflake(&msg["channel_id"]) == Some(c)) =>
        {
            Ok((c, m))
        }
        _ => Err(unknown_message()),
    }
}

/// Bulk overwrite: echoes the commands as Discord would store them. Ids are stable per name
/// within a scope, the version changes on every overwrite.
fn put_commands(
    st: &mut FakeState,
    cfg: &FakeDiscordConfig,
    guild: Option<u64>,
    body: Option<&Value>,
) -> Answer {
    let Some(items) = body.and_then(Value::as_array) else {
        return invalid_form_body("expected an array of commands");
    };
    let previous = st.commands.get(&guild).cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some(name) = item["name"].as_str() else {
            return invalid_form_body("command without name");
        };
        let kind = item["type"].as_u64().unwrap_or(1);
        let id = previous
            .iter()
            .find(|c| c["name"] == name && c["type"] == kind)
            .and_then(|c| snowflake(&c["id"]))
            .unwrap_or_else(|| st.next_id());
        // Serenity sends `min_value: null` & co.; Discord omits unset keys in responses (the
        // spec has no null there), so drop nulls before echoing.
        let mut cmd = strip_nulls(item.clone());
        let obj = cmd.as_object_mut().expect("checked: has a name");
        obj.insert("id".into(), json!(id.to_string()));
        obj.insert("application_id".into(), json!(cfg.app_id.to_string()));
        obj.insert("version".into(), json!(st.next_id().to_string()));
        obj.insert("type".into(), json!(kind));
        obj.entry("description").or_insert(json!(""));
        obj.insert(
            "default_member_permissions".into(),
            item["default_member_permissions"].clone(),
        );
        if let Some(g) = guild {
            obj.insert("guild_id".into(), json!(g.to_string()));
        }
        out.push(cmd);
    }
    st.commands.insert(guild, out.clone());
    ok(Value::Array(out))
}

fn get_commands(st: &FakeState, guild: Option<u64>) -> Answer {
    ok(Value::Array(
        st.commands.get(&guild).cloned().unwrap_or_default(),
    ))
}

/// `POST /interactions/{id}/{token}/callback`: 204 like Discord. Only tokens of dispatched
/// interactions are accepted, once each (a second callback is Discord's 40060).
fn callback(st: &mut FakeState, req: &Req<'_>, id: &str, token: &str) -> Answer {
    let Some(info) = st.interactions.get(token) else {
        return error(404, 10062, "Unknown interaction");
    };
    if id.parse::<u64>().ok() != Some(info.id) {
        return error(404, 10062, "Unknown interaction");
    }
    if info.acknowledged {
        return error(400, 40060, "Interaction has already been acknowledged.");
    }
    let (channel_id, component_message) = (info.channel_id, info.component_message);
    let Some(kind) = req.json.and_then(|b| b["type"].as_u64()) else {
        return invalid_form_body("callback without type");
    };
    let data = req.json.map(|b| &b["data"]).filter(|d| d.is_object());
    let original = match kind {
        // PONG, autocomplete result, modal, premium required, launch activity: no message.
        1 | 8 | 9 | 10 | 12 => None,
        4 => match new_message(st, req, channel_id, data, true) {
            Ok(m) => Some(m),
            Err(e) => return e,
        },
        // Deferred: Discord shows a "thinking" message (flag LOADING = 128) until edited.
        5 => {
            let flags = data.and_then(|d| d["flags"].as_u64()).unwrap_or(0) | 128;
            let id = st.next_id();
            let mut m = webhook_message_object(req.cfg, id, channel_id, "");
            m["flags"] = json!(flags);
            st.messages.insert(id, m);
            Some(id)
        }
        // Deferred update / update of the component's message: that message becomes @original.
        6 | 7 => {
            let Some(target) = component_message else {
                return invalid_form_body("update callback for a non-component interaction");
            };
            if kind == 7 {
                if let Err(e) = apply_edit(st, req, target, data) {
                    return e;
                }
            }
            Some(target)
        }
        _ => return invalid_form_body("unknown callback type"),
    };
    let info = st.interactions.get_mut(token).expect("looked up above");
    info.acknowledged = true;
    info.original = original;
    no_content()
}

/// `POST /webhooks/{app}/{token}`: a followup. The token must belong to an acknowledged
/// interaction; before the callback Discord doesn't know it as a webhook.
fn followup(st: &mut FakeState, req: &Req<'_>, token: &str) -> Answer {
    let channel_id = match st.interactions.get(token) {
        Some(info) if info.acknowledged => info.channel_id,
        _ => return unknown_webhook(),
    };
    match new_message(st, req, channel_id, req.json, true) {
        Ok(id) => ok(st.messages[&id].clone()),
        Err(e) => e,
    }
}

/// GET/PATCH/DELETE `/webhooks/{app}/{token}/messages/{@original|id}`.
fn webhook_message(
    st: &mut FakeState,
    req: &Req<'_>,
    method: &str,
    token: &str,
    which: &str,
) -> Answer {
    let Some(info) = st.interactions.get(token).filter(|i| i.acknowledged) else {
        return unknown_webhook();
    };
    let target = if which == "@original" {
        info.original
    } else {
        which.parse().ok()
    };
    let Some(id) = target.filter(|id| st.messages.contains_key(id)) else {
        return unknown_message();
    };
    match method {
        "GET" => ok(st.messages[&id].clone()),
        "PATCH" => edit_message(st, req, id),
        "DELETE" => {
            st.messages.remove(&id);
            no_content()
        }
        _ => (
            405,
            Some(json!({"message": "405: Method Not Allowed", "code": 0})),
        ),
    }
}

/// `POST /channels/{id}/messages`. With `enforce_nonce` and a `nonce`, a message the bot created
/// with that nonce in the last few minutes is returned instead of a new one, as Discord does.
fn create_channel_message(st: &mut FakeState, req: &Req<'_>, channel_id: u64) -> Answer {
    let nonce = req.json.map(|b| &b["nonce"]).filter(|n| !n.is_null());
    if let Some(nonce) = nonce {
        let valid = match nonce {
            Value::String(text) => text.chars().count() <= 25,
            Value::Number(number) => number.is_u64() || number.is_i64(),
            _ => false,
        };
        if !valid {
            return invalid_form_body(
                "nonce: must be an integer or a string of at most 25 characters",
            );
        }
        let enforce = req
            .json
            .is_some_and(|b| b["enforce_nonce"].as_bool() == Some(true));
        if enforce {
            let earlier = st
                .messages
                .values()
                .find(|m| {
                    snowflake(&m["channel_id"]) == Some(channel_id)
                        && &m["nonce"] == nonce
                        && m["author"]["id"] == fixtures::bot_user(req.cfg)["id"]
                })
                .cloned();
            if let Some(message) = earlier {
                return ok(message);
            }
        }
    }
    match new_message(st, req, channel_id, req.json, false) {
        Ok(id) => ok(st.messages[&id].clone()),
        Err(e) => e,
    }
}

/// Newest first: `limit` (1–100, default 50) messages older than `before` when given, like
/// Discord (`after`/`around` are not supported and answered 400, never silently ignored).
fn list_messages(st: &FakeState, channel_id: u64, query: Option<&str>) -> Answer {
    let mut limit = 50usize;
    let mut before = u64::MAX;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => limit = n,
                _ => return invalid_form_body("limit must be 1-100"),
            },
            "before" => match value.parse::<u64>() {
                Ok(id) => before = id,
                Err(_) => return invalid_form_body("before must be a snowflake"),
            },
            other => return invalid_form_body(&format!("unsupported query parameter {other}")),
        }
    }
    let mut ids: Vec<u64> = st
        .messages
        .iter()
        .filter(|(id, m)| snowflake(&m["channel_id"]) == Some(channel_id) && **id < before)
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ok(Value::Array(
        ids.iter()
            .take(limit)
            .map(|id| st.messages[id].clone())
            .collect(),
    ))
}

fn edit_message(st: &mut FakeState, req: &Req<'_>, id: u64) -> Answer {
    match apply_edit(st, req, id, req.json) {
        Ok(()) => ok(st.messages[&id].clone()),
        Err(e) => e,
    }
}

/// The message skeleton of an interaction response or followup: sent by the bot through the
/// application's webhook.
fn webhook_message_object(
    cfg: &FakeDiscordConfig,
    id: u64,
    channel_id: u64,
    content: &str,
) -> Value {
    let mut m = fixtures::message(id, channel_id, fixtures::bot_user(cfg), content);
    m["webhook_id"] = json!(cfg.app_id.to_string());
    m["application_id"] = json!(cfg.app_id.to_string());
    m["timestamp"] = json!(now_timestamp());
    m
}

/// Creates and stores a message from a create-message body (+ uploads), enforcing the
/// Discord rules a bot can trip over: size limit, empty message, 2000-char content.
fn new_message(
    st: &mut FakeState,
    req: &Req<'_>,
    channel_id: u64,
    body: Option<&Value>,
    via_webhook: bool,
) -> Result<u64, Answer> {
    check_upload_size(req)?;
    let empty = Value::Object(Map::new());
    let body = body.unwrap_or(&empty);
    let has_text = body["content"].as_str().is_some_and(|c| !c.is_empty());
    let has_embeds = body["embeds"].as_array().is_some_and(|e| !e.is_empty());
    let has_components = body["components"].as_array().is_some_and(|c| !c.is_empty());
    if !has_text && !has_embeds && !has_components && req.files.is_empty() && body["poll"].is_null()
    {
        return Err(error(400, 50006, "Cannot send an empty message"));
    }
    let id = st.next_id();
    let mut m = if via_webhook {
        webhook_message_object(req.cfg, id, channel_id, "")
    } else {
        let mut m = fixtures::message(id, channel_id, fixtures::bot_user(req.cfg), "");
        m["timestamp"] = json!(now_timestamp());
        m
    };
    apply_fields(st, req, &mut m, body, true)?;
    st.messages.insert(id, m);
    Ok(id)
}

/// Applies an edit body (+ uploads) to stored message `id`.
fn apply_edit(
    st: &mut FakeState,
    req: &Req<'_>,
    id: u64,
    body: Option<&Value>,
) -> Result<(), Answer> {
    check_upload_size(req)?;
    let empty = Value::Object(Map::new());
    let mut m = st.messages[&id].clone();
    apply_fields(st, req, &mut m, body.unwrap_or(&empty), false)?;
    // An edit replaces a deferred response's "thinking…" state.
    if let Some(flags) = m["flags"].as_u64() {
        m["flags"] = json!(flags & !128);
    }
    m["edited_timestamp"] = json!(now_timestamp());
    st.messages.insert(id, m);
    Ok(())
}

fn check_upload_size(req: &Req<'_>) -> Result<(), Answer> {
    let total: u64 = req.files.iter().map(|f| f.bytes.len() as u64).sum();
    if total > req.cfg.max_upload_bytes {
        return Err(error(413, 40005, "Request entity too large"));
    }
    Ok(())
}

/// Copies content, embeds, components, flags, tts and attachments from a request body into a
/// message. For a new message absent keys keep the skeleton's defaults; for an edit they keep
/// the old values.
fn apply_fields(
    st: &mut FakeState,
    req: &Req<'_>,
    m: &mut Value,
    body: &Value,
    creating: bool,
) -> Result<(), Answer> {
    if let Some(content) = body["content"].as_str() {
        if content.chars().count() > 2000 {
            return Err(invalid_form_body(
                "content: must be 2000 or fewer in length",
            ));
        }
        m["content"] = json!(content);
    }
    if let Some(embeds) = body["embeds"].as_array() {
        if embeds.len() > 10 {
            return Err(invalid_form_body("embeds: must be 10 or fewer in length"));
        }
        m["embeds"] = Value::Array(embeds.iter().map(normalize_embed).collect());
    }
    if let Some(components) = body["components"].as_array() {
        let mut next = 1;
        let components = components
            .iter()
            .map(|c| number_components(strip_nulls(c.clone()), &mut next))
            .collect();
        m["components"] = Value::Array(components);
    }
    if let Some(flags) = body["flags"].as_u64() {
        // Keep LOADING on a deferred message until apply_edit clears it.
        let loading = m["flags"].as_u64().unwrap_or(0) & 128;
        m["flags"] = json!(flags | loading);
    }
    if creating {
        if let Some(tts) = body["tts"].as_bool() {
            m["tts"] = json!(tts);
        }
        if !body["nonce"].is_null() {
            m["nonce"] = body["nonce"].clone();
        }
    }
    let existing = m["attachments"].as_array().cloned().unwrap_or_default();
    m["attachments"] = Value::Array(attachments(st, req, body, &existing)?);
    Ok(())
}

/// The attachments after a create/edit: with an `attachments` list, the existing ones it names
/// (by string id) plus the uploads it names (by placeholder id `n` for part `files[n]`, which
/// serenity sends as an integer); uploads it doesn't name are added too. Without the list the
/// uploads are appended to what was there.
fn attachments(
    st: &mut FakeState,
    req: &Req<'_>,
    body: &Value,
    existing: &[Value],
) -> Result<Vec<Value>, Answer> {
    let mut out = Vec::new();
    let mut used = vec![false; req.files.len()];
    match body["attachments"].as_array() {
        Some(list) => {
            for entry in list {
                let id = &entry["id"];
                if let Some(old) = existing
                    .iter()
                    .find(|a| a["id"].as_str().is_some() && a["id"].as_str() == id.as_str())
                {
                    out.push(old.clone());
                    continue;
                }
                let Some(n) = snowflake(id) else {
                    return Err(invalid_form_body("attachments: id missing"));
                };
                let field = format!("files[{n}]");
                let Some(i) = req.files.iter().position(|f| f.field == field) else {
                    return Err(invalid_form_body(&format!(
                        "attachments: no upload {field} and no existing attachment {n}"
                    )));
                };
                used[i] = true;
                out.push(store_upload(st, req, &req.files[i], entry));
            }
        }
        None => out.extend(existing.iter().cloned()),
    }
    for (i, f) in req.files.iter().enumerate() {
        if !used[i] {
            out.push(store_upload(st, req, f, &Value::Null));
        }
    }
    Ok(out)
}

/// Stores an upload and returns its attachment object (PNG width/height included, as
/// Discord does for images).
fn store_upload(st: &mut FakeState, req: &Req<'_>, f: &RecordedFile, entry: &Value) -> Value {
    let id = st.next_id();
    let filename = entry["filename"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(if f.filename.is_empty() {
            "file"
        } else {
            &f.filename
        })
        .to_owned();
    let url = format!("{}/attachments/{id}/{filename}", req.base_url);
    let mut a = json!({
        "id": id.to_string(),
        "filename": filename,
        "size": f.bytes.len(),
        "url": url,
        "proxy_url": url,
    });
    if let Some(ct) = &f.content_type {
        a["content_type"] = json!(ct);
    }
    if let Some(desc) = entry["description"].as_str() {
        a["description"] = json!(desc);
    }
    if let Some((w, h)) = png_size(&f.bytes) {
        a["width"] = json!(w);
        a["height"] = json!(h);
    }
    st.files.insert(
        id,
        StoredFile {
            content_type: f.content_type.clone(),
            bytes: f.bytes.clone(),
        },
    );
    a
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&bytes[16..20]), be(&bytes[20..24])))
}

/// A request embed as Discord returns it: no nulls, `type: "rich"`, fields with `inline`.
fn normalize_embed(e: &Value) -> Value {
    let mut e = strip_nulls(e.clone());
    if let Some(obj) = e.as_object_mut() {
        obj.entry("type").or_insert(json!("rich"));
        if let Some(fields) = obj.get_mut("fields").and_then(Value::as_array_mut) {
            for f in fields.iter_mut().filter_map(Value::as_object_mut) {
                f.entry("inline").or_insert(json!(false));
            }
        }
    }
    e
}

/// Gives every component without one a numeric `id` in depth-first order, as Discord does
/// (the spec requires it in responses).
fn number_components(mut c: Value, next: &mut u64) -> Value {
    if let Some(obj) = c.as_object_mut() {
        if obj.contains_key("type") && !obj.contains_key("id") {
            obj.insert("id".into(), json!(*next));
        }
        *next += 1;
        if let Some(children) = obj.get_mut("components").and_then(Value::as_array_mut) {
            for child in children.iter_mut() {
                *child = number_components(child.take(), next);
            }
        }
    }
    c
}

/// Removes `null` members from objects, recursively.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// Current UTC time as Discord formats it (`2024-01-01T00:00:00.000000+00:00`), without a
/// date crate: days since the epoch → civil date (H. Hinnant's algorithm).
fn now_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_shape() {
        let t = now_timestamp();
        assert_eq!(t.len(), "2024-01-01T00:00:00.000000+00:00".len(), "{t}");
        assert!(t.starts_with("20") && t.ends_with("+00:00"), "{t}");
    }

    #[test]
    fn components_get_ids_depth_first() {
        let row = json!({"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "a", "emoji": null}]});
        let mut next = 1;
        let out = number_components(strip_nulls(row), &mut next);
        assert_eq!(out["id"], 1);
        assert_eq!(out["components"][0]["id"], 2);
        assert!(out["components"][0].get("emoji").is_none());
    }

    #[test]
    fn png_dimensions() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&8u32.to_be_bytes());
        png.extend_from_slice(&4u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((8, 4)));
        assert_eq!(png_size(b"GIF89a"), None);
    }
}
