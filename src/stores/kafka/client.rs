//! A small blocking Kafka client: the request and response codec comes from
//! the `kafka-protocol` crate, the connections, version negotiation and
//! routing (partition leaders, the controller, group coordinators) are
//! here. Record batches are encoded and decoded by `records`.
//!
//! Every length a broker sends is bounded before anything is allocated for
//! it (a response larger than [`MAX_RESPONSE`] is refused), and every
//! failure is an error naming the broker, never a panic.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, MetadataResponse, RequestHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// The largest response accepted: a fetch asks for at most
/// [`FETCH_MAX_BYTES`], and nothing else comes close.
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

/// How many bytes one fetch asks for, across its partitions.
pub const FETCH_MAX_BYTES: i32 = 16 * 1024 * 1024;

/// How long connecting, and one request, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The client id cairn sends with each request.
const CLIENT_ID: &str = "cairn";

/// The highest version of each API this client speaks: the newest ones
/// that still name topics (not topic ids) and use the fields set here.
fn highest_version(key: ApiKey) -> i16 {
    match key {
        ApiKey::Produce => 9,
        ApiKey::Fetch => 12,
        ApiKey::ListOffsets => 7,
        ApiKey::Metadata => 12,
        ApiKey::OffsetCommit => 8,
        ApiKey::OffsetFetch => 7,
        ApiKey::FindCoordinator => 3,
        ApiKey::ListGroups => 4,
        ApiKey::ApiVersions => 3,
        ApiKey::CreateTopics => 7,
        ApiKey::DeleteTopics => 5,
        ApiKey::DescribeConfigs => 4,
        ApiKey::IncrementalAlterConfigs => 1,
        _ => 0,
    }
}

/// How to reach the brokers: TLS (with the CA that signs their
/// certificates) or plain TCP (no SASL: see the module's notes).
#[derive(Clone, Default)]
pub struct Security {
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Security {
    /// TLS trusting the certificates in `ca_file` (PEM), else the system's.
    pub fn tls(ca_file: Option<&std::path::Path>) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let pem = fs_err::read(path).map_err(|e| e.to_string())?;
                let mut reader = &pem[..];
                let mut found = 0;
                for cert in rustls_pemfile_certs(&mut reader)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    found += 1;
                }
                if found == 0 {
                    return Err(format!("{} holds no PEM certificate", path.display()));
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                for cert in native.certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: Some(Arc::new(config)),
        })
    }
}

