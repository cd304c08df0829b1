//! The one error type whose text reaches members.
//!
//! A [`UserError`] carries a Fluent message id (and arguments); `discord/` renders it in the
//! member's locale as an ephemeral reply. Every other error is internal: it is logged with its
//! context and the member sees only the generic "something went wrong" message.

/// A polite, localizable refusal caused by the member's own input or situation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("user error {message_id}")]
pub struct UserError {
    /// Fluent message id in `commands/*.ftl`.
    pub message_id: &'static str,
    /// Named arguments for the message.
    pub args: Vec<(&'static str, UserErrorArg)>,
}

/// A value substituted into a [`UserError`] message.
#[derive(Debug, Clone, PartialEq)]
pub enum UserErrorArg {
    /// A number.
    Number(i64),
    /// A piece of text.
    Text(String),
}

impl UserError {
    /// An error without arguments.
    pub fn new(message_id: &'static str) -> Self {
        Self {
            message_id,
            args: Vec::new(),
        }
    }

    /// Adds a numeric argument.
    pub fn with_number(mut self, name: &'static str, value: i64) -> Self {
        self.args.push((name, UserErrorArg::Number(value)));
        self
    }

    /// Adds a text argument.
    pub fn with_text(mut self, name: &'static str, value: String) -> Self {
        self.args.push((name, UserErrorArg::Text(value)));
        self
    }

    /// Formats the message in `locale`.
    pub fn localize(&self, i18n: &crate::i18n::I18n, locale: &str) -> String {
        let mut args = crate::i18n::FluentArgs::new();
        for (name, value) in &self.args {
            match value {
                UserErrorArg::Number(n) => args.set(*name, *n),
                UserErrorArg::Text(t) => args.set(*name, t.clone()),
            }
        }
        i18n.tr(locale, self.message_id, Some(&args))
    }
}
