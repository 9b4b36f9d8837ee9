//! Passwords written into URLs: found (to warn about them) and hidden (so
//! that messages never print them).

/// The password part of a URL such as `scheme://user:password@host`.
pub(crate) fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo.split_once(':').map(|(_, password)| password)
}

/// A URL with its password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    match url_password(url) {
        Some(password) if !password.is_empty() => {
            url.replacen(&format!(":{password}@"), ":***@", 1)
        }
        _ => url.to_owned(),
    }
}

/// What of a URL that may carry a token a message may show: the scheme and
/// the host (and port), never user:password@, and `/…` in place of a path
/// or query, where healthchecks-style (`https://hc-ping.com/UUID`), Slack
/// (`https://hooks.slack.com/services/T…/B…/SECRET`) and `?token=` URLs keep
/// their secret.
pub fn redact_token_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let mut shown = match scheme {
        Some(scheme) => format!("{scheme}://{host}"),
        None => host.to_owned(),
    };
    if !(tail.is_empty() || tail == "/") {
        shown.push_str("/…");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_urls_show_only_scheme_host_and_port() {
        for (url, shown) in [
            (
                "https://hc-ping.com/0f1e2d3c-aaaa-bbbb-cccc-123456789abc",
                "https://hc-ping.com/…",
            ),
            (
                "https://hc-ping.com/0f1e2d3c/fail?token=s3cr3t",
                "https://hc-ping.com/…",
            ),
            ("http://127.0.0.1:9/?token=s3cr3t", "http://127.0.0.1:9/…"),
            (
                "https://user:hunter2@example.com:8443/hook",
                "https://example.com:8443/…",
            ),
            (
                "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXX",
                "https://hooks.slack.com/…",
            ),
            ("https://example.com/", "https://example.com"),
            ("https://example.com", "https://example.com"),
            ("hc-ping.com/0f1e2d3c", "hc-ping.com/…"),
            ("ftp://u:pw@host#frag", "ftp://host/…"),
        ] {
            assert_eq!(redact_token_url(url), shown, "{url}");
        }
    }

    #[test]
    fn url_passwords_are_found_and_redacted() {
        assert_eq!(
            url_password("postgresql://u:secret@db:5432/x"),
            Some("secret")
        );
        assert_eq!(url_password("postgresql://u@db/x"), None);
        assert_eq!(
            redact_url("redis://:pw@cache:6379"),
            "redis://:***@cache:6379"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
    }
}
