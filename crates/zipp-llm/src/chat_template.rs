//! The chat template: the GGUF's own Jinja `tokenizer.chat_template`, rendered with minijinja
//! the way Hugging Face's `apply_chat_template` does (`trim_blocks`, `lstrip_blocks`, Python
//! string methods, `raise_exception`, `strftime_now`), or ChatML when the file has none.

use minijinja::{context, AutoEscape, Environment, Error, ErrorKind};

use super::ChatMessage;
use super::LocalError;

/// ChatML, the fallback for files without a template (and the tiny test model's template).
pub(super) const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const NAME: &str = "chat";

/// Compiles `source` into an environment set up like Hugging Face's template sandbox.
pub(super) fn environment(source: &str) -> Result<Environment<'static>, LocalError> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |message: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        },
    );
    env.add_function("strftime_now", |format: String| strftime_now(&format));
    env.add_template_owned(NAME, source.to_owned())
        .map_err(|e| {
            LocalError::Format(format!("tokenizer.chat_template does not compile: {e}"))
        })?;
    Ok(env)
}

/// Renders the conversation with the generation prompt for the assistant's next turn.
pub(super) fn render(
    env: &Environment<'static>,
    messages: &[ChatMessage],
    bos_token: &str,
    eos_token: &str,
) -> Result<String, LocalError> {
    let fail =
        |e: Error| LocalError::Format(format!("tokenizer.chat_template failed to render: {e}"));
    env.get_template(NAME)
        .map_err(fail)?
        .render(context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => bos_token,
            eos_token => eos_token,
            tools => (),
            documents => (),
        })
        .map_err(fail)
}

/// Today's date (UTC) in a strftime subset: `%d %m %Y %y %b %B %H %M %S %%` (Llama 3 templates
/// call `strftime_now("%d %b %Y")`); other directives are kept as written.
pub(super) fn strftime_now(format: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs, format)
}

/// Formats seconds since the Unix epoch (see [`strftime_now`]).
pub(super) fn format_utc(secs: u64, format: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let name = MONTHS[(month - 1) as usize];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('b') => out.push_str(&name[..3]),
            Some('B') => out.push_str(name),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('M') => out.push_str(&format!("{m:02}")),
            Some('S') => out.push_str(&format!("{s:02}")),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}
