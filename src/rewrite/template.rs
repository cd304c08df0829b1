//! The template rewrite: a deterministic, LLM-free persona-style rewrite.
//!
//! It keeps the member's prompt first and verbatim (only made inert by
//! [`crate::text::sanitize`]) and appends style, lighting, palette, mood and composition
//! descriptors chosen from the words of the persona with a small built-in vocabulary. With no
//! persona, or none of its words in the vocabulary, it appends neutral quality descriptors. It is
//! also the fallback whenever an LLM rewrite fails, so it must be cheap and never fail.

use std::sync::Arc;

use super::postcheck::TokenCounter;
use super::{BoxFuture, RewriteRequest, Rewriter, Rewritten};
use crate::text::sanitize;

/// One vocabulary entry: persona keywords → descriptors.
struct Entry {
    keywords: &'static [&'static str],
    descriptors: &'static [&'static str],
}

/// Persona keywords (matched as whole words, plural `s` ignored) and the descriptors they bring.
/// Order matters only for ties; the persona's own word order decides which entries win.
const VOCABULARY: &[Entry] = &[
    Entry {
        keywords: &[
            "nature",
            "hiking",
            "hiker",
            "outdoor",
            "outdoors",
            "forest",
            "mountain",
            "camping",
            "garden",
            "gardening",
            "trail",
        ],
        descriptors: &[
            "soft natural light",
            "earthy palette",
            "wide landscape composition",
        ],
    },
    Entry {
        keywords: &[
            "ocean", "sea", "beach", "surf", "surfing", "sailing", "sailor", "island",
        ],
        descriptors: &[
            "golden hour light",
            "turquoise and sand palette",
            "breezy mood",
        ],
    },
    Entry {
        keywords: &[
            "cyberpunk",
            "tech",
            "technology",
            "programming",
            "programmer",
            "coding",
            "coder",
            "hacker",
            "computer",
            "developer",
        ],
        descriptors: &[
            "neon lighting",
            "teal and magenta palette",
            "futuristic mood",
        ],
    },
    Entry {
        keywords: &["gaming", "gamer", "game", "videogame", "esport"],
        descriptors: &[
            "vibrant game art style",
            "dynamic composition",
            "saturated palette",
        ],
    },
    Entry {
        keywords: &["anime", "manga", "otaku", "cartoon", "comic"],
        descriptors: &["anime style", "cel shading", "bold clean lines"],
    },
    Entry {
        keywords: &[
            "painting",
            "painter",
            "artist",
            "watercolor",
            "watercolour",
            "drawing",
            "illustration",
            "museum",
        ],
        descriptors: &[
            "painterly style",
            "visible brush strokes",
            "harmonious palette",
        ],
    },
    Entry {
        keywords: &["photography", "photographer", "camera", "film"],
        descriptors: &[
            "35mm photograph",
            "shallow depth of field",
            "natural color grading",
        ],
    },
    Entry {
        keywords: &[
            "vintage",
            "retro",
            "history",
            "historian",
            "antique",
            "nostalgia",
            "nostalgic",
        ],
        descriptors: &["film grain", "faded sepia palette", "nostalgic mood"],
    },
    Entry {
        keywords: &[
            "horror",
            "goth",
            "gothic",
            "dark",
            "spooky",
            "halloween",
            "metal",
        ],
        descriptors: &["low-key lighting", "dark moody palette", "eerie atmosphere"],
    },
    Entry {
        keywords: &[
            "cute", "kawaii", "cat", "kitten", "dog", "puppy", "pet", "animal", "bunny",
        ],
        descriptors: &["pastel palette", "playful mood", "soft diffuse lighting"],
    },
    Entry {
        keywords: &[
            "fantasy", "dragon", "magic", "wizard", "dnd", "tolkien", "medieval", "knight",
        ],
        descriptors: &[
            "epic fantasy illustration",
            "dramatic rim lighting",
            "rich jewel-tone palette",
        ],
    },
    Entry {
        keywords: &[
            "space",
            "astronomy",
            "astronaut",
            "scifi",
            "star",
            "galaxy",
            "cosmos",
            "planet",
        ],
        descriptors: &["cosmic palette", "starlit lighting", "vast sense of scale"],
    },
    Entry {
        keywords: &[
            "minimalism",
            "minimalist",
            "minimal",
            "design",
            "designer",
            "architecture",
            "architect",
        ],
        descriptors: &[
            "clean minimal composition",
            "muted palette",
            "negative space",
        ],
    },
    Entry {
        keywords: &[
            "food", "cooking", "cook", "chef", "baking", "baker", "coffee", "foodie",
        ],
        descriptors: &[
            "warm cozy lighting",
            "appetizing close-up",
            "rich warm palette",
        ],
    },
    Entry {
        keywords: &[
            "music", "musician", "jazz", "concert", "guitar", "band", "dj",
        ],
        descriptors: &[
            "stage lighting",
            "vibrant energetic mood",
            "rhythmic composition",
        ],
    },
    Entry {
        keywords: &[
            "winter",
            "snow",
            "skiing",
            "ski",
            "snowboard",
            "arctic",
            "cold",
        ],
        descriptors: &["crisp winter light", "cool blue palette", "serene mood"],
    },
    Entry {
        keywords: &[
            "city",
            "urban",
            "street",
            "skateboard",
            "skater",
            "graffiti",
        ],
        descriptors: &[
            "urban street photography",
            "cinematic lighting",
            "gritty mood",
        ],
    },
    Entry {
        keywords: &[
            "cozy", "reading", "reader", "book", "tea", "knitting", "calm", "relax",
        ],
        descriptors: &["warm lamplight", "soft muted palette", "cozy intimate mood"],
    },
];

