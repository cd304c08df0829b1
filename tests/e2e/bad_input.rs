//! The bad-input corpus: every Unicode category that bites, mentions, invites, masked links and
//! over-long text, through the one cleaner ([`zipp::text::clean`]) in every field a member types.
//! Each input either comes out clean — nothing invisible, no control or format character, no
//! overlong cluster, something visible, within the limit, inert when echoed — or is refused with a
//! message that exists in every locale (never a raw id or error). A sample goes through `/imagine`
//! end to end: each gets an ephemeral answer or a deferral, and nothing pings.

use fake_discord::fixtures::opt_str;
use unicode_segmentation::UnicodeSegmentation;
use zipp::i18n::I18n;
use zipp::text::{clean, for_echo, Field, Refusal, MAX_CLUSTER_CHARS};

use crate::harness::*;

const MAX: usize = 1000;

/// `(input, what a correct outcome is)`: `Some(id suffix)` must be refused with that reason;
/// `None` may pass (cleaned) or be refused, but never badly.
fn corpus() -> Vec<(String, Option<&'static str>)> {
    let mut cases: Vec<(String, Option<&'static str>)> = Vec::new();
    let mut add = |text: String, want: Option<&'static str>| cases.push((text, want));
    // Cc: every C0 and C1 control except tab and line breaks, alone and inside a word.
    for c in (0x00u32..0x20).chain(0x7F..0xA0) {
        let c = char::from_u32(c).expect("control");
        if matches!(c, '\t' | '\n' | '\r') {
            add(format!("a{c}cat"), None);
        } else {
            add(format!("a{c}cat"), Some("control"));
        }
    }
    // Cf and other invisibles: alone (nothing visible: empty) and inside a word (stripped).
    let invisible = [
        0x00AD, 0x061C, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C,
        0x202D, 0x202E, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x2066, 0x2067, 0x2068, 0x2069,
        0x206A, 0x206F, 0x3164, 0xFE0F, 0xFEFF, 0xFFA0, 0xFFF9, 0xFFFB, 0x1D173, 0xE0001, 0xE0041,
        0xE007F,
    ];
    for c in invisible {
        let c = char::from_u32(c).expect("char");
        add(format!("{c}{c}{c}"), Some("empty"));
        add(format!("a{c}cat"), None);
    }
    add(
        "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}".to_owned(),
        Some("empty"),
    );
    // Zs, Zl, Zp: every kind of space and break, alone (empty) and between words.
    for c in [
        0x0020, 0x00A0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007,
        0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
    ] {
        let c = char::from_u32(c).expect("space");
        add(format!("{c}{c}"), Some("empty"));
        add(format!("a{c}red{c}{c}cat"), None);
    }
    // Bidi tricks that reorder what is shown.
    add("a cat \u{202E}god a\u{202C}".to_owned(), None);
    add("\u{2067}\u{202E}\u{2066}".to_owned(), Some("empty"));
    add("file\u{202E}gnp.exe".to_owned(), None);
    // Combining-only text and stacked marks ("Zalgo").
    add("\u{0301}\u{0302}\u{0303}".to_owned(), Some("empty"));
    add("\u{20DD}\u{20DE}".to_owned(), Some("empty"));
    add(
        format!("a{}cat", "\u{0301}".repeat(MAX_CLUSTER_CHARS + 1)),
        Some("cluster"),
    );
    add(
        format!("Z{}algo", "\u{036F}\u{0489}".repeat(40)),
        Some("cluster"),
    );
    add("Tiếng Việt phở".to_owned(), None);
    add("क्षत्रिय नमस्ते".to_owned(), None);
    add("👩‍👩‍👧‍👦 family".to_owned(), None);
    add("🏳️‍🌈".to_owned(), None);
    // Lone surrogates cannot exist in Rust text: Discord's JSON escapes of them arrive as U+FFFD.
    add("\u{FFFD}".to_owned(), None);
    add("a \u{FFFD} cat".to_owned(), None);
    // Private use and noncharacters: nothing a reader sees.
    add("\u{E000}\u{F8FF}".to_owned(), Some("empty"));
    // Mentions, broadcasts, invites, links and masked links.
    for text in [
        "@everyone a cat",
        "@here a cat",
        "@\u{200B}everyone a cat",
        "＠everyone a cat",
        "<@123456789012345678> a cat",
        "<@!123456789012345678> a cat",
        "<@&123456789012345678> a cat",
        "<#123456789012345678> a cat",
        "</imagine:123> a cat",
        "a cat discord.gg/freenitro",
        "a cat DISCORD.GG/freenitro",
        "a cat discord.com/invite/abc",
        "a cat discordapp.com/invite/abc",
        "a cat https://evil.example/x",
        "a cat http://evil.example",
        "[a cat](https://evil.example)",
        "[click](<https://evil.example>)",
        "a cat www.evil.example",
        "a cat evil.gg/x",
        "@everyone",
        "<@123>",
    ] {
        add(text.to_owned(), None);
    }
    // Length: at the limit, over it (6000+ characters), and long only before cleaning.
    add("x".repeat(MAX), None);
    add("x".repeat(MAX + 1), Some("too-long"));
    add("x".repeat(6000), Some("too-long"));
    add("é".repeat(6001), Some("too-long"));
    add(format!("a{}cat", " ".repeat(6000)), None);
    add(format!("a{}cat", "\u{200B}".repeat(6000)), None);
    cases
}

/// Invariants of cleaned text in `field`.
fn check_clean(field: Field, input: &str, out: &str) {
    let case = format!("{field:?} {input:?} → {out:?}");
    if matches!(field, Field::Negative | Field::Answer) && out.is_empty() {
        return;
    }
    assert!(!out.is_empty(), "{case}");
    assert!(out.chars().count() <= MAX, "{case}");
    for c in out.chars() {
        assert!(
            !c.is_control() || (c == '\n' && matches!(field, Field::Persona | Field::Answer)),
            "control {c:?} in {case}"
        );
        assert!(!zipp::text::is_invisible(c), "invisible {c:?} in {case}");
        assert!(
            !matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069 | 0x200E | 0x200F | 0x061C),
            "bidi control in {case}"
        );
    }
    assert!(
        out.graphemes(true)
            .all(|g| g.chars().count() <= MAX_CLUSTER_CHARS),
        "{case}"
    );
    assert_eq!(out.trim(), out, "{case}");
    assert!(!out.contains("  "), "{case}");
    let echoed = for_echo(out).to_lowercase();
    // A user, role or channel mention is `<@`, `<@!`, `<@&` or `<#` followed by digits.
    for (i, _) in echoed.match_indices('<') {
        let after: String = echoed[i + 1..].chars().take(2).collect();
        let mut chars = after.chars();
        let mention = match (chars.next(), chars.next()) {
            (Some('@'), Some(c)) => c.is_ascii_digit() || c == '!' || c == '&',
            (Some('#'), Some(c)) => c.is_ascii_digit(),
            _ => false,
        };
        assert!(!mention, "a mention survives echo in {case}: {echoed:?}");
    }
    for bad in [
        "@everyone",
        "@here",
        "](",
        "://",
        "discord.gg",
        "discord.com/invite",
    ] {
        assert!(!echoed.contains(bad), "{bad:?} survives echo in {case}");
    }
    if matches!(field, Field::Persona | Field::Answer) {
        // Persona text becomes LLM input: mentions and links are gone, not just inert.
        let lower = out.to_lowercase();
        for bad in ['@', '<', '>'] {
            assert!(!lower.contains(bad), "{bad:?} in {case}");
        }
        for bad in ["http", "discord.gg", "www."] {
            assert!(!lower.contains(bad), "{bad:?} in {case}");
        }
    }
}

