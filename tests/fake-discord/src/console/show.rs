//! What the console prints: every request the bot made, as Discord would show it (replies,
//! edits, follow-ups, embeds, numbered buttons and menus, forms), saving the files it sent.

use std::io::Write;

use anyhow::Context as _;
use serde_json::Value;

use super::{Console, Control, Modal, EPHEMERAL};
use crate::RecordedRequest;

impl Console {
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

    pub(super) fn show(&mut self, r: &RecordedRequest, out: &mut dyn Write) -> anyhow::Result<()> {
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

    pub(super) fn show_modal(
        &mut self,
        to: &str,
        data: &Value,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
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

    pub(super) fn show_controls(
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
