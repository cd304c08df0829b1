//! Table tests for the post-checks.

use super::*;

/// A stand-in for CLIP: one token per word or punctuation mark, plus BOS/EOS.
pub(crate) fn approx_tokens(text: &str) -> usize {
    let mut n = 2;
    let mut in_word = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if !in_word {
                n += 1;
            }
            in_word = true;
        } else {
            in_word = false;
            if !c.is_whitespace() {
                n += 1;
            }
        }
    }
    n
}

fn check(original: &str, answer: &str) -> Result<String, RejectReason> {
    check_rewrite(original, None, answer, &approx_tokens, 77)
}

#[test]
fn cleans_wrapping() {
    let cases: &[(&str, &str)] = &[
        ("a cat, watercolor", "a cat, watercolor"),
        (
            "Sure! Here's the rewritten prompt:\n\na cat, watercolor",
            "a cat, watercolor",
        ),
        ("Rewritten prompt: a cat, watercolor", "a cat, watercolor"),
        ("\"a cat, watercolor\"", "a cat, watercolor"),
        ("“a cat, watercolor”", "a cat, watercolor"),
        ("```\na cat, watercolor\n```", "a cat, watercolor"),
        ("**a cat, watercolor**", "a cat, watercolor"),
        ("- a cat, watercolor", "a cat, watercolor"),
        ("## Prompt\na cat, watercolor", "a cat, watercolor"),
        ("Sure! a cat, watercolor", "a cat, watercolor"),
        (
            "a cat, watercolor. This version emphasizes soft colors.",
            "a cat, watercolor",
        ),
        (
            "a cat, watercolor\n\nThis prompt keeps the subject while adding style.",
            "a cat, watercolor",
        ),
        (
            "\"a cat, watercolor\" — I added a style.",
            "a cat, watercolor",
        ),
        (
            "<think>the user wants a cat</think>a cat, watercolor",
            "a cat, watercolor",
        ),
        ("Certainly.\n1. a cat, watercolor", "a cat, watercolor"),
        (
            "Here is your prompt: **a cat, watercolor**",
            "a cat, watercolor",
        ),
    ];
    for (answer, want) in cases {
        assert_eq!(
            check("a cat", answer).as_deref(),
            Ok(*want),
            "answer: {answer:?}"
        );
    }
}

#[test]
fn rejects_refusals_and_empties() {
    let cases: &[(&str, RejectReason)] = &[
        ("", RejectReason::Empty),
        ("   \n ```\n```", RejectReason::Empty),
        ("\u{200B}\u{202E}", RejectReason::Empty),
        ("I can't help with that request.", RejectReason::Refusal),
        (
            "I'm sorry, but I cannot create that.",
            RejectReason::Refusal,
        ),
        ("As an AI language model, a cat is…", RejectReason::Refusal),
        ("Sorry, I won't do this.", RejectReason::Refusal),
        (
            "I am role-playing. Rewrite this image prompt the way I would want it",
            RejectReason::Leak,
        ),
        ("My system prompt says: a cat", RejectReason::Leak),
    ];
    for (answer, want) in cases {
        assert_eq!(
            check("a cat", answer).as_ref(),
            Err(want),
            "answer: {answer:?}"
        );
    }
}

#[test]
fn subject_rule() {
    assert_eq!(
        subject_words("a red cat, 4k, highly detailed"),
        ["red", "cat"]
    );
    assert_eq!(
        subject_words("Two puppies playing in the snow. trending on artstation"),
        ["puppies", "snow"]
    );
    assert_eq!(subject_words("4k"), Vec::<String>::new());
    assert!(check("a red cat", "a crimson feline, watercolor").is_err());
    assert_eq!(
        check("a red cat, 4k", "A RED CATS, watercolor").as_deref(),
        Ok("A RED CATS, watercolor")
    );
    assert_eq!(
        check(
            "a puppy on a beach",
            "puppies on a sunny beach, golden hour"
        )
        .as_deref(),
        Ok("puppies on a sunny beach, golden hour")
    );
    match check("a lighthouse by the sea", "a castle on a hill") {
        Err(RejectReason::SubjectLost(m)) => assert_eq!(m, ["lighthouse", "sea"]),
        other => panic!("{other:?}"),
    }
    // Only the first clause counts: style modifiers may be replaced by the persona's taste.
    assert!(check("a fox, oil painting, baroque", "a fox, pixel art").is_ok());
}

