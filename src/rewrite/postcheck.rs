//! Post-checks applied to every LLM answer before it is rendered or shown.
//!
//! An LLM answer is untrusted text: it may wrap the prompt in chatter ("Sure! Here's…"), quotes or
//! markdown, refuse, drift off the member's subject, run past the diffusion model's token window,
//! or carry payloads a prompt injection asked for (pings, invites, links, invisible characters).
//! [`check_rewrite`] cleans what can be cleaned and rejects what cannot:
//!
//! 1. [`sanitize`]: strip control, zero-width, bidi and other invisible characters; remove Discord
//!    mentions (`<@id>`, `<@!id>`, `<@&id>`, `<#id>`, `@everyone`, `@here`), invites and URLs.
//!    Every `@`, `<` and `>` becomes a space, so no mention can be reassembled from leftovers.
//! 2. [`strip_wrapping`] (after dropping a leading `<think>` block): drop code fences, preamble
//!    lines and label prefixes ("Rewritten prompt:"), markdown markers, surrounding quotes and
//!    trailing explanations.
//! 3. Refusals ("I can't", "I'm sorry", "As an AI") and empty answers are rejected, as are answers
//!    echoing our own instructions (a "reveal your system prompt" injection).
//! 4. **Subject rule** ([`subject_words`]): the subject of an image prompt is its first
//!    clause (text before the first `,` `;` `.` `|` `!` `?` bracket or newline: SD prompts put
//!    the subject first and style modifiers after). Its content words are its alphabetic tokens
//!    of 3+ letters, minus stopwords, quality/style filler ("detailed", "masterpiece"), and words
//!    ending in `-ly` (adverbs) or `-ing` (verb forms, which a rewrite often rephrases); at most
//!    the first [`MAX_SUBJECT_WORDS`]. Each must appear in the answer as a word,
//!    case-insensitively, singular and plural forms counting as the same word (cat/cats,
//!    fox/foxes, puppy/puppies).
//! 5. **Privacy rule** ([`keep_persona_private`]): the rewrite is shown in the channel, the
//!    persona only to its owner. A word of the persona (3+ letters, not a stopword) that is
//!    neither in the member's prompt nor in the style vocabulary ([`is_style_word`]: the offline
//!    verbalizer's descriptor phrases and keywords, the template's descriptors, common
//!    medium/lighting/palette/composition words and the words personas are phrased with) is
//!    private: a clause of the answer carrying one is dropped, and an answer whose subject
//!    clauses carry one is rejected (the template then answers, which only adds descriptors).
//!    So a persona's "nurse in Lyon" or "#mod-lounge" never reaches a public embed. Known
//!    limits: numbers and words under 3 letters are not checked; scripts written without
//!    spaces (Japanese, Chinese) form long runs that match only whole; the style vocabulary is
//!    the bundled descriptor file's (with an operator's own file, its extra phrases count as
//!    private, so the template answers more often: the safe direction).
//! 6. Token budget: measured with the caller's tokenizer callback (the diffusion model's CLIP
//!    tokenizer: 77 tokens including BOS/EOS for SD). Too long answers are trimmed by dropping
//!    whole comma-separated clauses that carry no subject word, later ones first; only when the
//!    subject itself does not fit is the answer rejected.

#[cfg(test)]
use crate::text::is_invisible;
use crate::text::sanitize;

/// The most subject words required (keeps very long prompts checkable).
pub const MAX_SUBJECT_WORDS: usize = 8;

/// Counts tokens the way the diffusion model's text encoder does (including BOS/EOS).
pub type TokenCounter = std::sync::Arc<dyn Fn(&str) -> usize + Send + Sync>;

/// Why an LLM answer was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// Nothing usable was left after cleaning.
    #[error("empty answer")]
    Empty,
    /// The model refused.
    #[error("refusal")]
    Refusal,
    /// The model repeated our instructions (a prompt-leak injection).
    #[error("instructions leaked")]
    Leak,
    /// Subject words of the member's prompt are missing from the answer.
    #[error("subject lost (missing: {})", .0.join(", "))]
    SubjectLost(Vec<String>),
    /// The clauses carrying the subject also carry words of the persona that are not style.
    #[error("persona text copied")]
    PersonaCopied,
    /// Even the subject-bearing clauses exceed the token budget.
    #[error("too long ({tokens} tokens > {max})")]
    TooLong {
        /// Tokens of the shortest acceptable form.
        tokens: usize,
        /// The budget.
        max: usize,
    },
}

