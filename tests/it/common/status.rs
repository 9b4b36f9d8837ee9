//! Support of the `status` tests: a directory job backed up to a local
//! destination under fixed `CAIRN_NOW`s, and readers of status's reports.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{Run, Sandbox};

/// A daily job `files` (midnight UTC, rpo 26h) of a directory to `local`,
/// and a verify job `check` that wants at least two files.
pub const CONFIG: &str = r#"[settings]
scheduler = "none"
state_dir = "state"

[stores.files]
kind = "directory"
path = "files"

[destinations.local]
kind = "local"
path = "backups"

[jobs.files]
store = "files"
schedule = { cron = "0 0 * * *" }
to = ["local"]
rpo = "26h"
retention = { keep_last = 10 }
compression = "none"

[jobs.check]
kind = "verify"
verifies = "files"
schedule = { cron = "0 3 * * *" }

[[jobs.check.checks]]
min_files = 2
"#;

/// A sandbox with [`CONFIG`] and `files/` holding two files.
pub fn sandbox() -> Sandbox {
    let sandbox = Sandbox::new("status");
    std::fs::create_dir(sandbox.path().join("files")).unwrap();
    std::fs::write(sandbox.path().join("files/a.txt"), "a\n").unwrap();
    std::fs::write(sandbox.path().join("files/b.txt"), "b\n").unwrap();
    sandbox.write_config(CONFIG);
    sandbox
}

impl Sandbox {
    /// `cairn run JOB` at `now`, which must end with `code`.
    pub fn run_at(&self, now: &str, job: &str, code: i32) {
        self.cairn(&["run", job]).now(now).status(code).run();
    }

    /// `cairn status ARGS` at `now`, which must exit `code`.
    pub fn status(&self, now: &str, args: &[&str], code: i32) -> Run {
        self.cairn(&["status"])
            .args(args)
            .now(now)
            .status(code)
            .run()
    }

    pub fn status_json(&self, now: &str, code: i32) -> Value {
        let result = self.status(now, &["--json"], code);
        serde_json::from_str(&result.stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{}", result.stdout))
    }
}

/// The row of `job` in the status table, split into columns.
pub fn row<'a>(stdout: &'a str, job: &str) -> Vec<&'a str> {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(job))
        .unwrap_or_else(|| panic!("no row for `{job}` in:\n{stdout}"));
    line.split_whitespace().collect()
}

/// The job named `name` in `status --json`.
pub fn job<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == name)
        .unwrap_or_else(|| panic!("no job `{name}` in {report:#}"))
}

/// One sample of a Prometheus textfile: (family, type, sample name,
/// labels, value).
pub type Sample = (String, String, String, Value, f64);

/// Every sample of a textfile, parsed by the Prometheus Python client's own
/// parser.
pub fn parse_textfile(path: &Path) -> Vec<Sample> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = []
with open(sys.argv[1]) as f:
    for family in text_string_to_metric_families(f.read()):
        for s in family.samples:
            samples.append([family.name, family.type, s.name, s.labels, s.value])
print(json.dumps(samples))
"#;
    let output = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .expect("python3 runs (scripts/servers install pip installs prometheus_client)");
    assert!(
        output.status.success(),
        "the Prometheus parser rejected {} (or is missing: run `scripts/servers install pip`):\n{}\n{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    let parsed: Vec<Sample> = serde_json::from_slice(&output.stdout).unwrap();
    parsed
}

/// The value of sample `name` with exactly `labels`.
pub fn sample(samples: &[Sample], name: &str, labels: Value) -> f64 {
    samples
        .iter()
        .find(|(_, _, n, l, _)| n == name && *l == labels)
        .map(|s| s.4)
        .unwrap_or_else(|| panic!("no sample {name}{labels} in {samples:?}"))
}
