//! Run records at the destinations (`settings.state = "destinations"`,
//! SPEC §13): what one machine's runs record there, another machine with
//! an empty state directory (`--root` of its own: a new pod, a laptop)
//! reads back — in `history`, `status` (also `--all-hosts` and
//! `--prometheus`) and the plan's safety rules — and what a run killed
//! mid-way leaves there and the next run does about it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::common::faults::{Fixture, FAULT_ID, FAULT_NOW, GOOD_ID, GOOD_NOW, LATER_NOW};
use crate::common::wait_for;

/// A manual run after the scheduled one at `FAULT_NOW`: the job is not
/// due again until the next day, so a plan after it runs nothing.
const FAILED_NOW: &str = "2026-01-02T00:05:00Z";
const FAILED_ID: &str = "20260102T000500Z";

/// `app_db` to `local` and `offsite` (Garage) with its run records kept at
/// the destinations.
fn fixture(name: &str, rows: u32, job_extra: &str) -> Fixture {
    let fixture = Fixture::new(name, rows, job_extra);
    fixture.edit_config(
        "state_dir = \"state\"",
        "state_dir = \"state\"\nstate = \"destinations\"",
    );
    fixture
}

/// `cairn ARGS` as another machine: a state directory of its own, empty
/// until it runs something (`--root ROOT`).
fn elsewhere<'a>(fixture: &Fixture, root: &'a str, args: &[&'a str]) -> crate::common::Cairn {
    let mut all = vec!["--root", root];
    all.extend(args);
    fixture.cairn(&all)
}

/// The record of run `id` at `local`, as stored.
fn local_record(fixture: &Fixture, id: &str) -> Option<Value> {
    let path = fixture.local().join(format!("app_db/runs/{id}.json"));
    let bytes = std::fs::read(path).ok()?;
    Some(serde_json::from_slice(&bytes).unwrap())
}

/// The record of run `id` at `offsite`, as stored.
fn s3_record(fixture: &Fixture, id: &str) -> Option<Value> {
    let key = format!("{}/app_db/runs/{id}.json", fixture.prefix);
    if fixture.s3.keys(&key).is_empty() {
        return None;
    }
    Some(serde_json::from_slice(&fixture.s3.get(&key)).unwrap())
}