impl RejectReason {
    /// A short reason for the member-visible rewrite kind, e.g. `subject lost`.
    pub fn short(&self) -> String {
        match self {
            RejectReason::SubjectLost(_) => "subject lost".to_owned(),
            RejectReason::TooLong { .. } => "too long".to_owned(),
            other => other.to_string(),
        }
    }
}

/// Phrases from our own instructions (see `super::prompt`); an answer containing one leaked them.
const LEAK_MARKERS: &[&str] = &[
    "member_prompt",
    "not instructions",
    "the way i would want it",
    "system prompt",
    "reply with the rewritten prompt",
];

/// Refusal openings, matched against the lowercased start of the answer.
const REFUSALS: &[&str] = &[
    "i can't",
    "i can’t",
    "i cannot",
    "i can not",
    "i won't",
    "i will not",
    "i'm sorry",
    "i’m sorry",
    "i am sorry",
    "sorry, ",
    "i'm unable",
    "i am unable",
    "i'm not able",
    "i apologize",
    "unfortunately, i",
];

/// Refusal phrases anywhere in the answer.
const REFUSAL_ANYWHERE: &[&str] = &[
    "as an ai",
    "as a language model",
    "cannot comply",
    "can't help with",
    "can't assist with",
    "content policy",
    "against my guidelines",
];

/// Checks and cleans one LLM answer for `original`, rewritten for `persona`; returns the prompt
/// to render (and to show publicly).
pub fn check_rewrite(
    original: &str,
    persona: Option<&str>,
    answer: &str,
    count_tokens: &dyn Fn(&str) -> usize,
    max_tokens: usize,
) -> Result<String, RejectReason> {
    let clean = sanitize(strip_think(answer));
    // Leaks are searched in the whole answer: labels like "My system prompt:" are stripped below.
    let whole = clean.to_lowercase();
    if LEAK_MARKERS.iter().any(|m| whole.contains(m)) {
        return Err(RejectReason::Leak);
    }
    let text = strip_wrapping(&clean);
    if text.is_empty() {
        return Err(RejectReason::Empty);
    }
    let lower = text.to_lowercase();
    if REFUSALS.iter().any(|r| lower.starts_with(r))
        || REFUSAL_ANYWHERE.iter().any(|r| whole.contains(r))
    {
        return Err(RejectReason::Refusal);
    }
    let subject = subject_words(&sanitize(original));
    let missing = missing_words(&subject, &text);
    if !missing.is_empty() {
        return Err(RejectReason::SubjectLost(missing));
    }
    let text = keep_persona_private(&text, original, persona.unwrap_or(""), &subject)?;
    fit_budget(&text, &subject, count_tokens, max_tokens)
}

/// Lowercased words of `text` as the post-checks count them: alphabetic runs (apostrophes
/// inside), 3+ letters, no stopword.
fn content_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphabetic() && c != '\'')
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(&w.as_str()))
}

