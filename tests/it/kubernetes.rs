//! `scheduler = "kubernetes"` (SPEC §13): the manifests cairn renders, checked
//! against the Kubernetes schemas offline and field by field; the committed
//! example re-rendered; plan and review diffs of CronJobs; and the pod's
//! command run here against the ConfigMap's content.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{Cairn, Sandbox};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A YAML file as JSON (PyYAML, which scripts/test installs with pre-commit).
fn yaml(path: &Path) -> Value {
    let output = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Renders `dir/backup.toml` with `cairn apply` (which only renders).
fn render(dir: &Path, envs: &[(&str, &str)]) -> crate::common::Run {
    Cairn::new(dir)
        .envs(envs.iter().copied())
        .args(["apply", "--auto-approve"])
        .run()
}

fn example_copy() -> Sandbox {
    let sandbox = Sandbox::new("kubernetes");
    std::fs::copy(
        root().join("examples/kubernetes/backup.toml"),
        sandbox.config(),
    )
    .unwrap();
    sandbox
}

#[test]
fn the_example_renders_as_committed() {
    let sandbox = example_copy();
    let run = render(sandbox.path(), &[("REDIS_PASSWORD", "s3cret-redis")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let committed = root().join("examples/kubernetes/manifests");
    let mut names: Vec<String> = std::fs::read_dir(&committed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "configmap.yaml",
            "cronjob-app_pg.yaml",
            "cronjob-cache.yaml",
            "kustomization.yaml"
        ]
    );
    for name in &names {
        let rendered =
            std::fs::read_to_string(sandbox.path().join("manifests").join(name)).unwrap();
        let expected = std::fs::read_to_string(committed.join(name)).unwrap();
        assert_eq!(
            rendered, expected,
            "{name} differs from the committed one: run `cairn apply` in examples/kubernetes and commit"
        );
        // No secret value is inlined anywhere.
        assert!(!rendered.contains("s3cret-redis"), "{name}");
    }
    // Reformatting the file changes nothing (the ConfigMap is canonical).
    let text = std::fs::read_to_string(sandbox.config()).unwrap();
    let reformatted: String = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.replace(" = ", "   =   "))
        .collect::<Vec<_>>()
        .join("\n");
    sandbox.write_config(&reformatted);
    let plan = Cairn::new(sandbox.path())
        .args(["plan", "--detailed-exitcode"])
        .run();
    assert_eq!(plan.code, 0, "{}", plan.stdout);
}

/// The most recent Kubernetes minor versions kubernetes-validate ships.
fn newest_versions(count: usize) -> Vec<String> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import kubernetes_validate, os; d = os.path.join(os.path.dirname(kubernetes_validate.__file__), 'kubernetes-json-schema'); print('\\n'.join(os.listdir(d)))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "kubernetes-validate is installed (scripts/test)"
    );
    let mut versions: Vec<(u32, u32, u32)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|dir| dir.strip_prefix('v')?.strip_suffix("-local-strict"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next()??, parts.next()??))
        })
        .collect();
    versions.sort();
    versions.dedup_by_key(|(major, minor, _)| (*major, *minor));
    versions
        .iter()
        .rev()
        .take(count)
        .map(|(a, b, c)| format!("{a}.{b}.{c}"))
        .collect()
}

#[test]
fn the_committed_manifests_pass_the_kubernetes_schemas() {
    let dir = root().join("examples/kubernetes/manifests");
    let files = [
        "configmap.yaml",
        "cronjob-app_pg.yaml",
        "cronjob-cache.yaml",
    ]
    .map(|f| dir.join(f));
    let versions = newest_versions(3);
    assert_eq!(versions.len(), 3, "{versions:?}");
    for version in &versions {
        let output = Command::new("kubernetes-validate")
            .args(["--strict", "-k", version])
            .args(&files)
            .output()
            .expect("kubernetes-validate runs (scripts/test installs it)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "Kubernetes {version}:\n{text}");
        assert_eq!(text.matches("passed").count(), 3, "{text}");
    }
    // The check can fail: an unknown field is refused under --strict.
    let broken = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&files[1]).unwrap();
    let path = broken.path().join("cronjob.yaml");
    std::fs::write(
        &path,
        text.replace("concurrencyPolicy:", "concurrencyPolicyy:"),
    )
    .unwrap();
    let output = Command::new("kubernetes-validate")
        .args(["--strict", "-k", &versions[0]])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success(), "a misspelt field passed");
}

