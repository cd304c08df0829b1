//! Text a member typed, made safe to reuse. Pure functions:
//!
//! - [`clean`]: **the one cleaner for everything a member types** (prompt, negative prompt,
//!   persona edit, setup answers): refuses control characters, text with nothing visible and
//!   grapheme clusters built to overflow a line (stacked marks), strips every format character
//!   (bidi overrides and isolates, zero-width characters, tags…), normalizes whitespace, and
//!   bounds the length. Persona text, which becomes LLM input, also loses mentions and links.
//! - [`for_echo`]: text shown back in Discord (embeds, replies) with mentions, invites, links
//!   and masked links made inert.
//! - [`sanitize`] and [`as_data`]: what the rewrite's post-checks and the LLM prompts use.
//! - [`fold`]: the form in which prompts and blocklist phrases are compared.

use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};
use unicode_segmentation::UnicodeSegmentation;

/// The most code points one grapheme cluster may hold: real scripts stay far below (Devanagari
/// conjuncts, Vietnamese stacked accents, emoji ZWJ sequences after their joiners are removed);
/// "Zalgo" text stacks dozens of marks on one letter to spill over other lines.
pub const MAX_CLUSTER_CHARS: usize = 12;

/// A field a member types into; it decides line breaks, whether mentions and links are kept, and
/// the message ids of refusals (`error-{field}-{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `/imagine`'s prompt (one line).
    Prompt,
    /// `/imagine`'s negative prompt (one line; empty means none).
    Negative,
    /// A persona the member writes (lines kept; LLM input: mentions and links removed).
    Persona,
    /// An answer in the persona setup questionnaire (as a persona; empty means skipped).
    Answer,
}

impl Field {
    /// The name in message ids.
    pub fn name(self) -> &'static str {
        match self {
            Field::Prompt => "prompt",
            Field::Negative => "negative",
            Field::Persona => "persona",
            Field::Answer => "answer",
        }
    }

    fn multiline(self) -> bool {
        matches!(self, Field::Persona | Field::Answer)
    }

    fn may_be_empty(self) -> bool {
        matches!(self, Field::Negative | Field::Answer)
    }
}

/// Why [`clean`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing visible is left (only spaces, invisible or format characters, marks).
    Empty,
    /// A control character (other than tab and line breaks).
    Control,
    /// A grapheme cluster longer than [`MAX_CLUSTER_CHARS`].
    Cluster,
    /// Longer than the limit once cleaned.
    TooLong {
        /// Characters after cleaning.
        length: usize,
        /// The limit.
        max: usize,
    },
}

impl Refusal {
    /// The Fluent id of the member-facing message for this refusal in `field`
    /// (`error-{field}-{reason}`).
    pub fn message_id(&self, field: Field) -> &'static str {
        use Field::*;
        match (field, self) {
            (Prompt, Refusal::Empty) => "error-prompt-empty",
            (Prompt, Refusal::Control) => "error-prompt-control",
            (Prompt, Refusal::Cluster) => "error-prompt-cluster",
            (Prompt, Refusal::TooLong { .. }) => "error-prompt-too-long",
            (Negative, Refusal::Empty) => "error-negative-empty",
            (Negative, Refusal::Control) => "error-negative-control",
            (Negative, Refusal::Cluster) => "error-negative-cluster",
            (Negative, Refusal::TooLong { .. }) => "error-negative-too-long",
            (Persona, Refusal::Empty) => "error-persona-empty",
            (Persona, Refusal::Control) => "error-persona-control",
            (Persona, Refusal::Cluster) => "error-persona-cluster",
            (Persona, Refusal::TooLong { .. }) => "error-persona-too-long",
            (Answer, Refusal::Empty) => "error-answer-empty",
            (Answer, Refusal::Control) => "error-answer-control",
            (Answer, Refusal::Cluster) => "error-answer-cluster",
            (Answer, Refusal::TooLong { .. }) => "error-answer-too-long",
        }
    }
}

/// Whether `c` is a format character (Cf: bidi controls, zero-width characters, tags, soft
/// hyphen…) or one of the other characters that render as nothing ([`is_invisible`]).
fn is_format(c: char) -> bool {
    c.general_category() == GeneralCategory::Format || is_invisible(c)
}

