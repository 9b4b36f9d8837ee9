//! The observed state: the unit files and cron entries cairn finds on disk.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;

use super::PlanError;
use crate::config::model::Config;
use crate::config::raw::Scheduler;
use crate::state::Host;
use crate::units::{self as files, CronEntry};

/// What is installed now for this configuration.
#[derive(Debug, Default)]
pub struct Observed {
    /// cairn's unit files for this configuration, by file name.
    pub units: BTreeMap<String, String>,
    /// This configuration's entries in the cron file.
    pub cron_entries: Vec<CronEntry>,
}

/// `cairn-JOB.service` -> (`JOB`, `service`).
pub fn unit_job(file_name: &str) -> Option<(&str, &'static str)> {
    let rest = file_name.strip_prefix("cairn-")?;
    for suffix in ["service", "timer"] {
        if let Some(job) = rest.strip_suffix(&format!(".{suffix}")) {
            return Some((job, suffix));
        }
    }
    None
}

fn read(path: &Path) -> Result<Option<String>, PlanError> {
    match fs_err::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PlanError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

impl Observed {
    pub fn read(config: &Config, host: &Host) -> Result<Self, PlanError> {
        let mut observed = Observed::default();
        let units_dir = host.local(&config.settings.units_dir);
        let wanted_units: Vec<String> = match config.settings.scheduler {
            Scheduler::Systemd => config
                .jobs
                .keys()
                .flat_map(|job| {
                    ["service", "timer"].map(|suffix| files::unit_file_name(job.as_str(), suffix))
                })
                .collect(),
            _ => Vec::new(),
        };
        let entries = match fs_err::read_dir(&units_dir) {
            Ok(entries) => entries.filter_map(Result::ok).collect(),
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(PlanError::Read {
                    path: units_dir.display().to_string(),
                    source,
                })
            }
        };
        for entry in entries {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some((job, _)) = unit_job(&file_name) else {
                continue;
            };
            let path = entry.path();
            let Some(content) = read(&path)? else {
                continue;
            };
            match files::owner_config(&content) {
                Some(owner) if owner == config.path => {
                    observed.units.insert(file_name, content);
                }
                Some(owner) if wanted_units.contains(&file_name) => {
                    return Err(PlanError::OtherConfig {
                        path: path.display().to_string(),
                        fix: format!("rename job `{job}`"),
                        other: owner.display().to_string(),
                    })
                }
                None if wanted_units.contains(&file_name) => {
                    return Err(PlanError::Foreign {
                        path: path.display().to_string(),
                        fix: format!("move it away, or rename job `{job}`"),
                    })
                }
                // Not ours and not in our way: never touched.
                _ => {}
            }
        }

        let cron_path = host.local(&config.settings.cron_file);
        if let Some(content) = read(&cron_path)? {
            match files::owner_config(&content) {
                Some(owner) if owner == config.path => {
                    observed.cron_entries = files::parse_cron_entries(&content)
                }
                Some(owner) if config.settings.scheduler == Scheduler::Cron => {
                    return Err(PlanError::OtherConfig {
                        path: cron_path.display().to_string(),
                        fix: "give this configuration its own settings.cron_file".to_owned(),
                        other: owner.display().to_string(),
                    })
                }
                None if config.settings.scheduler == Scheduler::Cron => {
                    return Err(PlanError::Foreign {
                        path: cron_path.display().to_string(),
                        fix: "move it away, or set settings.cron_file to another file".to_owned(),
                    })
                }
                _ => {}
            }
        }
        Ok(observed)
    }
}
