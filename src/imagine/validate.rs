//! What `/imagine` accepts: validation of the member's input (pure, table-tested).
//!
//! Validation happens before the interaction is deferred, so a refusal can be an ephemeral reply
//! that only the member sees, and nothing is enqueued.

use crate::error::UserError;
use crate::text::{clean, Field, Refusal};

/// Limits from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct InputLimits {
    /// Longest prompt in characters.
    pub max_prompt_chars: usize,
    /// Longest negative prompt in characters.
    pub max_negative_chars: usize,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagineInput {
    /// The prompt, trimmed, with runs of whitespace collapsed.
    pub prompt: String,
    /// The negative prompt (empty when none).
    pub negative_prompt: String,
    /// The seed (random when the member gave none).
    pub seed: u64,
}

/// Largest seed accepted (seeds are 32-bit, as in most Stable Diffusion front ends).
pub const MAX_SEED: i64 = u32::MAX as i64;

/// Validates the member's input. `random_seed` is used when no seed was given.
pub fn validate(
    prompt: &str,
    negative: Option<&str>,
    seed: Option<i64>,
    limits: InputLimits,
    random_seed: u64,
) -> Result<ImagineInput, UserError> {
    let prompt = clean_field(prompt, Field::Prompt, limits.max_prompt_chars)?;
    let negative_prompt = match negative {
        Some(text) => clean_field(text, Field::Negative, limits.max_negative_chars)?,
        None => String::new(),
    };
    let seed = match seed {
        Some(seed) if (0..=MAX_SEED).contains(&seed) => seed as u64,
        Some(_) => return Err(UserError::new("error-seed-range")),
        None => random_seed & u64::from(u32::MAX),
    };
    Ok(ImagineInput {
        prompt,
        negative_prompt,
        seed,
    })
}

/// [`clean`], its refusal as the member-facing error.
pub fn clean_field(text: &str, field: Field, max_chars: usize) -> Result<String, UserError> {
    clean(text, field, max_chars).map_err(|refusal| refusal_error(&refusal, field))
}

/// The member-facing error of a [`Refusal`] in `field`.
pub fn refusal_error(refusal: &Refusal, field: Field) -> UserError {
    let error = UserError::new(refusal.message_id(field));
    match refusal {
        Refusal::TooLong { length, max } => error
            .with_number("length", *length as i64)
            .with_number("max", *max as i64),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: InputLimits = InputLimits {
        max_prompt_chars: 1000,
        max_negative_chars: 500,
    };

    fn check(prompt: &str, seed: Option<i64>, expected: Result<(&str, u64), &str>) {
        let got = validate(prompt, None, seed, LIMITS, 7)
            .map(|v| (v.prompt, v.seed))
            .map_err(|e| e.message_id);
        let expected = expected.map(|(p, s)| (p.to_owned(), s));
        assert_eq!(got, expected, "input {prompt:?} seed {seed:?}");
    }

    #[test]
    fn validation_table() {
        check("a red cat", None, Ok(("a red cat", 7)));
        check("  a\n red \t cat  ", Some(42), Ok(("a red cat", 42)));
        check("", None, Err("error-prompt-empty"));
        check(" \n\t ", None, Err("error-prompt-empty"));
        check(&"x".repeat(6000), None, Err("error-prompt-too-long"));
        check(&"é".repeat(1000), None, Ok((&"é".repeat(1000), 7)));
        check("bell\u{7}", None, Err("error-prompt-control"));
        check("nul\u{0}", None, Err("error-prompt-control"));
        check("c1\u{85}", None, Err("error-prompt-control"));
        check(
            "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
            None,
            Err("error-prompt-empty"),
        );
        check("a\u{202E}cat\u{202C}", None, Ok(("acat", 7)));
        check("cat", Some(-1), Err("error-seed-range"));
        check("cat", Some(MAX_SEED + 1), Err("error-seed-range"));
        check("cat", Some(MAX_SEED), Ok(("cat", MAX_SEED as u64)));
        check("cat", Some(0), Ok(("cat", 0)));
    }

    #[test]
    fn random_seed_stays_in_range() {
        let v = validate("cat", None, None, LIMITS, u64::MAX).expect("valid");
        assert!(v.seed <= MAX_SEED as u64);
    }

    #[test]
    fn negative_prompt_limits() {
        let err = validate("cat", Some(&"n".repeat(501)), None, LIMITS, 1).unwrap_err();
        assert_eq!(err.message_id, "error-negative-too-long");
        let err = validate("cat", Some("x\u{1b}[31m"), None, LIMITS, 1).unwrap_err();
        assert_eq!(err.message_id, "error-negative-control");
        let ok = validate("cat", Some("  blurry  "), None, LIMITS, 1).expect("valid");
        assert_eq!(ok.negative_prompt, "blurry");
    }
}