#[test]
fn bad_input_corpus_is_cleaned_or_refused_politely() {
    let i18n = I18n::load().expect("locales");
    let locales = ["en-US", "de", "es-ES", "fr", "ja", "pt-BR"];
    let fields = [
        Field::Prompt,
        Field::Negative,
        Field::Persona,
        Field::Answer,
    ];
    let corpus = corpus();
    let (mut cleaned, mut refused) = (0, 0);
    for (input, want) in &corpus {
        for field in fields {
            let case = format!("{field:?} {input:?}");
            match clean(input, field, MAX) {
                Ok(out) => {
                    let may_be_empty = matches!(field, Field::Negative | Field::Answer);
                    match want {
                        Some("empty") if may_be_empty => assert_eq!(out, "", "{case}"),
                        Some(reason) => panic!("{case} should be refused ({reason}), got {out:?}"),
                        None => {}
                    }
                    check_clean(field, input, &out);
                    cleaned += 1;
                }
                Err(refusal) => {
                    if let Some(reason) = want {
                        assert_eq!(
                            refusal.message_id(field),
                            format!("error-{}-{reason}", field.name()),
                            "{case}"
                        );
                    }
                    let id = refusal.message_id(field);
                    for locale in locales {
                        let args = fluent_args_for(&refusal);
                        let text = i18n.tr(locale, id, Some(&args));
                        assert!(
                            text != id && !text.contains('{') && !text.is_empty(),
                            "{case}: {id} in {locale} is {text:?}"
                        );
                    }
                    refused += 1;
                }
            }
        }
    }
    let total = corpus.len() * fields.len();
    assert!(total >= 800, "the corpus has {total} field inputs");
    assert_eq!(cleaned + refused, total);
    println!(
        "bad-input corpus: {} inputs × {} fields = {total}: {cleaned} cleaned, {refused} refused politely, 0 raw errors",
        corpus.len(),
        fields.len()
    );
}

