//! The files cairn installs: systemd units and the cron.d file, rendered
//! from the handlebars templates in `templates/` (embedded in the binary).

use std::path::{Path, PathBuf};

pub mod kube;
mod yaml;

use handlebars::Handlebars;
use serde_json::json;

use crate::config::address::{FileAddress, UnitKind};
use crate::config::model::{Config, Job, JobKind, Store};
use crate::config::raw::Destination;
use crate::schedule::calendar::on_calendar;

const SERVICE_TEMPLATE: &str = include_str!("../../templates/service.hbs");
const TIMER_TEMPLATE: &str = include_str!("../../templates/timer.hbs");
const CRON_TEMPLATE: &str = include_str!("../../templates/cron.hbs");

/// The first line of every file cairn writes; a file without it is not
/// cairn's and is never overwritten or removed.
pub const OWNER_MARK: &str = "# Managed by cairn.";
/// The line that names the configuration a file was rendered from.
pub const CONFIG_MARK: &str = "# Config: ";
/// The comment that starts each job's entry in the cron file.
pub const CRON_JOB_MARK: &str = "# cairn job: ";

/// A unit file cairn wants on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    /// The job the unit belongs to.
    pub job: String,
    pub unit: UnitKind,
    pub content: String,
}

impl UnitFile {
    pub fn file_name(&self) -> String {
        unit_file_name(&self.job, self.unit)
    }

    pub fn address(&self) -> FileAddress {
        FileAddress::Unit {
            job: self.job.clone(),
            unit: self.unit,
        }
    }
}

/// `cairn-JOB.service` or `cairn-JOB.timer`.
pub fn unit_file_name(job: &str, unit: UnitKind) -> String {
    format!("cairn-{job}.{unit}")
}

/// The address of the unit file named `file_name`, if it is named like
/// one of cairn's (`cairn-JOB.service` or `cairn-JOB.timer`).
pub fn unit_address(file_name: &str) -> Option<FileAddress> {
    let (job, suffix) = file_name.strip_prefix("cairn-")?.rsplit_once('.')?;
    crate::config::name::check(job).ok()?;
    Some(FileAddress::Unit {
        job: job.to_owned(),
        unit: UnitKind::from_suffix(suffix)?,
    })
}

/// One job's entry in the cron file: a marker comment and the cron line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronEntry {
    pub job: String,
    pub text: String,
}

/// The header every generated file starts with.
pub fn header(config_path: &Path) -> String {
    format!(
        "{OWNER_MARK} Do not edit: `cairn apply` overwrites this file.\n{CONFIG_MARK}{}",
        config_path.display()
    )
}

/// Reads the configuration path from a file's header, if the file is cairn's.
pub fn owner_config(content: &str) -> Option<PathBuf> {
    let mut lines = content.lines();
    if !lines.next()?.starts_with(OWNER_MARK) {
        return None;
    }
    Some(PathBuf::from(lines.next()?.strip_prefix(CONFIG_MARK)?))
}

fn engine() -> Handlebars<'static> {
    let mut engine = Handlebars::new();
    engine.set_strict_mode(true);
    engine.register_escape_fn(handlebars::no_escape);
    for (name, template) in [
        ("service", SERVICE_TEMPLATE),
        ("timer", TIMER_TEMPLATE),
        ("cron", CRON_TEMPLATE),
    ] {
        engine
            .register_template_string(name, template)
            .expect("the embedded templates are valid");
    }
    engine
}

fn render(engine: &Handlebars, name: &str, data: &serde_json::Value) -> String {
    engine
        .render(name, data)
        .expect("the embedded templates render with the data built for them")
}

