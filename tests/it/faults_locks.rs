//! One job, four commands at once (SPEC §5, §10): a run of job `app_db`
//! that holds its lock, a second `cairn run` of it, a `restore --force` of
//! it and an `apply`. The first run wins and completes; the second run and
//! the restore exit 1 naming the holder's PID and do nothing; `apply` shows
//! the job as running, leaves it alone and applies the rest (job `other`).
//! And the other way round: a restore holds the job's lock to its end, so
//! a run started meanwhile is refused the same way.

use std::time::Duration;

use crate::common::faults::{Fixture, FAULT_ID, FAULT_NOW, GOOD_ID, LATER_ID, LATER_NOW};
use crate::common::{wait_for, Background};

#[test]
fn a_running_job_blocks_a_second_run_and_a_restore_and_apply_skips_it() {
    let fixture = Fixture::new("together", 2_000, "");
    std::fs::create_dir_all(fixture.path().join("files")).unwrap();
    std::fs::write(fixture.path().join("files/notes.txt"), "notes\n").unwrap();
    fixture.add_to_config(
        r#"[stores.files]
kind = "directory"
path = "files"

[jobs.other]
store = "files"
schedule = { cron = "@daily" }
to = ["local"]
retention = { keep_last = 3 }
"#,
    );
    let earlier = fixture.good_run();

    let (first, pid) = fixture.spawn_holding_lock(8);

    // All three at once, while the first run sleeps before its dump.
    let spawn = |name: &str, args: &[&str]| {
        Background::spawn(fixture.cairn(args).now(LATER_NOW), fixture.path(), name)
    };
    let second = spawn("second", &["run", "app_db"]);
    let restore = spawn("restore", &["restore", "app_db", "--force"]);
    let apply = spawn("apply", &["apply", "--auto-approve"]);
    let [second, restore, apply] =
        [second, restore, apply].map(|command| command.wait(Duration::from_secs(60)));
    let holder = format!("job `app_db` is already running (pid {pid}");
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(second.stderr.contains(&holder), "{}", second.stderr);
    assert_eq!(restore.code, 1, "{}", restore.stderr);
    assert!(restore.stderr.contains(&holder), "{}", restore.stderr);
    assert!(
        !restore.stderr.contains("safety backup"),
        "{}",
        restore.stderr
    );
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let said = format!("{}{}", apply.stdout, apply.stderr);
    assert!(
        said.contains(&format!("job.app_db is running (pid {pid})")),
        "{said}"
    );
    // The rest was applied: job `other` ran.
    let other = fixture.local().join("other").join(LATER_ID);
    assert!(other.join("manifest.json").exists(), "{said}");

    let first = first.wait(Duration::from_secs(60));
    assert_eq!(first.code, 0, "the first run failed:\n{}", first.stderr);
    fixture.assert_complete_local(FAULT_ID);
    fixture.assert_complete_s3(FAULT_ID);
    fixture.assert_earlier_intact(&earlier);
    // Nothing else of `app_db` happened: no second run, no safety backup.
    fixture.assert_nothing_local(LATER_ID);
    fixture.assert_nothing_s3(LATER_ID);
    let runs: Vec<String> = fixture
        .history()
        .iter()
        .filter(|record| record["job"] == "app_db")
        .map(|record| {
            format!(
                "{} {} {}",
                record["id"], record["reason"], record["outcome"]
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            format!("\"{GOOD_ID}\" \"manual\" \"success\""),
            format!("\"{FAULT_ID}\" \"manual\" \"success\"")
        ]
    );
    // And the lock is free again: a restore now goes ahead.
    fixture.set_mode("pass");
    let restored = fixture
        .cairn(&["restore", "app_db", "--force"])
        .now(LATER_NOW)
        .run();
    assert_eq!(restored.code, 0, "{}", restored.stderr);
}

#[test]
fn a_restore_holds_its_job_until_it_ends() {
    let fixture = Fixture::new("restoring", 2_000, "");
    fixture.good_run();
    // The restore's safety backup dumps through dump.sh, which sleeps first.
    fixture.set_mode("sleep 5");
    let restore = Background::spawn(
        fixture
            .cairn(&["restore", "app_db", "--force"])
            .now(LATER_NOW),
        fixture.path(),
        "restore",
    );
    let pid = restore.pid().to_string();
    let lock = fixture.path().join("state/locks/app_db.lock");
    wait_for("the restore's lock", Duration::from_secs(10), || {
        std::fs::read_to_string(&lock).is_ok_and(|holder| holder.lines().next() == Some(&pid))
    });
    let run = fixture.run(FAULT_NOW);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("job `app_db` is already running (pid {pid}")),
        "{}",
        run.stderr
    );
    // The restore's own tools run through dump.sh too: no more sleeping.
    fixture.set_mode("pass");
    let restore = restore.wait(Duration::from_secs(60));
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    fixture.assert_nothing_local(FAULT_ID);
    fixture.assert_nothing_s3(FAULT_ID);
    let reasons: Vec<String> = fixture
        .history()
        .iter()
        .map(|record| format!("{} {}", record["reason"], record["outcome"]))
        .collect();
    assert_eq!(
        reasons,
        ["\"manual\" \"success\"", "\"safety\" \"success\""]
    );
}