fn fluent_args_for(refusal: &Refusal) -> zipp::i18n::FluentArgs<'static> {
    let mut args = zipp::i18n::FluentArgs::new();
    let (length, max) = match refusal {
        Refusal::TooLong { length, max } => (*length as i64, *max as i64),
        _ => (0, 0),
    };
    args.set("length", length);
    args.set("max", max);
    args
}

/// A sample of the corpus through `/imagine` on the real bot: refusals are ephemeral and never
/// deferred, accepted prompts are deferred, and no request pings anyone.
async fn bad_prompts_end_to_end(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let fake = &setup.fake;
    let app = setup.start_bot(0).await;
    let sample: Vec<(String, Option<&'static str>)> = corpus()
        .into_iter()
        .enumerate()
        .filter(|(i, (_, want))| want.is_some() && i % 4 == 0 || i % 16 == 1)
        .map(|(_, case)| case)
        .collect();
    assert!(sample.len() >= 20, "{} sampled", sample.len());
    for (n, (prompt, want)) in sample.iter().enumerate() {
        let (id, token) = dispatch_imagine(
            fake,
            960_000_000_000_000_000 + n as u64,
            vec![opt_str("prompt", prompt)],
            |b| b,
        )
        .await;
        let callback = callback_path(id, &token);
        let reply = fake
            .wait_for_request("an answer", WAIT, |r| r.path == callback)
            .await
            .expect("an answer");
        let json = reply.json.as_ref().expect("json");
        match want {
            Some(_) => {
                assert_eq!(json["type"], 4, "{prompt:?}: a refusal, not a deferral");
                assert_eq!(json["data"]["flags"], 64, "{prompt:?}: ephemeral");
                let content = json["data"]["content"].as_str().expect("content");
                assert!(
                    !content.contains("error-"),
                    "{prompt:?}: raw id {content:?}"
                );
            }
            None => assert!(
                json["type"] == 5 || json["data"]["flags"] == 64,
                "{prompt:?}: deferred or refused ephemerally: {json}"
            ),
        }
        assert_mentions_nobody(&reply);
    }
    for request in fake.requests() {
        assert_mentions_nobody(&request);
    }
    setup.finish(app).await;
}

on_both_databases!(bad_prompts_end_to_end);
