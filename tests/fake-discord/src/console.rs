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
//! /persona consent enabled=on
//! /config diffusion model=tiny
//! press Reroll            (or: press 3 — the number shown beside the button)
//! pick 4 2                (a select menu: its number, then the values)
//! submit text="I love foggy harbours"   (the last modal: its fields by id)
//! as mod | as alice | as bob
//! wait                    (until the images on the way arrive; `wait 60`: at most a minute)
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _};

use crate::fixtures::{InteractionBuilder, DEFAULT_USER_ID, EVERYONE_PERMISSIONS};
use crate::{FakeDiscord, RecordedRequest};

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
            "press" => self.press(&words[1..]),
            "pick" => self.pick(&words[1..]),
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

    /// Prints every request the bot made since the last call, saving files.
    pub fn show_new(&mut self, out: &mut dyn Write) -> anyhow::Result<()> {
        let requests = self.fake.requests();
        let fresh: Vec<RecordedRequest> = requests.into_iter().skip(self.shown).collect();
        self.shown += fresh.len();
        for request in fresh {
            self.show(&request, out)?;
        }
        Ok(())
    }

    fn show(&mut self, r: &RecordedRequest, out: &mut dyn Write) -> anyhow::Result<()> {
        let parts: Vec<&str> = r.path.trim_start_matches("/api/v10/").split('/').collect();
        if r.method == "PUT" && r.path.ends_with("/commands") {
            let n = r
                .json
                .as_ref()
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            writeln!(out, "[zipp registered {n} slash commands; type help]")?;
            return Ok(());
        }
        let token = match parts.as_slice() {
            ["interactions", _, token, "callback"] | ["webhooks", _, token, ..] => {
                Some((*token).to_owned())
            }
            _ => None,
        };
        let to = token
            .as_deref()
            .and_then(|t| self.who_by_token.get(t).copied())
            .unwrap_or("the channel");
        let refused = if r.response_status >= 400 {
            format!(" (Discord refused it: HTTP {})", r.response_status)
        } else {
            String::new()
        };
        let body = r.json.clone().unwrap_or(Value::Null);
        let (verb, data, message) = match (r.method.as_str(), parts.as_slice()) {
            ("POST", ["interactions", _, token, "callback"]) => {
                let data = body["data"].clone();
                let original = self.fake.original_response(token);
                match body["type"].as_u64() {
                    Some(4) => ("replies", data, original),
                    Some(5) => {
                        self.rendering.insert((*token).to_owned());
                        let private = flags(&data) & EPHEMERAL != 0;
                        let whom = if private { " (only they see it)" } else { "" };
                        writeln!(out, "zipp → {to}: thinking…{whom}{refused}")?;
                        return Ok(());
                    }
                    Some(6) => return Ok(()),
                    Some(7) => ("updates the message", data, original),
                    Some(8) => {
                        let names: Vec<&str> = data["choices"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c["name"].as_str())
                            .collect();
                        writeln!(out, "zipp → {to}: suggests {}", names.join(" | "))?;
                        return Ok(());
                    }
                    Some(9) => {
                        self.show_modal(to, &data, out)?;
                        return Ok(());
                    }
                    other => {
                        writeln!(out, "zipp → {to}: callback type {other:?}{refused}")?;
                        return Ok(());
                    }
                }
            }
            ("PATCH", ["webhooks", _, _, "messages", "@original"]) => {
                ("edits its reply", body, r.response_json.clone())
            }
            ("PATCH", ["webhooks", _, _, "messages", _]) => {
                ("edits a follow-up", body, r.response_json.clone())
            }
            ("POST", ["webhooks", _, _]) => ("follows up", body, r.response_json.clone()),
            ("POST", ["channels", _, "messages"]) => ("posts", body, r.response_json.clone()),
            ("PATCH", ["channels", _, "messages", _]) => {
                ("edits a message", body, r.response_json.clone())
            }
            ("DELETE", ["webhooks", ..] | ["channels", _, "messages", _]) => {
                writeln!(out, "zipp → {to}: deletes a message{refused}")?;
                return Ok(());
            }
            _ => return Ok(()),
        };
        let private = flags(&data) & EPHEMERAL != 0
            || message.as_ref().is_some_and(|m| flags(m) & EPHEMERAL != 0);
        let whom = if private { " (only they see it)" } else { "" };
        writeln!(out, "zipp → {to} {verb}{whom}{refused}:")?;
        write_message(&data, out)?;
        for file in &r.files {
            let name = self
                .out_dir
                .join(format!("{:04}-{}", r.seq, safe_name(&file.filename)));
            std::fs::write(&name, &file.bytes)
                .with_context(|| format!("saving {}", name.display()))?;
            // A live preview (`preview.png`) is shown and saved, but the render goes on.
            let is_image =
                file.content_type.as_deref() == Some("image/png") || name.ends_with(".png");
            if is_image && file.filename != "preview.png" {
                self.images += 1;
                if let Some(token) = &token {
                    self.rendering.remove(token);
                }
            }
            writeln!(
                out,
                "    file {} ({} bytes) saved as {}",
                file.filename,
                file.bytes.len(),
                name.display()
            )?;
        }
        let message_id = message
            .as_ref()
            .and_then(|m| m["id"].as_str())
            .and_then(|id| id.parse().ok());
        if let Some(message_id) = message_id {
            self.show_controls(&data, message_id, out)?;
        }
        Ok(())
    }

    fn show_modal(&mut self, to: &str, data: &Value, out: &mut dyn Write) -> anyhow::Result<()> {
        let mut fields = Vec::new();
        for input in data["components"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row["components"].as_array().into_iter().flatten())
        {
            let id = input["custom_id"].as_str().unwrap_or_default().to_owned();
            let label = input["label"].as_str().unwrap_or_default().to_owned();
            fields.push((id, label));
        }
        writeln!(
            out,
            "zipp → {to} opens a form \"{}\":",
            data["title"].as_str().unwrap_or_default()
        )?;
        for (id, label) in &fields {
            writeln!(out, "    {id}: {label}")?;
        }
        writeln!(out, "    (answer with: submit id=\"text\" …)")?;
        self.modal = Some(Modal {
            custom_id: data["custom_id"].as_str().unwrap_or_default().to_owned(),
            fields,
        });
        Ok(())
    }

    fn show_controls(
        &mut self,
        data: &Value,
        message_id: u64,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        for row in data["components"].as_array().into_iter().flatten() {
            let mut line = String::new();
            for c in row["components"].as_array().into_iter().flatten() {
                let disabled = c["disabled"].as_bool() == Some(true);
                let Some(custom_id) = c["custom_id"].as_str() else {
                    if let Some(url) = c["url"].as_str() {
                        line.push_str(&format!(" [{} → {url}]", label_of(c)));
                    }
                    continue;
                };
                let number = self.controls.len() + 1;
                let options = (c["type"].as_u64() != Some(2)).then(|| {
                    c["options"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|o| {
                            (
                                o["label"].as_str().unwrap_or_default().to_owned(),
                                o["value"].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect::<Vec<_>>()
                });
                let label = match &options {
                    None => label_of(c),
                    Some(_) => c["placeholder"].as_str().unwrap_or("menu").to_owned(),
                };
                let off = if disabled { ", disabled" } else { "" };
                line.push_str(&format!(" [{number}: {label}{off}]"));
                if let Some(options) = &options {
                    let listed: Vec<String> = options
                        .iter()
                        .map(|(label, value)| format!("{value}={label}"))
                        .collect();
                    line.push_str(&format!(" {{{}}}", listed.join(" | ")));
                }
                self.controls.push(Control {
                    number,
                    custom_id: custom_id.to_owned(),
                    label,
                    message_id,
                    options,
                });
            }
            if !line.is_empty() {
                writeln!(out, "   {line}")?;
            }
        }
        Ok(())
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

    fn command(&mut self, words: &[String]) -> anyhow::Result<(String, Value)> {
        let name = words[0].trim_start_matches('/');
        let schema = self
            .commands
            .iter()
            .find(|c| c["name"] == name && c["type"].as_u64().unwrap_or(1) == 1)
            .cloned()
            .ok_or_else(|| anyhow!("no command /{name}; type help"))?;
        let mut rest = &words[1..];
        // Descend into subcommand groups and subcommands named by the next words.
        let mut path: Vec<String> = Vec::new();
        let mut node = schema;
        loop {
            let subs: Vec<Value> = node["options"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|o| matches!(o["type"].as_u64(), Some(1 | 2)))
                .cloned()
                .collect();
            if subs.is_empty() {
                break;
            }
            let Some(next) = rest.first() else {
                let names: Vec<&str> = subs.iter().filter_map(|s| s["name"].as_str()).collect();
                bail!(
                    "/{name} {}: which one? {}",
                    path.join(" "),
                    names.join(", ")
                );
            };
            let Some(sub) = subs.iter().find(|s| s["name"] == next.as_str()) else {
                let names: Vec<&str> = subs.iter().filter_map(|s| s["name"].as_str()).collect();
                bail!("/{name} has no {next:?}; one of {}", names.join(", "));
            };
            path.push(next.clone());
            node = sub.clone();
            rest = &rest[1..];
        }
        let mut options = Vec::new();
        let mut resolved = serde_json::Map::new();
        let declared: Vec<Value> = node["options"].as_array().cloned().unwrap_or_default();
        let mut loose: Vec<&str> = Vec::new();
        for word in rest {
            match word.split_once('=') {
                Some((key, value)) if declared.iter().any(|o| o["name"] == key) => {
                    let option = declared
                        .iter()
                        .find(|o| o["name"] == key)
                        .context("declared")?;
                    options.push(self.option_value(option, value, &mut resolved)?);
                }
                _ => loose.push(word),
            }
        }
        if !loose.is_empty() {
            let given: Vec<&str> = options.iter().filter_map(|o| o["name"].as_str()).collect();
            let target = declared
                .iter()
                .filter(|o| !given.contains(&o["name"].as_str().unwrap_or_default()))
                .find(|o| o["required"].as_bool() == Some(true))
                .or_else(|| {
                    declared
                        .iter()
                        .find(|o| !given.contains(&o["name"].as_str().unwrap_or_default()))
                })
                .ok_or_else(|| anyhow!("{:?} is not an option here", loose.join(" ")))?;
            let value = loose.join(" ");
            let option = self.option_value(target, &value, &mut resolved)?;
            options.push(option);
        }
        for option in &declared {
            let required = option["required"].as_bool() == Some(true);
            if required && !options.iter().any(|o| o["name"] == option["name"]) {
                let mut words = vec![format!("/{name}")];
                words.extend(path.iter().cloned());
                bail!(
                    "{} needs {}=…",
                    words.join(" "),
                    option["name"].as_str().unwrap_or_default()
                );
            }
        }
        // Wrap the options in the subcommand (group) levels, innermost first.
        for sub in path.iter().rev() {
            options = vec![json!({"name": sub, "type": 1, "options": options})];
        }
        fix_group_types(&self.commands, name, &mut options);
        let (token, builder) = self.builder();
        let mut event = builder.command(name, options);
        if !resolved.is_empty() {
            event["data"]["resolved"] = Value::Object(resolved);
        }
        Ok((token, event))
    }

    fn option_value(
        &self,
        option: &Value,
        text: &str,
        resolved: &mut serde_json::Map<String, Value>,
    ) -> anyhow::Result<Value> {
        let name = option["name"].as_str().unwrap_or_default();
        let kind = option["type"].as_u64().unwrap_or(3);
        let choices = option["choices"].as_array().filter(|cs| !cs.is_empty());
        let by_choice = choices.and_then(|cs| {
            cs.iter()
                .find(|c| {
                    let name = c["name"].as_str().unwrap_or_default();
                    name.eq_ignore_ascii_case(text)
                        || short_name(name).eq_ignore_ascii_case(text)
                        || value_text(&c["value"]) == text
                })
                .map(|c| c["value"].clone())
        });
        if let (Some(cs), None) = (choices, &by_choice) {
            let names: Vec<&str> = cs
                .iter()
                .filter_map(|c| c["name"].as_str())
                .map(short_name)
                .collect();
            bail!("{name} is one of: {}", names.join(", "));
        }
        let value = match (kind, by_choice) {
            (_, Some(v)) => v,
            (3, None) => json!(text),
            (4, None) => json!(text
                .parse::<i64>()
                .map_err(|_| anyhow!("{name} is a whole number"))?),
            (10, None) => json!(text
                .parse::<f64>()
                .map_err(|_| anyhow!("{name} is a number"))?),
            (5, None) => match text.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => json!(true),
                "off" | "false" | "no" | "0" => json!(false),
                _ => bail!("{name} is on or off"),
            },
            (11, None) => json!(self.attach(Path::new(text), resolved)?),
            _ => bail!("options of type {kind} ({name}) cannot be typed here"),
        };
        Ok(json!({"name": name, "type": kind, "value": value}))
    }

    /// Uploads `path` as a member's attachment; returns its id for the option's value.
    fn attach(
        &self,
        path: &Path,
        resolved: &mut serde_json::Map<String, Value>,
    ) -> anyhow::Result<String> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let content_type = match extension.as_str() {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "webp" => "image/webp",
            "gif" => "image/gif",
            _ => "application/octet-stream",
        };
        let filename = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("upload");
        let size = bytes.len();
        let attachment = self
            .fake
            .add_attachment(filename, content_type, bytes, size);
        let id = attachment["id"]
            .as_str()
            .context("attachment id")?
            .to_owned();
        let map = resolved
            .entry("attachments")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .context("attachments")?;
        map.insert(id.clone(), attachment);
        Ok(id)
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

fn flags(data: &Value) -> u64 {
    data["flags"].as_u64().unwrap_or(0)
}

fn label_of(component: &Value) -> String {
    let emoji = component["emoji"]["name"].as_str().unwrap_or_default();
    let label = component["label"].as_str().unwrap_or_default();
    match (emoji.is_empty(), label.is_empty()) {
        (false, false) => format!("{emoji} {label}"),
        (false, true) => emoji.to_owned(),
        _ => label.to_owned(),
    }
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

/// A choice as typed: the first word of its name (`16:9` for "16:9 wide").
fn short_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Marks the outer level of `/cmd group sub` as a group (type 2), as Discord sends it.
fn fix_group_types(commands: &[Value], name: &str, options: &mut [Value]) {
    let Some(schema) = commands.iter().find(|c| c["name"] == name) else {
        return;
    };
    let Some(first) = options.first_mut() else {
        return;
    };
    let declared = schema["options"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["name"] == first["name"]);
    if let Some(declared) = declared {
        if declared["type"].as_u64() == Some(2) {
            first["type"] = json!(2);
        }
    }
}

/// A file name the bot chose, kept to characters safe on every file system.
fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_message(data: &Value, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Some(content) = data["content"].as_str().filter(|c| !c.is_empty()) {
        for line in content.lines() {
            writeln!(out, "    {line}")?;
        }
    }
    for embed in data["embeds"].as_array().into_iter().flatten() {
        if let Some(title) = embed["title"].as_str() {
            writeln!(out, "    ┃ {title}")?;
        }
        if let Some(description) = embed["description"].as_str() {
            for line in description.lines() {
                writeln!(out, "    ┃ {line}")?;
            }
        }
        for field in embed["fields"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "    ┃ {}: {}",
                field["name"].as_str().unwrap_or_default(),
                field["value"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('\n', " / ")
            )?;
        }
        if let Some(image) = embed["image"]["url"].as_str() {
            writeln!(out, "    ┃ (image {image})")?;
        }
        if let Some(footer) = embed["footer"]["text"].as_str() {
            writeln!(out, "    ┃ {footer}")?;
        }
    }
    Ok(())
}

fn describe_command(text: &mut String, prefix: &str, command: &Value) {
    let name = command["name"].as_str().unwrap_or_default();
    if command["type"].as_u64().is_some_and(|t| t > 2) && prefix == "/" {
        return; // user or message context-menu commands are not typed
    }
    let options: Vec<Value> = command["options"].as_array().cloned().unwrap_or_default();
    let subs: Vec<&Value> = options
        .iter()
        .filter(|o| matches!(o["type"].as_u64(), Some(1 | 2)))
        .collect();
    if subs.is_empty() {
        let mut line = format!("  {prefix}{name}");
        for o in &options {
            let n = o["name"].as_str().unwrap_or_default();
            let choices: Vec<&str> = o["choices"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str())
                .map(short_name)
                .collect();
            let value = if choices.is_empty() {
                "…".to_owned()
            } else {
                choices.join("|")
            };
            if o["required"].as_bool() == Some(true) {
                line.push_str(&format!(" {n}={value}"));
            } else {
                line.push_str(&format!(" [{n}={value}]"));
            }
        }
        let description = command["description"].as_str().unwrap_or_default();
        text.push_str(&format!("{line}    {description}\n"));
    } else {
        for sub in subs {
            describe_command(text, &format!("{prefix}{name} "), sub);
        }
    }
}

/// Splits a line at spaces, keeping `"quoted text"` (also in `key="a b"`) together.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.trim().chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::split_words;

    #[test]
    fn words_keep_quoted_text_together() {
        assert_eq!(
            split_words(r#"/imagine  a "red cat" seed=4 text="I like fog""#),
            vec!["/imagine", "a", "red cat", "seed=4", "text=I like fog"]
        );
        assert_eq!(split_words(r#"submit text="""#), vec!["submit", "text="]);
        assert!(split_words("   ").is_empty());
    }
}
