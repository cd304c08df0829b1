//! Localized text: the Fluent files in `commands/`, compiled into the binary.
//!
//! Every string a member can see — command names and descriptions, option texts, replies,
//! errors — has a message id here. Lookups fall back to en-US, then to the id itself (logged),
//! so a missing translation never breaks a reply; tests make sure none is missing.

use std::collections::HashMap;

use fluent_bundle::concurrent::FluentBundle;
pub use fluent_bundle::FluentArgs;
use fluent_bundle::FluentResource;

/// The locale every other falls back to.
pub const FALLBACK_LOCALE: &str = "en-US";

/// `(locale, file contents)` of every shipped locale, fallback first.
pub const LOCALE_FILES: &[(&str, &str)] = &[
    ("en-US", include_str!("../commands/en-US.ftl")),
    ("de", include_str!("../commands/de.ftl")),
    ("es-ES", include_str!("../commands/es-ES.ftl")),
    ("fr", include_str!("../commands/fr.ftl")),
    ("ja", include_str!("../commands/ja.ftl")),
    ("pt-BR", include_str!("../commands/pt-BR.ftl")),
];

/// Every locale's bundle.
pub struct I18n {
    bundles: HashMap<String, FluentBundle<FluentResource>>,
}

impl std::fmt::Debug for I18n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I18n")
            .field("locales", &self.bundles.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl I18n {
    /// Parses the shipped Fluent files. Fails on any syntax error.
    pub fn load() -> Result<I18n, String> {
        Self::from_sources(LOCALE_FILES)
    }

    /// Parses the given `(locale, source)` pairs.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<I18n, String> {
        let mut bundles = HashMap::new();
        for (locale, source) in sources {
            let resource = FluentResource::try_new((*source).to_owned())
                .map_err(|(_, errors)| format!("commands/{locale}.ftl: {errors:?}"))?;
            let langid = locale
                .parse()
                .map_err(|e| format!("invalid locale {locale}: {e}"))?;
            let mut bundle = FluentBundle::new_concurrent(vec![langid]);
            // Discord shows text verbatim: no Unicode isolation marks around placeables.
            bundle.set_use_isolating(false);
            bundle
                .add_resource(resource)
                .map_err(|errors| format!("commands/{locale}.ftl: {errors:?}"))?;
            bundles.insert((*locale).to_owned(), bundle);
        }
        if !bundles.contains_key(FALLBACK_LOCALE) {
            return Err(format!("the {FALLBACK_LOCALE} locale is missing"));
        }
        Ok(I18n { bundles })
    }

    /// The shipped locales.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.bundles.keys().map(String::as_str)
    }

    /// Formats `id` (or its attribute `attr`) in `locale`, if that locale has it.
    pub fn get(
        &self,
        locale: &str,
        id: &str,
        attr: Option<&str>,
        args: Option<&FluentArgs<'_>>,
    ) -> Option<String> {
        let bundle = self.bundles.get(locale)?;
        let message = bundle.get_message(id)?;
        let pattern = match attr {
            Some(attr) => message.get_attribute(attr)?.value(),
            None => message.value()?,
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(locale, id, ?errors, "fluent formatting errors");
        }
        Some(text.into_owned())
    }

    /// The shipped locale that serves `locale`: itself, else one of the same language
    /// (Discord's `es-419` is served by `es-ES`, `pt-PT` by `pt-BR`), else en-US.
    pub fn resolve<'a>(&'a self, locale: &'a str) -> &'a str {
        if self.bundles.contains_key(locale) {
            return locale;
        }
        let language = locale.split('-').next().unwrap_or(locale);
        let mut same: Vec<&str> = self
            .bundles
            .keys()
            .map(String::as_str)
            .filter(|l| l.split('-').next() == Some(language))
            .collect();
        same.sort_unstable();
        same.first().copied().unwrap_or(FALLBACK_LOCALE)
    }

    /// Formats `id` in `locale` (see [`I18n::resolve`]), falling back to en-US, then to the
    /// id itself.
    pub fn tr(&self, locale: &str, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        self.get(self.resolve(locale), id, None, args)
            .or_else(|| self.get(FALLBACK_LOCALE, id, None, args))
            .unwrap_or_else(|| {
                tracing::warn!(id, "unknown fluent message id");
                id.to_owned()
            })
    }
}

/// Builds [`FluentArgs`] from `name => value` pairs: `args!["position" => 3]`.
#[macro_export]
macro_rules! fluent_args {
    ($($name:expr => $value:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut args = $crate::i18n::FluentArgs::new();
        $( args.set($name, $value); )*
        args
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_files_parse_and_format_without_isolation_marks() {
        let i18n = I18n::load().expect("ftl parses");
        let text = i18n.tr(
            "en-US",
            "imagine-queued",
            Some(&fluent_args!["position" => 3]),
        );
        assert_eq!(
            text,
            "Queued — position 3. I'll update this message as it renders."
        );
        assert!(!text.contains('\u{2068}'));
    }

    #[test]
    fn unknown_locale_falls_back_to_english() {
        let i18n = I18n::load().expect("ftl parses");
        assert_eq!(
            i18n.tr("xx-YY", "error-seed-range", None),
            i18n.tr("en-US", "error-seed-range", None)
        );
        assert_eq!(i18n.tr("en-US", "no-such-id", None), "no-such-id");
    }

    /// Every message id used in the source (string literals with a known prefix) exists in every
    /// shipped locale, so no member ever sees a raw id.
    #[test]
    fn every_reply_id_used_in_the_code_exists_in_every_locale() {
        let i18n = I18n::load().expect("ftl parses");
        let mut ids = std::collections::BTreeSet::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).expect("read src") {
                    stack.push(entry.expect("entry").path());
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read");
                for piece in text.split('"').skip(1).step_by(2) {
                    let is_id = [
                        "imagine-",
                        "error-",
                        "render-error-",
                        "config-",
                        "compare-",
                        "stats-",
                        "persona-",
                    ]
                    .iter()
                    .any(|p| piece.starts_with(p))
                        && piece.chars().all(|c| c.is_ascii_lowercase() || c == '-');
                    if is_id {
                        ids.insert(piece.to_owned());
                    }
                }
            }
        }
        assert!(ids.len() > 10, "the scan found too few ids: {ids:?}");
        for locale in i18n.locales() {
            for id in &ids {
                assert!(
                    i18n.get(locale, id, None, None).is_some(),
                    "commands/{locale}.ftl lacks {id}"
                );
            }
        }
    }
}
