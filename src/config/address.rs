//! Plan addresses (SPEC §11): the names of the things a plan acts on —
//! `unit.JOB.service`, `unit.JOB.timer`, `cron.JOB`, `job.JOB` and
//! `artifact.DEST.JOB.ID` — and the `--target` forms that select them.
//!
//! They live with the configuration, below the plan, because the dependency
//! graph (`cairn graph`) and the rendered units name the generated files by
//! the same addresses.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::name;

/// The forms `--target` accepts, for error messages.
const TARGET_FORMS: &str = "unit.JOB.service, unit.JOB.timer, unit.JOB, cron.JOB, \
                            kube.JOB.cronjob, kube.configmap, kube.kustomization, job.JOB, \
                            artifact.DEST, artifact.DEST.JOB, artifact.DEST.JOB.ID or wal.DEST.JOB";
/// The forms of a whole address, for error messages.
const ADDRESS_FORMS: &str = "unit.JOB.service, unit.JOB.timer, cron.JOB, kube.JOB.cronjob, \
                             kube.configmap, kube.kustomization, job.JOB, artifact.DEST.JOB.ID \
                             or wal.DEST.JOB";

/// One managed thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A generated file: `unit.JOB.service`, `unit.JOB.timer` or `cron.JOB`.
    File(FileAddress),
    /// A run of a job: `job.JOB`.
    Job(String),
    /// An artifact at a destination: `artifact.DEST.JOB.ID`.
    Artifact(ArtifactAddress),
    /// A basebackup job's WAL archive at a destination: `wal.DEST.JOB`.
    Wal(WalAddress),
}

/// `wal.DEST.JOB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalAddress {
    pub destination: String,
    pub job: String,
}

/// A file cairn generates for a job's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAddress {
    /// `unit.JOB.service` or `unit.JOB.timer`: `cairn-JOB.service` or
    /// `cairn-JOB.timer` in `settings.units_dir`.
    Unit { job: String, unit: UnitKind },
    /// `cron.JOB`: the job's entry in `settings.cron_file`.
    Cron { job: String },
    /// A Kubernetes manifest in `settings.kubernetes.manifests_dir`.
    Kube(KubeFile),
}

/// The Kubernetes manifests cairn renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeFile {
    /// `kube.JOB.cronjob`: `cronjob-JOB.yaml`.
    CronJob { job: String },
    /// `kube.configmap`: `configmap.yaml`, the effective configuration.
    ConfigMap,
    /// `kube.kustomization`: `kustomization.yaml`, listing the others.
    Kustomization,
}

impl KubeFile {
    /// The manifest's file name in the manifests directory.
    pub fn file_name(&self) -> String {
        match self {
            KubeFile::CronJob { job } => format!("cronjob-{job}.yaml"),
            KubeFile::ConfigMap => "configmap.yaml".to_owned(),
            KubeFile::Kustomization => "kustomization.yaml".to_owned(),
        }
    }

    /// The manifest a file name is, if it is named like one of cairn's.
    pub fn from_file_name(file_name: &str) -> Option<Self> {
        match file_name {
            "configmap.yaml" => Some(KubeFile::ConfigMap),
            "kustomization.yaml" => Some(KubeFile::Kustomization),
            _ => {
                let job = file_name.strip_prefix("cronjob-")?.strip_suffix(".yaml")?;
                name::check(job).ok()?;
                Some(KubeFile::CronJob {
                    job: job.to_owned(),
                })
            }
        }
    }
}

/// The two systemd units of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnitKind {
    Service,
    Timer,
}

/// `artifact.DEST.JOB.ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactAddress {
    pub destination: String,
    pub job: String,
    pub id: String,
}

/// What `--target` selects: an address, or every address below a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One address; `job.JOB` also selects everything of the job (its
    /// files, its run, its artifacts).
    Address(Address),
    /// `unit.JOB`: both unit files of the job.
    Units { job: String },
    /// `artifact.DEST`, or `artifact.DEST.JOB`: the artifacts at a
    /// destination, or those of one job there.
    Artifacts {
        destination: String,
        job: Option<String>,
    },
}

