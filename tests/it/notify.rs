//! Notifications (SPEC §9): `cairn run` and `cairn apply` tell webhooks and
//! commands about failures, successes and recoveries, and a notifier that
//! cannot be reached is a warning that never changes how a run ends or
//! shows a webhook's secret path.
//!
//! The webhook is a small HTTP server inside the test; the job backs up a
//! directory to a local destination, and fails while that directory is
//! missing.

use std::collections::BTreeSet;

use crate::common::notify::{
    cairn_at, closed_port, command_log, create_data, sandbox, Server, FIRST_ID, FIRST_NOW,
    LOG_COMMAND, SECOND_ID, SECOND_NOW, SECRET,
};

mod https;

/// With the run records at the destinations, a success after another
/// machine's failure (a pod after a pod, each with an empty state
/// directory) is a recovery.
#[test]
fn a_recovery_after_another_machines_failure_is_told_from_the_records() {
    let server = Server::start(&[]);
    let dir = sandbox(&format!(
        r#"[notify.healthchecks]
kind = "webhook"
url = "{url}"
on = ["success", "failure", "recovery"]
"#,
        url = server.url(&format!("/ping/{SECRET}")),
    ));
    dir.edit_config(
        "state_dir = \"state\"",
        "state = \"destinations\"\nstate_dir = \"pod1\"",
    );
    let dir_path = dir.path();
    let failed = cairn_at(dir_path, FIRST_NOW, &["run", "files"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);

    dir.edit_config("state_dir = \"pod1\"", "state_dir = \"pod2\"");
    assert!(!dir_path.join("pod2").exists(), "a machine with no history");
    create_data(dir_path);
    let good = cairn_at(dir_path, SECOND_NOW, &["run", "files"]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    let events: BTreeSet<String> = server.received()[1..]
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        events,
        BTreeSet::from(["success".to_owned(), "recovery".to_owned()]),
        "the failure was the other machine's, read from its record"
    );
}

#[test]
fn a_failure_then_a_recovery_reach_the_webhook_and_the_command() {
    let server = Server::start(&[]);
    let dir = sandbox(&format!(
        r#"[notify.healthchecks]
kind = "webhook"
url = "{url}"
urls = {{ failure = "{url}/fail" }}
on = ["success", "failure", "recovery"]

[notify.oncall]
kind = "command"
command = '''{LOG_COMMAND}'''
"#,
        url = server.url(&format!("/ping/{SECRET}")),
    ));
    let dir = dir.path();

    // `data/` does not exist yet: the run fails.
    let failed = cairn_at(dir, FIRST_NOW, &["run", "files"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        !failed.stderr.contains("warning: notifier"),
        "{}",
        failed.stderr
    );
    let received = server.received();
    assert_eq!(received.len(), 1, "one failure notice: {received:?}");
    let request = &received[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/ping/{SECRET}/fail"),
        "`urls.failure` replaces `url`"
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(
        request
            .header("user-agent")
            .is_some_and(|a| a.starts_with("cairn/")),
        "{:?}",
        request.headers
    );
    let body = request.json();
    assert_eq!(body["format_version"], 1);
    assert_eq!(body["event"], "failure");
    assert_eq!(body["job"], "files");
    assert_eq!(body["status"], "failed");
    assert_eq!(body["artifact"], FIRST_ID);
    assert_eq!(body["started_at"], "2026-01-01T03:00:00Z");
    assert!(
        body["duration_seconds"].as_f64().is_some_and(|d| d >= 0.0),
        "{body}"
    );
    assert_eq!(body["destinations"]["local"]["outcome"], "failed");
    assert_eq!(body["cairn_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        body["host"].as_str().is_some_and(|h| !h.is_empty()),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("job `files` failed: store `files`:")
            && message.contains("is not a directory"),
        "the message says which store failed and why: {message}"
    );
    let log = command_log(dir);
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].starts_with(&format!(
            "failure files failed {FIRST_ID} job `files` failed: store `files`:"
        )),
        "{log:?}"
    );

    create_data(dir);
    let good = cairn_at(dir, SECOND_NOW, &["run", "files"]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert!(
        !good.stderr.contains("warning: notifier"),
        "{}",
        good.stderr
    );
    let received = server.received();
    assert_eq!(received.len(), 3, "success and recovery: {received:?}");
    let later: BTreeSet<(String, String, String)> = received[1..]
        .iter()
        .map(|r| {
            let body = r.json();
            assert_eq!(body["artifact"], SECOND_ID);
            assert!(
                body["message"].as_str().unwrap().contains(SECOND_ID),
                "{body}"
            );
            (
                r.path.clone(),
                body["event"].as_str().unwrap().to_owned(),
                body["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let ping = format!("/ping/{SECRET}");
    assert_eq!(
        later,
        BTreeSet::from([
            (ping.clone(), "recovery".to_owned(), "success".to_owned()),
            (ping, "success".to_owned(), "success".to_owned()),
        ])
    );
    let log = command_log(dir);
    assert_eq!(
        log.len(),
        2,
        "`success` is not among oncall's default events: {log:?}"
    );
    assert!(
        log[1].starts_with(&format!(
            "recovery files success {SECOND_ID} job `files` recovered: backup {SECOND_ID} complete"
        )),
        "{log:?}"
    );

    // Another good run is a success, no longer a recovery.
    let again = cairn_at(dir, "2026-01-03T03:00:00Z", &["run", "files"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let received = server.received();
    assert_eq!(received.len(), 4, "{received:?}");
    assert_eq!(received[3].json()["event"], "success");
    assert_eq!(command_log(dir).len(), 2, "nothing for oncall");
}

#[test]
fn unreachable_notifiers_are_warnings_that_do_not_show_the_url_path() {
    let port = closed_port();
    let dir = sandbox(&format!(
        r#"[notify.healthchecks]
kind = "webhook"
url = "http://127.0.0.1:{port}/ping/{SECRET}"
on = ["success", "failure"]

[notify.pager]
kind = "command"
command = "echo 'pager: cannot reach the gateway' >&2; exit 1"
on = ["success", "failure"]
"#
    ));
    let dir = dir.path();
    create_data(dir);

    let good = cairn_at(dir, FIRST_NOW, &["run", "files"]);
    assert_eq!(
        good.code, 0,
        "a failed delivery never fails a backup: {}",
        good.stderr
    );
    assert!(dir
        .join("backups/files")
        .join(FIRST_ID)
        .join("manifest.json")
        .exists());
    let webhook_warning = good
        .stderr
        .lines()
        .find(|l| l.starts_with("warning: notifier `healthchecks`"))
        .unwrap_or_else(|| panic!("a warning names the notifier: {}", good.stderr));
    assert!(
        webhook_warning.contains(&format!("http://127.0.0.1:{port}"))
            && webhook_warning.contains("cannot be reached"),
        "{webhook_warning}"
    );
    assert!(
        !good.stderr.contains(SECRET),
        "the URL's path stays secret: {}",
        good.stderr
    );
    assert!(
        good.stderr
            .lines()
            .any(|l| l.starts_with("warning: notifier `pager`")
                && l.contains("exited 1: pager: cannot reach the gateway")),
        "{}",
        good.stderr
    );

    std::fs::remove_dir_all(dir.join("data")).unwrap();
    let failed = cairn_at(dir, SECOND_NOW, &["run", "files"]);
    assert_eq!(
        failed.code, 1,
        "a failed run still exits 1: {}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("warning: notifier `pager`"),
        "{}",
        failed.stderr
    );
    assert!(!failed.stderr.contains(SECRET), "{}", failed.stderr);
}

#[test]
fn a_server_error_is_retried_once_then_warned() {
    let failing = Server::start(&[500, 500]);
    let flaky = Server::start(&[503]);
    let dir = sandbox(&format!(
        r#"[notify.failing]
kind = "webhook"
url = "{failing}"
on = ["success"]

[notify.flaky]
kind = "webhook"
url = "{flaky}"
on = ["success"]
"#,
        failing = failing.url(&format!("/hook/{SECRET}")),
        flaky = flaky.url("/hook"),
    ));
    let dir = dir.path();
    create_data(dir);

    let good = cairn_at(dir, FIRST_NOW, &["run", "files"]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert_eq!(failing.received().len(), 2, "one retry, no more");
    assert_eq!(flaky.received().len(), 2, "the retry got through");
    let warnings: Vec<&str> = good
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: notifier"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", good.stderr);
    assert!(
        warnings[0].starts_with("warning: notifier `failing`")
            && warnings[0].contains("500 Internal Server Error")
            && !warnings[0].contains(SECRET),
        "{}",
        warnings[0]
    );
}

#[test]
fn apply_notifies_about_the_jobs_it_runs() {
    let server = Server::start(&[]);
    let dir = sandbox(&format!(
        r#"[notify.healthchecks]
kind = "webhook"
url = "{}"
"#,
        server.url("/ping")
    ));
    let dir = dir.path();

    let failed = cairn_at(dir, FIRST_NOW, &["apply", "--auto-approve"]);
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    let received = server.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let body = received[0].json();
    assert_eq!(
        (&body["event"], &body["job"]),
        (&"failure".into(), &"files".into())
    );

    create_data(dir);
    let good = cairn_at(dir, SECOND_NOW, &["apply", "--auto-approve"]);
    assert_eq!(good.code, 0, "{}\n{}", good.stdout, good.stderr);
    let received = server.received();
    assert_eq!(
        received.len(),
        2,
        "only `recovery` of the defaults: {received:?}"
    );
    assert_eq!(received[1].json()["event"], "recovery");
}
