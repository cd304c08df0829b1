//! Try zipp without a Discord account: a fake Discord on 127.0.0.1 that you type `/imagine`
//! into. The bot connects to it exactly as it would to Discord; rendered images are saved as
//! PNG files.
//!
//! ```text
//! cargo run --example fake_discord -- [--port 3030] [--out fake-discord-out]
//! # in another terminal:
//! ZIPP_DISCORD__API_URL=http://127.0.0.1:3030 DISCORD_TOKEN=fake cargo run --release -- run
//! # then type into the first terminal:
//! /imagine a lighthouse at dusk
//! /imagine a red cat seed=42
//! ```

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark or tool run by hand: its report is its output, and it may stop at the first error"
)]

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use fake_discord::fixtures::{opt_int, opt_str, InteractionBuilder};
use fake_discord::{FakeDiscord, FakeDiscordConfig};

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg_value(&args, "--port")
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3030);
    let out =
        PathBuf::from(arg_value(&args, "--out").unwrap_or_else(|| "fake-discord-out".to_owned()));
    std::fs::create_dir_all(&out)?;
    let fake = FakeDiscord::start(FakeDiscordConfig {
        bind: ([127, 0, 0, 1], port).into(),
        ..FakeDiscordConfig::default()
    })
    .await?;
    println!("fake Discord listening on {}", fake.base_url());
    println!("start the bot with:");
    println!(
        "  ZIPP_DISCORD__API_URL={} DISCORD_TOKEN=fake cargo run --release -- run",
        fake.base_url()
    );
    println!("then type: /imagine <prompt> [seed=N]   (Ctrl-D quits)");

    // Show what the bot sends, and save every image.
    let watcher = {
        let fake = fake.clone();
        let out = out.clone();
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            loop {
                for request in fake.requests() {
                    if !seen.insert(request.seq) {
                        continue;
                    }
                    if request.path.ends_with("/commands") {
                        println!("[bot] registered its slash commands");
                        continue;
                    }
                    let content = request
                        .json
                        .as_ref()
                        .and_then(|j| j.get("content").or_else(|| j.pointer("/data/content")))
                        .and_then(|c| c.as_str());
                    if let Some(content) = content {
                        println!("[bot] {content}");
                    }
                    for file in &request.files {
                        let name = out.join(format!("{}-{}", request.seq, file.filename));
                        match std::fs::write(&name, &file.bytes) {
                            Ok(()) => {
                                println!("[bot] sent {} → saved {}", file.filename, name.display())
                            }
                            Err(e) => eprintln!("could not save {}: {e}", name.display()),
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let mut next_id: u64 = 990_000_000_000_000_000;
    while let Some(line) = lines_rx.recv().await {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("/imagine") else {
            if !line.is_empty() {
                println!("only /imagine <prompt> [seed=N] is understood here");
            }
            continue;
        };
        if fake.identify_count() == 0 {
            println!("the bot is not connected yet; start it first (see above)");
            continue;
        }
        let mut options = Vec::new();
        let mut words = Vec::new();
        for word in rest.split_whitespace() {
            match word.strip_prefix("seed=").map(str::parse::<i64>) {
                Some(Ok(seed)) => options.push(opt_int("seed", seed)),
                _ => words.push(word),
            }
        }
        options.insert(0, opt_str("prompt", &words.join(" ")));
        next_id += 1;
        let token = format!("trial-{next_id}");
        let event =
            InteractionBuilder::new(fake.config(), next_id, &token).command("imagine", options);
        fake.dispatch("INTERACTION_CREATE", event).await;
    }
    watcher.abort();
    Ok(())
}