/// The certificates of a PEM file.
fn rustls_pemfile_certs(
    reader: &mut &[u8],
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Transport {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Transport::Plain(stream) => stream,
            Transport::Tls(stream) => stream.as_mut(),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One connection to one broker, with the API versions it supports.
pub struct Connection {
    address: String,
    transport: Transport,
    correlation: i32,
    versions: BTreeMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to `address` (`host:port`) and asks which API versions it speaks.
    pub fn open(address: &str, security: &Security) -> Result<Self, String> {
        let addrs = address
            .to_socket_addrs()
            .map_err(|e| format!("broker {address}: cannot resolve: {e}"))?;
        let mut last = format!("broker {address}: no address to connect to");
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(e) => last = format!("broker {address}: cannot connect: {e}"),
            }
        }
        let stream = stream.ok_or(last)?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(REQUEST_TIMEOUT)))
            .map_err(|e| format!("broker {address}: {e}"))?;
        let transport = match &security.tls {
            Some(config) => {
                let host = address
                    .rsplit_once(':')
                    .map_or(address, |(host, _)| host)
                    .trim_matches(['[', ']']);
                let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|e| format!("broker {address}: {e}"))?;
                let connection = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| format!("broker {address}: TLS: {e}"))?;
                Transport::Tls(Box::new(rustls::StreamOwned::new(connection, stream)))
            }
            None => Transport::Plain(stream),
        };
        let mut connection = Self {
            address: address.to_owned(),
            transport,
            correlation: 0,
            versions: BTreeMap::new(),
        };
        // ApiVersions v0 is understood by every broker.
        let response = connection.exchange(&ApiVersionsRequest::default(), 0)?;
        if response.error_code != 0 {
            return Err(format!(
                "broker {address}: ApiVersions failed: {}",
                error_name(response.error_code)
            ));
        }
        for api in response.api_keys {
            connection
                .versions
                .insert(api.api_key, (api.min_version, api.max_version));
        }
        Ok(connection)
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The version of `R` to use with this broker: the highest both speak.
    fn version<R: Request>(&self) -> Result<i16, String> {
        let key = ApiKey::try_from(R::KEY).map_err(|()| "unknown API".to_owned())?;
        let ours = highest_version(key).min(R::VERSIONS.max);
        let Some(&(min, max)) = self.versions.get(&R::KEY) else {
            return Err(format!(
                "broker {}: does not support the {key:?} request",
                self.address
            ));
        };
        let version = ours.min(max);
        if version < min || version < R::VERSIONS.min {
            return Err(format!(
                "broker {}: speaks {key:?} versions {min} to {max}, and this cairn {} to {ours}",
                self.address,
                R::VERSIONS.min
            ));
        }
        Ok(version)
    }

    /// Sends `request` at the negotiated version and reads its response.
    pub fn send<R: Request>(&mut self, request: &R) -> Result<R::Response, String> {
        let version = self.version::<R>()?;
        self.exchange(request, version)
    }

    fn exchange<R: Request>(&mut self, request: &R, version: i16) -> Result<R::Response, String> {
        let address = self.address.clone();
        let failed =
            |what: &str, e: &dyn std::fmt::Display| format!("broker {address}: {what}: {e}");
        self.correlation = self.correlation.wrapping_add(1);
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = self.correlation;
        header.client_id = Some(StrBytes::from_static_str(CLIENT_ID));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .and_then(|()| request.encode(&mut body, version))
            .map_err(|e| failed("cannot encode the request", &e))?;
        let length = i32::try_from(body.len()).map_err(|e| failed("request too large", &e))?;
        let io = self.transport.io();
        io.write_all(&length.to_be_bytes())
            .and_then(|()| io.write_all(&body))
            .and_then(|()| io.flush())
            .map_err(|e| failed("sending failed", &e))?;
        let mut size = [0u8; 4];
        io.read_exact(&mut size)
            .map_err(|e| failed("the connection broke", &e))?;
        let size = i32::from_be_bytes(size);
        let size = usize::try_from(size)
            .ok()
            .filter(|size| *size <= MAX_RESPONSE && *size >= 4)
            .ok_or_else(|| format!("broker {address}: sent a response of {size} bytes"))?;
        let mut response = vec![0u8; size];
        io.read_exact(&mut response)
            .map_err(|e| failed("the connection broke", &e))?;
        let mut response = Bytes::from(response);
        let correlation = response.get_i32();
        if correlation != self.correlation {
            return Err(format!(
                "broker {address}: answered request {correlation}, not {}",
                self.correlation
            ));
        }
        // Response header v1 adds tagged fields after the correlation id.
        if <R::Response as HeaderVersion>::header_version(version) >= 1 {
            skip_tagged_fields(&mut response).map_err(|e| failed("malformed response", &e))?;
        }
        R::Response::decode(&mut response, version).map_err(|e| failed("malformed response", &e))
    }
}

/// Skips a tagged-field section (a count, then tag, size, bytes each).
fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), String> {
    let count = unsigned_varint(buf)?;
    for _ in 0..count {
        unsigned_varint(buf)?;
        let size = unsigned_varint(buf)? as usize;
        if buf.remaining() < size {
            return Err("a tagged field runs past the end".to_owned());
        }
        buf.advance(size);
    }
    Ok(())
}

fn unsigned_varint(buf: &mut Bytes) -> Result<u32, String> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        if !buf.has_remaining() {
            return Err("a number runs past the end".to_owned());
        }
        let byte = buf.get_u8();
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a number is too long".to_owned())
}

/// The name of a Kafka error code, e.g. `UNKNOWN_TOPIC_OR_PARTITION`.
pub fn error_name(code: i16) -> String {
    match kafka_protocol::error::ResponseError::try_from_code(code) {
        Some(error) => format!("{error:?} (error {code})"),
        None => "no error".to_owned(),
    }
}

/// What the cluster said about one topic.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub internal: bool,
    /// Each partition's index and leader, in index order.
    pub partitions: Vec<(i32, i32)>,
    pub replication_factor: usize,
}

/// A cluster: a bootstrap connection, then one connection per broker as
/// requests need them.
pub struct Cluster {
    bootstrap: Vec<String>,
    security: Security,
    /// Broker id → `host:port`, from the last metadata.
    brokers: BTreeMap<i32, String>,
    controller: i32,
    connections: BTreeMap<String, Connection>,
}

impl Cluster {
    /// Connects to the first bootstrap server that answers.
    pub fn connect(bootstrap: &[String], security: Security) -> Result<Self, String> {
        let mut cluster = Self {
            bootstrap: bootstrap.to_vec(),
            security,
            brokers: BTreeMap::new(),
            controller: -1,
            connections: BTreeMap::new(),
        };
        cluster.metadata(Some(&[]))?;
        Ok(cluster)
    }

    /// The bootstrap servers, for messages.
    pub fn describe(&self) -> String {
        self.bootstrap.join(",")
    }

    /// A connection to `address`, opened when there is none.
    pub fn connection(&mut self, address: &str) -> Result<&mut Connection, String> {
        if !self.connections.contains_key(address) {
            let connection = Connection::open(address, &self.security)?;
            self.connections.insert(address.to_owned(), connection);
        }
        Ok(self
            .connections
            .get_mut(address)
            .expect("inserted just above"))
    }

