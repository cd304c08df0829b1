//! The gateway websocket: HELLO → IDENTIFY → READY + GUILD_CREATE, heartbeats, dispatches.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use crate::fixtures;
use crate::state::{Outbound, SessionHandle, Shared};

/// `GET /gateway` upgrade. Serenity appends `?v=10`; the URI is recorded for tests.
pub(crate) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    shared.lock().connects.push(uri.to_string());
    shared.notify();
    ws.on_upgrade(move |socket| session(shared, socket))
}

/// Per-connection state that lives in the session task.
struct Session {
    id: u64,
    /// Sequence number of the last dispatch sent; per session, reset by IDENTIFY.
    seq: u64,
}

async fn session(shared: Arc<Shared>, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = {
        let mut st = shared.lock();
        st.next_session += 1;
        let id = st.next_session;
        st.sessions.insert(
            id,
            SessionHandle {
                tx,
                identified: false,
                shard: None,
            },
        );
        id
    };
    shared.notify();
    let mut sess = Session { id, seq: 0 };
    let mut shutdown = shared.shutdown.subscribe();
    let hello = json!({"op": 10, "d": {"heartbeat_interval": shared.cfg.heartbeat_interval_ms}});
    if send(&mut socket, &hello).await.is_ok() {
        loop {
            tokio::select! {
                incoming = socket.recv() => {
                    let text = match incoming {
                        Some(Ok(Message::Text(t))) => t.to_string(),
                        Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                        // Keep polling after a Close frame: tungstenite answers the close
                        // handshake itself and the stream then ends. Breaking out here makes
                        // serenity's shutdown_all() wait ~0.5 s for a close reply.
                        Some(Ok(_)) => continue,
                        Some(Err(_)) | None => break,
                    };
                    if handle_frame(&shared, &mut sess, &mut socket, &text).await.is_err() {
                        break;
                    }
                }
                Some(out) = rx.recv() => {
                    let (frame, done) = match out {
                        Outbound::Dispatch { t, d, done } => {
                            sess.seq += 1;
                            (json!({"op": 0, "s": sess.seq, "t": t, "d": d}), done)
                        }
                        Outbound::Raw { frame, done } => (frame, done),
                    };
                    if send(&mut socket, &frame).await.is_err() {
                        break;
                    }
                    let _ = done.send(());
                }
                () = stopped(&mut shutdown) => break,
            }
        }
    }
    shared.lock().sessions.remove(&id);
    shared.notify();
}

/// Reacts to one client frame. An error means the socket is gone.
async fn handle_frame(
    shared: &Shared,
    sess: &mut Session,
    socket: &mut WebSocket,
    text: &str,
) -> Result<(), axum::Error> {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        tracing::warn!("fake discord gateway: ignoring non-JSON frame {text:?}");
        return Ok(());
    };
    let op = frame["op"].as_u64().unwrap_or(u64::MAX);
    shared.lock().received_ops.push(op);
    match op {
        // HEARTBEAT
        1 => {
            let ack = {
                let mut st = shared.lock();
                st.heartbeats += 1;
                st.heartbeat_ack
            };
            shared.notify();
            if ack {
                send(socket, &json!({"op": 11})).await?;
            }
        }
        // IDENTIFY: a new session, so the sequence restarts at 1 with READY.
        2 => {
            sess.seq = 0;
            let cfg = &shared.cfg;
            let session_id = format!("fake-session-{}", sess.id);
            let shard = frame["d"]["shard"].clone();
            let ready = fixtures::ready(cfg, &shared.gateway_url(), &session_id, shard.clone());
            // Mark the session identified *before* READY goes out: the bot may answer READY
            // (register its commands) before this task gets to run again, and a test that
            // dispatches right then must reach this session. Its events queue on the session's
            // channel, which this task drains only after READY and GUILD_CREATE are written,
            // so they cannot overtake them.
            let shard = shard
                .as_array()
                .and_then(|s| Some((s.first()?.as_u64()?, s.get(1)?.as_u64()?)));
            let guild = fixtures::guild_create(cfg);
            let mut gets_guild = true;
            if let Some(s) = shared.lock().sessions.get_mut(&sess.id) {
                s.identified = true;
                s.shard = shard;
                // The server's own shard gets its GUILD_CREATE.
                gets_guild = s.receives(&json!({ "guild_id": guild["id"] }));
            }
            dispatch(socket, sess, "READY", ready).await?;
            if gets_guild {
                dispatch(socket, sess, "GUILD_CREATE", guild).await?;
            }
            // Count the IDENTIFY only after READY is on the wire, so that a test's dispatch
            // after wait_for_identify() can't overtake it.
            shared.lock().identifies.push(frame["d"].clone());
            shared.notify();
        }
        // RESUME: continue the client's sequence.
        6 => {
            sess.seq = frame["d"]["seq"].as_u64().unwrap_or(0);
            dispatch(socket, sess, "RESUMED", json!({})).await?;
            if let Some(s) = shared.lock().sessions.get_mut(&sess.id) {
                s.identified = true;
            }
            shared.notify();
        }
        // Presence updates, voice state, member requests…: recorded in received_ops only.
        _ => {}
    }
    Ok(())
}

async fn dispatch(
    socket: &mut WebSocket,
    sess: &mut Session,
    t: &str,
    d: Value,
) -> Result<(), axum::Error> {
    sess.seq += 1;
    send(socket, &json!({"op": 0, "s": sess.seq, "t": t, "d": d})).await
}

/// Resolves once the fake shuts down. A separate fn so the non-`Send` `watch::Ref` it gets is
/// dropped inside and never lives in the (`Send`) session future's `select!` output.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopped| *stopped).await;
}

async fn send(socket: &mut WebSocket, frame: &Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(frame.to_string().into())).await
}
