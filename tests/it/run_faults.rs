//! Failure injection for `cairn run` (SPEC §5, §10): a dump that dies
//! mid-stream or whose tool is killed, a dump tool that warns, an S3 server
//! that goes away mid-upload, a read-only, a full and a deleted local
//! target, a timeout and SIGTERM (SIGKILL of cairn: `faults_kill`; one job
//! run, restored and applied at once: `faults_locks`; a slow S3:
//! `faults_slow_s3`). Every
//! fault must exit 1 with a message that names what failed, leave nothing
//! that counts as a backup where it hit, leave the earlier backup byte for
//! byte intact, and be recorded as failed in the history.
//!
//! Each test backs up its own PostgreSQL database to a local directory and to
//! its own prefix in the suite's Garage; the test that kills S3 starts a
//! Garage of its own, so that tests running beside it keep theirs. The dump
//! runs through an `exec` prefix, `dump.sh`, whose `mode` file says how it
//! misbehaves. The local-target tests mount a tmpfs, so they need root.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::faults::{
    assert_failed, assert_outcomes, assert_stderr, Earlier, Fixture, Tmpfs, FAULT_ID, FAULT_NOW,
    GOOD_ID, GOOD_NOW, LATER_ID, LATER_NOW,
};
use crate::common::{wait_for, PrivateGarage};

#[test]
fn a_dump_that_dies_midway_leaves_nothing_anywhere() {
    let fixture = Fixture::new("dies", 32_000, "");
    let earlier = fixture.good_run();
    // 20 MB into the 33 MB dump both destinations hold data of this run,
    // S3 in an open multipart upload (its first part is 8 MiB).
    fixture.set_mode("die-after 20000000");
    let failed = fixture.run(FAULT_NOW);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        &failed,
        &[
            "error: job `app_db` failed: store `app_db`: `sh ",
            "exited 1: dump.sh: the dump died after 20000000 bytes",
        ],
    );
    assert!(
        !failed.stderr.contains(&fixture.password),
        "the password leaked: {}",
        failed.stderr
    );
    fixture.assert_unchanged(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "the dump died after 20000000 bytes");
    assert_outcomes(&record, "failed", "failed");
}

#[test]
fn s3_going_away_mid_upload_fails_only_that_destination() {
    let garage = PrivateGarage::start();
    let fixture = Fixture::with_s3("s3_dies", 96_000, garage.s3());
    let earlier = fixture.good_run();
    let running = fixture.kill_garage_mid_upload(&garage);
    // Garage comes back while the run, its local copy committed, is still
    // trying to remove the upload it left.
    let manifest = fixture
        .local()
        .join("app_db")
        .join(FAULT_ID)
        .join("manifest.json");
    wait_for("the local copy", Duration::from_secs(60), || {
        manifest.exists()
    });
    std::thread::sleep(Duration::from_secs(2));
    garage.start_again();
    let failed = running.wait(Duration::from_secs(120));

    fixture.assert_only_s3_failed(&earlier, &failed);
    // SPEC §5: no manifest, no object and no multipart upload left open, as
    // soon as the run has ended, with no plan or apply in between.
    fixture.assert_nothing_s3(FAULT_ID);
    // The run's own retries did it, not the cleanup after the run.
    for not_said in ["could not be removed", "cairn: cleaned up"] {
        assert!(!failed.stderr.contains(not_said), "{}", failed.stderr);
    }
}

#[test]
fn an_upload_left_open_while_s3_stays_away_goes_with_the_next_run() {
    let garage = PrivateGarage::start();
    let fixture = Fixture::with_s3("s3_stays_away", 96_000, garage.s3());
    let earlier = fixture.good_run();
    let running = fixture.kill_garage_mid_upload(&garage);
    // Garage stays away for longer than the run keeps trying.
    let failed = running.wait(Duration::from_secs(300));
    garage.start_again();

    fixture.assert_only_s3_failed(&earlier, &failed);
    assert_stderr(
        &failed,
        &["could not be removed", "`cairn plan` shows it for cleanup"],
    );
    let artifact = format!("{}/app_db/{FAULT_ID}/", fixture.prefix);
    assert!(
        !fixture.s3.uploads(&artifact).is_empty(),
        "the upload can only be open: nobody could abort it"
    );
    // The plan shows it at once: the run that left it is in the history.
    let address = format!("artifact.offsite.app_db.{FAULT_ID}");
    let plan = fixture.cairn(&["plan", "--json"]).now(LATER_NOW).run();
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let cleanup = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "cleanup" && a["address"] == address.as_str())
        .unwrap_or_else(|| panic!("no cleanup of {address} in {plan:#}"));
    assert!(
        cleanup["reason"].as_str().unwrap().contains("left by run"),
        "{cleanup}"
    );
    // The job's next run removes it, and backs up as usual.
    fixture.set_mode("pass");
    let next = fixture.run(LATER_NOW);
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert_stderr(&next, &[&format!("cairn: cleaned up {address} (")]);
    fixture.assert_nothing_s3(FAULT_ID);
    fixture.assert_complete_local(LATER_ID);
    fixture.assert_complete_s3(LATER_ID);
    fixture.assert_earlier_intact(&earlier);
}

