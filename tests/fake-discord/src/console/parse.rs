//! Typed lines → interactions: slash commands parsed with the schema the bot registered
//! (subcommands, groups, options by name, choices by their short name, attachments from files),
//! and the help text made from that schema.

use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};

use super::Console;

impl Console {
    pub(super) fn command(&mut self, words: &[String]) -> anyhow::Result<(String, Value)> {
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

pub(super) fn describe_command(text: &mut String, prefix: &str, command: &Value) {
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
pub(super) fn split_words(line: &str) -> Vec<String> {
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
