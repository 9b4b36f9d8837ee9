//! The Redis server a restore copies keys to, from its URL.

/// A server keys are restored to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServerUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The database the URL names; keys keep their own, so only a note.
    pub db: Option<String>,
}

impl ServerUrl {
    /// `host:port`, never the password.
    pub fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Reads `redis://[user:password@]host[:port][/db]`; the error is a message
/// and its help.
pub(super) fn parse_server_url(url: &str) -> Result<ServerUrl, (String, String)> {
    let shown = crate::config::redact_url(url);
    let usage = "write the target as redis://[user:password@]HOST:PORT".to_owned();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err((format!("`{shown}` is not a Redis URL"), usage));
    };
    match scheme {
        "redis" => {}
        "rediss" => return Err((
            format!("cannot restore to `{shown}`: the keys are copied with MIGRATE, which cannot use TLS"),
            "pass --to redis://HOST:PORT for a plain-TCP port of the same server (its `port` beside `tls-port`)".to_owned(),
        )),
        "unix" => return Err((
            format!("cannot restore to `{shown}`: the keys are copied with MIGRATE, which needs a TCP address"),
            "pass --to redis://HOST:PORT for a TCP port of the same server".to_owned(),
        )),
        _ => return Err((format!("`{shown}` is not a Redis URL (scheme `{scheme}`)"), usage)),
    }
    let (authority, db) = match rest.split_once('/') {
        Some((authority, db)) => (authority, Some(db).filter(|db| !db.is_empty())),
        None => (rest, None),
    };
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, port)) => (host, port.strip_prefix(':')),
            None => return Err((format!("`{shown}` has an unclosed `[`"), usage)),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let port = match port {
        None => 6379,
        Some(port) => port.parse().ok().filter(|port| *port != 0).ok_or_else(|| {
            (
                format!("`{shown}` has the port `{port}`, not a number from 1 to 65535"),
                usage.clone(),
            )
        })?,
    };
    if host.is_empty() {
        return Err((format!("`{shown}` names no host"), usage));
    }
    let (user, password) = match userinfo.map(|info| info.split_once(':').unwrap_or((info, ""))) {
        Some((user, password)) => (
            Some(user).filter(|u| !u.is_empty()).map(str::to_owned),
            Some(password).filter(|p| !p.is_empty()).map(str::to_owned),
        ),
        None => (None, None),
    };
    Ok(ServerUrl {
        host: host.to_owned(),
        port,
        user,
        password,
        db: db.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls_name_host_port_and_login() {
        let url = parse_server_url("redis://backup:s3cret@cache.internal:6380/2").unwrap();
        assert_eq!(
            url,
            ServerUrl {
                host: "cache.internal".into(),
                port: 6380,
                user: Some("backup".into()),
                password: Some("s3cret".into()),
                db: Some("2".into()),
            }
        );
        assert_eq!(url.display(), "cache.internal:6380");
        let url = parse_server_url("redis://:pw@[::1]").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.user.as_deref()),
            ("::1", 6379, None)
        );
        assert_eq!(url.password.as_deref(), Some("pw"));
        assert_eq!(url.display(), "[::1]:6379");
    }

    #[test]
    fn tls_sockets_and_nonsense_are_refused_without_the_password() {
        for (url, says) in [
            ("rediss://:s3cret@cache:6380", "cannot use TLS"),
            ("unix:///run/redis.sock", "needs a TCP address"),
            ("http://cache", "not a Redis URL"),
            ("cache:6379", "not a Redis URL"),
            ("redis://:s3cret@cache:six", "not a number"),
            ("redis://cache:0", "not a number"),
            ("redis://:s3cret@:6379", "names no host"),
        ] {
            let (message, help) = parse_server_url(url).unwrap_err();
            assert!(message.contains(says), "{url}: {message}");
            assert!(
                !message.contains("s3cret") && !help.contains("s3cret"),
                "{message}"
            );
        }
    }
}
