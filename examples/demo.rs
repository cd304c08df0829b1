//! Try zipp in one command, without Discord: a fake Discord, the bot and a render worker in
//! one process, and a console to type into as a member or a moderator.
//!
//! ```text
//! cargo run --release --example demo                 # the tiny random-weight model (noise, fast)
//! cargo run --release --example demo -- --model sd-turbo   # a real model of config/models.toml
//! ```
//!
//! Options: `--model NAME|DIR` (default `tiny`, made on first use in `DATA/models`), `--data DIR`
//! (default `data/demo`: the database and the tiny model; personas and jobs stay between runs),
//! `--out DIR` (default `demo-out`: every image and file the bot sends), `--fresh` (start from an
//! empty database). Type `help` for the commands; a script can be piped in
//! (`cargo run --example demo < script.txt`): its lines are echoed, and the demo waits for
//! renders still running before it stops. The bot's log goes to `DATA/demo.log`.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a tool run by hand: its console is its output"
)]

use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use fake_discord::console::{self, Console};
use fake_discord::{FakeDiscord, FakeDiscordConfig};
use zipp::app::{App, AppOptions};
use zipp::config::Config;

/// The demo's settings, from the command line.
#[derive(Debug, Clone)]
struct Options {
    model: String,
    data: PathBuf,
    out: PathBuf,
    fresh: bool,
}

impl Options {
    fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Options> {
        let mut options = Options {
            model: "tiny".to_owned(),
            data: PathBuf::from("data/demo"),
            out: PathBuf::from("demo-out"),
            fresh: false,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value =
                |name: &str| args.next().with_context(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--model" => options.model = value("--model")?,
                "--data" => options.data = PathBuf::from(value("--data")?),
                "--out" => options.out = PathBuf::from(value("--out")?),
                "--fresh" => options.fresh = true,
                "-h" | "--help" => {
                    bail!("usage: demo [--model NAME|DIR] [--data DIR] [--out DIR] [--fresh]")
                }
                other => bail!("unexpected argument {other:?}; try --help"),
            }
        }
        Ok(options)
    }
}

/// The tiny model and its safety checker in `data/models`, made when missing.
fn tiny_models(data: &Path, say: &mut dyn Write) -> anyhow::Result<(PathBuf, PathBuf)> {
    let models = data.join("models");
    let model = models.join("tiny-sd");
    let checker = models.join("safety-tiny");
    if !model.join("model_index.json").is_file() {
        writeln!(
            say,
            "making the tiny random-weight model in {} …",
            model.display()
        )?;
        let bpe = Path::new(zipp_clip::tokenizer::BUNDLED_BPE_GZ_PATH);
        zipp_diffusion::tiny::write_tiny_sd(&model, bpe)
            .with_context(|| format!("writing the tiny model to {}", model.display()))?;
    }
    if !checker.join("config.json").is_file() {
        // Thresholds of 2 (cosine similarities are at most 1): it flags nothing.
        zipp_clip::safety::write_tiny_checker(&checker, 2.0)
            .with_context(|| format!("writing the tiny checker to {}", checker.display()))?;
    }
    Ok((model, checker))
}

/// The catalog of `config/models.toml` with its `tiny` entry pointing at the demo's copy.
fn catalog(data: &Path, tiny: &Path) -> anyhow::Result<PathBuf> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/models.toml");
    let text = std::fs::read_to_string(&shipped)
        .with_context(|| format!("reading {}", shipped.display()))?;
    let tiny_line = format!("path = {:?}", tiny.display().to_string());
    let mut in_tiny = false;
    let mut replaced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') {
            in_tiny = line.trim() == "[diffusion.tiny]";
        }
        if in_tiny && line.starts_with("path =") {
            lines.push(tiny_line.clone());
            replaced = true;
        } else {
            lines.push(line.to_owned());
        }
    }
    if !replaced {
        lines.push(format!(
            "\n[diffusion.tiny]\n{tiny_line}\ndescription = \"Tiny random-weight model\"\nsteps = 4\nguidance_scale = 7.5"
        ));
    }
    let file = data.join("models.toml");
    std::fs::write(&file, lines.join("\n") + "\n")
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(file)
}

