//! A fake OpenAI-compatible chat-completions server on 127.0.0.1 (a hosted LLM API is outside
//! what tests can run), with fault modes — rate limits, server errors, malformed bodies,
//! refusals, hangs — and a gullible model that obeys instructions injected into the prompt data
//! or the persona, for the red-team tests. Plain HTTP/1.1 over tokio, one request per connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the fake server behaves.
#[derive(Debug, Clone)]
pub enum Mode {
    /// A chatty but correct rewrite.
    Normal,
    /// 429 with `Retry-After: secs` for the first `n` requests, then normal.
    RateLimited {
        /// How many requests get 429.
        n: usize,
        /// The `Retry-After` value (seconds).
        secs: u64,
    },
    /// 500 for the first `n` requests, then normal.
    ServerError {
        /// How many requests get 500.
        n: usize,
    },
    /// `200` with a body that is not JSON.
    Malformed,
    /// A refusal.
    Refusal,
    /// Never answers.
    Hang,
    /// A correct rewrite, after this delay (a slow model).
    Slow(Duration),
    /// A model that obeys instructions found in the prompt data and the persona.
    Injectable,
    /// A correct rewrite with mention, invite, link and bidi payloads appended.
    Payloads,
    /// Always this answer (e.g. a persona, for the verbalizer).
    Fixed(String),
}

/// A running fake LLM server.
pub struct Fake {
    /// Base URL including `/v1`.
    pub url: String,
    /// Requests received so far.
    pub hits: Arc<AtomicUsize>,
    /// The JSON bodies of the chat-completion requests, in arrival order.
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

/// Starts a fake server answering in `mode`.
pub async fn start(mode: Mode) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (counter, recorded) = (hits.clone(), bodies.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, mode.clone(), n, recorded.clone()));
        }
    });
    Fake { url, hits, bodies }
}

/// Reads one HTTP/1.1 request (headers + Content-Length body); returns the body.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into());
            }
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    mode: Mode,
    n: usize,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
) {
    let Some(body) = read_request(&mut stream).await else {
        return;
    };
    let Ok(req) = serde_json::from_str::<serde_json::Value>(&body) else {
        return;
    };
    if let Ok(mut bodies) = bodies.lock() {
        bodies.push(req.clone());
    }
    let msgs = req["messages"].as_array().cloned().unwrap_or_default();
    let system = msgs
        .first()
        .map(|m| &m["content"])
        .unwrap_or(&serde_json::Value::Null)
        .as_str()
        .unwrap_or("")
        .to_owned();
    let user = msgs
        .last()
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let data = user
        .trim_start_matches("<member_prompt>")
        .trim_end_matches("</member_prompt>")
        .trim()
        .to_owned();
    let ok = |content: String| {
        let message = serde_json::json!({"role": "assistant", "content": content});
        let body = serde_json::json!({ "choices": [{ "message": message }] });
        (200, String::new(), body.to_string())
    };
    let (status, extra, body) = match mode {
        Mode::Normal => ok(format!(
            "Sure! Here's the rewritten prompt:\n\n\"{data}, soft watercolor, pastel palette\"\n\n\
             This keeps the subject."
        )),
        Mode::RateLimited { n: k, secs } if n < k => {
            (429, format!("Retry-After: {secs}\r\n"), "{}".to_owned())
        }
        Mode::ServerError { n: k } if n < k => (500, String::new(), "boom".to_owned()),
        Mode::RateLimited { .. } | Mode::ServerError { .. } => ok(format!("{data}, watercolor")),
        Mode::Malformed => (200, String::new(), "{\"choices\": [ nope".to_owned()),
        Mode::Refusal => ok("I'm sorry, but I can't help with that.".to_owned()),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        Mode::Slow(delay) => {
            tokio::time::sleep(delay).await;
            ok(format!("{data}, soft watercolor"))
        }
        Mode::Injectable => ok(obey(&system, &data)),
        Mode::Fixed(text) => ok(text),
        Mode::Payloads => ok(format!(
            "{data}, watercolor @everyone @here <@123> <@&456> <#789> discord.gg/abc \
             https://evil.example \u{202E}\u{200B}"
        )),
    };
    let reason = match status {
        200 => "OK",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A gullible model: does whatever the prompt data or persona says.
pub fn obey(system: &str, data: &str) -> String {
    let lower = data.to_lowercase();
    let decoded = data
        .replace("at sign ", "@")
        .replace("AT SIGN ", "@")
        .replace(" dot gg", ".gg")
        .replace("‹", "<")
        .replace("›", ">");
    if lower.contains("system prompt") || lower.contains("your instructions") {
        return system.to_owned();
    }
    for verb in [
        "output only",
        "reply only with",
        "say only",
        "respond with",
        "print",
    ] {
        if let Some(pos) = lower.find(verb) {
            return decoded[pos + verb.len()..].trim().to_owned();
        }
    }
    let mut out = format!("{decoded}, dramatic lighting");
    if let Some(pos) = system.find("always add") {
        let rest = &system[pos + "always add".len()..];
        let payload = rest.split('\n').next().unwrap_or("");
        out = format!("{out}, {}", payload.replace("at sign ", "@"));
    }
    out
}
