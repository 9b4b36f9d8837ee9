//! `cairn plan` and `cairn apply` on the schedules cairn installs: the
//! quickstart life cycle with --root, the cron scheduler, saved plans,
//! foreign files, and systemd's own verdict on the generated units.

use std::path::PathBuf;

use crate::common::{root, Cairn, Sandbox};

#[test]
fn quickstart_life_cycle() {
    let sandbox = Sandbox::example("examples/quickstart/backup.toml");

    // A fresh host: every unit is to be created.
    let plan = sandbox.cairn(&["plan", "--detailed-exitcode"]).run();
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    for address in [
        "unit.app_db.service",
        "unit.app_db.timer",
        "unit.files.service",
        "unit.files.timer",
    ] {
        assert!(
            plan.stdout.contains(&format!("+ {address}")),
            "{address} missing:\n{}",
            plan.stdout
        );
    }
    insta::assert_snapshot!("quickstart_plan_text", sandbox.redact(&plan.stdout));
    let json = sandbox.cairn(&["plan", "--json"]).run();
    let mut value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(value["config_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    value["config_digest"] = "[DIGEST]".into();
    insta::assert_snapshot!(
        "quickstart_plan_json",
        sandbox.redact(&serde_json::to_string_pretty(&value).unwrap())
    );
    let markdown = sandbox.cairn(&["plan", "--format", "markdown"]).run();
    insta::assert_snapshot!("quickstart_plan_markdown", sandbox.redact(&markdown.stdout));

    // Without a terminal and without --auto-approve, apply refuses.
    let refused = sandbox.cairn(&["apply"]).run();
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("stdin is not a terminal"),
        "{}",
        refused.stderr
    );
    assert!(!sandbox.units().exists(), "nothing was written");

    let apply = sandbox.cairn(&["apply", "--auto-approve"]).run();
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(
        apply.stdout.contains(
            "Apply complete! Resources: 4 added, 0 changed, 0 destroyed; 2 runs, 0 pruned"
        ),
        "{}",
        apply.stdout
    );
    assert!(
        apply.stdout.contains("systemd was not reloaded"),
        "{}",
        apply.stdout
    );
    for file in [
        "cairn-app_db.service",
        "cairn-app_db.timer",
        "cairn-files.service",
    ] {
        let path = sandbox.units().join(file);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        insta::assert_snapshot!(
            file,
            sandbox.redact(&std::fs::read_to_string(&path).unwrap())
        );
    }

    // Converged: no changes, exit 0 even with --detailed-exitcode.
    let again = sandbox.cairn(&["plan", "--detailed-exitcode"]).run();
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.starts_with("No changes."), "{}", again.stdout);

    // A hand edit shows as an update with its diff.
    let service = sandbox.units().join("cairn-files.service");
    let text = std::fs::read_to_string(&service).unwrap();
    std::fs::write(&service, text.replace("Nice=10", "Nice=0")).unwrap();
    let drift = sandbox.cairn(&["plan", "--detailed-exitcode"]).run();
    assert_eq!(drift.code, 2);
    assert!(
        drift.stdout.contains("~ unit.files.service"),
        "{}",
        drift.stdout
    );
    assert!(
        drift.stdout.contains("-Nice=0") && drift.stdout.contains("+Nice=10"),
        "{}",
        drift.stdout
    );
    assert!(
        drift
            .stdout
            .contains("Plan: 0 to add, 1 to change, 0 to destroy, 0 jobs to run"),
        "{}",
        drift.stdout
    );

    // A saved plan, then the configuration changes: the saved plan is refused.
    let saved = sandbox.cairn(&["plan", "-o", "fix.plan"]).run();
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    sandbox.edit_config("rpo = \"26h\"", "rpo = \"25h\"");
    let stale = sandbox.cairn(&["apply", "fix.plan"]).run();
    assert_eq!(stale.code, 1);
    assert!(
        stale
            .stderr
            .contains("the configuration changed since it was made"),
        "{}",
        stale.stderr
    );
    sandbox.edit_config("rpo = \"25h\"", "rpo = \"26h\"");

    // Unchanged config and files: the saved plan applies exactly.
    let applied = sandbox.cairn(&["apply", "fix.plan"]).run();
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(
        applied.stdout.contains("0 added, 1 changed, 0 destroyed"),
        "{}",
        applied.stdout
    );
    assert!(std::fs::read_to_string(&service)
        .unwrap()
        .contains("Nice=10"));

    // Removing a job from the configuration destroys its units.
    let text = std::fs::read_to_string(sandbox.config()).unwrap();
    let without_files = text.split("\n[jobs.files]").next().unwrap().to_owned();
    std::fs::write(sandbox.config(), format!("{without_files}\n")).unwrap();
    let removal = sandbox.cairn(&["plan", "--detailed-exitcode"]).run();
    assert_eq!(removal.code, 2, "{}", removal.stderr);
    assert!(
        removal.stdout.contains("- unit.files.service"),
        "{}",
        removal.stdout
    );
    assert!(
        removal.stdout.contains("- unit.files.timer"),
        "{}",
        removal.stdout
    );
    assert!(
        removal
            .stdout
            .contains("job `files` is no longer in the configuration"),
        "{}",
        removal.stdout
    );
    let applied = sandbox.cairn(&["apply", "--auto-approve"]).run();
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(!service.exists());
    assert!(sandbox.units().join("cairn-app_db.service").exists());
}

