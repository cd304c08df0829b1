//! The words the synthetic community is named with.

/// Built-in aesthetic themes, six words each; a taste takes the first 4–6 as descriptors.
pub(super) const THEMES: &[&str] = &[
    "cyberpunk neon rain city night chrome",
    "watercolor pastel botanical soft floral garden",
    "brutalist concrete monochrome geometric stark urban",
    "vaporwave retro synth sunset grid magenta",
    "gothic candlelit moody velvet cathedral crimson",
    "cottagecore rustic meadow cozy linen honey",
    "space nebula cosmic starfield astronaut galaxy",
    "ukiyo-e woodblock wave ink edo indigo",
    "steampunk brass clockwork victorian gears sepia",
    "minimalist scandinavian white clean airy calm",
    "pixel 8-bit arcade sprite chiptune blocky",
    "noir shadow detective smoke grainy alley",
    "fantasy dragon castle enchanted mythic forest",
    "surreal dreamlike melting impossible dali floating",
];

/// Nouns that turn descriptors into channel names and topics ("#neon-nights").
pub(super) const CHANNEL_NOUNS: &[&str] = &[
    "nights", "corner", "lab", "gallery", "club", "den", "hub", "shots", "studio", "lounge",
];

/// Suffixes that turn a descriptor into a role name.
pub(super) const ROLE_SUFFIXES: &[&str] =
    &["fan", "crew", "artist", "collector", "enjoyer", "guild"];

/// Names of untyped channels (`SynthConfig::untyped_channels`), busiest first.
pub(super) const UNTYPED_CHANNELS: &[(&str, &str)] = &[
    ("general", "hang out and chat"),
    ("media", "share pictures and clips"),
    ("off-topic", "anything goes"),
    ("memes", "post your memes"),
    ("introductions", "say hello"),
    ("help", "questions about the server"),
    ("events", "what is happening this week"),
    ("bot-commands", "talk to the bots"),
];

/// Names of roles without a taste (`SynthConfig::generic_roles`).
pub(super) const GENERIC_ROLES: &[&str] = &[
    "level-5",
    "verified",
    "server-booster",
    "level-10",
    "event-pings",
    "regular",
    "moderator",
    "newcomer",
];
