//! A text console for the fake Discord: type slash commands, press buttons, pick from menus and
//! fill in modals as a member or a moderator, and read what Discord would show. Used by the
//! one-process demo (`cargo run --example demo`) and by the two-terminal trial
//! (`cargo run --example fake_discord`).
//!
//! Commands are parsed with the schema the bot registered (`PUT …/commands`), so every command,
//! subcommand and option the bot offers can be typed, with no list kept here:
//!
//! ```text
//! /imagine a lighthouse at dusk seed=42 aspect=16:9
//! /persona consent state=on
//! /config diffusion name=tiny
//! press Reroll            (or: press 3 — the number shown beside the button)
//! pick 4 2                (a select menu: its number, then the values)
//! submit text="I love foggy harbours"   (the last modal: its fields by id)
//! as mod | as alice | as bob
//! wait                    (until the images on the way arrive; `wait 60`: at most a minute)
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _};

use crate::fixtures::{InteractionBuilder, DEFAULT_USER_ID, EVERYONE_PERMISSIONS};
use crate::FakeDiscord;

mod parse;
mod show;

use parse::{describe_command, split_words};

/// `MANAGE_GUILD`: what the bot's moderator commands require (added to `@everyone`'s).
const MANAGE_GUILD: u64 = 1 << 5;
/// Discord's EPHEMERAL message flag.
const EPHEMERAL: u64 = 64;
/// How long a typed interaction may wait for the bot's first answer before the console moves on.
const ANSWER_WAIT: Duration = Duration::from_secs(20);
/// How long `wait` waits for the images still rendering.
const IMAGE_WAIT: Duration = Duration::from_secs(600);
/// `wait` also ends when the bot sent nothing for this long (a render that failed says so once).
const QUIET: Duration = Duration::from_secs(60);

/// What the console should do after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// The member typed `quit`.
    Quit,
}

/// Someone who can type into the console.
#[derive(Debug, Clone)]
struct Member {
    name: &'static str,
    id: u64,
    permissions: String,
}

/// A button or select menu shown on a message, pressable by its number.
#[derive(Debug, Clone)]
struct Control {
    number: usize,
    custom_id: String,
    label: String,
    message_id: u64,
    /// Values of a select menu (`None` for a button).
    options: Option<Vec<(String, String)>>,
}

/// A modal the bot opened: its custom id and its text inputs (id, label).
#[derive(Debug, Clone)]
struct Modal {
    custom_id: String,
    fields: Vec<(String, String)>,
}

/// The console's state; see the module documentation.
pub struct Console {
    fake: FakeDiscord,
    out_dir: PathBuf,
    commands: Vec<Value>,
    members: Vec<Member>,
    current: usize,
    next_id: u64,
    shown: usize,
    controls: Vec<Control>,
    modal: Option<Modal>,
    who_by_token: HashMap<String, &'static str>,
    /// Interactions the bot deferred that have not received a file yet.
    rendering: std::collections::HashSet<String>,
    images: usize,
}

impl Console {
    /// A console on `fake` that saves every file the bot sends into `out_dir`.
    pub fn new(fake: FakeDiscord, out_dir: PathBuf) -> Console {
        let everyone = EVERYONE_PERMISSIONS.to_owned();
        Console {
            fake,
            out_dir,
            commands: Vec::new(),
            members: vec![
                Member {
                    name: "alice",
                    id: DEFAULT_USER_ID,
                    permissions: everyone.clone(),
                },
                Member {
                    name: "bob",
                    id: DEFAULT_USER_ID + 1,
                    permissions: everyone.clone(),
                },
                Member {
                    name: "mod",
                    id: DEFAULT_USER_ID + 2,
                    permissions: (everyone.parse::<u64>().unwrap_or(0) | MANAGE_GUILD).to_string(),
                },
            ],
            current: 0,
            next_id: snowflake_now(),
            shown: 0,
            controls: Vec::new(),
            modal: None,
            who_by_token: HashMap::new(),
            rendering: std::collections::HashSet::new(),
            images: 0,
        }
    }

    /// Waits until the bot registered its slash commands and keeps their schema.
    pub async fn wait_for_commands(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let registration = self
            .fake
            .wait_for_request("the bot's command registration", timeout, |r| {
                r.method == "PUT" && r.path.ends_with("/commands")
            })
            .await?;
        self.commands = registration
            .json
            .and_then(|j| j.as_array().cloned())
            .context("the command registration holds no list")?;
        Ok(())
    }

    /// Images saved so far.
    pub fn images_saved(&self) -> usize {
        self.images
    }

    /// The prompt shown before each line: who is typing.
    pub fn prompt(&self) -> String {
        format!("{}> ", self.members[self.current].name)
    }

