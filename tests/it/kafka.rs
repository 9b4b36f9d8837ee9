//! `kind = "kafka"` against real tansu brokers (SPEC §14): a backup of
//! topics with keys, headers and timestamps, their configs and a consumer
//! group's offsets, restored onto a fresh broker and read back with
//! kafka-python; verify under a scratch prefix; a refused restore onto
//! topics that hold data; a broker killed during the backup.

use std::time::{Duration, Instant};

use serde_json::json;

use cairn::stores::kafka::client::{Cluster, Security};
use cairn::stores::kafka::cluster::create_topic;

use crate::common::kafka::{
    configs, expected, fetch_all, produce, produce_with, python, read_all, records, suite_broker,
    PrivateKafka,
};
use crate::common::stores::{assert_ok, JOB};
use crate::common::{flat, wait_for, Background, Sandbox};

/// backup.toml: a Kafka store of `bootstrap` selecting `topics`, job `app`
/// to the local directory `backups`.
fn write_config(sandbox: &Sandbox, bootstrap: &str, topics: &[&str], extra: &str) {
    sandbox.write_config(&format!(
        r#"[settings]
scheduler = "none"
state_dir = "state"

[stores.source]
kind = "kafka"
bootstrap_servers = ["{bootstrap}"]
topics = {topics}
{extra}

[destinations.local]
kind = "local"
path = "backups"

[jobs.{JOB}]
store = "source"
schedule = {{ cron = "@daily" }}
to = ["local"]
retention = {{ keep_last = 7 }}
"#,
        topics = serde_json::to_string(topics).unwrap(),
    ));
}

/// Creates `topics` (name, partitions) on `bootstrap` and fills every
/// partition with `count` records of about `size` bytes.
fn fill(sandbox: &Sandbox, bootstrap: &str, topics: &[(&str, i32)], count: usize, size: usize) {
    let spec: Vec<_> = topics
        .iter()
        .map(|(name, partitions)| json!({"name": name, "partitions": partitions}))
        .collect();
    python(sandbox.path(), "create", bootstrap, &json!(spec));
    for (topic, partitions) in topics {
        for partition in 0..*partitions {
            produce(
                bootstrap,
                topic,
                partition,
                &records(topic, partition, count, size),
            );
        }
    }
}

fn run(sandbox: &Sandbox) {
    let run = sandbox.cairn(&["run", JOB]).run();
    assert_ok(&run, "cairn run");
}