/// The command a timer or cron entry runs: `cairn run JOB --config PATH [--env NAME]`.
fn run_command(config: &Config, job: &Job) -> Vec<String> {
    let mut command = vec![
        config.settings.binary.display().to_string(),
        "run".to_owned(),
        job.name.to_string(),
        "--config".to_owned(),
        config.path.display().to_string(),
    ];
    if let Some(env) = &config.env {
        command.extend(["--env".to_owned(), env.clone()]);
    }
    // Where hosts matter, the scheduled run acts as the host the units were
    // rendered for, whatever gethostname says when the timer fires.
    let hosts_matter = job.hosts.is_some() || config.settings.hosts.is_some();
    if let (true, Some(host)) = (hosts_matter, &config.host) {
        command.extend(["--host".to_owned(), host.clone()]);
    }
    command
}

fn kind(job: &Job) -> &'static str {
    match job.kind {
        JobKind::Backup(_) => "backup",
        JobKind::Verify(_) => "verify",
    }
}

/// The service and timer of every job, in job order.
pub fn unit_files(config: &Config) -> Vec<UnitFile> {
    let engine = engine();
    let header = header(&config.path);
    let mut files = Vec::new();
    for job in config.host_jobs() {
        let exec_start: Vec<String> = run_command(config, job)
            .iter()
            .map(|arg| systemd_quote(arg))
            .collect();
        let service = render(
            &engine,
            "service",
            &json!({
                "header": header,
                "kind": kind(job),
                "job": job.name,
                "exec_start": exec_start.join(" "),
                "user": config.settings.run_as,
                "after": job.waits_for()
                    .iter()
                    .map(|other| unit_file_name(other.as_str(), UnitKind::Service))
                    .collect::<Vec<_>>(),
                "environment_file": config.settings.environment_file.as_ref().map(|p| systemd_escape(&p.display().to_string())),
                "timeout": job.timeout.map_or("infinity".to_owned(), |t| t.as_seconds().to_string()),
                "read_write_paths": read_write_paths(config, job)
                    .iter()
                    .map(|p| systemd_escape(&p.display().to_string()))
                    .collect::<Vec<_>>(),
            }),
        );
        let timer = render(
            &engine,
            "timer",
            &json!({
                "header": header,
                "kind": kind(job),
                "job": job.name,
                "cron": job.schedule.cron.source(),
                "on_calendar": on_calendar(&job.schedule.cron, &config.settings.timezone),
                "jitter": (!job.schedule.jitter.is_zero()).then(|| job.schedule.jitter.as_seconds()),
                "persistent": job.schedule.persistent,
                "service": unit_file_name(job.name.as_str(), UnitKind::Service),
            }),
        );
        files.push(UnitFile {
            job: job.name.to_string(),
            unit: UnitKind::Service,
            content: service,
        });
        files.push(UnitFile {
            job: job.name.to_string(),
            unit: UnitKind::Timer,
            content: timer,
        });
    }
    files
}

/// Where a job's service may write under ProtectSystem=strict: the state
/// dir, its local destinations, and the directory of a SQLite database (whose
/// lock and WAL files live beside it).
fn read_write_paths(config: &Config, job: &Job) -> Vec<PathBuf> {
    let mut paths = vec![config.settings.state_dir.clone()];
    if let Some(backup) = job.backup() {
        for destination in &backup.to {
            if let Some(Destination::Local(local)) = config.destinations.get(destination) {
                paths.push(local.path.clone());
            }
        }
    }
    if let Some(Store::Sqlite(sqlite)) = config.store_of(job) {
        if let Some(dir) = sqlite.path.parent() {
            paths.push(dir.to_owned());
        }
    }
    paths.dedup();
    paths
}