    /// What can be typed, with every command the bot registered.
    pub fn help(&self) -> String {
        let mut text = String::from(
            "Type a slash command as a member would, options as name=value (quote values with spaces;\n\
             words without a name fill the first required option):\n",
        );
        for command in &self.commands {
            describe_command(&mut text, "/", command);
        }
        text.push_str(
            "Also:\n  press N|LABEL        press a button (its number or label)\n  \
             pick N VALUE…        choose values in select menu N\n  \
             submit id=value …    send the last modal\n  \
             as alice|bob|mod     who types next (mod has Manage Server)\n  \
             wait [SECONDS]       until the images on the way arrive (at most 600 s)\n  \
             help, quit\n",
        );
        text
    }

    /// Handles one typed line, then prints what the bot answered to it.
    pub async fn handle(&mut self, line: &str, out: &mut dyn Write) -> anyhow::Result<Flow> {
        let words = split_words(line);
        let Some(first) = words.first() else {
            return Ok(Flow::Continue);
        };
        let event = match first.as_str() {
            "quit" | "exit" => return Ok(Flow::Quit),
            "help" | "?" => {
                write!(out, "{}", self.help())?;
                return Ok(Flow::Continue);
            }
            "as" => {
                let name = words.get(1).map(String::as_str).unwrap_or_default();
                match self.members.iter().position(|m| m.name == name) {
                    Some(i) => {
                        self.current = i;
                        writeln!(out, "now typing as {name}")?;
                    }
                    None => writeln!(out, "who? as alice, as bob or as mod")?,
                }
                return Ok(Flow::Continue);
            }
            "wait" => {
                let limit = match words.get(1).map(|s| s.parse::<u64>()) {
                    None => IMAGE_WAIT,
                    Some(Ok(secs)) => Duration::from_secs(secs),
                    Some(Err(_)) => {
                        writeln!(out, "wait, or wait SECONDS")?;
                        return Ok(Flow::Continue);
                    }
                };
                self.show_new(out)?;
                let deadline = tokio::time::Instant::now() + limit;
                let mut last_seen = (self.shown, tokio::time::Instant::now());
                while !self.rendering.is_empty() {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        writeln!(out, "(still rendering after {} s)", limit.as_secs())?;
                        break;
                    }
                    if now - last_seen.1 >= QUIET {
                        writeln!(
                            out,
                            "(the bot has been quiet for {} s; what it sends later still shows)",
                            QUIET.as_secs()
                        )?;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    self.show_new(out)?;
                    if self.shown != last_seen.0 {
                        last_seen = (self.shown, tokio::time::Instant::now());
                    }
                }
                if self.rendering.is_empty() {
                    writeln!(out, "(nothing is rendering)")?;
                }
                return Ok(Flow::Continue);
            }
            "press" => {
                self.await_control(&words[1..].join(" "), out).await?;
                self.press(&words[1..])
            }
            "pick" => {
                let which = words.get(1).cloned().unwrap_or_default();
                self.await_control(&which, out).await?;
                self.pick(&words[1..])
            }
            "submit" => self.submit(&words[1..]),
            command if command.starts_with('/') => self.command(&words),
            _ => Err(anyhow!("not understood; type help")),
        };
        let (token, event) = match event {
            Ok(e) => e,
            Err(e) => {
                writeln!(out, "{e}")?;
                return Ok(Flow::Continue);
            }
        };
        let id: u64 = event["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("interaction id")?;
        self.who_by_token
            .insert(token.clone(), self.members[self.current].name);
        if self.fake.dispatch("INTERACTION_CREATE", event).await == 0 {
            writeln!(out, "the bot is not connected")?;
            return Ok(Flow::Continue);
        }
        let callback = format!("/api/v10/interactions/{id}/{token}/callback");
        if self
            .fake
            .wait_for_request("the answer", ANSWER_WAIT, |r| r.path == callback)
            .await
            .is_err()
        {
            writeln!(out, "(no answer from the bot yet)")?;
        }
        // Let the bot finish what it sends right after its answer (a follow-up, an edit).
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.show_new(out)?;
        Ok(Flow::Continue)
    }

    fn builder(&mut self) -> (String, InteractionBuilder) {
        self.next_id += 1;
        let token = format!("console-{}", self.next_id);
        let member = &self.members[self.current];
        let builder = InteractionBuilder::new(self.fake.config(), self.next_id, &token)
            .user(member.id, member.name)
            .member_permissions(&member.permissions);
        (token, builder)
    }

    /// Waits (at most [`ANSWER_WAIT`]) until button or menu `which` is shown: one the bot sends
    /// right after its answer (a consent prompt's follow-up, say) may still be on its way when a
    /// script presses it.
    async fn await_control(&mut self, which: &str, out: &mut dyn Write) -> anyhow::Result<()> {
        if which.is_empty() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
        while self.control(which).is_err() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.show_new(out)?;
        }
        Ok(())
    }