#[test]
fn topics_configs_and_group_offsets_come_back_on_a_fresh_broker() {
    let started = Instant::now();
    let sandbox = Sandbox::new("kafka");
    let source = suite_broker();
    let unique = sandbox.unique.replace('_', "-");
    let names = [
        format!("{unique}.audit"),
        format!("{unique}.orders"),
        format!("{unique}.payments"),
    ];
    let (audit, orders, payments) = (&names[0], &names[1], &names[2]);
    python(
        sandbox.path(),
        "create",
        &source,
        &json!([
            {"name": audit, "partitions": 3,
             "configs": {"retention.ms": "123456789", "max.message.bytes": "2000000",
                         "message.timestamp.type": "LogAppendTime"}},
            {"name": orders, "partitions": 3},
            {"name": payments, "partitions": 3},
        ]),
    );
    let mut produced = Vec::new();
    for topic in &names {
        for partition in 0..3 {
            let data = records(topic, partition, 10_000, 120);
            produce(&source, topic, partition, &data);
            produced.push(((topic.clone(), partition), data));
        }
    }
    let group = format!("{unique}-billing");
    let committed = json!([[orders, 0, 4000], [orders, 1, 1234], [payments, 2, 10000]]);
    python(
        sandbox.path(),
        "commit",
        &source,
        &json!({"group": group, "offsets": committed}),
    );
    // A glob: every topic of this test, and nothing of other tests'.
    write_config(
        &sandbox,
        &source,
        &[&format!("{unique}.*")],
        "consumer_groups = true",
    );
    run(&sandbox);

    let target = PrivateKafka::start();
    let restored = sandbox
        .cairn(&["restore", JOB, "--to", &target.bootstrap()])
        .run();
    assert_ok(&restored, "restore --to");
    let said = flat(&restored.stderr);
    for topic in &names {
        for partition in 0..3 {
            let line = format!(
                "topic `{topic}` partition {partition}: 10000 records written (offsets 0 to 9999)"
            );
            assert!(said.contains(&line), "{line}\n{said}");
        }
    }
    assert!(
        said.contains(&format!("group `{group}`: committed 3 offsets")),
        "{said}"
    );

    let topics: Vec<(&str, i32)> = names.iter().map(|n| (n.as_str(), 3)).collect();
    let read = read_all(sandbox.path(), &target.bootstrap(), &topics);
    for (key, data) in &produced {
        let found = read.get(key).map_or(&[][..], Vec::as_slice);
        assert_eq!(found.len(), 10_000, "{key:?}: records read back");
        for (i, (read, written)) in found.iter().zip(expected(data, 0)).enumerate() {
            assert_eq!(read, &written, "{key:?}: record {i}");
        }
    }

    let restored_configs = configs(&target.bootstrap(), audit);
    assert_eq!(
        restored_configs.get("retention.ms"),
        Some(&Some("123456789".to_owned())),
        "{restored_configs:?}"
    );
    assert_eq!(
        restored_configs.get("max.message.bytes"),
        Some(&Some("2000000".to_owned())),
        "{restored_configs:?}"
    );
    // Set once the records were in (tansu 0.6 does not stamp records
    // anew either way, so the timestamps above do not tell).
    assert_eq!(
        restored_configs.get("message.timestamp.type"),
        Some(&Some("LogAppendTime".to_owned())),
        "{restored_configs:?}"
    );
    assert!(
        said.contains("message.timestamp.type=LogAppendTime"),
        "{said}"
    );

    let offsets = python(
        sandbox.path(),
        "offsets",
        &target.bootstrap(),
        &json!({"group": group}),
    );
    let offsets: serde_json::Value = serde_json::from_str(&offsets).unwrap();
    assert_eq!(offsets, committed, "the group's offsets on the new broker");
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn verify_restores_under_a_scratch_prefix_and_removes_it() {
    let sandbox = Sandbox::new("kafka_verify");
    let source = PrivateKafka::start();
    fill(
        &sandbox,
        &source.bootstrap(),
        &[("events", 2), ("clicks", 1)],
        500,
        200,
    );
    write_config(&sandbox, &source.bootstrap(), &["events", "clicks"], "");
    run(&sandbox);
    let mut config = std::fs::read_to_string(sandbox.config()).unwrap();
    config.push_str(&format!(
        "\n[jobs.check]\nkind = \"verify\"\nverifies = \"{JOB}\"\nschedule = {{ cron = \"0 6 * * *\" }}\n"
    ));
    sandbox.write_config(&config);
    let verified = sandbox.cairn(&["verify", "check"]).run();
    assert_ok(&verified, "verify");
    eprintln!("{}\n{}", verified.stdout, verified.stderr);
    let said = flat(&format!("{}{}", verified.stdout, verified.stderr));
    for (topic, partition) in [("events", 0), ("events", 1), ("clicks", 0)] {
        let line = format!(
            "ok topic `{topic}` partition {partition}: records and checksum read back match the artifact: 500 of 500 records"
        );
        assert!(said.contains(&line), "{line}\n{said}");
    }
    let topics = python(sandbox.path(), "topics", &source.bootstrap(), &json!(null));
    assert!(
        !topics.contains("cairn-verify"),
        "scratch topics left: {topics}"
    );
    assert!(topics.contains("\"events\""), "{topics}");
}

#[test]
fn batches_a_producer_compressed_four_ways_are_read_and_restored() {
    let sandbox = Sandbox::new("kafka_compressed");
    let source = PrivateKafka::start();
    let codecs = ["gzip", "snappy", "lz4", "zstd"];
    let spec: Vec<_> = codecs
        .iter()
        .map(|codec| json!({"name": codec, "partitions": 2}))
        .collect();
    python(sandbox.path(), "create", &source.bootstrap(), &json!(spec));
    // A topic named like Kafka's internal ones: never selected, even by `*`.
    python(
        sandbox.path(),
        "create",
        &source.bootstrap(),
        &json!([{"name": "__internal_like", "partitions": 1}]),
    );
    for codec in codecs {
        python(
            sandbox.path(),
            "produce",
            &source.bootstrap(),
            &json!({"topic": codec, "count": 100, "compression": codec}),
        );
    }
    write_config(&sandbox, &source.bootstrap(), &["*"], "");
    run(&sandbox);
    let artifact = std::fs::read_dir(sandbox.path().join("backups").join(JOB))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut streams: Vec<String> = std::fs::read_dir(&artifact)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    streams.sort();
    assert_eq!(
        streams,
        [
            "manifest.json",
            "topic-gzip.kafka.zst",
            "topic-lz4.kafka.zst",
            "topic-snappy.kafka.zst",
            "topic-zstd.kafka.zst",
            "topics.json.zst"
        ]
    );
    let target = PrivateKafka::start();
    assert_ok(
        &sandbox
            .cairn(&["restore", JOB, "--to", &target.bootstrap()])
            .run(),
        "restore",
    );
    let topics: Vec<(&str, i32)> = codecs.iter().map(|codec| (*codec, 2)).collect();
    let original = read_all(sandbox.path(), &source.bootstrap(), &topics);
    let restored = read_all(sandbox.path(), &target.bootstrap(), &topics);
    assert_eq!(original.values().map(Vec::len).sum::<usize>(), 400);
    assert_eq!(restored, original);
}

#[test]
fn topics_that_hold_data_are_refused_without_force_and_a_prefix_restores_beside_them() {
    let sandbox = Sandbox::new("kafka_refuse");
    let source = PrivateKafka::start();
    fill(&sandbox, &source.bootstrap(), &[("ledger", 2)], 300, 50);
    write_config(&sandbox, &source.bootstrap(), &["ledger"], "");
    run(&sandbox);

    let target = PrivateKafka::start();
    assert_ok(
        &sandbox
            .cairn(&["restore", JOB, "--to", &target.bootstrap()])
            .run(),
        "first restore",
    );
    let again = sandbox
        .cairn(&["restore", JOB, "--to", &target.bootstrap()])
        .run();
    assert_eq!(again.code, 1, "{}", again.stderr);
    let said = flat(&again.stderr);
    assert!(
        said.contains("topic `ledger` holds about 600 records; nothing was changed"),
        "{said}"
    );
    assert!(said.contains("--force"), "{said}");
    let read = read_all(sandbox.path(), &target.bootstrap(), &[("ledger", 2)]);
    assert_eq!(read.values().map(Vec::len).sum::<usize>(), 600, "unchanged");

    let beside = sandbox
        .cairn(&[
            "restore",
            JOB,
            "--to",
            &target.bootstrap(),
            "--topic-prefix",
            "copy.",
        ])
        .run();
    assert_ok(&beside, "restore --topic-prefix");
    let copy = read_all(sandbox.path(), &target.bootstrap(), &[("copy.ledger", 2)]);
    for partition in 0..2 {
        assert_eq!(
            copy[&("copy.ledger".to_owned(), partition)],
            read[&("ledger".to_owned(), partition)],
            "partition {partition} restored beside the original"
        );
    }

    let forced = sandbox
        .cairn(&["restore", JOB, "--to", &target.bootstrap(), "--force"])
        .run();
    assert_ok(&forced, "restore --force");
    let said = flat(&forced.stderr);
    assert!(
        said.contains("taking a safety backup of it first"),
        "{said}"
    );
    assert!(said.contains("safety backup"), "{said}");
    let replaced = read_all(sandbox.path(), &target.bootstrap(), &[("ledger", 2)]);
    assert_eq!(replaced, read, "replaced, not appended to");
    // The safety backup holds the topic it replaced, from the target.
    let artifacts: Vec<_> = std::fs::read_dir(sandbox.path().join("backups").join(JOB))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(artifacts.len(), 2, "{artifacts:?}");
    for artifact in &artifacts {
        assert!(
            artifact.join("topic-ledger.kafka.zst").exists(),
            "{artifact:?}"
        );
    }
    let manifests: Vec<String> = artifacts
        .iter()
        .map(|a| std::fs::read_to_string(a.join("manifest.json")).unwrap())
        .collect();
    assert!(
        manifests
            .iter()
            .any(|m| m.contains("\"safety\"") && m.contains(&target.bootstrap())),
        "{manifests:?}"
    );

    let wrong = sandbox
        .cairn(&["restore", JOB, "--to", "kafka://nowhere"])
        .run();
    assert_eq!(wrong.code, 1);
    assert!(
        flat(&wrong.stderr).contains("is not a list of Kafka bootstrap servers"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn a_broker_killed_during_the_backup_fails_the_run_and_keeps_the_earlier_artifact() {
    let sandbox = Sandbox::new("kafka_kill");
    let mut source = PrivateKafka::start();
    // Enough data that the dump is still reading when the broker dies.
    fill(&sandbox, &source.bootstrap(), &[("bulk", 2)], 20_000, 2_000);
    write_config(&sandbox, &source.bootstrap(), &["bulk"], "");
    run(&sandbox);
    let backups = sandbox.path().join("backups").join(JOB);
    let before: Vec<_> = std::fs::read_dir(&backups).unwrap().collect();
    assert_eq!(before.len(), 1);

    let running = Background::spawn(sandbox.cairn(&["run", JOB]), sandbox.path(), "run");
    let log = sandbox.path().join("run.stderr");
    wait_for("the dump to start", Duration::from_secs(60), || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains("dumping topic-bulk.kafka"))
    });
    source.kill();
    let failed = running.wait(Duration::from_secs(120));
    assert_ne!(failed.code, 0, "{}", failed.stderr);
    let said = flat(&failed.stderr);
    assert!(
        said.contains(&format!("Kafka at {}", source.bootstrap())),
        "{said}"
    );
    assert!(said.contains("check that the brokers are up"), "{said}");

    let inventory = sandbox.cairn(&["inventory", JOB, "--json"]).run();
    assert_ok(&inventory, "inventory");
    let report: serde_json::Value = serde_json::from_str(&inventory.stdout).unwrap();
    assert_eq!(
        report["artifacts"].as_array().unwrap().len(),
        1,
        "only the earlier artifact counts: {report}"
    );
    let after: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        after.len(),
        1,
        "nothing of the failed run is left: {after:?}"
    );
}

#[test]
fn a_broker_behind_tls_is_backed_up_and_verified_with_its_ca_and_refused_with_another() {
    let sandbox = Sandbox::new("kafka_tls");
    let source = PrivateKafka::start_tls(sandbox.path());
    let ca = sandbox.path().join("ca.pem");
    let security = Security::tls(Some(&ca)).unwrap();
    let mut cluster = Cluster::connect(&[source.bootstrap()], security.clone()).unwrap();
    create_topic(&mut cluster, "secure", 2, 1, &Default::default()).unwrap();
    let data: Vec<_> = (0..2).map(|p| records("secure", p, 400, 80)).collect();
    for (partition, records) in (0..).zip(&data) {
        produce_with(
            &source.bootstrap(),
            security.clone(),
            "secure",
            partition,
            records,
        );
    }
    write_config(
        &sandbox,
        &source.bootstrap(),
        &["secure"],
        &format!("tls = true\nca_file = \"{}\"", ca.display()),
    );
    run(&sandbox);
    let verified = sandbox.cairn(&["verify", JOB]).run();
    assert_ok(&verified, "verify over TLS");
    assert!(
        flat(&verified.stderr).contains("400 of 400 records"),
        "{}",
        verified.stderr
    );
    // Restored beside the original on the same cluster, through TLS.
    assert_ok(
        &sandbox
            .cairn(&["restore", JOB, "--topic-prefix", "copy."])
            .run(),
        "restore over TLS",
    );
    for (partition, records) in (0..).zip(&data) {
        let read = fetch_all(
            &source.bootstrap(),
            security.clone(),
            "copy.secure",
            partition,
        );
        let mut written = records.clone();
        for (offset, record) in written.iter_mut().enumerate() {
            record.offset = offset as i64;
        }
        assert_eq!(read, written, "partition {partition}");
    }

    // Another CA: the run fails naming the broker, and keeps nothing.
    let other = sandbox.path().join("other");
    std::fs::create_dir(&other).unwrap();
    drop(PrivateKafka::start_tls(&other));
    sandbox.edit_config(
        &ca.display().to_string(),
        &other.join("ca.pem").display().to_string(),
    );
    let refused = sandbox.cairn(&["run", JOB]).run();
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let said = flat(&refused.stderr);
    assert!(
        said.contains(&format!("broker {}", source.bootstrap())),
        "{said}"
    );
    assert!(said.to_lowercase().contains("certificate"), "{said}");
}
