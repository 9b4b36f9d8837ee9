//! Executes a plan's actions: writes and removes the files (then tells
//! systemd when it is running and `--root` is not set), runs the due jobs in
//! graph order, prunes and cleans up.

mod jobs;

use std::path::Path;
use std::process::Command;

use crate::atomic;
use crate::config::model::Config;
use futures::future::LocalBoxFuture;

use crate::history::RunRecord;
use crate::plan::{Action, ActionKind, Operation, Plan, UnitKind};
use crate::state::Host;
use crate::units::{self as files, CronEntry};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    #[error("cannot write {path}: {source}")]
    #[diagnostic(help(
        "check that the directory exists and is writable (run as root, or use --root DIR)"
    ))]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs one due job for apply and returns its record; the caller (ops)
/// supplies it, with the job's lock, history and notifications.
pub trait JobRunner {
    type Error: std::fmt::Display;

    fn run<'a>(&'a self, job: &'a str) -> LocalBoxFuture<'a, Result<RunRecord, Self::Error>>;
}

/// What apply did, for its closing lines.
#[derive(Debug, Default)]
pub struct Outcome {
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
    pub ran: usize,
    pub pruned: usize,
    pub cleaned: usize,
    /// What was said to systemd, or why nothing was.
    pub notes: Vec<String>,
    /// systemctl failures: the files are in place but systemd did not take them.
    pub errors: Vec<String>,
}

impl Outcome {
    /// The closing line of `cairn apply`.
    pub fn summary(&self) -> String {
        format!(
            "\nApply complete! Resources: {} added, {} changed, {} destroyed; {} run{}, {} pruned, {} cleaned up.\n",
            self.added,
            self.changed,
            self.destroyed,
            self.ran,
            if self.ran == 1 { "" } else { "s" },
            self.pruned,
            self.cleaned
        )
    }
}

