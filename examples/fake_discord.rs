//! A fake Discord on 127.0.0.1 for a bot started separately (`zipp run`, another build, a
//! debugger): type slash commands, press buttons and fill in forms in this terminal, as with
//! `cargo run --example demo` (which starts everything in one process). Rendered images are
//! saved as PNG files.
//!
//! ```text
//! cargo run --example fake_discord -- [--port 3030] [--out fake-discord-out]
//! # in another terminal:
//! ZIPP_DISCORD__API_URL=http://127.0.0.1:3030 DISCORD_TOKEN=fake cargo run --release -- run
//! # then type into the first terminal (`help` lists every command the bot registered):
//! /imagine a lighthouse at dusk seed=42
//! ```

#![allow(
    clippy::print_stdout,
    reason = "a tool run by hand: its console is its output"
)]

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use fake_discord::console::{self, Console};
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
    println!(
        "fake Discord listening on {}; start the bot with:",
        fake.base_url()
    );
    println!(
        "  ZIPP_DISCORD__API_URL={} DISCORD_TOKEN=fake cargo run --release -- run",
        fake.base_url()
    );
    let mut console = Console::new(fake, out);
    // Wait as long as a first build of the bot may take.
    console.wait_for_commands(Duration::from_secs(3600)).await?;
    let mut stdout = std::io::stdout();
    console.show_new(&mut stdout)?;
    println!("the bot is connected; `help` lists what you can type (Ctrl-D quits)");
    let interactive = std::io::stdin().is_terminal();
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    console::run(
        &mut console,
        input,
        &mut stdout,
        interactive,
        Duration::from_secs(300),
    )
    .await
}