#[test]
fn the_cronjobs_carry_what_the_configuration_says() {
    let dir = root().join("examples/kubernetes/manifests");
    for (job, cron, deadline, active) in [
        ("app_pg", "15 2 * * *", 86400, 7200 + 600),
        ("cache", "0 */6 * * *", 21600, 1800 + 300),
    ] {
        let cronjob = yaml(&dir.join(format!("cronjob-{job}.yaml")));
        let spec = &cronjob["spec"];
        assert_eq!(cronjob["metadata"]["namespace"], "backup");
        assert_eq!(spec["schedule"], cron);
        assert_eq!(spec["timeZone"], "Europe/Berlin");
        assert_eq!(spec["concurrencyPolicy"], "Forbid");
        assert_eq!(
            spec["startingDeadlineSeconds"], deadline,
            "persistent: the shortest interval"
        );
        let job_spec = &spec["jobTemplate"]["spec"];
        assert_eq!(job_spec["backoffLimit"], 0);
        assert_eq!(
            job_spec["activeDeadlineSeconds"], active,
            "timeout + jitter"
        );
        let pod = &job_spec["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["serviceAccountName"], "cairn");
        let container = &pod["containers"][0];
        assert_eq!(
            container["command"],
            serde_json::json!(["cairn", "run", job, "--config", "/etc/cairn/backup.toml"])
        );
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            container["env"],
            serde_json::json!([{ "name": "CAIRN_REASON", "value": "scheduled" }])
        );
        assert_eq!(
            container["envFrom"],
            serde_json::json!([{ "secretRef": { "name": "cairn-s3" } }, { "secretRef": { "name": "cairn-db" } }])
        );
        let mounts: Vec<&str> = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap())
            .collect();
        assert_eq!(mounts, ["/etc/cairn", "/var/lib/cairn", "/tmp"]);
        assert_eq!(pod["volumes"][1]["emptyDir"], serde_json::json!({}));
    }
    let configmap = yaml(&dir.join("configmap.yaml"));
    let effective = configmap["data"]["backup.toml"].as_str().unwrap();
    assert!(effective.contains("${REDIS_PASSWORD}"), "{effective}");
    let kustomization = yaml(&dir.join("kustomization.yaml"));
    assert_eq!(
        kustomization["resources"],
        serde_json::json!([
            "configmap.yaml",
            "cronjob-app_pg.yaml",
            "cronjob-cache.yaml"
        ])
    );
}