    /// Any broker: one already connected, else the first bootstrap server
    /// that answers.
    fn any(&mut self) -> Result<&mut Connection, String> {
        if let Some(address) = self.connections.keys().next().cloned() {
            return self.connection(&address);
        }
        let mut errors = Vec::new();
        for address in self.bootstrap.clone() {
            match Connection::open(&address, &self.security) {
                Ok(connection) => {
                    self.connections.insert(address.clone(), connection);
                    return self.connection(&address);
                }
                Err(error) => errors.push(error),
            }
        }
        Err(errors.join("; "))
    }

    /// Sends `request` to any broker; a broken connection is dropped and
    /// the request tried once more on another.
    pub fn send_any<R: Request>(&mut self, request: &R) -> Result<R::Response, String> {
        let connection = self.any()?;
        let address = connection.address().to_owned();
        match connection.send(request) {
            Ok(response) => Ok(response),
            Err(error) => {
                self.connections.remove(&address);
                Err(error)
            }
        }
    }

    /// Sends `request` to broker `id`.
    pub fn send_to<R: Request>(&mut self, id: i32, request: &R) -> Result<R::Response, String> {
        let address = self
            .brokers
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("the cluster names no broker {id}"))?;
        let result = self.connection(&address)?.send(request);
        if result.is_err() {
            self.connections.remove(&address);
        }
        result
    }

    /// Sends `request` to the controller (topic creation and deletion).
    pub fn send_controller<R: Request>(&mut self, request: &R) -> Result<R::Response, String> {
        if self.brokers.contains_key(&self.controller) {
            self.send_to(self.controller, request)
        } else {
            self.send_any(request)
        }
    }

    /// Metadata for `topics` (`None`: every topic); refreshes the broker list.
    pub fn metadata(&mut self, topics: Option<&[String]>) -> Result<Vec<TopicInfo>, String> {
        let mut request = MetadataRequest::default();
        request.topics = topics.map(|topics| {
            topics
                .iter()
                .map(|name| {
                    let mut topic =
                        kafka_protocol::messages::metadata_request::MetadataRequestTopic::default();
                    topic.name = Some(StrBytes::from_string(name.clone()).into());
                    topic
                })
                .collect()
        });
        request.allow_auto_topic_creation = false;
        let response: MetadataResponse = self.send_any(&request)?;
        self.brokers = response
            .brokers
            .iter()
            .map(|broker| {
                (
                    broker.node_id.0,
                    format!("{}:{}", broker.host.as_str(), broker.port),
                )
            })
            .collect();
        self.controller = response.controller_id.0;
        let mut topics = Vec::new();
        for topic in response.topics {
            let name = topic
                .name
                .map(|name| name.0.as_str().to_owned())
                .unwrap_or_default();
            if topic.error_code != 0 {
                if topic.error_code == 3 {
                    // UNKNOWN_TOPIC_OR_PARTITION: reported as absent.
                    continue;
                }
                return Err(format!(
                    "topic `{name}`: metadata failed: {}",
                    error_name(topic.error_code)
                ));
            }
            let mut partitions: Vec<(i32, i32)> = topic
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.leader_id.0))
                .collect();
            partitions.sort_unstable();
            let replication_factor = topic
                .partitions
                .iter()
                .map(|p| p.replica_nodes.len())
                .max()
                .unwrap_or(0);
            topics.push(TopicInfo {
                name,
                internal: topic.is_internal,
                partitions,
                replication_factor,
            });
        }
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// The coordinator of consumer group `group`.
    pub fn coordinator(&mut self, group: &str) -> Result<i32, String> {
        let mut request = kafka_protocol::messages::FindCoordinatorRequest::default();
        request.key = StrBytes::from_string(group.to_owned());
        request.key_type = 0;
        let response = self.send_any(&request)?;
        if response.error_code != 0 {
            return Err(format!(
                "group `{group}`: finding its coordinator failed: {}",
                error_name(response.error_code)
            ));
        }
        let id = response.node_id.0;
        self.brokers
            .insert(id, format!("{}:{}", response.host.as_str(), response.port));
        Ok(id)
    }

    /// Broker ids, for requests every broker must answer (ListGroups).
    pub fn broker_ids(&self) -> Vec<i32> {
        self.brokers.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_fields_are_skipped_and_bounded() {
        let mut ok = Bytes::from_static(&[1, 5, 2, 9, 9, 42]);
        skip_tagged_fields(&mut ok).unwrap();
        assert_eq!(ok.as_ref(), &[42]);
        let mut short = Bytes::from_static(&[1, 5, 200, 1]);
        assert!(skip_tagged_fields(&mut short).is_err());
        let mut endless = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(skip_tagged_fields(&mut endless).is_err());
    }
}
