//! Prompt rules: a server's own blocklist (`/config blocklist`), and a built-in list for sexual
//! content involving minors that no server can turn off. Pure, table-tested.
//!
//! Prompt and phrases are compared [`fold`]ed (NFKC, case folded, invisible characters removed,
//! punctuation as spaces), so `Ｎ.Ｕ.Ｄ.Ｅ`-style disguises of a word, zero-width splits and
//! full-width letters still match. A phrase matches whole words (`cat` does not block
//! `category`); a phrase in a script written without spaces (Chinese, Japanese, Thai…) matches
//! anywhere.

use crate::text::fold;

/// The most phrases one server's blocklist holds.
pub const MAX_PHRASES: usize = 200;
/// The longest phrase, in characters.
pub const MAX_PHRASE_CHARS: usize = 100;

/// Which list blocked a prompt. Neither names the phrase: a refusal never repeats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// The server's blocklist.
    Server,
    /// The built-in list.
    BuiltIn,
}

/// Words that always refuse.
const ALWAYS: &[&str] = &[
    "loli",
    "lolis",
    "lolicon",
    "shota",
    "shotas",
    "shotacon",
    "jailbait",
    "pedo",
    "pedophile",
    "pedophilia",
    "paedophile",
    "paedophilia",
    "child porn",
    "cheese pizza",
    "csam",
];

/// Words naming a child.
const MINOR: &[&str] = &[
    "child",
    "children",
    "childs",
    "kid",
    "kids",
    "minor",
    "minors",
    "underage",
    "under age",
    "preteen",
    "preteens",
    "pre teen",
    "tween",
    "tweens",
    "toddler",
    "toddlers",
    "infant",
    "infants",
    "baby",
    "babies",
    "little girl",
    "little girls",
    "little boy",
    "little boys",
    "young girl",
    "young girls",
    "young boy",
    "young boys",
    "schoolgirl",
    "schoolgirls",
    "schoolboy",
    "schoolboys",
    "teen",
    "teens",
    "teenage",
    "teenager",
    "teenagers",
    "juvenile",
    "prepubescent",
    "girl child",
    "boy child",
    "kinder",
    "enfant",
    "niña",
    "niño",
    "criança",
    "子供",
    "こども",
    "幼女",
    "児童",
    "少女",
];

/// Words of sexual content.
const SEXUAL: &[&str] = &[
    "nude",
    "nudes",
    "naked",
    "nudity",
    "nsfw",
    "sex",
    "sexy",
    "sexual",
    "sexualized",
    "porn",
    "porno",
    "pornographic",
    "erotic",
    "erotica",
    "explicit",
    "lewd",
    "hentai",
    "ecchi",
    "topless",
    "bottomless",
    "genital",
    "genitals",
    "breasts",
    "nipples",
    "lingerie",
    "undressed",
    "undressing",
    "seductive",
    "orgasm",
    "masturbating",
    "masturbation",
    "aroused",
    "bdsm",
    "fetish",
    "nackt",
    "nue",
    "desnuda",
    "desnudo",
    "pelada",
    "pelado",
    "裸",
    "全裸",
    "エロ",
    "ヌード",
];

/// Whether `prompt` may be rendered in a server whose blocklist is `server` (phrases already
/// [`fold`]ed).
pub fn check(prompt: &str, server: &[String]) -> Option<Blocked> {
    let text = Folded::new(prompt);
    if built_in(&text) {
        return Some(Blocked::BuiltIn);
    }
    server
        .iter()
        .any(|phrase| text.contains(phrase))
        .then_some(Blocked::Server)
}

/// A folded prompt, with its spelled-out runs (`n u d e`, from `N.U.D.E`) joined.
struct Folded {
    text: String,
    spelled: Vec<String>,
}

impl Folded {
    fn new(prompt: &str) -> Self {
        let text = fold(prompt);
        let mut spelled = Vec::new();
        let mut run = String::new();
        let mut letters = 0;
        for word in text.split(' ').chain(std::iter::once("")) {
            if word.chars().count() == 1 {
                run.push_str(word);
                letters += 1;
            } else {
                if letters >= 3 {
                    spelled.push(std::mem::take(&mut run));
                }
                run.clear();
                letters = 0;
            }
        }
        Self { text, spelled }
    }

    /// Whether the prompt holds `phrase`: as whole words, or inside a spelled-out run.
    fn contains(&self, phrase: &str) -> bool {
        if contains(&self.text, phrase) {
            return true;
        }
        let compact: String = phrase.chars().filter(|&c| c != ' ').collect();
        compact.chars().count() >= 3 && self.spelled.iter().any(|run| run.contains(&compact))
    }
}

/// The built-in rule: a word that always refuses, or a child together with sexual content.
fn built_in(text: &Folded) -> bool {
    let any = |list: &[&str]| list.iter().any(|phrase| text.contains(phrase));
    any(ALWAYS) || ((any(MINOR) || names_a_minor_age(&text.text)) && any(SEXUAL))
}