/// Text that is not an address, or not a `--target`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not {what}: {why}")]
pub struct ParseAddressError {
    text: String,
    what: &'static str,
    why: String,
}

impl UnitKind {
    /// `service` or `timer`: the unit file's suffix and the last part of its address.
    pub fn suffix(self) -> &'static str {
        match self {
            UnitKind::Service => "service",
            UnitKind::Timer => "timer",
        }
    }

    pub fn from_suffix(suffix: &str) -> Option<Self> {
        match suffix {
            "service" => Some(UnitKind::Service),
            "timer" => Some(UnitKind::Timer),
            _ => None,
        }
    }
}

impl FileAddress {
    /// The job the file is for; empty for the manifests every job shares
    /// (`kube.configmap`, `kube.kustomization`).
    pub fn job(&self) -> &str {
        match self {
            FileAddress::Unit { job, .. }
            | FileAddress::Cron { job }
            | FileAddress::Kube(KubeFile::CronJob { job }) => job,
            FileAddress::Kube(_) => "",
        }
    }

    /// The timer unit this file is, if it is one.
    pub fn timer_job(&self) -> Option<&str> {
        match self {
            FileAddress::Unit {
                job,
                unit: UnitKind::Timer,
            } => Some(job),
            _ => None,
        }
    }

    pub fn is_unit(&self) -> bool {
        matches!(self, FileAddress::Unit { .. })
    }

    pub fn is_kube(&self) -> bool {
        matches!(self, FileAddress::Kube(_))
    }
}

impl Address {
    /// The job an address belongs to.
    pub fn job(&self) -> &str {
        match self {
            Address::File(file) => file.job(),
            Address::Job(job) => job,
            Address::Artifact(artifact) => &artifact.job,
            Address::Wal(wal) => &wal.job,
        }
    }
}

impl Target {
    /// Whether this target selects `address`.
    pub fn selects(&self, address: &Address) -> bool {
        match self {
            Target::Address(Address::Job(job)) => address.job() == job,
            Target::Address(target) => target == address,
            Target::Units { job } => matches!(
                address,
                Address::File(FileAddress::Unit { job: unit_job, .. }) if unit_job == job
            ),
            Target::Artifacts { destination, job } => matches!(
                address,
                Address::Artifact(artifact)
                    if &artifact.destination == destination
                        && job.as_ref().is_none_or(|job| &artifact.job == job)
            ),
        }
    }
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.suffix())
    }
}

impl fmt::Display for FileAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileAddress::Unit { job, unit } => write!(f, "unit.{job}.{unit}"),
            FileAddress::Cron { job } => write!(f, "cron.{job}"),
            FileAddress::Kube(KubeFile::CronJob { job }) => write!(f, "kube.{job}.cronjob"),
            FileAddress::Kube(KubeFile::ConfigMap) => f.write_str("kube.configmap"),
            FileAddress::Kube(KubeFile::Kustomization) => f.write_str("kube.kustomization"),
        }
    }
}

impl fmt::Display for ArtifactAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ArtifactAddress {
            destination,
            job,
            id,
        } = self;
        write!(f, "artifact.{destination}.{job}.{id}")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::File(file) => file.fmt(f),
            Address::Job(job) => write!(f, "job.{job}"),
            Address::Artifact(artifact) => artifact.fmt(f),
            Address::Wal(WalAddress { destination, job }) => write!(f, "wal.{destination}.{job}"),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Address(address) => address.fmt(f),
            Target::Units { job } => write!(f, "unit.{job}"),
            Target::Artifacts {
                destination,
                job: None,
            } => write!(f, "artifact.{destination}"),
            Target::Artifacts {
                destination,
                job: Some(job),
            } => write!(f, "artifact.{destination}.{job}"),
        }
    }
}