#[test]
fn trims_to_the_token_budget_at_clause_boundaries() {
    let long = format!(
        "a cat on a roof, {}",
        (0..40)
            .map(|i| format!("detail{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let out = check("a cat on a roof", &long).expect("trimmed");
    assert!(approx_tokens(&out) <= 77, "{out}");
    assert!(
        out.starts_with("a cat on a roof, detail0, detail1"),
        "{out}"
    );
    // The subject clause alone exceeds the budget: rejected, not mangled.
    let subject = format!("a cat {}", "very ".repeat(100));
    assert!(matches!(
        check("a cat", &subject),
        Err(RejectReason::TooLong { .. })
    ));
    // Subject-bearing clauses survive even when later.
    let out = check_rewrite(
        "a cat",
        None,
        "soft light, pastel, a cat, moody",
        &approx_tokens,
        6,
    )
    .expect("fits");
    assert_eq!(out, "a cat");
}

#[test]
fn neutralizes_mentions_links_and_invisibles() {
    let cases: &[(&str, &str)] = &[
        ("a cat @everyone", "a cat everyone"),
        ("a cat @here", "a cat here"),
        ("a cat <@123456789012345678>", "a cat"),
        ("a cat <@!123456789012345678>", "a cat"),
        ("a cat <@&123456789012345678>", "a cat"),
        ("a cat <#123456789012345678>", "a cat"),
        ("a cat <<@1>@2>", "a cat 2"),
        ("a cat@everyone", "a cat everyone"),
        ("a cat @@everyone", "a cat everyone"),
        ("a cat ＠everyone", "a cat everyone"),
        ("a cat discord.gg/abc", "a cat"),
        ("a cat https://evil.example/x", "a cat"),
        ("a cat (see www.evil.com)", "a cat (see"),
        ("a cat evil.com/path", "a cat"),
        ("a cat disc\u{200B}ord.gg/abc", "a cat"),
        ("a c\u{200D}at \u{202E}tac a", "a cat tac a"),
        ("a cat\u{0007}\u{FEFF}", "a cat"),
        ("a cat\u{E0041}\u{E0042}", "a cat"),
        ("a cat 1.5 m tall", "a cat 1.5 m tall"),
    ];
    for (input, want) in cases {
        assert_eq!(sanitize(input), *want, "input: {input:?}");
    }
}

/// No Discord mention, broadcast ping, invite or URL survives in `text`.
pub(crate) fn assert_inert(text: &str) {
    let lower = text.to_lowercase();
    for bad in [
        "@",
        "<@",
        "<#",
        "discord.gg",
        "discord.com/invite",
        "http",
        "www.",
        "＠",
    ] {
        assert!(!lower.contains(bad), "{bad:?} in {text:?}");
    }
    assert!(
        !text.chars().any(|c| is_invisible(c) || c.is_control()),
        "{text:?}"
    );
}

#[test]
fn outputs_are_inert() {
    for answer in [
        "a cat @everyone <@1> <@&2> <#3> discord.gg/x https://x.y",
        "a cat\u{202E}@\u{200B}everyone",
        "a cat @\u{200B}here",
    ] {
        let out = check("a cat", answer).expect("accepted");
        assert_inert(&out);
    }
}

#[test]
fn persona_text_stays_private() {
    let persona =
        "I'm a night nurse in Lyon who loves watercolor, foxes and the #mod-lounge channel.";
    let rewrite = |answer: &str| check_rewrite("a cat", Some(persona), answer, &approx_tokens, 77);
    // Style words of the persona pass; its other words take their clause out.
    assert_eq!(
        rewrite("a cat, soft watercolor, pastel tones").as_deref(),
        Ok("a cat, soft watercolor, pastel tones")
    );
    assert_eq!(
        rewrite("a cat, watercolor, painted by a nurse from Lyon, a fox nearby").as_deref(),
        Ok("a cat, watercolor")
    );
    assert_eq!(
        rewrite("a cat; in the Mod Lounge, watercolor").as_deref(),
        Ok("a cat, watercolor")
    );
    // Plural and case do not hide a word.
    assert_eq!(
        rewrite("a cat, watercolor, NURSES").as_deref(),
        Ok("a cat, watercolor")
    );
    // In the subject's clause: rejected (the template answers instead).
    assert_eq!(
        rewrite("a cat owned by a Lyon nurse, watercolor"),
        Err(RejectReason::PersonaCopied)
    );
    // A word the member typed is theirs to show, even when the persona has it too.
    assert_eq!(
        check_rewrite(
            "a fox",
            Some(persona),
            "a fox, watercolor",
            &approx_tokens,
            77
        )
        .as_deref(),
        Ok("a fox, watercolor")
    );
    // The offline verbalizer's own phrasing and descriptors are style.
    let offline = "I'm drawn to neon-lit cyberpunk cities at night and soft watercolor botanicals in pastel tones.";
    assert_eq!(
        check_rewrite(
            "a cat",
            Some(offline),
            "a cat, neon-lit cyberpunk city at night, pastel tones",
            &approx_tokens,
            77
        )
        .as_deref(),
        Ok("a cat, neon-lit cyberpunk city at night, pastel tones")
    );
}