/// `12yo`, `12 yo`, `12 y o`, `12 year old`, `12 years old`, `12歳` with an age under 18.
fn names_a_minor_age(text: &str) -> bool {
    let words: Vec<&str> = text.split(' ').collect();
    words.iter().enumerate().any(|(i, word)| {
        let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
        let Ok(age) = digits.parse::<u32>() else {
            return false;
        };
        if age >= 18 {
            return false;
        }
        let rest = &word[digits.len()..];
        let next = words.get(i + 1).copied().unwrap_or("");
        matches!(rest, "yo" | "y" | "yrs" | "歳" | "才")
            || (rest.is_empty() && matches!(next, "yo" | "y" | "year" | "years" | "yr" | "yrs"))
    })
}

/// Whether folded `text` holds folded `phrase` as whole words (anywhere, for a phrase in a
/// script written without spaces).
fn contains(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    if phrase.chars().any(unspaced_script) {
        return text.contains(phrase);
    }
    let mut from = 0;
    while let Some(at) = text[from..].find(phrase) {
        let start = from + at;
        let end = start + phrase.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| c == ' ' || unspaced_script(c));
        if boundary(before) && boundary(after) {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Scripts written without spaces between words: Han, Hiragana, Katakana, Thai, Lao, Khmer,
/// Myanmar.
fn unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F
        | 0x0E00..=0x0EFF | 0x1780..=0x17FF | 0x1000..=0x109F | 0xFF66..=0xFF9F)
}

/// A phrase a moderator typed, as stored: folded, or a short reason it cannot be.
pub fn normalize_phrase(phrase: &str) -> Result<String, &'static str> {
    let folded = fold(phrase);
    if folded.is_empty() {
        return Err("error-blocklist-empty");
    }
    if folded.chars().count() > MAX_PHRASE_CHARS {
        return Err("error-blocklist-too-long");
    }
    Ok(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(phrases: &[&str]) -> Vec<String> {
        phrases
            .iter()
            .map(|p| normalize_phrase(p).expect("phrase"))
            .collect()
    }

    #[test]
    fn fold_table() {
        for (input, folded) in [
            ("  Nu.DE\u{200B}!", "nu de"),
            ("ＮＵＤＥ", "nude"),
            ("𝐧𝐮𝐝𝐞", "nude"),
            ("n\u{200B}u\u{200D}d\u{2060}e\u{FEFF}", "nude"),
            ("STRASSE Straße", "strasse strasse"),
            ("ΣΊΣΥΦΟΣ", "σίσυφοσ"),
            ("a---b___c", "a b c"),
            ("赤い猫", "赤い猫"),
            ("", ""),
        ] {
            assert_eq!(fold(input), folded, "{input:?}");
        }
    }

    #[test]
    fn server_phrases_match_whole_words_after_folding() {
        let list = server(&["Red Cat", "dog", "猫"]);
        for (prompt, blocked) in [
            ("a red cat on a mat", true),
            ("a RED\u{200B} CAT", true),
            ("a ｒｅｄ ｃａｔ", true),
            ("a red-cat", true),
            ("a redcat", false),
            ("a red category", false),
            ("hotdog stand", false),
            ("a d.o.g", true),
            ("a dog!", true),
            ("DOG", true),
            ("赤い猫", true),
            ("a blue bird", false),
        ] {
            assert_eq!(
                check(prompt, &list) == Some(Blocked::Server),
                blocked,
                "{prompt:?}"
            );
        }
        assert_eq!(check("anything", &[]), None);
    }

    #[test]
    fn built_in_list_refuses_minors_with_sexual_content_only() {
        for (prompt, blocked) in [
            ("a child playing in a park", false),
            ("a nude statue in a museum", false),
            ("nude child", true),
            ("a N.U.D.E. C-H-I-L-D", true),
            ("n u d e k i d", true),
            ("a b c nude art", false),
            ("naked\u{200B} kids", true),
            ("ｓｅｘｙ schoolgirl", true),
            ("sexy 12yo", true),
            ("sexy 12 year old", true),
            ("sexy 25 year old", false),
            ("a 12 year old birthday party", false),
            ("loli", true),
            ("lolicon art", true),
            ("hololive", false),
            ("the kid's sexy car", true),
            ("kids' toys", false),
            ("全裸の子供", true),
        ] {
            assert_eq!(
                check(prompt, &[]) == Some(Blocked::BuiltIn),
                blocked,
                "{prompt:?}"
            );
        }
    }

    #[test]
    fn phrases_are_checked() {
        assert_eq!(
            normalize_phrase(" \u{200B} ..."),
            Err("error-blocklist-empty")
        );
        assert_eq!(
            normalize_phrase(&"x".repeat(MAX_PHRASE_CHARS + 1)),
            Err("error-blocklist-too-long")
        );
        assert_eq!(normalize_phrase("Foo-Bar"), Ok("foo bar".to_owned()));
    }
}