#[test]
fn a_read_only_local_target_fails_only_that_destination() {
    let mut fixture = Fixture::new("read_only", 3_000, "");
    fixture.tmpfs = Some(Tmpfs::mount(&fixture.local(), "16m"));
    let earlier = fixture.good_run();
    fixture.tmpfs.as_ref().unwrap().make_read_only();
    let failed = fixture.run(FAULT_NOW);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        &failed,
        &[
            "error: job `app_db`: destination `local`: ",
            "Read-only file system",
        ],
    );
    assert_eq!(fixture.local_snapshot(), earlier.local, "`local` changed");
    fixture.assert_complete_s3(FAULT_ID);
    fixture.assert_earlier_intact(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "Read-only file system");
    assert_outcomes(&record, "failed", "success");
}

#[test]
fn a_full_local_target_fails_only_that_destination() {
    let mut fixture = Fixture::new("disk_full", 3_000, "");
    // Room for the good run's 3 MB, not for a second copy: the disk fills
    // up in the middle of the stream.
    fixture.tmpfs = Some(Tmpfs::mount(&fixture.local(), "4m"));
    let earlier = fixture.good_run();
    let failed = fixture.run(FAULT_NOW);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    // The error says how much room there was, where: a full tmpfs has none.
    assert_stderr(
        &failed,
        &[
            "error: job `app_db`: destination `local`: ",
            "No space left on device",
            &format!(
                " free at {}; make room there, then run the job again)",
                fixture.local().display()
            ),
        ],
    );
    let free = failed
        .stderr
        .split_once(" free at ")
        .and_then(|(before, _)| before.rsplit_once('('))
        .map(|(_, amount)| amount)
        .unwrap_or_default();
    assert!(
        free.ends_with(" B") || free.ends_with("iB"),
        "no free space in:\n{}",
        failed.stderr
    );
    // The partial file went with the rest of the failed copy.
    assert_eq!(fixture.local_snapshot(), earlier.local, "`local` changed");
    fixture.assert_complete_s3(FAULT_ID);
    fixture.assert_earlier_intact(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "No space left on device");
    assert_failed(&record, " free at ");
    assert_outcomes(&record, "failed", "success");

    // Once there is room again, the next run stores everywhere.
    fixture.tmpfs.as_ref().unwrap().resize("16m");
    let next = fixture.run(LATER_NOW);
    assert_eq!(next.code, 0, "{}", next.stderr);
    fixture.assert_complete_local(LATER_ID);
    fixture.assert_complete_s3(LATER_ID);
    fixture.assert_nothing_local(FAULT_ID);
    fixture.assert_earlier_intact(&earlier);
}

#[test]
fn a_local_target_deleted_mid_run_fails_only_that_destination() {
    let fixture = Fixture::new("deleted", 24_000, "");
    let earlier = fixture.good_run();
    // About 5 MB/s, so the 25 MB dump takes 5 s.
    let running = fixture.spawn_streaming("0.2", 4);
    // The operator (or a script) deletes the whole destination directory.
    std::fs::remove_dir_all(fixture.local()).unwrap();
    let failed = running.wait(Duration::from_secs(60));
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let run_dir = fixture.local().join("app_db").join(FAULT_ID);
    assert_stderr(
        &failed,
        &[
            "error: job `app_db`: destination `local`: ",
            &format!(
                "the directory {} was deleted while the run wrote to it",
                run_dir.display()
            ),
        ],
    );
    assert!(
        !failed.stderr.contains("destination `offsite`"),
        "{}",
        failed.stderr
    );
    assert!(!fixture.local().exists(), "the run recreated `local`");
    fixture.assert_complete_s3(FAULT_ID);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "was deleted while the run wrote to it");
    assert_outcomes(&record, "failed", "success");

    // The next run creates the directory again and stores everywhere.
    fixture.set_mode("pass");
    let next = fixture.run(LATER_NOW);
    assert_eq!(next.code, 0, "{}", next.stderr);
    fixture.assert_complete_local(LATER_ID);
    fixture.assert_complete_s3(LATER_ID);
    let s3_earlier = Earlier {
        local: Default::default(),
        s3: earlier.s3,
    };
    fixture.assert_earlier_intact(&s3_earlier);
}