/// The privacy rule (see the module docs): drops the clauses of `text` that carry a private
/// word of `persona`; rejects the answer when a clause with subject words carries one.
pub fn keep_persona_private(
    text: &str,
    original: &str,
    persona: &str,
    subject: &[String],
) -> Result<String, RejectReason> {
    let prompt: Vec<String> = content_words(original).collect();
    let private: Vec<String> = content_words(persona)
        .filter(|w| !is_style_word(w) && !prompt.iter().any(|p| same_word(p, w)))
        .collect();
    if private.is_empty() {
        return Ok(text.to_owned());
    }
    let carries_private =
        |clause: &str| content_words(clause).any(|w| private.iter().any(|p| same_word(p, &w)));
    let mut kept = Vec::new();
    for clause in text
        .split([',', ';'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        if !carries_private(clause) {
            kept.push(clause);
        } else if subject
            .iter()
            .any(|s| missing_words(std::slice::from_ref(s), clause).is_empty())
        {
            return Err(RejectReason::PersonaCopied);
        }
    }
    Ok(kept.join(", "))
}

/// Words of the style vocabulary that are not already in the descriptor files: media, light,
/// palette, composition, mood, and the words personas are phrased with.
#[rustfmt::skip]
const STYLE_EXTRA: &[&str] = &[
    "watercolor", "watercolour", "oil", "acrylic", "gouache", "ink", "charcoal", "pencil",
    "sketch", "illustration", "painting", "painted", "drawing", "digital", "vector", "pixel",
    "photography", "film", "grain", "analog", "polaroid", "bokeh", "lens", "macro", "portrait",
    "landscape", "still", "life", "abstract", "surreal", "surrealism", "impressionist",
    "impressionism", "expressionist", "minimalist", "minimalism", "maximalist", "baroque",
    "renaissance", "noir", "anime", "manga", "comic", "cartoon", "isometric", "low", "poly",
    "light", "lit", "lighting", "glow", "glowing", "shadow", "shadows", "sunlight", "moonlight",
    "backlit", "rim", "ambient", "dramatic", "golden", "hour", "dusk", "dawn", "twilight",
    "palette", "color", "colors", "colour", "colours", "colorful", "tone", "tones", "toned",
    "hue", "hues", "saturated", "desaturated", "muted", "vivid", "vibrant", "monochrome",
    "pastel", "neon", "warm", "cool", "cold", "soft", "dark", "bright", "earthy", "jewel",
    "composition", "symmetry", "symmetrical", "wide", "angle", "close", "shot", "framing",
    "texture", "textured", "detail", "details", "mood", "moody", "atmosphere", "atmospheric",
    "calm", "serene", "cozy", "cosy", "dreamy", "whimsical", "nostalgic", "melancholic",
    "mysterious", "playful", "gritty", "elegant", "clean", "bold", "aesthetic", "aesthetics",
    "vintage", "retro", "modern", "futuristic", "classic", "rustic", "ornate", "delicate",
    "drawn", "love", "loves", "enjoy", "enjoys", "prefer", "prefers", "favorite", "favourite",
    "taste", "tastes", "fan", "into", "really", "especially", "things", "anything", "spend",
    "time", "server", "images", "pictures", "art",
];

/// Whether `word` (lowercased) is style vocabulary: see the module docs.
pub fn is_style_word(word: &str) -> bool {
    static WORDS: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    let words = WORDS.get_or_init(|| {
        // Every word of the bundled descriptor file outside its comments.
        let descriptors = include_str!("../../config/descriptors.toml")
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(content_words)
            .collect::<Vec<_>>();
        descriptors
            .into_iter()
            .chain(super::template::style_descriptors().flat_map(content_words))
            .chain(STYLE_EXTRA.iter().map(|w| (*w).to_owned()))
            .collect()
    });
    words.contains(word) || words.iter().any(|w| same_word(w, word))
}

/// Opening words of chatty preambles ("Sure!", "Certainly.").
#[rustfmt::skip]
const INTERJECTIONS: &[&str] = &[
    "sure",
    "certainly",
    "of course",
    "okay",
    "ok",
    "absolutely",
    "alright",
    "great",
    "here you go",
];

/// Sentence openings that start an explanation after the prompt.
#[rustfmt::skip]
const EXPLANATIONS: &[&str] = &[
    "this ", "these ", "i ", "i'", "i’", "note", "hope", "let me", "feel free", "the rewritten",
    "in this", "explanation", "(note", "(this",
];

/// Removes everything around the prompt: fences, preambles, labels, markdown,
/// quotes and trailing explanations. Returns one line.
pub fn strip_wrapping(text: &str) -> String {
    // (is a markdown heading, cleaned line)
    let lines: Vec<(bool, String)> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .map(|l| {
            let heading = l.trim_start().starts_with('#');
            (heading, strip_interjection(&strip_markdown_line(l.trim())))
        })
        .filter(|(_, l)| !l.is_empty())
        .collect();
    // The prompt is the first line that is neither a preamble ("Sure! Here's a rewrite:") nor a
    // heading ("## Prompt"); a heading is used only when nothing else is there.
    let pick = |heading: bool| {
        lines
            .iter()
            .find(|(h, l)| *h == heading && !is_preamble_line(l))
            .map(|(_, l)| l.clone())
    };
    let line = pick(false).or_else(|| pick(true)).unwrap_or_default();
    let line = strip_label(&line);
    let line = cut_explanation(&strip_quotes(&line));
    strip_quotes(&line)
        .trim_matches(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .to_owned()
}

fn strip_markdown_line(line: &str) -> String {
    let mut l = line.trim_start_matches('#').trim_start();
    for bullet in ["- ", "* ", "• ", "+ ", "> "] {
        if let Some(rest) = l.strip_prefix(bullet) {
            l = rest;
        }
    }
    // Numbered list item: "1. " / "2) ".
    let digits = l.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && (l[digits..].starts_with(". ") || l[digits..].starts_with(") ")) {
        l = &l[digits + 2..];
    }
    l.replace("**", "")
        .replace("__", "")
        .replace(['*', '`'], "")
        .trim()
        .to_owned()
}

fn is_preamble_line(line: &str) -> bool {
    let lower = line.to_lowercase();
    let label_only = line.ends_with(':') && line.len() < 120;
    // "Here's my take!" introduces the prompt; "Here is your prompt: a cat" carries it.
    let intro =
        (lower.starts_with("here's") || lower.starts_with("here is")) && !line.contains(':');
    label_only || intro
}

/// Drops a leading `<think>…</think>` block (reasoning models); an unclosed one leaves nothing.
fn strip_think(answer: &str) -> &str {
    let trimmed = answer.trim_start();
    if !trimmed.starts_with("<think>") {
        return answer;
    }
    match trimmed.find("</think>") {
        Some(end) => &trimmed[end + "</think>".len()..],
        None => "",
    }
}

/// "Sure! a cat…" → "a cat…".
fn strip_interjection(line: &str) -> String {
    for i in INTERJECTIONS {
        // Byte-wise ASCII comparison: slicing at a lowercased string's offsets could split a char.
        let head = line.get(..i.len());
        if head.is_some_and(|h| h.eq_ignore_ascii_case(i)) {
            if let Some(r) = line[i.len()..].strip_prefix(['!', '.', ',', ':']) {
                return r.trim_start().to_owned();
            }
        }
    }
    line.to_owned()
}

/// "Rewritten prompt: a cat" → "a cat" (a short label naming the prompt before a colon).
fn strip_label(line: &str) -> String {
    if let Some(colon) = line.find(':') {
        let label = line[..colon].to_lowercase();
        let is_label = colon < 60
            && [
                "prompt", "here", "output", "result", "answer", "rewrite", "version",
            ]
            .iter()
            .any(|k| label.contains(k));
        if is_label {
            return line[colon + 1..].trim().to_owned();
        }
    }
    line.to_owned()
}

const QUOTES: &[(char, char)] = &[
    ('"', '"'),
    ('\'', '\''),
    ('“', '”'),
    ('‘', '’'),
    ('«', '»'),
    ('„', '“'),
];

/// Strips one pair of surrounding quotes; a quoted prompt followed by chatter keeps the quote.
fn strip_quotes(line: &str) -> String {
    let t = line.trim();
    for &(open, close) in QUOTES {
        if let Some(inner) = t.strip_prefix(open) {
            if let Some(end) = inner.rfind(close) {
                let after = inner[end + close.len_utf8()..].trim();
                if after.is_empty() || after.starts_with(['.', '(']) || after.len() > 3 {
                    return inner[..end].trim().to_owned();
                }
            }
        }
    }
    t.to_owned()
}

/// Cuts a trailing explanation: a sentence after the prompt starting like "This prompt…".
fn cut_explanation(line: &str) -> String {
    let mut search = 0;
    while let Some(pos) = line[search..].find(['.', '!']) {
        let dot = search + pos;
        let after = line[dot + 1..].trim_start();
        let lower = after.to_lowercase();
        if !after.is_empty() && EXPLANATIONS.iter().any(|e| lower.starts_with(e)) {
            return line[..dot].trim().to_owned();
        }
        search = dot + 1;
    }
    line.to_owned()
}

/// Stopwords and filler never counted as subject words.
#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "without", "from", "into", "onto", "over", "under", "this",
    "that", "these", "those", "its", "his", "her", "their", "our", "your", "who", "what", "which",
    "are", "was", "were", "has", "have", "had", "not", "but", "all", "any", "some", "very",
    "near", "behind", "above", "below", "between", "through", "while", "then", "than", "there",
    "here", "out", "off", "about", "like", "just", "also", "more", "most", "one", "two", "them",
    "they", "she", "him", "can", "will", "would", "should", "could", "please", "make", "show",
    "draw", "paint", "picture", "image", "photo", "photograph", "render", "detailed", "highly",
    "quality", "best", "masterpiece", "high", "resolution", "realistic", "beautiful", "style",
    "art", "trending", "artstation", "ultra", "hdr", "uhd", "sharp", "focus", "octane", "unreal",
    "engine", "cinematic", "lighting", "epic", "amazing", "stunning", "intricate",
];

/// The subject words of a prompt (see the module docs for the rule), lowercased.
pub fn subject_words(prompt: &str) -> Vec<String> {
    let first = prompt
        .split([',', ';', '.', '|', '\n', '!', '?', '(', ')', '[', ']'])
        .find(|c| !c.trim().is_empty())
        .unwrap_or("");
    let mut out: Vec<String> = Vec::new();
    for w in first.split(|c: char| !c.is_alphabetic() && c != '\'') {
        let w = w.trim_matches('\'').to_lowercase();
        let skip = w.chars().count() < 3
            || STOPWORDS.contains(&w.as_str())
            || w.ends_with("ly")
            || w.ends_with("ing");
        if !skip && !out.iter().any(|o| same_word(o, &w)) {
            out.push(w);
        }
        if out.len() == MAX_SUBJECT_WORDS {
            break;
        }
    }
    out
}

/// Subject words with no equal word (up to plural forms) in `text`.
fn missing_words(subject: &[String], text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphabetic() && c != '\'')
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    subject
        .iter()
        .filter(|s| !words.iter().any(|w| same_word(s, w)))
        .cloned()
        .collect()
}

