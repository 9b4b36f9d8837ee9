//! The Kafka benchmark's helper (`scripts/bench --kafka`), built on the
//! same client cairn backs Kafka up with (src/stores/kafka):
//!
//!     kafka_bench produce BOOTSTRAP TOPIC PARTITIONS RECORDS SIZE
//!         fills each partition of TOPIC with RECORDS records of SIZE bytes
//!         of hex text, one record per batch (tansu 0.6 reports wrong end
//!         offsets for batches of several)
//!     kafka_bench consume BOOTSTRAP TOPIC...
//!         the plain consumer: reads every record of the topics, from the
//!         earliest offset to the end, and throws them away; prints
//!         `RECORDS BYTES` (key + value bytes)

#![allow(clippy::print_stdout)] // Its one line of output is the result.

use bytes::{Bytes, BytesMut};
use cairn::cancel::Cancel;
use cairn::stores::kafka::client::{Cluster, Security};
use cairn::stores::kafka::cluster::{self, EARLIEST, LATEST};
use cairn::stores::kafka::records::{encode_one, Record};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("produce") if args.len() == 6 => {
            let number = |i: usize| args[i].parse::<usize>().map_err(|e| format!("{}: {e}", args[i]));
            produce(&args[1], &args[2], number(3)?, number(4)?, number(5)?)
        }
        Some("consume") if args.len() >= 3 => consume(&args[1], &args[2..]),
        _ => Err("usage: kafka_bench produce BOOTSTRAP TOPIC PARTITIONS RECORDS SIZE | consume BOOTSTRAP TOPIC...".to_owned()),
    }
}

fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: usize,
    count: usize,
    size: usize,
) -> Result<(), String> {
    let mut cluster = Cluster::connect(&[bootstrap.to_owned()], Security::default())?;
    let info = cluster.metadata(Some(&[topic.to_owned()]))?;
    let info = info.first().ok_or(format!("no topic {topic}"))?;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for &(partition, leader) in info.partitions.iter().take(partitions) {
        let mut buffer = BytesMut::new();
        for i in 0..count {
            let mut value = String::with_capacity(size + 16);
            while value.len() < size {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                value.push_str(&format!("{state:016x}"));
            }
            value.truncate(size);
            let record = Record {
                offset: i as i64,
                timestamp: 1_700_000_000_000 + i as i64,
                log_append_time: false,
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(value)),
                headers: vec![(
                    Bytes::from_static(b"source"),
                    Some(Bytes::from_static(b"bench")),
                )],
            };
            encode_one(&mut buffer, &record);
            if buffer.len() > 1024 * 1024 || i + 1 == count {
                cluster::produce(
                    &mut cluster,
                    topic,
                    partition,
                    leader,
                    buffer.split().freeze(),
                )?;
            }
        }
    }
    Ok(())
}

fn consume(bootstrap: &str, topics: &[String]) -> Result<(), String> {
    let mut cluster = Cluster::connect(&[bootstrap.to_owned()], Security::default())?;
    let (mut records, mut bytes) = (0u64, 0u64);
    for topic in cluster::select_topics(&mut cluster, topics)? {
        let starts = cluster::offsets(&mut cluster, &topic, EARLIEST)?;
        let ends = cluster::offsets(&mut cluster, &topic, LATEST)?;
        for (((partition, leader), start), end) in topic.partitions.iter().zip(starts).zip(ends) {
            cluster::read_range(
                &mut cluster,
                &topic.name,
                *partition,
                *leader,
                start,
                end,
                &Cancel::default(),
                &mut |record| {
                    records += 1;
                    bytes += record.key.as_ref().map_or(0, |k| k.len() as u64)
                        + record.value.as_ref().map_or(0, |v| v.len() as u64);
                    Ok(())
                },
            )?;
        }
    }
    println!("{records} {bytes}");
    Ok(())
}
