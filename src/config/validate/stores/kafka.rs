//! `kind = "kafka"`: bootstrap servers as host:port, topics as names or
//! globs, and the connection options this cairn can honour.

use super::super::{path, Checker};
use crate::config::name::Name;
use crate::config::raw::KafkaStore;

pub(in crate::config::validate) fn check_kafka(
    checker: &mut Checker,
    name: &Name,
    kafka: &mut KafkaStore,
) {
    let at = |key: &str| path(&["stores", name.as_str(), key]);
    let whole = path(&["stores", name.as_str()]);
    if kafka.bootstrap_servers.is_empty() {
        checker.error(
            &whole,
            format!("kafka store `{name}` lists no bootstrap servers"),
            "needs `bootstrap_servers`",
            "add bootstrap_servers = [\"kafka-1:9092\"]",
        );
    }
    for server in &kafka.bootstrap_servers {
        if !is_host_port(server) {
            checker.error(
                &at("bootstrap_servers"),
                format!("`{server}` is not host:port"),
                "not host:port",
                "write each server as HOST:PORT, e.g. \"kafka-1:9092\" (no scheme)",
            );
        }
    }
    if kafka.topics.is_empty() {
        checker.error(
            &whole,
            format!("kafka store `{name}` lists no topics"),
            "needs `topics`",
            "add topics = [\"orders\"] (names or globs such as \"events-*\")",
        );
    }
    for topic in &kafka.topics {
        if let Err(error) = globset::Glob::new(topic) {
            checker.error(
                &at("topics"),
                format!(
                    "`{topic}` is not a valid topic name or glob: {}",
                    error.kind()
                ),
                "bad glob",
                "write a topic name, or a glob with *, ? or [...] such as \"events-*\"",
            );
        } else if topic.is_empty() {
            checker.error(
                &at("topics"),
                "a topic is empty",
                "empty topic",
                "remove the empty string from topics",
            );
        }
    }
    if kafka.username.is_some() || kafka.password.is_some() {
        checker.error(
            &at(if kafka.username.is_some() { "username" } else { "password" }),
            format!("store `{name}`: SASL authentication (`username`/`password`) is not supported yet"),
            "not supported yet",
            "this cairn connects to Kafka without SASL (no broker it is tested against could check a login); remove username and password, or back this cluster up another way for now",
        );
    }
    if kafka.ca_file.is_some() && !kafka.tls {
        checker.error(
            &at("ca_file"),
            "`ca_file` is only used with tls = true",
            "not used",
            "remove ca_file, or set tls = true",
        );
    }
    if let Some(ca_file) = &mut kafka.ca_file {
        *ca_file = checker.resolve(ca_file);
    }
}

/// `host:port` with a port number, or `[v6]:port`.
fn is_host_port(server: &str) -> bool {
    let Some((host, port)) = server.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && !host.contains('/')
        && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')))
        && port.parse::<u16>().is_ok_and(|port| port > 0)
}

#[cfg(test)]
mod tests {
    use super::is_host_port;

    #[test]
    fn servers_are_host_and_port() {
        for good in ["kafka-1:9092", "127.0.0.1:19092", "[::1]:9092"] {
            assert!(is_host_port(good), "{good}");
        }
        for bad in [
            "kafka-1",
            "kafka://k:9092",
            ":9092",
            "k:0",
            "k:x",
            "::1:9092",
        ] {
            assert!(!is_host_port(bad), "{bad}");
        }
    }
}