#[test]
fn saved_plan_is_refused_when_files_changed() {
    let sandbox = Sandbox::example("examples/quickstart/backup.toml");
    assert_eq!(sandbox.cairn(&["plan", "-o", "first.plan"]).run().code, 0);
    // Another apply lands first: the files on disk are no longer what the plan saw.
    assert_eq!(sandbox.cairn(&["apply", "--auto-approve"]).run().code, 0);
    let stale = sandbox.cairn(&["apply", "first.plan"]).run();
    assert_eq!(stale.code, 1);
    assert!(
        stale
            .stderr
            .contains("the files on this host, the artifacts or the run history"),
        "{}",
        stale.stderr
    );
}

#[test]
fn a_foreign_file_in_the_way_is_an_error_and_is_left_alone() {
    let sandbox = Sandbox::example("examples/quickstart/backup.toml");
    std::fs::create_dir_all(sandbox.units()).unwrap();
    let foreign = sandbox.units().join("cairn-app_db.timer");
    std::fs::write(&foreign, "[Timer]\nOnCalendar=daily\n").unwrap();
    // Someone else's unit that is not in the way is ignored, never destroyed.
    std::fs::write(
        sandbox.units().join("cairn-other.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let plan = sandbox.cairn(&["plan"]).run();
    assert_eq!(plan.code, 1);
    assert!(
        plan.stderr
            .contains("cairn-app_db.timer exists and was not written by cairn"),
        "{}",
        plan.stderr
    );
    let apply = sandbox.cairn(&["apply", "--auto-approve"]).run();
    assert_eq!(apply.code, 1);
    assert_eq!(
        std::fs::read_to_string(&foreign).unwrap(),
        "[Timer]\nOnCalendar=daily\n"
    );
    assert!(sandbox.units().join("cairn-other.service").exists());
}

#[test]
fn targets_limit_the_plan_with_a_warning() {
    let sandbox = Sandbox::example("examples/quickstart/backup.toml");
    let plan = sandbox.cairn(&["plan", "--target", "job.files"]).run();
    assert_eq!(plan.code, 0);
    assert!(
        plan.stdout
            .contains("Targeting is for exceptional situations"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("+ unit.files.timer"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("app_db"), "{}", plan.stdout);
    assert!(plan.stdout.contains("Plan: 2 to add"), "{}", plan.stdout);
}

#[test]
fn a_target_that_is_no_address_is_refused_with_the_accepted_forms() {
    let sandbox = Sandbox::example("examples/quickstart/backup.toml");
    let plan = sandbox.cairn(&["plan", "--target", "store.app_db"]).run();
    assert_eq!(plan.code, 1);
    assert!(
        plan.stderr.contains("`store.app_db` is not a target")
            && plan.stderr.contains("unit.JOB.service")
            && plan.stderr.contains("artifact.DEST.JOB.ID"),
        "{}",
        plan.stderr
    );
}

#[test]
fn cron_scheduler_writes_one_entry_per_job() {
    let sandbox = Sandbox::example("examples/quickstart/backup.toml");
    sandbox.edit_config("scheduler = \"systemd\"", "scheduler = \"cron\"");
    let plan = sandbox.cairn(&["plan", "--detailed-exitcode"]).run();
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("+ cron.app_db") && plan.stdout.contains("+ cron.files"),
        "{}",
        plan.stdout
    );
    assert_eq!(sandbox.cairn(&["apply", "--auto-approve"]).run().code, 0);
    let cron_file = sandbox.path().join("root/etc/cron.d/cairn");
    insta::assert_snapshot!(
        "quickstart_cron_file",
        sandbox.redact(&std::fs::read_to_string(&cron_file).unwrap())
    );
    assert_eq!(
        sandbox.cairn(&["plan", "--detailed-exitcode"]).run().code,
        0
    );

    // Back to systemd: the cron entries go, the units come.
    sandbox.edit_config("scheduler = \"cron\"", "scheduler = \"systemd\"");
    let switch = sandbox.cairn(&["plan"]).run();
    assert!(switch.stdout.contains("- cron.app_db"), "{}", switch.stdout);
    assert!(
        switch.stdout.contains("scheduler is now `systemd`"),
        "{}",
        switch.stdout
    );
    assert!(
        switch.stdout.contains("+ unit.app_db.timer"),
        "{}",
        switch.stdout
    );
    assert_eq!(sandbox.cairn(&["apply", "--auto-approve"]).run().code, 0);
    assert!(!cron_file.exists(), "the emptied cron file is removed");
}

#[test]
fn production_units_pass_systemd_analyze_verify() {
    let sandbox = Sandbox::production();
    // Only the units: the jobs' servers do not exist here.
    let targets = ["mariadb", "postgres", "redis", "verify_postgres"]
        .iter()
        .flat_map(|job| ["--target".to_owned(), format!("unit.{job}")]);
    let apply = Cairn::new(sandbox.path())
        .args(["--root", "root", "--env", "test", "apply", "--auto-approve"])
        .args(targets)
        .run();
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let units: Vec<PathBuf> = std::fs::read_dir(sandbox.units())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(units.len(), 8, "four jobs, a service and a timer each");
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("systemd-analyze runs (scripts/test installs systemd)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "systemd-analyze verify failed:\n{report}"
    );
    assert!(
        !report.contains("cairn-"),
        "systemd-analyze has remarks about cairn's units:\n{report}"
    );
}

#[test]
fn graph_prints_text_and_dot() {
    let text = Cairn::new(&root())
        .args(["--config", "examples/production/backup.toml", "graph"])
        .run();
    assert_eq!(text.code, 0, "{}", text.stderr);
    insta::assert_snapshot!("production_graph_text", text.stdout);
    let dot = Cairn::new(&root())
        .args([
            "--config",
            "examples/production/backup.toml",
            "graph",
            "--format",
            "dot",
        ])
        .run();
    assert_eq!(dot.code, 0);
    assert!(dot.stdout.starts_with("digraph cairn {"));
    assert!(
        dot.stdout
            .contains("\"job.mariadb\" -> \"job.postgres\" [style=bold, label=\"after\"];"),
        "{}",
        dot.stdout
    );
}

#[test]
fn missing_aws_credentials_are_named_in_the_operators_terms() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("backup.toml"),
        r#"
[stores.files]
kind = "directory"
path = "data"

[destinations.offsite]
kind = "s3"
bucket = "acme-backups"
region = "garage"
endpoint = "http://127.0.0.1:9"

[jobs.files]
store = "files"
schedule = { cron = "@daily" }
to = ["offsite"]
retention = { daily = 7 }
"#,
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    // No AWS_* keys, no HOME (so no profile), and no instance metadata
    // probe: the chain has nothing to find, and nothing leaves loopback.
    let out = Cairn::new(dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["plan", "--root", "root"])
        .run();
    let shown = format!("{}{}", out.stdout, out.stderr);
    assert!(
        shown.contains("no AWS credentials found for destination `offsite`"),
        "{shown}"
    );
    assert!(shown.contains("AWS_ACCESS_KEY_ID"), "{shown}");
    assert!(!shown.contains("dispatch failure"), "{shown}");
}

/// Sets up a network namespace (`unshare --net`) where loopback is up and
/// every other address routes into a tun device nobody reads: a packet to
/// anything outside 127.0.0.0/8 (AWS, the instance-metadata address, a DNS
/// server) goes nowhere and is counted. Runs the command in `"$@"`, then
/// saves the device's counters in `netns-stats.json`.
const OFFLINE: &str = r#"ip link set lo up && ip tuntap add t0 mode tun &&
ip addr add 10.255.0.1/24 dev t0 && ip link set t0 up &&
ip route add default dev t0 || exit 99
"$@"; code=$?
ip -s -j link show t0 > netns-stats.json
exit $code"#;

#[test]
fn planning_the_examples_sends_nothing_beyond_loopback() {
    for (sandbox, env) in [
        (Sandbox::example("examples/quickstart/backup.toml"), None),
        (Sandbox::production(), Some("test")),
    ] {
        let mut cairn = Cairn::wrapped(
            sandbox.path(),
            &["unshare", "--net", "sh", "-c", OFFLINE, "sh"],
        )
        // Keys that look real, so that the SDK would go as far as the
        // network if the endpoint let it.
        .env("AWS_ACCESS_KEY_ID", "GKtest")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .args(["--root", "root"]);
        if let Some(env) = env {
            cairn = cairn.args(["--env", env]);
        }
        let plan = cairn.args(["plan", "--json"]).run();
        assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
        let stats: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(sandbox.path().join("netns-stats.json")).unwrap(),
        )
        .unwrap();
        let tx = &stats[0]["stats64"]["tx"];
        let sent = tx["packets"].as_u64().unwrap() + tx["dropped"].as_u64().unwrap();
        assert_eq!(
            sent,
            0,
            "planning {} under --env {env:?} sent packets beyond loopback: {tx}\n{}",
            sandbox.config().display(),
            plan.stderr
        );
        if env.is_some() {
            // The plan still succeeds, and says what it could not read.
            let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
            let notes = plan["notes"].to_string();
            assert!(
                notes.contains("destination `offsite` cannot be read")
                    && notes.contains("127.0.0.1"),
                "{notes}"
            );
        }
    }
}
