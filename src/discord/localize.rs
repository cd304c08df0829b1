//! Applies `commands/*.ftl` to the command list: en-US texts become the base names and
//! descriptions, every other locale becomes Discord localizations.

use std::borrow::Cow;

use super::{config, imagine, persona, queue, settings, stats, BotData, BotError};
use crate::i18n::{I18n, FALLBACK_LOCALE};

/// Every slash command, without texts (tests use this to check the locale files).
pub fn raw_commands() -> Vec<poise::Command<BotData, BotError>> {
    vec![
        imagine::imagine(),
        persona::persona(),
        config::config(),
        stats::stats(),
        queue::queue(),
        settings::settings(),
    ]
}

/// Every slash command with its localized names and descriptions. Fails when a text is missing.
pub fn localized_commands(i18n: &I18n) -> anyhow::Result<Vec<poise::Command<BotData, BotError>>> {
    let mut commands = raw_commands();
    for command in &mut commands {
        localize(i18n, command, None)?;
    }
    Ok(commands)
}

/// Localizes one command and, recursively, its subcommands. A subcommand's Fluent id is
/// `parent-name` (e.g. `config-show`), so equal subcommand names in two groups do not collide.
fn localize(
    i18n: &I18n,
    command: &mut poise::Command<BotData, BotError>,
    parent_key: Option<&str>,
) -> anyhow::Result<()> {
    let key = match parent_key {
        Some(parent) => format!("{parent}-{}", command.name),
        None => command.name.to_string(),
    };
    let get = |locale: &str, attr: Option<&str>| -> anyhow::Result<String> {
        i18n.get(locale, &key, attr, None).ok_or_else(|| {
            anyhow::anyhow!(
                "commands/{locale}.ftl lacks {key}{}",
                attr.map(|a| format!(".{a}")).unwrap_or_default()
            )
        })
    };
    let mut locales: Vec<&str> = i18n.locales().filter(|l| *l != FALLBACK_LOCALE).collect();
    locales.sort_unstable();
    for locale in &locales {
        let l: Cow<'static, str> = Cow::Owned((*locale).to_owned());
        command
            .name_localizations
            .to_mut()
            .push((l.clone(), Cow::Owned(get(locale, None)?)));
        command
            .description_localizations
            .to_mut()
            .push((l.clone(), Cow::Owned(get(locale, Some("description"))?)));
        for parameter in &mut command.parameters {
            let name = parameter.name.to_string();
            parameter
                .name_localizations
                .to_mut()
                .push((l.clone(), Cow::Owned(get(locale, Some(&name))?)));
            parameter.description_localizations.to_mut().push((
                l.clone(),
                Cow::Owned(get(locale, Some(&format!("{name}-description")))?),
            ));
            // Choice labels: `.PARAM-CHOICE` (the value sent back is the index, not the label).
            for choice in parameter.choices.to_mut() {
                let label = get(locale, Some(&format!("{name}-{}", choice.name)))?;
                choice
                    .localizations
                    .to_mut()
                    .push((l.clone(), Cow::Owned(label)));
            }
        }
    }
    for subcommand in &mut command.subcommands {
        localize(i18n, subcommand, Some(&key))?;
    }
    command.name = Cow::Owned(get(FALLBACK_LOCALE, None)?);
    command.description = Some(Cow::Owned(get(FALLBACK_LOCALE, Some("description"))?));
    for parameter in &mut command.parameters {
        let name = parameter.name.to_string();
        for choice in parameter.choices.to_mut() {
            choice.name = Cow::Owned(get(
                FALLBACK_LOCALE,
                Some(&format!("{name}-{}", choice.name)),
            )?);
        }
        parameter.name = Cow::Owned(get(FALLBACK_LOCALE, Some(&name))?);
        parameter.description = Some(Cow::Owned(get(
            FALLBACK_LOCALE,
            Some(&format!("{name}-description")),
        )?));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and option has a name and description in every shipped locale, within
    /// Discord's limits.
    #[test]
    fn every_locale_covers_every_command_and_option() {
        let i18n = I18n::load().expect("ftl parses");
        let mut commands = localized_commands(&i18n).expect("all texts present");
        let mut all = Vec::new();
        while let Some(mut command) = commands.pop() {
            commands.append(&mut command.subcommands);
            all.push(command);
        }
        assert!(all.len() >= 5, "commands and subcommands: {}", all.len());
        for command in &all {
            let mut names = vec![command.name.to_string()];
            let mut descriptions =
                vec![command.description.clone().unwrap_or_default().to_string()];
            names.extend(
                command
                    .name_localizations
                    .iter()
                    .map(|(_, n)| n.to_string()),
            );
            descriptions.extend(
                command
                    .description_localizations
                    .iter()
                    .map(|(_, d)| d.to_string()),
            );
            for p in &command.parameters {
                names.push(p.name.to_string());
                names.extend(p.name_localizations.iter().map(|(_, n)| n.to_string()));
                descriptions.push(p.description.clone().unwrap_or_default().to_string());
                descriptions.extend(
                    p.description_localizations
                        .iter()
                        .map(|(_, d)| d.to_string()),
                );
            }
            for name in names {
                assert!(
                    !name.is_empty() && name.chars().count() <= 32 && name.to_lowercase() == name,
                    "invalid Discord name {name:?}"
                );
            }
            for description in descriptions {
                let n = description.chars().count();
                assert!(
                    (1..=100).contains(&n),
                    "description {description:?} has {n} characters"
                );
            }
        }
    }
}