/// Whether `c` is something a reader sees: a letter, number, punctuation or symbol.
fn is_visible(c: char) -> bool {
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Number
            | GeneralCategoryGroup::Punctuation
            | GeneralCategoryGroup::Symbol
    ) && !is_invisible(c)
}

/// Cleans what a member typed into `field`: see the module docs. `max_chars` bounds the cleaned
/// length in characters. Empty results are refused except where the field may be empty
/// ([`Field::Negative`], [`Field::Answer`]), which then return `""`.
pub fn clean(text: &str, field: Field, max_chars: usize) -> Result<String, Refusal> {
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(Refusal::Control);
    }
    // Format characters go; every kind of space and line break becomes ' ' or '\n'.
    let unformatted: String = text
        .chars()
        .filter(|c| !is_format(*c))
        .map(|c| match c {
            '\n' | '\u{2028}' | '\u{2029}' if field.multiline() => '\n',
            c if c.is_whitespace() => ' ',
            c => c,
        })
        .collect();
    if unformatted
        .graphemes(true)
        .any(|g| g.chars().count() > MAX_CLUSTER_CHARS)
    {
        return Err(Refusal::Cluster);
    }
    let unlinked = if matches!(field, Field::Persona | Field::Answer) {
        sanitize(&unformatted)
    } else {
        unformatted
    };
    // Runs of spaces collapse; in multi-line fields at most one blank line in a row.
    let mut out = String::new();
    let mut blank = 0;
    for line in unlinked.split('\n') {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line);
    }
    let out = out.trim().to_owned();
    if !out.chars().any(is_visible) {
        return if field.may_be_empty() {
            Ok(String::new())
        } else {
            Err(Refusal::Empty)
        };
    }
    let length = out.chars().count();
    if length > max_chars {
        return Err(Refusal::TooLong {
            length,
            max: max_chars,
        });
    }
    Ok(out)
}