/// Descriptors used when the persona names nothing in the vocabulary.
const NEUTRAL: &[&str] = &[
    "highly detailed",
    "balanced composition",
    "soft even lighting",
];

/// Every descriptor the template may add (style vocabulary for the post-checks' privacy rule).
pub(super) fn style_descriptors() -> impl Iterator<Item = &'static str> {
    VOCABULARY
        .iter()
        .flat_map(|e| e.descriptors.iter().copied())
        .chain(NEUTRAL.iter().copied())
}

/// The most vocabulary entries one persona contributes (keeps the prompt in CLIP's window).
const MAX_ENTRIES: usize = 2;

/// Descriptors for a persona, in a deterministic order: vocabulary entries in the order the
/// persona first mentions one of their keywords, at most two entries; neutral quality
/// descriptors when none match.
pub fn descriptors_for(persona: Option<&str>) -> Vec<&'static str> {
    let words: Vec<String> = persona
        .unwrap_or("")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            match w.strip_suffix('s') {
                Some(s) if s.len() > 2 && !s.ends_with('s') => s.to_owned(),
                _ => w,
            }
        })
        .collect();
    let mut chosen: Vec<usize> = Vec::new();
    for w in &words {
        if let Some(i) = VOCABULARY
            .iter()
            .position(|e| e.keywords.contains(&w.as_str()))
        {
            if !chosen.contains(&i) {
                chosen.push(i);
            }
        }
        if chosen.len() == MAX_ENTRIES {
            break;
        }
    }
    if chosen.is_empty() {
        return NEUTRAL.to_vec();
    }
    chosen
        .iter()
        .flat_map(|&i| VOCABULARY[i].descriptors.iter().copied())
        .collect()
}

/// The template rewrite of `prompt`: the sanitized prompt, then as many descriptors as fit in
/// `max_tokens` when a counter is given (the prompt itself is never cut: CLIP truncates it).
pub fn template_rewrite(
    prompt: &str,
    persona: Option<&str>,
    count_tokens: Option<&dyn Fn(&str) -> usize>,
    max_tokens: usize,
) -> String {
    // One line, so the descriptors follow the prompt rather than a stray newline.
    let mut out = sanitize(prompt).replace('\n', " ");
    let base_lower = out.to_lowercase();
    for d in descriptors_for(persona) {
        if base_lower.contains(d) {
            continue;
        }
        let candidate = if out.is_empty() {
            d.to_owned()
        } else {
            format!("{out}, {d}")
        };
        match count_tokens {
            Some(count) if count(&candidate) > max_tokens => break,
            _ => out = candidate,
        }
    }
    out
}

