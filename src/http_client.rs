//! Facts about the HTTP endpoints the bot calls (an LLM server, attachment downloads), shared by
//! the backends that build their own `reqwest` clients.

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