/// Files order as their addresses read, which is the order `cairn graph`
/// has always listed them in.
impl Ord for FileAddress {
    fn cmp(&self, other: &Self) -> Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

impl PartialOrd for FileAddress {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The parts of an address or target, checked: `parts[0]` is the kind.
fn split<'a>(
    text: &'a str,
    what: &'static str,
    forms: &'static str,
) -> Result<Vec<&'a str>, ParseAddressError> {
    let error = |why: String| ParseAddressError {
        text: text.to_owned(),
        what,
        why,
    };
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() < 2
        || !matches!(
            parts[0],
            "unit" | "cron" | "kube" | "job" | "artifact" | "wal"
        )
    {
        return Err(error(format!("use {forms}")));
    }
    // The job (or for an artifact or WAL archive, the destination and the
    // job) is a name.
    let names = match parts[0] {
        "artifact" | "wal" => 2,
        // `kube.configmap` and `kube.kustomization` name no job.
        "kube" if parts.len() == 2 => 0,
        _ => 1,
    };
    for part in parts.iter().skip(1).take(names) {
        name::check(part).map_err(|e| error(e.to_string()))?;
    }
    if parts[0] == "artifact" && parts.len() == 4 && !is_artifact_id(parts[3]) {
        return Err(error(format!(
            "`{}` is not an artifact ID (such as 20261121T021500Z)",
            parts[3]
        )));
    }
    Ok(parts)
}

/// The shape of an artifact ID (`YYYYMMDDTHHMMSSZ`, optionally `-N`); the
/// destinations check that it is also a time.
fn is_artifact_id(id: &str) -> bool {
    id.len() >= 16 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl FromStr for Address {
    type Err = ParseAddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts = split(text, "a plan address", ADDRESS_FORMS)?;
        let owned = |part: &str| part.to_owned();
        let unit = match parts[..] {
            ["unit", _, suffix] => UnitKind::from_suffix(suffix),
            _ => None,
        };
        match (&parts[..], unit) {
            (["unit", job, _], Some(unit)) => Ok(Address::File(FileAddress::Unit {
                job: owned(job),
                unit,
            })),
            (["cron", job], _) => Ok(Address::File(FileAddress::Cron { job: owned(job) })),
            (["kube", job, "cronjob"], _) => {
                Ok(Address::File(FileAddress::Kube(KubeFile::CronJob {
                    job: owned(job),
                })))
            }
            (["kube", "configmap"], _) => Ok(Address::File(FileAddress::Kube(KubeFile::ConfigMap))),
            (["kube", "kustomization"], _) => {
                Ok(Address::File(FileAddress::Kube(KubeFile::Kustomization)))
            }
            (["job", job], _) => Ok(Address::Job(owned(job))),
            (["artifact", destination, job, id], _) => Ok(Address::Artifact(ArtifactAddress {
                destination: owned(destination),
                job: owned(job),
                id: owned(id),
            })),
            (["wal", destination, job], _) => Ok(Address::Wal(WalAddress {
                destination: owned(destination),
                job: owned(job),
            })),
            _ => Err(ParseAddressError {
                text: text.to_owned(),
                what: "a plan address",
                why: format!("use {ADDRESS_FORMS}"),
            }),
        }
    }
}

impl FromStr for Target {
    type Err = ParseAddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts = split(text, "a target", TARGET_FORMS)?;
        match parts[..] {
            ["unit", job] => Ok(Target::Units {
                job: job.to_owned(),
            }),
            ["artifact", destination] => Ok(Target::Artifacts {
                destination: destination.to_owned(),
                job: None,
            }),
            ["artifact", destination, job] => Ok(Target::Artifacts {
                destination: destination.to_owned(),
                job: Some(job.to_owned()),
            }),
            _ => text
                .parse()
                .map(Target::Address)
                .map_err(|_| ParseAddressError {
                    text: text.to_owned(),
                    what: "a target",
                    why: format!("use {TARGET_FORMS}"),
                }),
        }
    }
}