/// The deterministic persona-style rewriter (kind `template`).
#[derive(Clone, Default)]
pub struct TemplateRewriter {
    counter: Option<TokenCounter>,
    max_tokens: usize,
}

impl std::fmt::Debug for TemplateRewriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateRewriter")
            .field("has_counter", &self.counter.is_some())
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

impl TemplateRewriter {
    /// A template rewriter that appends descriptors without a token budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// A template rewriter that appends descriptors only while the whole prompt fits in
    /// `max_tokens` as counted by `counter` (the diffusion model's tokenizer).
    pub fn with_budget(counter: TokenCounter, max_tokens: usize) -> Self {
        Self {
            counter: Some(counter),
            max_tokens,
        }
    }

    /// Rewrites synchronously (the trait method wraps this).
    pub fn rewrite_now(&self, request: &RewriteRequest) -> Rewritten {
        let counter: Option<&dyn Fn(&str) -> usize> = self
            .counter
            .as_ref()
            .map(|c| c.as_ref() as &dyn Fn(&str) -> usize);
        Rewritten {
            prompt: template_rewrite(
                &request.prompt,
                request.persona.as_deref(),
                counter,
                self.max_tokens,
            ),
            kind: "template".to_owned(),
        }
    }
}

impl Rewriter for TemplateRewriter {
    fn rewrite(&self, request: RewriteRequest) -> BoxFuture<'_, Rewritten> {
        let out = self.rewrite_now(&request);
        Box::pin(async move { out })
    }
}

/// Wraps a closure (e.g. around the CLIP tokenizer's `count_tokens`) as a [`TokenCounter`].
pub fn counter(f: impl Fn(&str) -> usize + Send + Sync + 'static) -> TokenCounter {
    Arc::new(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One token per word, plus BOS/EOS.
    fn approx(text: &str) -> usize {
        text.split([' ', ',']).filter(|w| !w.is_empty()).count() + 2
    }

    fn req(prompt: &str, persona: Option<&str>) -> RewriteRequest {
        RewriteRequest {
            prompt: prompt.to_owned(),
            persona: persona.map(str::to_owned),
            examples: Vec::new(),
        }
    }

    #[test]
    fn persona_words_pick_descriptors() {
        assert_eq!(
            template_rewrite("a red cat", Some("I love nature and hiking"), None, 77),
            "a red cat, soft natural light, earthy palette, wide landscape composition"
        );
        assert_eq!(
            template_rewrite("a bridge", Some("Programmers. Also HIKING!"), None, 77),
            "a bridge, neon lighting, teal and magenta palette, futuristic mood, \
             soft natural light, earthy palette, wide landscape composition"
        );
        assert_eq!(
            template_rewrite("a bridge", Some("accountant"), None, 77),
            "a bridge, highly detailed, balanced composition, soft even lighting"
        );
        assert_eq!(
            template_rewrite("a bridge", None, None, 77),
            "a bridge, highly detailed, balanced composition, soft even lighting"
        );
    }

    #[tokio::test]
    async fn deterministic_and_keeps_prompt_first() {
        let t = TemplateRewriter::new();
        let r = req("a cat on a roof, 4k", Some("space nerd, astronomy, jazz"));
        let a = t.rewrite(r.clone()).await;
        for _ in 0..10 {
            assert_eq!(t.rewrite(r.clone()).await, a);
        }
        assert!(a.prompt.starts_with("a cat on a roof, 4k, "));
        assert_eq!(a.kind, "template");
    }

    #[test]
    fn respects_the_token_budget_and_sanitizes() {
        let t = TemplateRewriter::with_budget(counter(approx), 8);
        let out = t.rewrite_now(&req("a cat @everyone", Some("nature")));
        assert_eq!(out.prompt, "a cat everyone, soft natural light");
        // An over-long prompt is kept whole; no descriptor is added.
        let long = "word ".repeat(100);
        let out = t.rewrite_now(&req(&long, Some("nature")));
        assert_eq!(out.prompt, long.trim());
    }
}