/// Starts the fake Discord and the bot with one worker, ready for the console.
async fn start(options: &Options, say: &mut dyn Write) -> anyhow::Result<(FakeDiscord, App)> {
    std::fs::create_dir_all(&options.data)
        .with_context(|| format!("creating {}", options.data.display()))?;
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let data = std::path::absolute(&options.data)?;
    let (tiny, checker) = tiny_models(&data, say)?;
    let database = data.join("demo.db");
    if options.fresh {
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", database.display()));
            if file.exists() {
                std::fs::remove_file(&file)
                    .with_context(|| format!("removing {}", file.display()))?;
            }
        }
    }
    let fake = FakeDiscord::start(FakeDiscordConfig::default()).await?;
    let mut config = Config::default();
    config.discord.api_url = fake.base_url();
    config.discord.delivery_poll_ms = 100;
    config.discord.progress_edit_interval_ms = 500;
    config.database.url = format!("sqlite://{}", database.display());
    config.render.models_file = catalog(&data, &tiny)?;
    config.render.default_model.clone_from(&options.model);
    config.render.poll_ms = 100;
    if options.model == "tiny" {
        config.render.safety_checker = checker.display().to_string();
    }
    writeln!(
        say,
        "starting a fake Discord on {} and zipp with the model {:?} (log: {})",
        fake.base_url(),
        options.model,
        data.join("demo.log").display()
    )?;
    let app = App::start(AppOptions {
        config,
        run_bot: true,
        workers: 1,
        renderer: None,
        token: Some("demo.bot.token".to_owned()),
        customize_client: None,
    })
    .await
    .context("starting zipp")?;
    Ok((fake, app))
}

/// The whole demo: start, read lines from `input` until it ends, stop.
async fn demo<R: tokio::io::AsyncBufRead + Unpin>(
    options: Options,
    input: R,
    out: &mut dyn Write,
    interactive: bool,
) -> anyhow::Result<Console> {
    let (fake, app) = start(&options, out).await?;
    let mut console = Console::new(fake, options.out.clone());
    let ready = console.wait_for_commands(Duration::from_secs(60)).await;
    if let Err(e) = ready {
        app.shutdown().await;
        return Err(e.context("the bot did not start"));
    }
    console.show_new(out)?;
    writeln!(
        out,
        "zipp is connected. You are alice, a member; `as mod` types as a moderator, `as bob` as \
         another member. Try: /imagine a lighthouse at dusk seed=42 — `help` lists everything."
    )?;
    let result = console::run(
        &mut console,
        input,
        out,
        interactive,
        Duration::from_secs(300),
    )
    .await;
    app.shutdown().await;
    result?;
    Ok(console)
}

fn log_to(data: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("demo.log"))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Err(e) = log_to(&options.data) {
        eprintln!("cannot write the log in {}: {e}", options.data.display());
    }
    let interactive = std::io::stdin().is_terminal();
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    let mut out = std::io::stdout();
    match demo(options, input, &mut out, interactive).await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            eprintln!("the demo stopped: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    //! The demo run as a user would, with a script on its input (the tiny model, SQLite).

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scripted_session_renders_and_uses_every_kind_of_interaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = Options::parse(
            [
                "--data",
                &dir.path().join("data").display().to_string(),
                "--out",
                &dir.path().join("out").display().to_string(),
            ]
            .map(str::to_owned),
        )
        .expect("options");
        let script = "\
/imagine a lighthouse at dusk seed=42 aspect=16:9
press Accept
wait 120
press Info
as bob
press Reroll
as alice
press Reroll
wait 120
/persona setup
submit who=\"a sailor\" love=\"foggy harbours\"
/persona show
/queue
/settings persona=off
/imagine
/nonsense
as bob
/config persona state=off
as mod
/config limits member_hourly=5
quit
";
        let mut out = Vec::new();
        let console = demo(options, script.as_bytes(), &mut out, false)
            .await
            .expect("the demo runs");
        let text = String::from_utf8(out).expect("utf-8");
        println!("{text}");
        // The tiny model was made in the data folder, and both images were saved.
        assert!(dir
            .path()
            .join("data/models/tiny-sd/model_index.json")
            .is_file());
        assert_eq!(console.images_saved(), 2, "{text}");
        let mut saved: Vec<PathBuf> = std::fs::read_dir(dir.path().join("out"))
            .expect("out dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "png"))
            .collect();
        saved.sort();
        assert_eq!(saved.len(), 2, "{text}");
        for png in &saved {
            let image = image::open(png).expect("a PNG").to_rgb8();
            assert!(image.width() > image.height(), "16:9, also rerolled");
        }
        for expected in [
            "[zipp registered",
            "alice> /imagine a lighthouse at dusk seed=42 aspect=16:9",
            "zipp → alice: thinking…",
            "Thanks! zipp will learn your taste",
            "model tiny, seed 42",
            "bob> press Reroll",
            "Only the member who made this image can make new ones from it.",
            "opens a form \"Tell zipp about yourself\"",
            "I am a sailor. I love foggy harbours.",
            "persona: off",
            "/imagine needs prompt=…",
            "no command /nonsense",
            "You need the Manage Server permission",
            "5 per hour",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }
}