#[test]
fn a_run_past_its_timeout_is_stopped() {
    let fixture = Fixture::new("timeout", 2_000, "timeout = \"2s\"\n");
    let earlier = fixture.good_run();
    fixture.set_mode("sleep 30");
    let started = Instant::now();
    let failed = fixture.run(FAULT_NOW);
    let took = started.elapsed();
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        &failed,
        &["error: job `app_db` failed: ", "timed out after 2s"],
    );
    fixture.assert_unchanged(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "timed out after 2s");
    assert_outcomes(&record, "failed", "failed");
    // `dump.sh` sleeps in a child of its own: stopping only the process
    // cairn started leaves that child holding the dump's stdout open.
    assert!(
        took < Duration::from_secs(15),
        "a run with timeout = \"2s\" took {took:?} against a dump that sleeps 30 s"
    );
    let left = fixture.leftover_processes();
    assert!(left.is_empty(), "the dump outlived the run: {left:?}");
}

#[test]
fn sigterm_mid_dump_aborts_the_run() {
    let fixture = Fixture::new("sigterm", 24_000, "");
    let earlier = fixture.good_run();
    // About 5 MB/s, so the 25 MB dump takes 5 s; past S3's first part of
    // 8 MiB a multipart upload is open.
    let running = fixture.spawn_streaming("0.2", 13);
    let pid = libc::pid_t::try_from(running.pid()).unwrap();
    // SAFETY: kill(2) on the cairn this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let signalled = Instant::now();
    let failed = running.wait(Duration::from_secs(60));
    let took = signalled.elapsed();
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        &failed,
        &["error: job `app_db` failed: ", "terminated (SIGTERM)"],
    );
    fixture.assert_unchanged(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "terminated (SIGTERM)");
    assert_outcomes(&record, "failed", "failed");
    assert!(
        took < Duration::from_secs(10),
        "cairn took {took:?} to stop"
    );
    let left = fixture.leftover_processes();
    assert!(left.is_empty(), "the dump outlived the run: {left:?}");
}

#[test]
fn a_dump_tool_killed_mid_stream_fails_the_run() {
    let fixture = Fixture::new("tool_killed", 24_000, "");
    let earlier = fixture.good_run();
    // About 5 MB/s, so the 25 MB dump takes 5 s; past S3's first part of
    // 8 MiB a multipart upload is open.
    let running = fixture.spawn_streaming("0.2", 9);
    let pg_dump = libc::pid_t::try_from(fixture.tool_pid("pg_dump")).unwrap();
    // SAFETY: kill(2) on the pg_dump of the run this test started.
    assert_eq!(unsafe { libc::kill(pg_dump, libc::SIGKILL) }, 0);
    let failed = running.wait(Duration::from_secs(60));
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        &failed,
        &[
            "error: job `app_db` failed: store `app_db`: `sh ",
            " pg_dump ",
            "was killed by SIGKILL",
        ],
    );
    // Nothing of the run counts, anywhere: no manifest, no data, no upload.
    fixture.assert_unchanged(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "was killed by SIGKILL");
    assert_outcomes(&record, "failed", "failed");
    let left = fixture.leftover_processes();
    assert!(left.is_empty(), "the dump outlived the run: {left:?}");
}

#[test]
fn a_dump_tool_that_warns_but_succeeds_keeps_its_stderr() {
    let fixture = Fixture::new("tool_warns", 2_000, "");
    fixture.set_mode("warn the table `t` has no primary key");
    let warned = fixture.run(GOOD_NOW);
    assert_eq!(warned.code, 0, "{}", warned.stderr);
    // Shown as the run goes, and kept in the history.
    let warning = "store `app_db`: the dump of db-";
    assert_stderr(
        &warned,
        &[
            &format!("warning: job `app_db`: {warning}"),
            "succeeded but wrote to stderr: dump.sh: warning: the table `t` has no primary key",
        ],
    );
    fixture.assert_complete_local(GOOD_ID);
    fixture.assert_complete_s3(GOOD_ID);
    let record = fixture.record(GOOD_ID);
    assert_eq!(record["outcome"], "success", "{record:#}");
    let kept = record["warnings"][0].as_str().unwrap_or_default();
    assert!(
        kept.starts_with(warning) && kept.ends_with("has no primary key"),
        "{record:#}"
    );
    let history = fixture.cairn(&["history", "app_db"]).run();
    assert!(
        history.stdout.contains("warning: store `app_db`"),
        "{}",
        history.stdout
    );

    // 100 kB of it: the record keeps its end, bounded.
    fixture.set_mode("warn-flood");
    let flooded = fixture.run(FAULT_NOW);
    assert_eq!(flooded.code, 0, "{}", flooded.stderr);
    let record = fixture.record(FAULT_ID);
    let kept = record["warnings"][0].as_str().unwrap_or_default();
    assert!(
        kept.ends_with("dump.sh: the end of a long warning"),
        "{kept}"
    );
    assert!(kept.contains(": …www"), "no mark of the cut: {kept}");
    assert!(kept.len() < 4_500, "{} bytes kept", kept.len());
    assert!(flooded.stderr.len() < 6_000, "{}", flooded.stderr.len());
}