/// The run IDs that have a record at `local` and at `offsite`.
fn recorded_ids(fixture: &Fixture) -> (Vec<String>, Vec<String>) {
    let mut local: Vec<String> = std::fs::read_dir(fixture.local().join("app_db/runs"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    local.sort();
    let prefix = format!("{}/app_db/runs/", fixture.prefix);
    let mut s3: Vec<String> = fixture
        .s3
        .keys(&prefix)
        .into_iter()
        .filter_map(|key| {
            key.strip_prefix(&prefix)?
                .strip_suffix(".json")
                .map(str::to_owned)
        })
        .collect();
    s3.sort();
    (local, s3)
}

fn history(fixture: &Fixture, root: &str, now: &str) -> Vec<Value> {
    let run = elsewhere(fixture, root, &["history", "app_db", "--json"])
        .now(now)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

fn outcomes(history: &[Value]) -> BTreeMap<String, String> {
    history
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn another_machine_with_an_empty_state_dir_sees_the_runs() {
    let fixture = fixture("records_seen", 200, "");
    fixture.good_run();

    // The record is the history line, at both destinations, after the
    // manifest; at S3 it carries cairn's mark.
    let local = local_record(&fixture, GOOD_ID).expect("a record at `local`");
    assert_eq!(local["state"], "finished");
    assert_eq!(local["outcome"], "success");
    assert_eq!(local["job"], "app_db");
    assert_eq!(local["destinations"]["offsite"]["outcome"], "success");
    assert_eq!(s3_record(&fixture, GOOD_ID).as_ref(), Some(&local));
    let key = format!("{}/app_db/runs/{GOOD_ID}.json", fixture.prefix);
    let head = fixture.s3.s3api("head-object", &["--key", &key]);
    assert_eq!(head["Metadata"]["cairn-job"], "app_db", "{head}");
    assert_eq!(head["Metadata"]["cairn-run-id"], GOOD_ID, "{head}");
    // The local history is still written.
    let history_file = fixture.path().join("state/history/app_db.jsonl");
    assert!(std::fs::read_to_string(&history_file)
        .unwrap()
        .contains(GOOD_ID));

    // Another machine, nothing in its state directory: the same history.
    let seen = history(&fixture, "pod2", "2026-01-01T01:00:00Z");
    assert_eq!(
        outcomes(&seen),
        BTreeMap::from([(GOOD_ID.to_owned(), "success".to_owned())])
    );
    let table = elsewhere(&fixture, "pod2", &["history"])
        .now("2026-01-01T01:00:00Z")
        .run();
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains(GOOD_ID), "{}", table.stdout);
    let status = elsewhere(&fixture, "pod2", &["status", "--json"])
        .now("2026-01-01T01:00:00Z")
        .run();
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    let job = &status["jobs"][0];
    assert_eq!(job["state"], "ok", "{job:#}");
    assert_eq!(job["last_run"]["id"], GOOD_ID, "{job:#}");
    assert_eq!(job["last_success"]["id"], GOOD_ID, "{job:#}");
    // Reading wrote nothing there: its history is still empty.
    assert!(
        !fixture
            .path()
            .join("pod2")
            .join(fixture.path().strip_prefix("/").unwrap())
            .join("state/history")
            .exists(),
        "status or history wrote a history on the reading machine"
    );

    // A state directory of its own runs on, with the other's history.
    let second = elsewhere(&fixture, "pod3", &["run", "app_db"])
        .now(FAULT_NOW)
        .run();
    assert_eq!(second.code, 0, "{}", second.stderr);
    let seen = history(&fixture, "pod2", FAULT_NOW);
    assert_eq!(
        outcomes(&seen).keys().cloned().collect::<Vec<_>>(),
        [GOOD_ID, FAULT_ID]
    );

    // Retention prunes artifacts, never records; listings never take the
    // records for artifacts.
    fixture.edit_config("keep_last = 10", "keep_last = 1");
    let third = fixture.run(LATER_NOW);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(third.stderr.contains("pruned"), "{}", third.stderr);
    assert!(!fixture.local().join("app_db").join(GOOD_ID).exists());
    let all = [GOOD_ID, FAULT_ID, "20260103T000000Z"].map(str::to_owned);
    assert_eq!(recorded_ids(&fixture), (all.to_vec(), all.to_vec()));
    let inventory = fixture.cairn(&["inventory", "--json"]).run();
    assert_eq!(inventory.code, 0, "{}", inventory.stderr);
    assert!(!inventory.stdout.contains("runs"), "{}", inventory.stdout);
    let plan = fixture
        .cairn(&["plan", "--json"])
        .now("2026-01-03T00:10:00Z")
        .run();
    assert!(!plan.stdout.contains("runs"), "{}", plan.stdout);
    assert!(!plan.stderr.contains("runs"), "{}", plan.stderr);
}

#[test]
fn a_failure_recorded_at_the_destinations_holds_pruning_back_elsewhere() {
    let fixture = fixture("records_failure", 200, "");
    fixture.edit_config("keep_last = 10", "keep_last = 2");
    for now in [GOOD_NOW, FAULT_NOW] {
        let run = fixture.run(now);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    // `offsite` answers nothing for one run: it fails there, and its
    // record is at `local` only.
    let endpoint = fixture.s3.endpoint.clone();
    let closed = format!("http://127.0.0.1:{}", crate::common::notify::closed_port());
    fixture.edit_config(&endpoint, &closed);
    let failed = fixture.run(FAILED_NOW);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    fixture.edit_config(&closed, &endpoint);
    let record = local_record(&fixture, FAILED_ID).expect("the failed run's record at `local`");
    assert_eq!(record["outcome"], "failed");
    assert_eq!(record["destinations"]["local"]["outcome"], "success");
    assert_eq!(record["destinations"]["offsite"]["outcome"], "failed");
    assert_eq!(s3_record(&fixture, FAILED_ID), None);

    // A machine with no history of its own plans from the records alone
    // (the job is not due: its last success is after the last fire):
    // `local` is pruned down to one, `offsite` (latest run failed) not.
    fixture.edit_config("keep_last = 2", "keep_last = 1");
    let plan = elsewhere(&fixture, "pod2", &["plan", "--json"])
        .now("2026-01-02T00:10:00Z")
        .run();
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let prunes: Vec<&str> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "prune")
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        prunes,
        [
            format!("artifact.local.app_db.{GOOD_ID}"),
            format!("artifact.local.app_db.{FAULT_ID}")
        ],
        "{plan:#}"
    );
    let notes = plan["notes"].to_string();
    assert!(
        notes.contains(
            "nothing of job `app_db` is pruned at `offsite`: its latest run failed there"
        ),
        "{notes}"
    );
    // So does apply: it prunes `local` only.
    let apply = elsewhere(
        &fixture,
        "pod2",
        &["apply", "--auto-approve", "--target", "job.app_db"],
    )
    .now("2026-01-02T00:10:00Z")
    .run();
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(
        fixture
            .s3
            .keys(&format!("{}/app_db/{GOOD_ID}/", fixture.prefix))
            .len()
            > 1
    );
    assert!(!fixture.local().join("app_db").join(GOOD_ID).exists());

    // Status from there: the failed run is CRITICAL.
    let status = elsewhere(&fixture, "pod3", &["status", "--json"])
        .now("2026-01-02T00:10:00Z")
        .run();
    assert_eq!(status.code, 2, "{}\n{}", status.stdout, status.stderr);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["jobs"][0]["last_run"]["id"], FAILED_ID);

    // Records that cannot be read are not "no runs": status cannot tell,
    // and nothing of the job is pruned.
    fixture.edit_config(&endpoint, &closed);
    let status = elsewhere(&fixture, "pod3", &["status"])
        .now("2026-01-02T00:10:00Z")
        .run();
    assert!(
        status.code == 2 || status.code == 3,
        "{}\n{}",
        status.stdout,
        status.stderr
    );
    assert!(status.stdout.contains("offsite"), "{}", status.stdout);
    let history = elsewhere(&fixture, "pod3", &["history", "app_db"])
        .now("2026-01-02T00:10:00Z")
        .run();
    assert_eq!(history.code, 1, "{}", history.stderr);
    assert!(
        history
            .stderr
            .contains("the run records at destination `offsite` cannot be read"),
        "{}",
        history.stderr
    );
}

#[test]
fn status_all_hosts_reports_the_fleet_from_the_records() {
    let fixture = fixture("records_fleet", 200, "host = \"alpha\"\n");
    fixture.edit_config(
        "state_dir = \"state\"",
        "state_dir = \"state\"\nhosts = [\"alpha\", \"beta\"]",
    );
    fixture.add_to_config(
        r#"[jobs.beta_db]
store = "app_db"
schedule = { cron = "@daily" }
to = ["local"]
retention = { keep_last = 3 }
compression = "none"
host = "beta"
"#,
    );
    let alpha = fixture
        .cairn(&["--host", "alpha", "run", "app_db"])
        .now(GOOD_NOW)
        .run();
    assert_eq!(alpha.code, 0, "{}", alpha.stderr);
    let beta = elsewhere(&fixture, "beta", &["--host", "beta", "run", "beta_db"])
        .now(GOOD_NOW)
        .run();
    assert_eq!(beta.code, 0, "{}", beta.stderr);

    // A laptop: neither host, no state; exit 0 and both jobs OK.
    let prometheus = fixture.path().join("fleet.prom");
    let prometheus_arg = prometheus.to_str().unwrap();
    let report = |now: &str| {
        elsewhere(
            &fixture,
            "laptop",
            &[
                "--host",
                "laptop",
                "status",
                "--all-hosts",
                "--json",
                "--prometheus",
                prometheus_arg,
            ],
        )
        .now(now)
        .run()
    };
    let ok = report("2026-01-01T01:00:00Z");
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    let json: Value = serde_json::from_str(&ok.stdout).unwrap();
    let states: BTreeMap<&str, &str> = json["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["job"].as_str().unwrap(), j["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        BTreeMap::from([("app_db", "ok"), ("beta_db", "ok")])
    );
    let text = std::fs::read_to_string(&prometheus).unwrap();
    for job in ["app_db", "beta_db"] {
        assert!(
            text.lines().any(
                |line| line.starts_with("cairn_job_last_success_timestamp_seconds")
                    && line.contains(&format!("job=\"{job}\""))
            ),
            "{text}"
        );
    }

    // beta's next run fails: the fleet is CRITICAL, from the records.
    fixture.set_mode("die-after 1000");
    let failed = elsewhere(&fixture, "beta", &["--host", "beta", "run", "beta_db"])
        .now(FAULT_NOW)
        .run();
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let critical = report("2026-01-02T00:10:00Z");
    assert_eq!(critical.code, 2, "{}\n{}", critical.stdout, critical.stderr);
    let json: Value = serde_json::from_str(&critical.stdout).unwrap();
    let beta = json["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "beta_db")
        .unwrap();
    assert_eq!(beta["state"], "critical", "{beta:#}");
    assert_eq!(beta["last_run"]["id"], FAULT_ID, "{beta:#}");
    let text = std::fs::read_to_string(&prometheus).unwrap();
    assert!(
        text.lines()
            .any(|line| line.starts_with("cairn_job_consecutive_failures")
                && line.contains("job=\"beta_db\"")
                && line.ends_with(" 1")),
        "{text}"
    );
}

/// Starts `cairn run app_db` as the machine `root` at `now`, kills it
/// after `delay`, and waits until what it started has ended too.
fn kill_run(fixture: &Fixture, root: &str, now: &str, delay: Duration) {
    let cairn = fixture
        .cairn_marked(&["--root", root, "run", "app_db"])
        .now(now);
    let mut child = cairn
        .into_command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cairn starts");
    std::thread::sleep(delay);
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the cairn this test started and has not reaped.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let status = child.wait().unwrap();
    eprintln!("{root}: killed after {delay:?}: {status}");
    wait_for("the killed dump to end", Duration::from_secs(10), || {
        fixture.leftover_processes().is_empty()
    });
}

/// Run `id`'s records claim no success that the destinations do not hold:
/// a finished, successful record only of a complete artifact at both.
fn assert_no_false_claim(fixture: &Fixture, id: &str) {
    for record in [local_record(fixture, id), s3_record(fixture, id)]
        .into_iter()
        .flatten()
    {
        if record["state"] == "finished" && record["outcome"] == "success" {
            fixture.assert_complete_local(id);
            fixture.assert_complete_s3(id);
        } else {
            assert!(
                record["state"] == "running" || record["outcome"] == "failed",
                "{record:#}"
            );
        }
    }
}

#[test]
fn a_killed_run_claims_nothing_and_the_next_pod_cleans_up_after_it() {
    let fixture = fixture("records_killed", 3_000, "timeout = \"1h\"\n");
    fixture.good_run();
    // About 2 MB/s: the dump streams for a second or two.
    fixture.set_mode("throttle 0.5");
    let seed = crate::common::faults::seed();
    let mut random = seed;
    // Pods evicted at random points of their runs, from the start to the
    // manifests, each with a state directory of its own.
    let mut killed = Vec::new();
    for round in 0..3 {
        random = random
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(200 + (random >> 33) % 1500);
        let now = format!("2026-02-01T00:0{round}:00Z");
        let id = format!("20260201T000{round}00Z");
        kill_run(&fixture, &format!("pod-{round}"), &now, delay);
        assert_no_false_claim(&fixture, &id);
        if local_record(&fixture, &id).is_some_and(|r| r["state"] == "running") {
            killed.push((round, id));
        }
    }
    eprintln!("killed before they recorded an outcome: {killed:?}");
    let Some((first_round, first)) = killed.first().cloned() else {
        panic!("no kill landed before a run recorded its outcome (seed {seed})");
    };
    fixture.set_mode("pass");

    // A new pod before their deadline (1 h timeout + margin): they may
    // still be alive elsewhere; it says so and leaves them be.
    let early = elsewhere(&fixture, "pod-early", &["run", "app_db"])
        .now("2026-02-01T00:30:00Z")
        .run();
    assert_eq!(early.code, 0, "{}", early.stderr);
    assert!(
        early.stderr.contains("is marked running"),
        "{}",
        early.stderr
    );
    for (_, id) in &killed {
        assert_eq!(local_record(&fixture, id).unwrap()["state"], "running");
    }

    // The killed run's own machine knows at once: its lock names the run.
    let same = elsewhere(&fixture, &format!("pod-{first_round}"), &["run", "app_db"])
        .now("2026-02-01T00:40:00Z")
        .run();
    assert_eq!(same.code, 0, "{}", same.stderr);
    assert!(same.stderr.contains("was interrupted"), "{}", same.stderr);
    for record in [local_record(&fixture, &first), s3_record(&fixture, &first)] {
        let record = record.expect("the interrupted run's record at both destinations");
        assert_eq!(record["state"], "finished", "{record:#}");
        assert_eq!(record["outcome"], "failed", "{record:#}");
    }
    fixture.assert_nothing_local(&first);
    fixture.assert_nothing_s3(&first);

    // A new pod after the deadline: each is recorded as interrupted, here
    // and at both destinations, and what it left is cleaned up at once.
    let next = elsewhere(&fixture, "pod-next", &["run", "app_db"])
        .now("2026-02-01T03:00:00Z")
        .run();
    assert_eq!(next.code, 0, "{}", next.stderr);
    for (_, id) in &killed {
        for record in [local_record(&fixture, id), s3_record(&fixture, id)]
            .into_iter()
            .flatten()
        {
            assert_eq!(record["state"], "finished", "{record:#}");
            assert_eq!(record["outcome"], "failed", "{record:#}");
            assert!(
                record["error"].as_str().unwrap().starts_with("interrupted"),
                "{record:#}"
            );
        }
        fixture.assert_nothing_local(id);
        fixture.assert_nothing_s3(id);
    }
    fixture.assert_complete_local("20260201T030000Z");
    fixture.assert_complete_s3("20260201T030000Z");
    // Another machine sees them as failed runs.
    let seen = outcomes(&history(&fixture, "pod-other", "2026-02-01T04:00:00Z"));
    for (_, id) in &killed {
        assert_eq!(seen.get(id).map(String::as_str), Some("failed"), "{seen:?}");
    }
}

/// `cairn verify JOB` in the same second as a backup of JOB gets an ID of
/// its own (`-2`), so its record never replaces the backup's, here or at
/// the destination.
#[test]
fn a_verify_in_the_backups_second_gets_an_id_of_its_own() {
    use crate::common::notify::{cairn_at, create_data, sandbox, FIRST_ID, FIRST_NOW};
    let dir = sandbox("");
    dir.edit_config(
        "state_dir = \"state\"",
        "state = \"destinations\"\nstate_dir = \"state\"",
    );
    create_data(dir.path());
    let backup = cairn_at(dir.path(), FIRST_NOW, &["run", "files"]);
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    let verify = cairn_at(dir.path(), FIRST_NOW, &["verify", "files"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);

    let record = |id: &str| -> Value {
        let path = dir.path().join(format!("backups/files/runs/{id}.json"));
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    };
    assert!(
        record(FIRST_ID)["verify"].is_null(),
        "the backup's record stays the backup's"
    );
    let second = format!("{FIRST_ID}-2");
    assert!(
        record(&second)["verify"].is_object(),
        "the verify's record: {second}"
    );
    let history = cairn_at(dir.path(), FIRST_NOW, &["history", "files", "--json"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    let runs: Value = serde_json::from_str(&history.stdout).unwrap();
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [FIRST_ID, second.as_str()], "{}", history.stdout);
}
