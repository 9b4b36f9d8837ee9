//! One file for many hosts (SPEC §13): `host` on a job, `settings.hosts`,
//! and `--host` scoping plan, apply, run and status to one host's jobs,
//! while validate checks the whole file.

use serde_json::Value;

use crate::common::{Cairn, Sandbox};

const CONFIG: &str = r#"[settings]
scheduler = "systemd"
state_dir = "state"
hosts = ["alpha", "beta"]

[stores.files]
kind = "directory"
path = "files"

[destinations.local]
kind = "local"
path = "backups"

[jobs.db]
store = "files"
schedule = { cron = "0 1 * * *" }
to = ["local"]
retention = { daily = 7 }
host = "Alpha"

[jobs.docs]
store = "files"
schedule = { cron = "0 2 * * *" }
to = ["local"]
retention = { daily = 7 }
host = ["beta"]

[jobs.shared]
store = "files"
schedule = { cron = "0 3 * * *" }
to = ["local"]
retention = { daily = 7 }
"#;

fn sandbox() -> Sandbox {
    let sandbox = Sandbox::new("hosts");
    std::fs::create_dir(sandbox.path().join("files")).unwrap();
    std::fs::write(sandbox.path().join("files/a.txt"), "a\n").unwrap();
    sandbox.write_config(CONFIG);
    sandbox
}

/// `cairn --root ROOT --host HOST ARGS`.
fn as_host(sandbox: &Sandbox, host: &str, args: &[&str]) -> crate::common::Run {
    Cairn::new(sandbox.path())
        .args([
            "--root",
            &format!("root-{}", host.to_lowercase()),
            "--host",
            host,
        ])
        .args(args)
        .run()
}

fn addresses(plan: &str) -> Vec<String> {
    let plan: Value = serde_json::from_str(plan).unwrap();
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn each_host_plans_and_installs_only_its_jobs() {
    let sandbox = sandbox();
    let alpha = as_host(&sandbox, "alpha", &["plan", "--json"]);
    assert_eq!(alpha.code, 0, "{}", alpha.stderr);
    let alpha = addresses(&alpha.stdout);
    assert!(alpha.contains(&"unit.db.timer".to_owned()), "{alpha:?}");
    assert!(alpha.contains(&"unit.shared.timer".to_owned()), "{alpha:?}");
    assert!(!alpha.iter().any(|a| a.contains("docs")), "{alpha:?}");
    // Host names compare case-insensitively.
    let beta = as_host(&sandbox, "BETA", &["plan", "--json"]);
    assert_eq!(beta.code, 0, "{}", beta.stderr);
    let beta = addresses(&beta.stdout);
    assert!(beta.contains(&"unit.docs.timer".to_owned()), "{beta:?}");
    assert!(!beta.iter().any(|a| a.contains(".db.")), "{beta:?}");

    // apply writes alpha's units only.
    let apply = as_host(&sandbox, "alpha", &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let units: Vec<String> =
        std::fs::read_dir(sandbox.path().join("root-alpha/etc/systemd/system"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert!(units.iter().any(|u| u == "cairn-db.timer"), "{units:?}");
    // The timer's run acts as the host the units were rendered for.
    let service = std::fs::read_to_string(
        sandbox
            .path()
            .join("root-alpha/etc/systemd/system/cairn-db.service"),
    )
    .unwrap();
    assert!(service.contains("--host alpha"), "{service}");
    assert!(!units.iter().any(|u| u.contains("docs")), "{units:?}");

    // status reports the host's jobs only.
    let status = as_host(&sandbox, "alpha", &["status", "--json"]);
    let report: Value = serde_json::from_str(&status.stdout).unwrap();
    let jobs: Vec<&str> = report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, ["db", "shared"]);
}

#[test]
fn a_job_of_another_host_does_not_run_here_and_unknown_hosts_are_refused() {
    let sandbox = sandbox();
    let refused = as_host(&sandbox, "beta", &["run", "db"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("job `db` runs on alpha, not on host `beta`"),
        "{}",
        refused.stderr
    );
    let ran = as_host(&sandbox, "alpha", &["run", "db"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let unknown = as_host(&sandbox, "gamma", &["plan"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stderr
            .contains("host `gamma` is not one of the hosts"),
        "{}",
        unknown.stderr
    );
    // Without --host, this machine's own name, which the file does not list.
    let this = Cairn::new(sandbox.path())
        .args(["--root", "root", "plan"])
        .run();
    assert_eq!(this.code, 1, "{}", this.stderr);
    assert!(
        this.stderr.contains("is not one of the hosts"),
        "{}",
        this.stderr
    );
    // validate checks the whole file, whatever the host.
    let valid = as_host(&sandbox, "gamma", &["validate"]);
    assert_eq!(valid.code, 0, "{}", valid.stderr);
}

#[test]
fn status_all_hosts_reports_every_hosts_jobs_grouped_by_host() {
    let sandbox = sandbox();
    // From any machine, even one the file does not list.
    let text = Cairn::new(sandbox.path())
        .args(["--root", "root", "status", "--all-hosts"])
        .run();
    let rows: Vec<Vec<&str>> = text
        .stdout
        .lines()
        .take_while(|line| !line.is_empty())
        .map(|line| line.split_whitespace().take(3).collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["JOB", "HOST", "STATE"],
            vec!["shared", "*", "CRITICAL"],
            vec!["db", "alpha", "CRITICAL"],
            vec!["docs", "beta", "CRITICAL"],
        ],
        "{}",
        text.stdout
    );
    let json = Cairn::new(sandbox.path())
        .args(["--root", "root", "status", "--all-hosts", "--json"])
        .run();
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    let hosts: Vec<String> = report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| format!("{} {}", job["job"], job["hosts"]))
        .collect();
    assert_eq!(
        hosts,
        [
            "\"shared\" null",
            "\"db\" [\"alpha\"]",
            "\"docs\" [\"beta\"]"
        ]
    );
}
