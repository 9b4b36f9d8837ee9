//! `cairn plan --against` (SPEC §13): a pull request's configuration
//! reviewed against an earlier revision, with no host, network, state or
//! credentials.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{Cairn, Sandbox};

const NOW: &str = "2026-12-06T12:00:00Z";

const BASE: &str = r#"[settings]
scheduler = "systemd"
state_dir = "state"

[stores.db]
kind = "postgres"
dsn = "postgresql://app:hunter2@db.internal/app"

[destinations.local]
kind = "local"
path = "backups"

[destinations.offsite]
kind = "s3"
bucket = "backups"
prefix = "prod/"
endpoint = "${S3_ENDPOINT}"

[jobs.db]
store = "db"
schedule = { cron = "0 2 * * *" }
to = ["local", "offsite"]
retention = { daily = 7, weekly = 4, monthly = 12 }

[jobs.old]
store = "db"
schedule = { cron = "0 5 * * *" }
to = ["local"]
retention = { daily = 3 }
"#;

const NEW_JOB: &str = r#"
[jobs.weekly]
store = "db"
schedule = { cron = "0 4 * * 0" }
to = ["offsite"]
retention = { weekly = 8 }
"#;

const OLD_JOB: &str = r#"
[jobs.old]
store = "db"
schedule = { cron = "0 5 * * *" }
to = ["local"]
retention = { daily = 3 }
"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=cairn",
            "-c",
            "user.email=cairn@example.com",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn commit(sandbox: &Sandbox, message: &str) -> String {
    git(sandbox.path(), &["add", "-A"]);
    git(
        sandbox.path(),
        &["commit", "-q", "--allow-empty", "-m", message],
    );
    git(sandbox.path(), &["rev-parse", "HEAD"])
}

/// `cairn plan --against REV ARGS` with nothing but PATH in the
/// environment, in a network namespace of its own (no interface is up).
fn plan_against(sandbox: &Sandbox, against: &str, args: &[&str]) -> crate::common::Run {
    Cairn::wrapped(sandbox.path(), &["unshare", "--net"])
        .now(NOW)
        .args(["plan", "--against", against])
        .args(args)
        .run()
}