/// How apply runs jobs.
pub struct ApplyOptions {
    /// Jobs run at once.
    pub parallelism: usize,
    /// The time of the plan, which names the runs' artifacts.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Applies `plan`: files first, each written atomically, then the runs with
/// their prunes, then the other prunes and the cleanups.
pub async fn apply<R: JobRunner>(
    plan: &Plan,
    config: &Config,
    host: &Host,
    options: &ApplyOptions,
    runner: &R,
) -> Result<Outcome, ApplyError> {
    let mut outcome = apply_files(plan, config, host)?;
    jobs::apply(plan, config, options, runner, &mut outcome).await;
    Ok(outcome)
}

fn apply_files(plan: &Plan, config: &Config, host: &Host) -> Result<Outcome, ApplyError> {
    let mut outcome = Outcome::default();
    let systemd = systemd_reachable(host);
    let (kube_actions, file_actions): (Vec<&Action>, Vec<&Action>) = plan
        .actions
        .iter()
        .filter(|a| a.file().is_some())
        .partition(|a| a.file().is_some_and(|file| file.address.is_kube()));
    let (unit_actions, cron_actions): (Vec<&Action>, Vec<&Action>) = file_actions
        .into_iter()
        .partition(|a| a.file().is_some_and(|file| file.address.is_unit()));
    // Manifests are only written: Argo CD or Flux applies them.
    write_whole_files(&kube_actions, &mut outcome)?;
    let timer_of = |action: &Action| -> Option<String> {
        let job = action.file()?.address.timer_job()?;
        Some(files::unit_file_name(job, UnitKind::Timer))
    };

    // Stop removed timers before their files go.
    if systemd.is_ok() {
        for action in &unit_actions {
            if let (Operation::Destroy { .. }, Some(timer)) = (&action.operation, timer_of(action))
            {
                systemctl(&["disable", "--now", &timer], &mut outcome);
            }
        }
    }

    write_whole_files(&unit_actions, &mut outcome)?;

    if let Some(file) = cron_actions.first().and_then(|a| a.file()) {
        apply_cron(config, &file.path, &cron_actions)?;
        for action in &cron_actions {
            count(&mut outcome, action.kind());
        }
    }

    match systemd {
        Ok(()) if !unit_actions.is_empty() => {
            systemctl(&["daemon-reload"], &mut outcome);
            for action in &unit_actions {
                let Some(timer) = timer_of(action) else {
                    continue;
                };
                match action.kind() {
                    ActionKind::Create => systemctl(&["enable", "--now", &timer], &mut outcome),
                    ActionKind::Update => systemctl(&["restart", &timer], &mut outcome),
                    _ => {}
                }
            }
        }
        Ok(()) => {}
        Err(reason) if !unit_actions.is_empty() => {
            outcome.notes.push(format!(
                "systemd was not reloaded and no timer was enabled or disabled: {reason}"
            ));
        }
        Err(_) => {}
    }
    Ok(outcome)
}

/// Writes or removes each file of `actions` (unit files, manifests: one
/// file per action, unlike the cron file's entries).
fn write_whole_files(actions: &[&Action], outcome: &mut Outcome) -> Result<(), ApplyError> {
    for action in actions {
        match &action.operation {
            Operation::Create { file, content } | Operation::Update { file, content } => {
                write(&file.path, content)?
            }
            Operation::Destroy { file } => remove(&file.path)?,
            _ => continue,
        }
        count(outcome, action.kind());
    }
    Ok(())
}

fn count(outcome: &mut Outcome, action: ActionKind) {
    match action {
        ActionKind::Create => outcome.added += 1,
        ActionKind::Update => outcome.changed += 1,
        ActionKind::Destroy => outcome.destroyed += 1,
        _ => {}
    }
}

fn write(path: &Path, content: &str) -> Result<(), ApplyError> {
    atomic::write_file(path, content.as_bytes(), 0o644).map_err(|source| ApplyError::Write {
        path: path.display().to_string(),
        source,
    })
}

fn remove(path: &Path) -> Result<(), ApplyError> {
    match atomic::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ApplyError::Write {
            path: path.display().to_string(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Rewrites the cron file with the planned entries changed, keeping the
/// entries the plan did not touch (a targeted plan), in job order.
fn apply_cron(config: &Config, path: &Path, actions: &[&Action]) -> Result<(), ApplyError> {
    let current = fs_err::read_to_string(path)
        .ok()
        .filter(|text| files::owner_config(text).as_deref() == Some(&config.path));
    let mut entries: Vec<CronEntry> = current
        .as_deref()
        .map(files::parse_cron_entries)
        .unwrap_or_default();
    for action in actions {
        let Some(file) = action.file() else { continue };
        let job = file.address.job();
        entries.retain(|entry| entry.job != job);
        if let Some(text) = action.content() {
            entries.push(CronEntry {
                job: job.to_owned(),
                text: text.to_owned(),
            });
        }
    }
    let position = |job: &str| {
        config
            .jobs
            .keys()
            .position(|j| j.as_str() == job)
            .unwrap_or(usize::MAX)
    };
    entries.sort_by_key(|entry| (position(&entry.job), entry.job.clone()));
    if entries.is_empty() {
        remove(path)
    } else {
        write(path, &files::cron_file(&config.path, &entries))
    }
}

/// Why cairn does not talk to systemd.
#[derive(Debug, thiserror::Error)]
enum NoSystemd {
    #[error("--root is set (files were written under {})", .0.display())]
    Root(std::path::PathBuf),
    #[error("systemd is not running on this host")]
    NotRunning,
}

/// Whether cairn may talk to systemd, or why not.
fn systemd_reachable(host: &Host) -> Result<(), NoSystemd> {
    if let Some(root) = &host.root {
        return Err(NoSystemd::Root(root.clone()));
    }
    if !Path::new("/run/systemd/system").exists() {
        return Err(NoSystemd::NotRunning);
    }
    Ok(())
}

fn systemctl(args: &[&str], outcome: &mut Outcome) {
    let shown = format!("systemctl {}", args.join(" "));
    match Command::new("systemctl").args(args).output() {
        Ok(output) if output.status.success() => outcome.notes.push(format!("ran `{shown}`")),
        Ok(output) => outcome.errors.push(format!(
            "`{shown}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(error) => outcome
            .errors
            .push(format!("`{shown}` could not run: {error}")),
    }
}
