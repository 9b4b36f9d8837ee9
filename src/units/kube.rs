//! The Kubernetes manifests cairn renders with `scheduler = "kubernetes"`
//! (SPEC §13): a CronJob per job, a ConfigMap holding the effective
//! configuration, and a kustomization listing them. Argo CD or Flux applies
//! the directory; nothing here talks to a cluster.

use std::path::{Component, Path, PathBuf};

use chrono::Duration;
use serde_json::{json, Map, Value};

use super::yaml::to_yaml;
use super::{CONFIG_MARK, OWNER_MARK};
use crate::config::address::KubeFile;
use crate::config::model::{Config, Job};
use crate::config::raw::KubernetesSettings;
use crate::schedule::cron::CronExpr;

/// Where the ConfigMap is mounted in the pods, and the file the pods read.
pub const CONFIG_DIR: &str = "/etc/cairn";
pub const CONFIG_FILE: &str = "/etc/cairn/backup.toml";
/// The ConfigMap's name.
pub const CONFIG_MAP: &str = "cairn-config";
/// A CronJob's name may be 52 characters at most (its Jobs add 11).
pub const MAX_CRONJOB_NAME: usize = 52;
/// The uid and gid the pods run as: not root.
const POD_USER: u64 = 65532;

/// A manifest cairn wants in the manifests directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub file: KubeFile,
    pub content: String,
}

/// The CronJob's name for a job: `cairn-JOB`, with `_` as `-` (Kubernetes
/// names are DNS labels).
pub fn cronjob_name(job: &str) -> String {
    format!("cairn-{}", job.replace('_', "-"))
}

/// The header of a manifest: cairn's mark, and the configuration named
/// relative to the manifests directory (so that the committed files are the
/// same in every checkout).
pub fn header(config: &Config, manifests_dir: &Path) -> String {
    format!(
        "{OWNER_MARK} Do not edit: `cairn apply` overwrites this file.\n{CONFIG_MARK}{}",
        config_mark(config, manifests_dir).display()
    )
}

/// The configuration's path as manifests name it: relative to `dir`.
pub fn config_mark(config: &Config, dir: &Path) -> PathBuf {
    relative(&config.path, dir)
}

/// `path` relative to `dir` (both absolute).
fn relative(path: &Path, dir: &Path) -> PathBuf {
    let path: Vec<Component> = path.components().collect();
    let dir: Vec<Component> = dir.components().collect();
    let common = path.iter().zip(&dir).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..dir.len() {
        out.push("..");
    }
    for part in &path[common..] {
        out.push(part);
    }
    out
}

/// Every manifest, CronJobs in job order, then the ConfigMap and the
/// kustomization. Empty without `[settings.kubernetes]`.
pub fn manifests(config: &Config) -> Vec<Manifest> {
    let Some(kube) = &config.settings.kubernetes else {
        return Vec::new();
    };
    let header = header(config, &kube.manifests_dir);
    let document = |value: Value| format!("{header}\n{}", to_yaml(&value));
    let mut manifests: Vec<Manifest> = config
        .jobs
        .values()
        .map(|job| Manifest {
            file: KubeFile::CronJob {
                job: job.name.to_string(),
            },
            content: document(cronjob(config, kube, job)),
        })
        .collect();
    let mut resources: Vec<String> = manifests.iter().map(|m| m.file.file_name()).collect();
    manifests.push(Manifest {
        file: KubeFile::ConfigMap,
        content: document(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": CONFIG_MAP,
                "namespace": kube.namespace,
                "labels": labels(kube, None),
            },
            "data": { "backup.toml": config.effective.clone().unwrap_or_default() },
        })),
    });
    resources.insert(0, KubeFile::ConfigMap.file_name());
    manifests.push(Manifest {
        file: KubeFile::Kustomization,
        content: document(json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
        })),
    });
    manifests
}

fn labels(kube: &KubernetesSettings, job: Option<&Job>) -> Map<String, Value> {
    let mut labels = Map::new();
    for (key, value) in &kube.labels {
        labels.insert(key.clone(), json!(value));
    }
    labels.insert("app.kubernetes.io/name".into(), json!("cairn"));
    labels.insert("app.kubernetes.io/managed-by".into(), json!("cairn"));
    if let Some(job) = job {
        labels.insert(
            "cairn.dev/job".into(),
            json!(job.name.as_str().replace('_', "-")),
        );
    }
    labels
}

