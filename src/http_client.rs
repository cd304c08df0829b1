//! Facts about the URLs the bot uses (an LLM server, attachment downloads, the database), shared
//! by the backends that build their own `reqwest` clients, the store and the logs.

use std::net::IpAddr;

/// Whether the URL's host is loopback (such requests must bypass any HTTP proxy).
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    match parsed.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Why [`read_capped`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum CappedError {
    /// The connection failed.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
    /// The body is longer than allowed.
    #[error("the response body is larger than allowed")]
    TooLarge,
}

/// Reads a response body of at most `max` bytes: refused from its declared length when it has
/// one, else stopped as soon as it grows past `max` (never buffered whole).
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, CappedError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(CappedError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(CappedError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Query parameters whose value is a credential.
const SECRET_PARAMS: [&str; 6] = [
    "password",
    "sslpassword",
    "passwd",
    "token",
    "api_key",
    "apikey",
];

/// The URL with every credential replaced by `***`: the password of `user:password@host`, and
/// the values of `password=`, `sslpassword=`, `token=`… query parameters. For logs and errors.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    // The authority follows `://` (or `//` in a mistyped URL, or starts the text): a password
    // is redacted even in a URL too malformed to parse.
    let authority_start = base
        .find("://")
        .map(|i| i + 3)
        .or_else(|| base.find("//").map(|i| i + 2))
        .unwrap_or(0);
    let rest = &base[authority_start..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let mut out = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let redacted = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => userinfo.to_owned(),
            };
            format!(
                "{}{redacted}{}",
                &base[..authority_start],
                &base[authority_start + at..]
            )
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _))
                    if SECRET_PARAMS
                        .iter()
                        .any(|secret| key.eq_ignore_ascii_case(secret)) =>
                {
                    format!("{key}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_are_redacted() {
        for (url, want) in [
            (
                "postgres://zipp:hunter2@db/zipp",
                "postgres://zipp:***@db/zipp",
            ),
            ("postgres://zipp@db/zipp", "postgres://zipp@db/zipp"),
            ("sqlite://data/zipp.db", "sqlite://data/zipp.db"),
            (
                "sqlite://data/zipp.db?mode=rwc",
                "sqlite://data/zipp.db?mode=rwc",
            ),
            (
                "postgres://db/zipp?user=zipp&password=hunter2&sslmode=require",
                "postgres://db/zipp?user=zipp&password=***&sslmode=require",
            ),
            (
                "postgres://a:p%40ss@db:5432/zipp?sslpassword=x",
                "postgres://a:***@db:5432/zipp?sslpassword=***",
            ),
            ("mysql://root:hunter2@db/zipp", "mysql://root:***@db/zipp"),
            (
                "http://host/v1?api_key=sk-123",
                "http://host/v1?api_key=***",
            ),
            ("hunter2", "hunter2"),
            (
                "postgres//zipp:hunter2@db/zipp",
                "postgres//zipp:***@db/zipp",
            ),
            ("zipp:hunter2@db", "zipp:***@db"),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }
}