fn json(sandbox: &Sandbox, against: &str, args: &[&str]) -> Value {
    let run = plan_against(
        sandbox,
        against,
        &[&["--json", "--detailed-exitcode"], args].concat(),
    );
    assert!(
        run.code == 0 || run.code == 2,
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    serde_json::from_str(&run.stdout).unwrap()
}

/// The (job, field) of each change.
fn fields(review: &Value) -> Vec<(String, String)> {
    review["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["job"].as_str().unwrap_or("-").to_owned(),
                c["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn change<'a>(review: &'a Value, job: &str, field: &str) -> &'a Value {
    review["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["job"] == job && c["field"] == field)
        .unwrap_or_else(|| panic!("no change of {job}.{field} in {review:#}"))
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// What `cairn retention --policy POLICY` keeps of daily fires at `at`
/// (HH:MM UTC) over the 500 days up to NOW: more than the review's horizon,
/// so equal counts show that the horizon reached the steady state.
fn retention_keeps(sandbox: &Sandbox, policy: &str, hour: u32, minute: u32) -> usize {
    let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().to_utc();
    let mut times = String::new();
    for days in 0..500 {
        let day = (now - chrono::Duration::days(days)).date_naive();
        let fire = day.and_hms_opt(hour, minute, 0).unwrap().and_utc();
        if fire <= now {
            times.push_str(&format!("{}\n", fire.to_rfc3339()));
        }
    }
    let run = Cairn::new(sandbox.path())
        // Periods in the file's time zone, which needs the file valid.
        .env("S3_ENDPOINT", "http://127.0.0.1:9")
        .args(["retention", "--policy", policy])
        .stdin(&times)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .filter(|l| l.starts_with("keep "))
        .count()
}

#[test]
fn each_commit_is_reviewed_as_exactly_what_it_changes() {
    let sandbox = Sandbox::new("review");
    git(sandbox.path(), &["init", "-q", "-b", "main"]);
    sandbox.write_config(BASE);
    std::fs::write(
        sandbox.path().join("backup.staging.toml"),
        "[destinations.offsite]\nbucket = \"staging-backups\"\n",
    )
    .unwrap();
    let base = commit(&sandbox, "base");

    // Each step: the edit, the (job, field) changes it must show, and the
    // file actions (address, action).
    type Edit = Box<dyn Fn(&Sandbox)>;
    type Pairs = Vec<(String, String)>;
    let steps: Vec<(&str, Edit, Pairs, Pairs)> = vec![
        (
            "schedule",
            Box::new(|s: &Sandbox| s.edit_config("cron = \"0 2 * * *\"", "cron = \"30 3 * * *\"")),
            pairs(&[("db", "schedule")]),
            pairs(&[("unit.db.timer", "update")]),
        ),
        (
            "job added",
            Box::new(|s: &Sandbox| {
                let text = std::fs::read_to_string(s.config()).unwrap();
                s.write_config(&format!("{text}{NEW_JOB}"));
            }),
            pairs(&[("weekly", "job")]),
            pairs(&[
                ("unit.weekly.service", "create"),
                ("unit.weekly.timer", "create"),
            ]),
        ),
        (
            "job removed",
            Box::new(|s: &Sandbox| s.edit_config(OLD_JOB, "")),
            pairs(&[("old", "job")]),
            pairs(&[
                ("unit.old.service", "destroy"),
                ("unit.old.timer", "destroy"),
            ]),
        ),
        (
            "retention shortened",
            Box::new(|s: &Sandbox| s.edit_config("monthly = 12", "monthly = 6")),
            pairs(&[("db", "retention.local"), ("db", "retention.offsite")]),
            vec![],
        ),
        (
            "prefix",
            Box::new(|s: &Sandbox| s.edit_config("prefix = \"prod/\"", "prefix = \"prod/v2/\"")),
            pairs(&[
                ("db", "destination.offsite.prefix"),
                ("weekly", "destination.offsite.prefix"),
            ]),
            vec![],
        ),
        (
            "overlay",
            Box::new(|s: &Sandbox| {
                std::fs::write(
                    s.path().join("backup.staging.toml"),
                    "[destinations.offsite]\nbucket = \"staging-backups-2\"\n",
                )
                .unwrap()
            }),
            // Seen only under --env staging (below).
            vec![],
            vec![],
        ),
    ];
    let mut previous = base.clone();
    let mut commits = vec![base.clone()];
    for (name, edit, want_changes, want_actions) in &steps {
        edit(&sandbox);
        let head = commit(&sandbox, name);
        let review = json(&sandbox, &previous, &[]);
        assert_eq!(&fields(&review), want_changes, "{name}: {review:#}");
        let actions: Vec<(String, String)> = review["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["address"].as_str().unwrap().to_owned(),
                    a["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(&actions, want_actions, "{name}: {review:#}");
        // The text and markdown views name the same changes.
        let text = plan_against(&sandbox, &previous, &[]).stdout;
        let markdown = plan_against(&sandbox, &previous, &["--format", "markdown"]).stdout;
        for (job, field) in want_changes {
            assert!(
                text.lines()
                    .any(|l| l.contains(&format!(" {job} ")) && l.contains(field.as_str())),
                "{name}: {job} {field} missing from\n{text}"
            );
            assert!(
                markdown.contains(&format!("| `{job}` | {field}")),
                "{name}: {job} {field} missing from\n{markdown}"
            );
        }
        for (address, _) in want_actions {
            assert!(
                text.contains(address.as_str()),
                "{name}: {address} missing from\n{text}"
            );
            assert!(
                markdown.contains(&format!("`{address}`")),
                "{name}: {address} missing from\n{markdown}"
            );
        }
        let code = review_code(&sandbox, &previous);
        assert_eq!(
            code,
            if want_changes.is_empty() && want_actions.is_empty() {
                0
            } else {
                2
            },
            "{name}"
        );
        previous = head;
        commits.push(previous.clone());
    }

    // The schedule change: next fires on both sides, as RFC 3339.
    let schedule = json(&sandbox, &commits[0], &[]);
    let db = change(&schedule, "db", "schedule");
    assert_eq!(db["before"], "daily 02:00 UTC");
    assert_eq!(db["after"], "daily 03:30 UTC");
    assert_eq!(
        db["next_fires_before"],
        serde_json::json!([
            "2026-12-07T02:00:00+00:00",
            "2026-12-08T02:00:00+00:00",
            "2026-12-09T02:00:00+00:00"
        ])
    );
    assert_eq!(
        db["next_fires_after"],
        serde_json::json!([
            "2026-12-07T03:30:00+00:00",
            "2026-12-08T03:30:00+00:00",
            "2026-12-09T03:30:00+00:00"
        ])
    );

    // The retention change: steady-state counts as `cairn retention` keeps
    // over a longer history.
    let shortened = json(&sandbox, &commits[3], &["--host", "any"]);
    let local = change(&shortened, "db", "retention.local");
    let before = retention_keeps(&sandbox, "daily=7, weekly=4, monthly=12", 3, 30);
    let after = retention_keeps(&sandbox, "daily=7, weekly=4, monthly=6", 3, 30);
    assert!(after < before, "{before} {after}");
    assert_eq!(local["kept_before"], serde_json::json!({ "local": before }));
    assert_eq!(local["kept_after"], serde_json::json!({ "local": after }));
    let added = change(&json(&sandbox, &commits[1], &[]), "weekly", "job").clone();
    assert_eq!(added["kept_after"], serde_json::json!({ "offsite": 8 }));
    assert_eq!(added["next_fires_after"][0], "2026-12-13T04:00:00+00:00");
    let removed = change(&json(&sandbox, &commits[2], &[]), "old", "job").clone();
    assert!(
        removed["note"].as_str().unwrap().contains("left alone"),
        "{removed}"
    );

    // The overlay: only the staging environment sees it.
    let staging = json(&sandbox, &commits[5], &["--env", "staging"]);
    let bucket = change(&staging, "db", "destination.offsite.bucket");
    assert_eq!(bucket["before"], "staging-backups");
    assert_eq!(bucket["after"], "staging-backups-2");

    // The same, in the text and markdown views, all at once (base → HEAD).
    let text = plan_against(&sandbox, &base, &["--detailed-exitcode"]);
    assert_eq!(text.code, 2, "{}", text.stderr);
    for line in [
        "schedule: daily 02:00 UTC → daily 03:30 UTC",
        "next fires after:  2026-12-07T03:30:00+00:00",
        &format!("keeps {before} → {after} artifacts at local"),
        "job added: backup of `db` to offsite, weekly on Sunday 04:00 UTC",
        "job removed: backup of `db` to local, daily 05:00 UTC",
        "its artifacts at local are left alone",
        "destination.offsite.prefix: prod/ → prod/v2/",
        "~ unit.db.timer",
        "+ unit.weekly.timer",
        "- unit.old.timer",
    ] {
        assert!(
            text.stdout.contains(line),
            "{line:?} missing from\n{}",
            text.stdout
        );
    }
    let markdown = plan_against(&sandbox, &base, &["--format", "markdown"]);
    assert_eq!(markdown.code, 0, "{}", markdown.stderr);
    assert!(
        markdown
            .stdout
            .starts_with("### cairn review: 2 to add, 1 to change, 2 to destroy"),
        "{}",
        markdown.stdout
    );
    for part in [
        "| `~` | * | `db` | schedule: daily 02:00 UTC → daily 03:30 UTC",
        "| `+` | * | `weekly` | job added",
        "| `-` | * | `old` | job removed",
        &format!("keeps {before} → {after} artifacts at offsite"),
        "<details><summary><code>unit.db.timer</code> (update, every host)</summary>",
    ] {
        assert!(
            markdown.stdout.contains(part),
            "{part:?} missing from\n{}",
            markdown.stdout
        );
    }

    // A commit that only reformats and reorders the file changes nothing.
    let text = std::fs::read_to_string(sandbox.config()).unwrap();
    let (head, jobs) = text.split_once("[jobs.").unwrap();
    let mut jobs: Vec<String> = jobs
        .split("[jobs.")
        .map(|j| format!("[jobs.{}\n", j.trim_end()))
        .collect();
    jobs.reverse();
    let reformatted = format!(
        "# reordered\n{}\n{}",
        head.replace("kind = \"local\"", "kind   =   \"local\"   # on this host")
            .replace("[destinations.local]", "[destinations.local] # first"),
        jobs.join("\n")
    );
    sandbox.write_config(&reformatted);
    let reordered = commit(&sandbox, "reformat");
    assert_eq!(
        review_code(&sandbox, &previous),
        0,
        "reformatting changes nothing"
    );
    let same = plan_against(&sandbox, &previous, &["--format", "markdown"]);
    assert!(
        same.stdout.starts_with("### cairn review: no changes"),
        "{}",
        same.stdout
    );
    let _ = reordered;

    // Nothing outside the repository was read or written: no state
    // directory, no unit files.
    assert!(!sandbox.path().join("state").exists());
}

fn review_code(sandbox: &Sandbox, against: &str) -> i32 {
    plan_against(sandbox, against, &["--detailed-exitcode"]).code
}

#[test]
fn secrets_of_either_revision_are_never_printed() {
    let sandbox = Sandbox::new("review-secrets");
    git(sandbox.path(), &["init", "-q", "-b", "main"]);
    let hook = |word: &str| {
        format!(
            "retention = {{ daily = 7, weekly = 4, monthly = 12 }}\nhooks = {{ before = [\"notify --token ${{API_TOKEN}} {word}\"] }}"
        )
    };
    let with_hook = |word: &str| {
        BASE.replacen(
            "retention = { daily = 7, weekly = 4, monthly = 12 }",
            &hook(word),
            1,
        )
    };
    sandbox.write_config(&with_hook("start").replace(
        "dsn = \"postgresql://app:hunter2@db.internal/app\"",
        "dsn = \"postgresql://app:${PGPASSWORD}@db.internal/app\"",
    ));
    let base = commit(&sandbox, "base");
    sandbox.write_config(&with_hook("begin").replace("hunter2", "correct-horse"));
    for format in ["text", "json", "markdown"] {
        let run = Cairn::new(sandbox.path())
            .now(NOW)
            .env("PGPASSWORD", "battery-staple")
            .env("API_TOKEN", "tok-4f8a9c")
            .args(["plan", "--against", &base, "--format", format])
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains("store.dsn"), "{}", run.stdout);
        assert!(
            run.stdout.contains("notify --token ${API_TOKEN} start"),
            "{}",
            run.stdout
        );
        for secret in ["battery-staple", "correct-horse", "tok-4f8a9c"] {
            assert!(
                !run.stdout.contains(secret),
                "{format} shows {secret}:\n{}",
                run.stdout
            );
            assert!(
                !run.stderr.contains(secret),
                "{format} shows {secret}:\n{}",
                run.stderr
            );
        }
    }
    // `${S3_ENDPOINT}` is not set: compared as written, with a warning.
    let run = Cairn::new(sandbox.path())
        .now(NOW)
        .args(["plan", "--against", &base])
        .run();
    assert!(
        run.stderr
            .contains("`S3_ENDPOINT` is not set: compared as the text `${S3_ENDPOINT}`"),
        "{}",
        run.stderr
    );
}

const HOSTS: &str = r#"[settings]
scheduler = "systemd"
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
host = "alpha"

[jobs.docs]
store = "files"
schedule = { cron = "0 2 * * *" }
to = ["local"]
retention = { daily = 7 }
host = "beta"
"#;

#[test]
fn without_host_every_host_is_reviewed_grouped() {
    let sandbox = Sandbox::new("review-hosts");
    git(sandbox.path(), &["init", "-q", "-b", "main"]);
    sandbox.write_config(HOSTS);
    let base = commit(&sandbox, "base");
    sandbox.edit_config("cron = \"0 1 * * *\"", "cron = \"0 4 * * *\"");
    sandbox.edit_config("host = \"beta\"", "host = [\"alpha\", \"beta\"]");

    let review = json(&sandbox, &base, &[]);
    assert_eq!(review["hosts"], serde_json::json!(["alpha", "beta"]));
    assert_eq!(json(&sandbox, &base, &["--all-hosts"]), review);
    let by_host: BTreeMap<String, Vec<String>> =
        review["actions"]
            .as_array()
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut map, a| {
                map.entry(a["host"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(format!(
                        "{} {}",
                        a["action"].as_str().unwrap(),
                        a["address"].as_str().unwrap()
                    ));
                map
            });
    assert_eq!(
        by_host,
        BTreeMap::from([(
            "alpha".to_owned(),
            vec![
                "update unit.db.timer".to_owned(),
                "create unit.docs.service".to_owned(),
                "create unit.docs.timer".to_owned()
            ]
        )]),
        "beta keeps its docs units as they were: {review:#}"
    );
    let changes: Vec<(String, String, String)> = review["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["host"].as_str().unwrap_or("*").to_owned(),
                c["job"].as_str().unwrap().to_owned(),
                c["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("alpha".into(), "db".into(), "schedule".into()),
            ("alpha".into(), "docs".into(), "job".into()),
            ("beta".into(), "docs".into(), "hosts".into()),
        ]
    );
    let text = plan_against(&sandbox, &base, &[]);
    let alpha = text.stdout.find("On host `alpha`:").expect(&text.stdout);
    let beta = text.stdout.find("On host `beta`:").expect(&text.stdout);
    assert!(alpha < beta);
    assert!(
        text.stdout[beta..].contains("hosts: beta → alpha, beta"),
        "{}",
        text.stdout
    );

    // --host picks one.
    let beta_only = json(&sandbox, &base, &["--host", "Beta"]);
    assert_eq!(beta_only["hosts"], serde_json::json!(["beta"]));
    assert_eq!(beta_only["actions"], serde_json::json!([]));
}

#[test]
fn a_file_or_a_bad_revision_and_an_invalid_side() {
    let sandbox = Sandbox::new("review-file");
    sandbox.write_config(BASE);
    std::fs::write(
        sandbox.path().join("old.toml"),
        BASE.replace("0 2 * * *", "0 1 * * *"),
    )
    .unwrap();
    // A file needs no repository.
    let review = json(&sandbox, "old.toml", &[]);
    assert_eq!(fields(&review), pairs(&[("db", "schedule")]));

    let run = plan_against(&sandbox, "no-such-ref", &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("`no-such-ref` is not a file"),
        "{}",
        run.stderr
    );

    git(sandbox.path(), &["init", "-q", "-b", "main"]);
    sandbox.write_config(&BASE.replace("to = [\"local\"]", "to = [\"nowhere\"]"));
    let broken = commit(&sandbox, "broken");
    sandbox.write_config(BASE);
    let run = plan_against(&sandbox, &broken, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("The before ("), "{}", run.stderr);
    assert!(run.stderr.contains("`nowhere`"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("side of the review is invalid (1 error)"),
        "{}",
        run.stderr
    );
    let run = plan_against(&sandbox, "main~5", &[]);
    assert!(
        run.stderr.contains("is neither a file nor a commit"),
        "{}",
        run.stderr
    );
}