fn cronjob(config: &Config, kube: &KubernetesSettings, job: &Job) -> Value {
    let labels = labels(kube, Some(job));
    let mut container = Map::new();
    container.insert("name".into(), json!("cairn"));
    container.insert("image".into(), json!(kube.image));
    container.insert(
        "command".into(),
        json!(["cairn", "run", job.name.as_str(), "--config", CONFIG_FILE]),
    );
    container.insert(
        "env".into(),
        json!([{ "name": "CAIRN_REASON", "value": "scheduled" }]),
    );
    if !kube.env_from_secrets.is_empty() {
        container.insert(
            "envFrom".into(),
            kube.env_from_secrets
                .iter()
                .map(|secret| json!({ "secretRef": { "name": secret } }))
                .collect(),
        );
    }
    if let Some(resources) = &kube.resources {
        container.insert("resources".into(), resources.clone());
    }
    container.insert(
        "securityContext".into(),
        json!({
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": { "drop": ["ALL"] },
        }),
    );
    container.insert(
        "volumeMounts".into(),
        json!([
            { "name": "config", "mountPath": CONFIG_DIR, "readOnly": true },
            { "name": "state", "mountPath": config.settings.state_dir.display().to_string() },
            { "name": "tmp", "mountPath": "/tmp" },
        ]),
    );

    let mut pod = Map::new();
    pod.insert("restartPolicy".into(), json!("Never"));
    pod.insert("serviceAccountName".into(), json!(kube.service_account));
    pod.insert(
        "securityContext".into(),
        json!({
            "runAsNonRoot": true,
            "runAsUser": POD_USER,
            "runAsGroup": POD_USER,
            "fsGroup": POD_USER,
            "seccompProfile": { "type": "RuntimeDefault" },
        }),
    );
    if !kube.node_selector.is_empty() {
        pod.insert("nodeSelector".into(), json!(kube.node_selector));
    }
    if !kube.tolerations.is_empty() {
        pod.insert("tolerations".into(), json!(kube.tolerations));
    }
    pod.insert("containers".into(), json!([container]));
    pod.insert(
        "volumes".into(),
        json!([
            { "name": "config", "configMap": { "name": CONFIG_MAP } },
            { "name": "state", "emptyDir": {} },
            { "name": "tmp", "emptyDir": {} },
        ]),
    );

    let mut job_spec = Map::new();
    job_spec.insert("backoffLimit".into(), json!(0));
    if let Some(timeout) = job.timeout {
        job_spec.insert(
            "activeDeadlineSeconds".into(),
            json!(timeout.as_seconds() + job.schedule.jitter.as_seconds()),
        );
    }
    job_spec.insert(
        "template".into(),
        json!({ "metadata": { "labels": labels }, "spec": pod }),
    );

    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": cronjob_name(job.name.as_str()),
            "namespace": kube.namespace,
            "labels": labels,
        },
        "spec": {
            "schedule": job.schedule.cron.source(),
            "timeZone": config.settings.timezone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": starting_deadline(job),
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": { "metadata": { "labels": labels }, "spec": job_spec },
        },
    })
}

/// How late a missed fire may still start: with `persistent`, until the
/// next fire (the shortest interval between two), as systemd's
/// `Persistent=` catches up; otherwise a minute.
fn starting_deadline(job: &Job) -> i64 {
    if !job.schedule.persistent {
        return 60;
    }
    shortest_interval(&job.schedule.cron)
        .map(|interval| interval.num_seconds())
        .unwrap_or(60)
        .max(60)
}

/// The shortest time between two fires, over the next two years (every
/// gap a schedule has shows within them) or the first 2,000 fires.
pub fn shortest_interval(cron: &CronExpr) -> Option<Duration> {
    let start = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
        .ok()?
        .with_timezone(&chrono::Utc);
    let end = start + Duration::days(2 * 366);
    let mut previous = cron.next_after(&start)?;
    let mut shortest: Option<Duration> = None;
    for _ in 0..2000 {
        let Some(next) = cron.next_after(&previous) else {
            break;
        };
        let gap = next - previous;
        shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
        if next > end {
            break;
        }
        previous = next;
    }
    shortest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_named_relative_to_the_manifests() {
        assert_eq!(
            relative(
                Path::new("/repo/backup.toml"),
                Path::new("/repo/kubernetes")
            ),
            Path::new("../backup.toml")
        );
        assert_eq!(
            relative(
                Path::new("/repo/backup.toml"),
                Path::new("/repo/deploy/cairn")
            ),
            Path::new("../../backup.toml")
        );
    }

    #[test]
    fn the_shortest_interval_is_found() {
        let every_six_hours = CronExpr::parse("0 */6 * * *").unwrap();
        assert_eq!(
            shortest_interval(&every_six_hours),
            Some(Duration::hours(6))
        );
        let twice = CronExpr::parse("0 1,3 * * *").unwrap();
        assert_eq!(shortest_interval(&twice), Some(Duration::hours(2)));
    }
}
