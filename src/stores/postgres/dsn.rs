//! PostgreSQL connection strings, URIs (`postgresql://user:pw@host/db`) and
//! keyword strings (`host=db password=pw`): the password taken out, the
//! database replaced or read.

/// A libpq connection string split into the part that can be shown and the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Connection {
    pub without_password: String,
    pub password: Option<String>,
}

/// Takes the password out of a URI (`postgresql://user:pw@host/db`) or a
/// keyword string (`host=db password=pw`).
pub(super) fn split_password(dsn: &str) -> Connection {
    if let Some((scheme, rest)) = dsn.split_once("://") {
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            if let Some((user, password)) = userinfo.split_once(':') {
                return Connection {
                    without_password: format!("{scheme}://{user}@{host}{tail}"),
                    password: Some(percent_decode(password)),
                };
            }
        }
        return Connection {
            without_password: dsn.to_owned(),
            password: None,
        };
    }
    let mut password = None;
    let kept: Vec<&str> = dsn
        .split_whitespace()
        .filter(|word| match word.strip_prefix("password=") {
            Some(value) => {
                password = Some(value.trim_matches('\'').to_owned());
                false
            }
            None => true,
        })
        .collect();
    Connection {
        without_password: kept.join(" "),
        password,
    }
}

/// The DSN asking for a replication connection to its database
/// (`replication=database`), on which IDENTIFY_SYSTEM and SHOW work.
pub(super) fn with_replication(dsn: &str) -> String {
    if dsn.contains("://") {
        let separator = if dsn.contains('?') { '&' } else { '?' };
        format!("{dsn}{separator}replication=database")
    } else {
        format!("{dsn} replication=database")
    }
}

/// The DSN pointed at `database`.
pub(super) fn with_database(dsn: &str, database: &str) -> String {
    if let Some((scheme, rest)) = dsn.split_once("://") {
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (rest, None),
        };
        let authority = before_query.split('/').next().unwrap_or("");
        let mut uri = format!("{scheme}://{authority}/{}", percent_encode(database));
        if let Some(query) = query {
            uri.push('?');
            uri.push_str(query);
        }
        uri
    } else {
        format!(
            "{dsn} dbname='{}'",
            database.replace('\\', "\\\\").replace('\'', "\\'")
        )
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_dsn() {
        let uri = split_password("postgresql://backup:s%40cret@db:5432/postgres?sslmode=require");
        assert_eq!(
            uri.without_password,
            "postgresql://backup@db:5432/postgres?sslmode=require"
        );
        assert_eq!(uri.password.as_deref(), Some("s@cret"));
        let keywords = split_password("host=db user=backup password=pw dbname=postgres");
        assert_eq!(
            keywords.without_password,
            "host=db user=backup dbname=postgres"
        );
        assert_eq!(keywords.password.as_deref(), Some("pw"));
        assert_eq!(split_password("postgresql://backup@db/x").password, None);
    }

    #[test]
    fn the_database_is_replaced() {
        assert_eq!(
            with_database(
                "postgresql://backup@db:5432/postgres?sslmode=require",
                "app"
            ),
            "postgresql://backup@db:5432/app?sslmode=require"
        );
        assert_eq!(
            with_database("postgresql://db", "my app"),
            "postgresql://db/my%20app"
        );
        assert_eq!(with_database("host=db", "app"), "host=db dbname='app'");
    }
}