/// Addresses and targets are written as their text, in plan JSON and in
/// saved plans.
macro_rules! as_text {
    ($type:ty) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

as_text!(Address);
as_text!(Target);

#[cfg(test)]
mod tests {
    use super::*;

    fn every_address() -> Vec<Address> {
        vec![
            Address::File(FileAddress::Unit {
                job: "app_db".into(),
                unit: UnitKind::Service,
            }),
            Address::File(FileAddress::Unit {
                job: "app-db".into(),
                unit: UnitKind::Timer,
            }),
            Address::File(FileAddress::Cron { job: "0day".into() }),
            Address::Job("files".into()),
            Address::Artifact(ArtifactAddress {
                destination: "offsite".into(),
                job: "app_db".into(),
                id: "20261121T021500Z".into(),
            }),
            Address::Artifact(ArtifactAddress {
                destination: "local".into(),
                job: "app_db".into(),
                id: "20261121T021500Z-2".into(),
            }),
        ]
    }

    #[test]
    fn every_address_reads_back_as_itself() {
        for address in every_address() {
            let text = address.to_string();
            assert_eq!(text.parse::<Address>(), Ok(address.clone()), "{text}");
            assert_eq!(
                text.parse::<Target>(),
                Ok(Target::Address(address)),
                "{text}"
            );
        }
    }

    #[test]
    fn addresses_read_as_documented() {
        let shown: Vec<String> = every_address().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "unit.app_db.service",
                "unit.app-db.timer",
                "cron.0day",
                "job.files",
                "artifact.offsite.app_db.20261121T021500Z",
                "artifact.local.app_db.20261121T021500Z-2",
            ]
        );
    }

    #[test]
    fn every_target_reads_back_as_itself() {
        let targets = [
            Target::Units { job: "app".into() },
            Target::Artifacts {
                destination: "offsite".into(),
                job: None,
            },
            Target::Artifacts {
                destination: "offsite".into(),
                job: Some("app".into()),
            },
        ];
        for target in targets {
            let text = target.to_string();
            assert_eq!(text.parse::<Target>(), Ok(target), "{text}");
        }
    }

    #[test]
    fn rejects_what_is_no_address() {
        for bad in [
            "",
            "unit",
            "job",
            "unit.app",
            "unit.app.socket",
            "unit.app.timer.x",
            "cron.app.x",
            "job.app.x",
            "job.App",
            "job.",
            "store.app",
            "artifact.local.app",
            "artifact.local.app.latest",
            "artifact.local.app.20261121T021500Z.x",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_what_is_no_target_and_names_the_forms() {
        for bad in [
            "",
            "unit",
            "artifact",
            "store.app",
            "unit.ap.p",
            "job.a b",
            "cron.",
            "job..x",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
        let error = "store.app".parse::<Target>().unwrap_err().to_string();
        assert_eq!(
            error,
            format!("`store.app` is not a target: use {TARGET_FORMS}")
        );
        let error = "job.App".parse::<Target>().unwrap_err().to_string();
        assert!(error.contains("invalid name `App`"), "{error}");
    }

    #[test]
    fn targets_select_addresses_and_their_children() {
        let selects = |target: &str, address: &str| {
            target
                .parse::<Target>()
                .unwrap()
                .selects(&address.parse().unwrap())
        };
        assert!(selects("unit.app.service", "unit.app.service"));
        assert!(!selects("unit.app.service", "unit.app.timer"));
        assert!(selects("unit.app", "unit.app.timer"));
        assert!(!selects("unit.ap", "unit.app.timer"));
        assert!(selects("job.app", "job.app"));
        assert!(selects("job.app", "unit.app.timer"));
        assert!(selects("job.app", "cron.app"));
        assert!(!selects("job.app", "unit.apple.timer"));
        assert!(selects("job.app", "artifact.local.app.20261121T021500Z"));
        assert!(!selects("job.app", "artifact.local.apple.20261121T021500Z"));
        assert!(selects(
            "artifact.local",
            "artifact.local.app.20261121T021500Z"
        ));
        assert!(selects(
            "artifact.local.app",
            "artifact.local.app.20261121T021500Z"
        ));
        assert!(!selects(
            "artifact.local.apple",
            "artifact.local.app.20261121T021500Z"
        ));
        assert!(!selects("cron.app", "job.app"));
    }

    #[test]
    fn files_order_as_their_addresses_read() {
        let unit = |job: &str| FileAddress::Unit {
            job: job.into(),
            unit: UnitKind::Service,
        };
        // `-` sorts before `.`, as in the text.
        assert!(unit("a-b") < unit("a"));
    }
}