/// Each job's cron entry (of the host's jobs), in job order.
pub fn cron_entries(config: &Config) -> Vec<CronEntry> {
    config
        .host_jobs()
        .map(|job| {
            let command: Vec<String> = run_command(config, job)
                .iter()
                .map(|a| shell_quote(a))
                .collect();
            let mut shell = String::new();
            if let Some(file) = &config.settings.environment_file {
                let file = shell_quote(&file.display().to_string());
                shell.push_str(&format!("set -a; [ ! -r {file} ] || . {file}; set +a; "));
            }
            if !job.schedule.jitter.is_zero() {
                shell.push_str(&format!(
                    "sleep \"$(shuf -i 0-{} -n 1)\"; ",
                    job.schedule.jitter.as_seconds()
                ));
            }
            // flock -n: a run still going when the next one is due makes the
            // next one skip instead of overlapping.
            shell.push_str(&format!(
                "CAIRN_REASON=scheduled exec flock -n /run/lock/cairn-{}.lock {}",
                job.name,
                command.join(" ")
            ));
            let line = format!(
                "{} {} sh -c {}",
                job.schedule.cron.source(),
                config.settings.run_as,
                cron_escape(&shell_quote(&shell))
            );
            CronEntry {
                job: job.name.to_string(),
                text: format!("{CRON_JOB_MARK}{} ({})\n{line}", job.name, kind(job)),
            }
        })
        .collect()
}

/// The whole cron file for `entries`.
pub fn cron_file(config_path: &Path, entries: &[CronEntry]) -> String {
    let jobs: Vec<serde_json::Value> = entries
        .iter()
        .map(|entry| {
            let (marker, line) = entry.text.split_once('\n').unwrap_or((&entry.text, ""));
            json!({ "marker": marker, "line": line })
        })
        .collect();
    render(
        &engine(),
        "cron",
        &json!({ "header": header(config_path), "jobs": jobs }),
    )
}

/// Splits an existing cron file into its job entries.
pub fn parse_cron_entries(content: &str) -> Vec<CronEntry> {
    let mut entries: Vec<CronEntry> = Vec::new();
    let mut lines = content.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix(CRON_JOB_MARK) else {
            continue;
        };
        let job = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let next = lines.next().unwrap_or_default();
        entries.push(CronEntry {
            job,
            text: format!("{line}\n{next}"),
        });
    }
    entries
}

/// Quotes one ExecStart argument for systemd: `%` and `$` are specifiers
/// and variables there, whitespace splits arguments, quotes and backslashes
/// are syntax.
fn systemd_quote(arg: &str) -> String {
    let escaped = systemd_escape(arg);
    if !escaped.is_empty() && !escaped.contains(|c: char| c.is_whitespace() || "\"'\\".contains(c))
    {
        return escaped;
    }
    format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Escapes systemd's specifier and variable characters.
fn systemd_escape(text: &str) -> String {
    text.replace('%', "%%").replace('$', "$$")
}

/// Quotes a word for sh.
fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// cron turns an unescaped `%` into a newline.
fn cron_escape(command: &str) -> String {
    command.replace('%', "\\%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_carry_the_owner_and_the_config() {
        let header = header(Path::new("/etc/cairn/backup.toml"));
        let content = format!("{header}\n[Unit]\n");
        assert_eq!(
            owner_config(&content),
            Some(PathBuf::from("/etc/cairn/backup.toml"))
        );
        assert_eq!(owner_config("[Unit]\nDescription=x\n"), None);
    }

    #[test]
    fn arguments_are_quoted_for_systemd_and_sh() {
        assert_eq!(systemd_quote("/usr/bin/cairn"), "/usr/bin/cairn");
        assert_eq!(
            systemd_quote("/srv/my backups/b.toml"),
            "\"/srv/my backups/b.toml\""
        );
        assert_eq!(systemd_quote("50%"), "50%%");
        assert_eq!(systemd_quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(shell_quote("/usr/bin/cairn"), "/usr/bin/cairn");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(cron_escape("date +%F"), "date +\\%F");
    }

    #[test]
    fn cron_entries_round_trip_through_the_file() {
        let entries = vec![
            CronEntry {
                job: "a".into(),
                text: format!("{CRON_JOB_MARK}a (backup)\n0 3 * * * root true"),
            },
            CronEntry {
                job: "b".into(),
                text: format!("{CRON_JOB_MARK}b (verify)\n@daily root true"),
            },
        ];
        let file = cron_file(Path::new("/x/backup.toml"), &entries);
        assert_eq!(parse_cron_entries(&file), entries);
        assert_eq!(owner_config(&file), Some(PathBuf::from("/x/backup.toml")));
    }
}
