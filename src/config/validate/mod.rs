//! Checks beyond types: references resolve, no `after` cycle, cron
//! expressions parse, retention keeps something, schedules meet their rpo,
//! age recipients parse, options fit their kind. Produces the model.
//!
//! This file holds the entry point, [`validate`], and the `Checker` that
//! every check reports through; each section's checks live in their own file.

mod cycles;
mod destinations;
mod jobs;
mod notify;
mod retention;
mod schedules;
mod settings;
mod stores;
mod unused;
mod verify;

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};

use super::diagnostic::Diagnostic;
use super::model::{Config, Schedule};
use super::name::Name;
use super::sections::Sections;
use super::source::{Location, Sources};
use super::suggest;
use super::tree::{Node, Path};
use super::LoadOptions;

/// What every check reports through: the tree (for locations), the
/// diagnostics so far, and the entries already known to be broken.
struct Checker<'a> {
    tree: &'a Node,
    sources: &'a Sources,
    diagnostics: &'a mut Vec<Diagnostic>,
    /// Entries already reported as broken: references to them are not
    /// reported again as unknown.
    broken: Vec<(String, String)>,
    /// The directory of the base file, for relative paths.
    dir: PathBuf,
}

fn plural(what: &str) -> String {
    match what.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{what}s"),
    }
}

fn path(parts: &[&str]) -> Path {
    parts
        .iter()
        .fold(Path::root(), |path, part| path.key(*part))
}

impl Checker<'_> {
    fn location(&self, path: &Path) -> Location {
        self.tree.locate(path)
    }

    fn error(
        &mut self,
        path: &Path,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        let location = self.location(path);
        self.diagnostics
            .push(Diagnostic::error(message).label(location, label).help(help));
    }

    fn warning(
        &mut self,
        path: &Path,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        let location = self.location(path);
        self.diagnostics.push(
            Diagnostic::warning(message)
                .label(location, label)
                .help(help),
        );
    }

    /// The entry of `[section]` that `name` (written at `at`) names, or
    /// `None` once the unknown name is reported. Callers use what it
    /// returns, so nothing indexes by a name that was not found.
    fn reference<'m, T>(
        &mut self,
        at: &Path,
        section: &str,
        what: &str,
        name: &Name,
        existing: &'m BTreeMap<Name, T>,
    ) -> Option<&'m T> {
        if let Some(found) = existing.get(name) {
            return Some(found);
        }
        if self
            .broken
            .iter()
            .any(|(s, n)| s == section && n == name.as_str())
        {
            // Already reported where it is defined.
            return None;
        }
        let names: Vec<&str> = existing.keys().map(Name::as_str).collect();
        let mut help = if names.is_empty() {
            format!(
                "no {} are defined; add a [{section}.{name}] table",
                plural(what)
            )
        } else {
            format!("the {} defined are {}", plural(what), suggest::list(&names))
        };
        if let Some(close) = suggest::closest(name.as_str(), names.iter().copied()) {
            help = format!("did you mean `{close}`? {help}");
        }
        self.error(
            at,
            format!("unknown {what} `{name}`"),
            format!("no {what} named `{name}`"),
            help,
        );
        None
    }

    fn resolve(&self, path: &FsPath) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.dir.join(path)
        }
    }
}

pub(crate) fn validate(
    tree: &Node,
    sections: Sections,
    options: &LoadOptions,
    sources: &Sources,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Config> {
    let config_path = super::absolute(options.path);
    let dir = config_path
        .parent()
        .map(FsPath::to_owned)
        .unwrap_or_default();
    let Sections {
        settings,
        stores,
        destinations,
        retention,
        schedules,
        jobs,
        notify,
        broken,
    } = sections;
    let mut checker = Checker {
        tree,
        sources,
        diagnostics,
        broken,
        dir,
    };
    let (settings, timezone) =
        settings::check_settings(&mut checker, settings, options.host_timezone.as_deref());
    let stores = stores::check_stores(&mut checker, stores);
    let destinations = destinations::check_destinations(&mut checker, destinations);
    for (name, policy) in &retention {
        retention::check_keeps_something(
            &mut checker,
            &path(&["retention", name.as_str()]),
            policy,
        );
    }
    let schedules: BTreeMap<Name, Schedule> = schedules
        .into_iter()
        .filter_map(|(name, schedule)| {
            let at = path(&["schedules", name.as_str()]);
            match schedules::check_schedule(&mut checker, &at, Some(name.clone()), schedule) {
                Some(schedule) => Some((name, schedule)),
                None => {
                    checker
                        .broken
                        .push(("schedules".to_owned(), name.to_string()));
                    None
                }
            }
        })
        .collect();
    let jobs = jobs::check_jobs(
        &mut checker,
        &jobs,
        &stores,
        &destinations,
        &retention,
        &schedules,
        &settings,
    );
    cycles::check_cycles(&mut checker, &jobs);
    unused::check_unused(&mut checker, &jobs, &stores, &destinations);
    let notify = notify::check_notify(&mut checker, notify);
    // Reported only when nothing else is wrong: "nothing to do" is noise
    // beside a real error.
    if jobs.is_empty()
        && !checker.diagnostics.iter().any(Diagnostic::is_error)
        && !checker.broken.iter().any(|(section, _)| section == "jobs")
    {
        let name = &sources.get(tree.location.source).name;
        checker.diagnostics.push(
            Diagnostic::error(format!(
                "{name} defines no jobs, so cairn has nothing to do"
            ))
            .label(
                Location::new(tree.location.source, 0..0),
                "no [jobs.NAME] table in this file",
            )
            .help(
                "add a job: [jobs.NAME] with store, schedule and to; backup.toml.example shows one",
            ),
        );
    }
    let timezone = timezone?;
    Some(Config {
        path: config_path,
        env: options.env.map(str::to_owned),
        settings,
        timezone,
        stores,
        destinations,
        retention,
        schedules,
        jobs,
        notify,
        host: None,
        effective: None,
    })
}