/// Equality up to English plural endings (cat/cats, fox/foxes, puppy/puppies).
fn same_word(a: &str, b: &str) -> bool {
    fn stem(w: &str) -> &str {
        if let Some(s) = w.strip_suffix("ies") {
            return s;
        }
        if w.len() > 4 && (w.ends_with("xes") || w.ends_with("ches") || w.ends_with("shes")) {
            return &w[..w.len() - 2];
        }
        if let Some(s) = w.strip_suffix('y') {
            return s;
        }
        if !w.ends_with("ss") {
            if let Some(s) = w.strip_suffix('s') {
                return s;
            }
        }
        w
    }
    a == b || stem(a) == stem(b)
}

/// Fits `text` in `max_tokens` by dropping comma clauses without subject words, last first.
fn fit_budget(
    text: &str,
    subject: &[String],
    count_tokens: &dyn Fn(&str) -> usize,
    max_tokens: usize,
) -> Result<String, RejectReason> {
    if count_tokens(text) <= max_tokens {
        return Ok(text.to_owned());
    }
    let mut clauses: Vec<&str> = text
        .split([',', ';'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let needed = |c: &str| {
        subject
            .iter()
            .any(|s| missing_words(std::slice::from_ref(s), c).is_empty())
    };
    while let Some(idx) = clauses.iter().rposition(|c| !needed(c)) {
        clauses.remove(idx);
        let joined = clauses.join(", ");
        if count_tokens(&joined) <= max_tokens {
            return Ok(joined);
        }
    }
    let joined = clauses.join(", ");
    let tokens = count_tokens(&joined);
    if tokens <= max_tokens && !joined.is_empty() {
        return Ok(joined);
    }
    Err(RejectReason::TooLong {
        tokens,
        max: max_tokens,
    })
}

#[cfg(test)]
#[path = "postcheck_tests.rs"]
pub(super) mod tests;
