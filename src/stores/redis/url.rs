//! Redis URLs, read once: `redis://[user:password@]host[:port][/db]`
//! (`[::1]` for an IPv6 host), `rediss://` for TLS, `unix:///path/to/socket`.
//! The dump turns one into redis-cli's arguments; the restore into the
//! server keys are copied to.

/// Where a Redis URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// `redis://`, or with `tls` `rediss://`.
    Tcp { host: String, port: u16, tls: bool },
    /// `unix://PATH`.
    Unix(String),
}

/// A Redis URL, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RedisUrl {
    pub endpoint: Endpoint,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The database the URL names.
    pub db: Option<String>,
}

impl RedisUrl {
    /// redis-cli's arguments for the server (never the password).
    pub fn cli_args(&self) -> Vec<String> {
        let (host, port, tls) = match &self.endpoint {
            Endpoint::Unix(path) => return vec!["-s".to_owned(), path.clone()],
            Endpoint::Tcp { host, port, tls } => (host, port, tls),
        };
        let mut args = vec![
            "-h".to_owned(),
            host.clone(),
            "-p".to_owned(),
            port.to_string(),
        ];
        if *tls {
            args.push("--tls".to_owned());
        }
        if let Some(user) = &self.user {
            args.extend(["--user".to_owned(), user.clone()]);
        }
        if let Some(db) = &self.db {
            args.extend(["-n".to_owned(), db.clone()]);
        }
        args
    }

    /// The URL without its login, e.g. `redis://127.0.0.1:6380`.
    pub fn source(&self) -> String {
        match &self.endpoint {
            Endpoint::Unix(path) => format!("unix://{path}"),
            Endpoint::Tcp { host, port, tls } => {
                let scheme = if *tls { "rediss" } else { "redis" };
                format!("{scheme}://{}", host_port(host, *port))
            }
        }
    }
}

/// `host:port`, or `[host]:port` for an IPv6 address.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Reads a Redis URL; the error is a message and its help, neither with the
/// password.
pub(super) fn parse(url: &str) -> Result<RedisUrl, (String, String)> {
    let shown = crate::config::redact_url(url);
    let usage = "write the target as redis://[user:password@]HOST:PORT".to_owned();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err((format!("`{shown}` is not a Redis URL"), usage));
    };
    let tls = match scheme {
        "redis" => false,
        "rediss" => true,
        "unix" => {
            return Ok(RedisUrl {
                endpoint: Endpoint::Unix(rest.to_owned()),
                user: None,
                password: None,
                db: None,
            })
        }
        _ => {
            return Err((
                format!("`{shown}` is not a Redis URL (scheme `{scheme}`)"),
                usage,
            ))
        }
    };
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
    Ok(RedisUrl {
        endpoint: Endpoint::Tcp {
            host: host.to_owned(),
            port,
            tls,
        },
        user,
        password,
        db: db.map(str::to_owned),
    })
}

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
        host_port(&self.host, self.port)
    }
}

/// Reads the URL of a server keys are restored to: plain TCP, since MIGRATE
/// copies them; the error is a message and its help.
pub(super) fn parse_server_url(url: &str) -> Result<ServerUrl, (String, String)> {
    let shown = crate::config::redact_url(url);
    let RedisUrl {
        endpoint,
        user,
        password,
        db,
    } = parse(url)?;
    match endpoint {
        Endpoint::Tcp { host, port, tls: false } => Ok(ServerUrl {
            host,
            port,
            user,
            password,
            db,
        }),
        Endpoint::Tcp { tls: true, .. } => Err((
            format!("cannot restore to `{shown}`: the keys are copied with MIGRATE, which cannot use TLS"),
            "pass --to redis://HOST:PORT for a plain-TCP port of the same server (its `port` beside `tls-port`)".to_owned(),
        )),
        Endpoint::Unix(_) => Err((
            format!("cannot restore to `{shown}`: the keys are copied with MIGRATE, which needs a TCP address"),
            "pass --to redis://HOST:PORT for a TCP port of the same server".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_arguments_and_a_hidden_password() {
        let parsed = parse("redis://:secret@127.0.0.1:6380/2").unwrap();
        assert_eq!(
            parsed.cli_args(),
            ["-h", "127.0.0.1", "-p", "6380", "-n", "2"]
        );
        assert_eq!(parsed.password.as_deref(), Some("secret"));
        assert_eq!(parsed.source(), "redis://127.0.0.1:6380");
        let tls = parse("rediss://backup:pw@cache").unwrap();
        assert_eq!(
            tls.cli_args(),
            ["-h", "cache", "-p", "6379", "--tls", "--user", "backup"]
        );
        assert_eq!(
            parse("unix:///run/redis.sock").unwrap().cli_args(),
            ["-s", "/run/redis.sock"]
        );
        let ipv6 = parse("redis://[::1]:6380").unwrap();
        assert_eq!(ipv6.cli_args(), ["-h", "::1", "-p", "6380"]);
        assert_eq!(ipv6.source(), "redis://[::1]:6380");
    }

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
