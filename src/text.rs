//! Text a member typed, made safe to reuse: invisible and format characters removed,
//! mentions, invites and links neutralized, whitespace collapsed ([`sanitize`]), and the
//! delimited-data form in which such text is handed to an LLM ([`as_data`]). Pure functions,
//! shared by the rewrite's post-checks and prompts and by the persona verbalizer.

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