/// Text shown back in Discord made inert: `@` can start no mention (`@everyone`, `<@id>`), nor
/// `<` a channel or command mention, and
/// links, invites and masked links (`[label](url)`) are broken with a zero-width space so
/// Discord renders them as plain text. Used wherever a member's or an LLM's text is echoed.
pub fn for_echo(text: &str) -> String {
    const ZWSP: char = '\u{200B}';
    const INVITE_HOSTS: [&str; 3] = ["discord.gg", "discord.com/invite", "discordapp.com/invite"];
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let lower = rest.chars().take(24).collect::<String>().to_lowercase();
        let host = INVITE_HOSTS.iter().find(|h| lower.starts_with(**h));
        // `discord` + ZWSP + `.gg…`: no invite embed, no link.
        let split = host.and_then(|h| h.find('.')).and_then(|dot| {
            let (name, tail) = (rest.get(..dot)?, rest.get(dot..)?);
            name.is_ascii().then_some((name, tail))
        });
        if let Some((name, tail)) = split {
            out.push_str(name);
            out.push(ZWSP);
            out.push_str(&tail[..1]);
            rest = &tail[1..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
        match c {
            '@' => out.push(ZWSP),
            // `<#channel>` and `</command:id>` render as links.
            '<' if rest.starts_with(['#', '/']) => out.push(ZWSP),
            ']' if rest.starts_with('(') => out.push(ZWSP),
            ':' if rest.starts_with("//") => out.push(ZWSP),
            _ => {}
        }
    }
    out
}

/// Removes invisible characters, mentions, invites and URLs; collapses whitespace.
pub fn sanitize(text: &str) -> String {
    let visible: String = text
        .chars()
        .filter_map(|c| {
            if c.is_whitespace() || c.is_control() {
                // Newlines matter to `strip_wrapping`; other controls become plain spaces.
                Some(if c == '\n' { '\n' } else { ' ' })
            } else if is_invisible(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect();
    // Dropping '@' (and the brackets of any mention syntax left) as spaces keeps words apart.
    let no_mentions: String = remove_discord_tokens(&visible)
        .chars()
        .map(|c| match c {
            '@' | '＠' | '﹫' | '<' | '>' => ' ',
            other => other,
        })
        .collect();
    let words: Vec<String> = no_mentions
        .split('\n')
        .map(|line| {
            line.split(' ')
                .filter(|w| !w.is_empty() && !is_link(w))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    words.join("\n").trim().to_owned()
}

/// Text folded for comparison (prompt blocklists): invisible and format characters removed,
/// Unicode NFKC (full-width and styled letters become plain: `ｎｕｄｅ`, `𝐧𝐮𝐝𝐞` → `nude`),
/// case folded (lower case, with `ß` → `ss` and final sigma → sigma, as full case folding does),
/// NFKC again, then every run of characters that are neither letters, marks nor digits
/// (spaces, punctuation, symbols) becomes one space. `"  Nu.DE\u{200B}!"` → `"nu de"`.
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let visible: String = text
        .chars()
        .filter(|&c| !is_invisible(c) && c.general_category() != GeneralCategory::Format)
        .collect();
    let lowered: String = visible
        .nfkc()
        .flat_map(char::to_lowercase)
        .flat_map(|c| match c {
            'ß' | 'ẞ' => ['s', 's'].into_iter().take(2),
            'ς' => ['σ', 'σ'].into_iter().take(1),
            c => [c, c].into_iter().take(1),
        })
        .collect();
    let mut out = String::with_capacity(lowered.len());
    let mut gap = false;
    for c in lowered.nfkc() {
        let word = matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter
                | GeneralCategoryGroup::Mark
                | GeneralCategoryGroup::Number
        );
        if word {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    out
}

/// Zero-width, bidi-control, tag and filler characters that render as nothing.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF9..=0xFFFB | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// Removes `<@id>`, `<@!id>`, `<@&id>`, `<#id>`, `<:name:id>`, `</cmd:id>`, `<t:…>` and the
/// `everyone`/`here` broadcast pings (their `@` goes later with every other `@`).
fn remove_discord_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start + 1..];
        let end = tail.find('>');
        let is_token = end.is_some_and(|e| {
            let inner = &tail[..e];
            !inner.is_empty()
                && !inner.contains(char::is_whitespace)
                && (inner.starts_with(['@', '#', ':', '/'])
                    || inner.starts_with("a:")
                    || inner.starts_with("t:"))
        });
        match (is_token, end) {
            (true, Some(e)) => rest = &tail[e + 1..],
            _ => {
                out.push('<');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    // "@everyone" → "everyone" happens when '@' is dropped; nothing else to do here.
    out
}

/// Top-level domains whose `name.tld` words are treated as links.
#[rustfmt::skip]
const TLDS: &[&str] = &[
    "com", "net", "org", "gg", "io", "ly", "xyz", "me", "co", "ru", "app", "dev", "link", "gift",
    "info", "biz", "tk", "ml", "ga", "cf", "site", "online", "shop", "club", "top", "uk", "de",
];

/// Whether a whitespace-free word is (or contains) a URL, an invite or a bare domain.
fn is_link(word: &str) -> bool {
    let w = word.to_lowercase();
    if w.contains("://") || w.contains("www.") || w.contains("discord.gg") {
        return true;
    }
    if w.contains("discord.com/invite") || w.contains("discordapp.com/invite") {
        return true;
    }
    // A bare domain: `label.tld` optionally followed by a path, ignoring surrounding punctuation.
    let core = w.trim_matches(|c: char| !c.is_alphanumeric());
    let host = core.split('/').next().unwrap_or("");
    let mut labels = host.split('.');
    let first = labels.next().unwrap_or("");
    let last = host.rsplit('.').next().unwrap_or("");
    host.contains('.') && !first.is_empty() && TLDS.contains(&last)
}

/// Makes text safe to place between our tags: sanitized (no invisibles, mentions or links), angle
/// brackets swapped for look-alikes so no tag can be opened or closed, and bounded in length.
pub fn as_data(text: &str, max_chars: usize) -> String {
    let clean = sanitize(text).replace('<', "‹").replace('>', "›");
    match clean.char_indices().nth(max_chars) {
        Some((cut, _)) => clean[..cut].trim_end().to_owned(),
        None => clean,
    }
}