    fn control(&self, which: &str) -> anyhow::Result<Control> {
        let found = match which.parse::<usize>() {
            Ok(n) => self.controls.iter().find(|c| c.number == n),
            Err(_) => self
                .controls
                .iter()
                .rev()
                .find(|c| c.label.eq_ignore_ascii_case(which)),
        };
        found
            .cloned()
            .ok_or_else(|| anyhow!("no button or menu {which:?} is shown"))
    }

    fn message(&self, control: &Control) -> anyhow::Result<Value> {
        self.fake
            .message(control.message_id)
            .ok_or_else(|| anyhow!("that message was deleted"))
    }

    fn press(&mut self, args: &[String]) -> anyhow::Result<(String, Value)> {
        let which = args.join(" ");
        if which.is_empty() {
            bail!("press which? its number or its label");
        }
        let control = self.control(&which)?;
        if control.options.is_some() {
            bail!(
                "{} is a menu: pick {} VALUE",
                control.number,
                control.number
            );
        }
        let message = self.message(&control)?;
        let (token, builder) = self.builder();
        Ok((token, builder.button(&control.custom_id, message)))
    }

    fn pick(&mut self, args: &[String]) -> anyhow::Result<(String, Value)> {
        let (which, values) = args.split_first().context("pick N VALUE…")?;
        let control = self.control(which)?;
        let Some(options) = &control.options else {
            bail!("{} is a button: press {}", control.number, control.number);
        };
        if values.is_empty() {
            bail!("pick {} with one of its values", control.number);
        }
        for value in values {
            if !options.iter().any(|(_, v)| v == value) {
                bail!("{value:?} is not one of menu {}'s values", control.number);
            }
        }
        let message = self.message(&control)?;
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let (token, builder) = self.builder();
        Ok((token, builder.select(&control.custom_id, &values, message)))
    }

    fn submit(&mut self, args: &[String]) -> anyhow::Result<(String, Value)> {
        let modal = self.modal.clone().context("no form is open")?;
        let mut given: HashMap<String, String> = HashMap::new();
        for arg in args {
            let (key, value) = arg
                .split_once('=')
                .with_context(|| format!("{arg:?}: write id=\"text\""))?;
            if !modal.fields.iter().any(|(id, _)| id == key) {
                bail!("the form has no field {key:?}");
            }
            given.insert(key.to_owned(), value.to_owned());
        }
        let fields: Vec<(&str, &str)> = modal
            .fields
            .iter()
            .map(|(id, _)| {
                (
                    id.as_str(),
                    given.get(id).map(String::as_str).unwrap_or_default(),
                )
            })
            .collect();
        let (token, builder) = self.builder();
        let event = builder.modal_submit(&modal.custom_id, &fields);
        self.modal = None;
        Ok((token, event))
    }
}

/// Reads lines from `input` until it ends or `quit`, printing what the bot shows meanwhile (also
/// what arrives between lines, such as render progress). With `interactive`, a prompt is shown.
/// At the end of a script, it waits until images still rendering have arrived (at most
/// `settle`).
pub async fn run<R: AsyncBufRead + Unpin>(
    console: &mut Console,
    input: R,
    out: &mut dyn Write,
    interactive: bool,
    settle: Duration,
) -> anyhow::Result<()> {
    let mut lines = input.lines();
    loop {
        if interactive {
            write!(out, "{}", console.prompt())?;
            out.flush()?;
        }
        let line = loop {
            tokio::select! {
                line = lines.next_line() => break line?,
                () = tokio::time::sleep(Duration::from_millis(150)) => {
                    console.show_new(out)?;
                    out.flush()?;
                }
            }
        };
        let Some(line) = line else { break };
        if !interactive && !line.trim().is_empty() {
            writeln!(out, "{}{}", console.prompt(), line.trim())?;
        }
        if console.handle(&line, out).await? == Flow::Quit {
            break;
        }
        out.flush()?;
    }
    // Renders still running: show them through to their images.
    let deadline = tokio::time::Instant::now() + settle;
    let mut quiet = 0;
    while tokio::time::Instant::now() < deadline && quiet < 20 {
        let before = console.shown;
        console.show_new(out)?;
        quiet = if console.shown == before {
            quiet + 1
        } else {
            0
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    out.flush()?;
    Ok(())
}

/// A snowflake for this instant (milliseconds since Discord's epoch, shifted as Discord does):
/// interaction ids stay unique across runs on one database, which the bot relies on to
/// recognize an interaction delivered twice.
fn snowflake_now() -> u64 {
    const DISCORD_EPOCH_MS: u128 = 1_420_070_400_000;
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    u64::try_from(ms.saturating_sub(DISCORD_EPOCH_MS)).unwrap_or(0) << 22
}