#[test]
fn kubernetes_refuses_what_a_cluster_cannot_do() {
    let sandbox = example_copy();
    let base = std::fs::read_to_string(sandbox.config()).unwrap();
    for (from, to, message) in [
        (
            "schedule = { cron = \"15 2 * * *\", jitter = \"10m\" }",
            "schedule = { cron = \"0 3 */2 * 1\" }",
            "means something else to Kubernetes",
        ),
        (
            "rpo = \"26h\"",
            "rpo = \"26h\"\nhost = \"db-1\"",
            "the cluster picks where it runs",
        ),
        (
            "state = \"destinations\"\n",
            "",
            "needs settings.state = \"destinations\"",
        ),
        (
            "namespace = \"backup\"",
            "namespace = \"Backup_NS\"",
            "is not a Kubernetes name",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        sandbox.write_config(&base.replacen(from, to, 1));
        let run = Cairn::new(sandbox.path())
            .env("REDIS_PASSWORD", "x")
            .arg("validate")
            .run();
        assert_eq!(run.code, 1, "{to}: {}", run.stderr);
        assert!(
            run.stderr.contains(message),
            "{message:?} missing:\n{}",
            run.stderr
        );
    }
}

#[test]
fn plan_and_review_show_cronjob_diffs() {
    let sandbox = example_copy();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .current_dir(sandbox.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    assert_eq!(render(sandbox.path(), &[]).code, 0);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    sandbox.edit_config("cron = \"15 2 * * *\"", "cron = \"45 3 * * *\"");
    let plan = Cairn::new(sandbox.path())
        .args(["plan", "--detailed-exitcode"])
        .run();
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    for part in [
        "~ kube.app_pg.cronjob",
        "-  schedule: \"15 2 * * *\"",
        "+  schedule: \"45 3 * * *\"",
        "~ kube.configmap",
        "note: scheduler = \"kubernetes\": the jobs run and prune in the cluster",
    ] {
        assert!(
            plan.stdout.contains(part),
            "{part:?} missing from\n{}",
            plan.stdout
        );
    }
    assert!(
        !plan.stdout.contains("> job."),
        "nothing runs where manifests are rendered"
    );
    let review = Cairn::new(sandbox.path())
        .args(["plan", "--against", "main", "--json"])
        .run();
    assert_eq!(review.code, 0, "{}", review.stderr);
    let review: Value = serde_json::from_str(&review.stdout).unwrap();
    let addresses: Vec<&str> = review["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["kube.app_pg.cronjob", "kube.configmap"]);
    assert!(review["actions"][0]["diff"]
        .as_str()
        .unwrap()
        .contains("+  schedule: \"45 3 * * *\""));
}

#[test]
fn the_pod_command_backs_up_and_another_pod_sees_the_run() {
    let sandbox = Sandbox::new("kubernetes-pod").with_servers();
    let s3 = sandbox.s3();
    let files = sandbox.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("a.txt"), "pod data\n").unwrap();
    let prefix = format!("kubernetes-pod/{}", std::process::id());
    sandbox.write_config(&format!(
        r#"[settings]
scheduler = "kubernetes"
state = "destinations"
timezone = "UTC"

[settings.kubernetes]
namespace = "backup"
image = "registry.example.com/cairn:test"
env_from_secrets = ["cairn-s3"]

[stores.files]
kind = "directory"
path = "{files}"

[destinations.offsite]
kind = "s3"
bucket = "{bucket}"
prefix = "{prefix}"
endpoint = "{endpoint}"
region = "{region}"
path_style = true

[jobs.files]
store = "files"
schedule = {{ cron = "0 2 * * *" }}
to = ["offsite"]
retention = {{ daily = 7 }}
"#,
        files = files.display(),
        bucket = s3.bucket,
        endpoint = s3.endpoint,
        region = s3.region,
    ));
    sandbox.clean_up_with(s3.remove_command(&prefix));
    // Rendering needs no credentials.
    assert_eq!(render(sandbox.path(), &[]).code, 0);
    let configmap = yaml(&sandbox.path().join("kubernetes/configmap.yaml"));
    let etc = sandbox.path().join("pod/etc/cairn");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("backup.toml"),
        configmap["data"]["backup.toml"].as_str().unwrap(),
    )
    .unwrap();
    let config = etc.join("backup.toml");
    // The pod: the Secret's variables, an empty state directory of its own.
    let pod = |root: &str, args: &[&str]| {
        Cairn::new(sandbox.path())
            .envs(s3.credentials())
            .now("2026-12-06T02:00:30Z")
            .args(["--root", root, "--config"])
            .arg(&config)
            .args(args)
            .run()
    };
    let run = pod("pod-1", &["run", "files"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !s3.keys(&format!("{prefix}/files/runs/")).is_empty(),
        "a run record at the destination"
    );
    // Another pod, with nothing of the first one's state, sees that run.
    let history = pod("pod-2", &["history", "files", "--json"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    assert!(history.stdout.contains("\"outcome\""), "{}", history.stdout);
    let status = pod("pod-2", &["status", "--all-hosts"]);
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("files"), "{}", status.stdout);
}
