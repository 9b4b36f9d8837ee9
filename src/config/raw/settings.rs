//! `[settings]`: host-wide options, and how schedules are installed.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the run records that status, history and retention's safety
/// rules read are kept (`settings.state`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateKeeping {
    /// In the state directory only (`STATE_DIR/history/JOB.jsonl`).
    #[default]
    Local,
    /// Also at the job's destinations (`PREFIX/JOB/runs/ID.json`), so that
    /// ephemeral pods and operators elsewhere see the same history.
    Destinations,
}

/// Host-wide settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// How schedules are installed: systemd timers, one cron.d file, or not at all.
    pub scheduler: Scheduler,
    /// Where systemd units are written.
    pub units_dir: PathBuf,
    /// The cron.d file written when `scheduler = "cron"`.
    pub cron_file: PathBuf,
    /// The cairn binary that units and cron entries call.
    pub binary: PathBuf,
    /// The user jobs run as.
    pub run_as: String,
    /// Where cairn keeps locks and run history.
    pub state_dir: PathBuf,
    /// Where run records are kept: "local" (the state directory) or
    /// "destinations" (also next to the artifacts, as
    /// `PREFIX/JOB/runs/ID.json`, read by status, history, plan and
    /// retention's safety rules from any machine).
    pub state: StateKeeping,
    /// IANA time zone for schedules and retention periods, e.g. "Europe/Berlin".
    pub timezone: String,
    /// How many independent jobs `apply` runs at once.
    pub parallelism: u32,
    /// An environment file (KEY=value lines) that units load with
    /// `EnvironmentFile=-`, so that `${VAR}`s, PGPASSWORD and AWS keys that
    /// exist at apply time also exist when a timer fires.
    pub environment_file: Option<PathBuf>,
    /// The age identity file used to decrypt artifacts for restore and verify.
    pub age_identity_file: Option<PathBuf>,
    /// The hosts this file serves, by name (as gethostname(2) says,
    /// compared case-insensitively). When declared, a job's `host` must be
    /// one of them, and cairn refuses to plan, apply, run or report on any
    /// other host.
    pub hosts: Option<Vec<String>>,
    /// With `scheduler = "kubernetes"`: where and how the CronJobs run.
    pub kubernetes: Option<KubernetesSettings>,
}

/// `[settings.kubernetes]`: the CronJobs cairn renders (one per job), the
/// ConfigMap holding the effective configuration, and their kustomization.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// The directory the manifests are written to, relative to the
    /// configuration file (commit it; Argo CD or Flux applies it).
    #[serde(default = "default_manifests_dir")]
    pub manifests_dir: PathBuf,
    /// The namespace the CronJobs and the ConfigMap live in.
    pub namespace: String,
    /// The container image that holds cairn and the dump tools, pinned by
    /// tag or digest.
    pub image: String,
    /// The ServiceAccount the pods run as.
    #[serde(default = "default_service_account")]
    pub service_account: String,
    /// Secrets whose keys become the pods' environment (AWS keys, database
    /// passwords): their names only, never their values.
    #[serde(default)]
    pub env_from_secrets: Vec<String>,
    /// The container's resources, as Kubernetes writes them
    /// (`{ requests = { cpu = "100m", memory = "256Mi" } }`).
    pub resources: Option<serde_json::Value>,
    /// The pods' nodeSelector.
    #[serde(default)]
    pub node_selector: std::collections::BTreeMap<String, String>,
    /// The pods' tolerations, as Kubernetes writes them.
    #[serde(default)]
    pub tolerations: Vec<serde_json::Value>,
    /// Labels added to the CronJobs and their pods.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

fn default_manifests_dir() -> PathBuf {
    "kubernetes".into()
}

fn default_service_account() -> String {
    "cairn".into()
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            scheduler: Scheduler::Systemd,
            units_dir: "/etc/systemd/system".into(),
            cron_file: "/etc/cron.d/cairn".into(),
            binary: "/usr/local/bin/cairn".into(),
            run_as: "root".into(),
            state_dir: "/var/lib/cairn".into(),
            state: StateKeeping::Local,
            timezone: "UTC".into(),
            parallelism: 2,
            environment_file: None,
            age_identity_file: None,
            hosts: None,
            kubernetes: None,
        }
    }
}

/// How cairn installs schedules on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// One `cairn-JOB.service` and `cairn-JOB.timer` per job.
    Systemd,
    /// One cron.d file with a line per job.
    Cron,
    /// One CronJob per job in a Kubernetes cluster, rendered into
    /// `settings.kubernetes.manifests_dir`; `apply` only renders them.
    Kubernetes,
    /// Install nothing; something else calls `cairn run JOB`.
    None,
}
