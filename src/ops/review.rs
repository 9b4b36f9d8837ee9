//! `cairn plan --against X` (SPEC §13): the configuration as it was at X — a
//! file, or a Git revision of the repository holding the configuration —
//! loaded beside the working one, both offline: no environment file, no
//! state directory, no destination, no credentials.

use std::cell::RefCell;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::diagnostic::Diagnostics;
use crate::config::{self, Config, Files, LoadOptions, Unset};

/// Where the *before* side comes from.
#[derive(Debug, Clone)]
pub enum Against {
    /// A file given by path, read as if it stood where the configuration
    /// does (its overlays beside it).
    File(PathBuf),
    /// A commit of the repository at `top`.
    Revision {
        top: PathBuf,
        commit: String,
        /// What the operator typed.
        given: String,
    },
}

impl Against {
    /// How the review names the before side.
    pub fn describe(&self) -> String {
        match self {
            Against::File(path) => path.display().to_string(),
            Against::Revision { commit, given, .. } if given.starts_with(commit.as_str()) => {
                short(commit).to_owned()
            }
            Against::Revision { commit, given, .. } => format!("{given} ({})", short(commit)),
        }
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// X is neither a file nor a revision, or Git cannot be run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AgainstError {
    #[error("`{given}` is not a file, and {config} is not in a Git repository to read it as a revision ({why})")]
    #[diagnostic(help(
        "pass the path of the earlier backup.toml, or run from a Git checkout that holds the configuration"
    ))]
    NoRepository {
        given: String,
        config: String,
        why: String,
    },
    #[error("`{given}` is neither a file nor a commit of the repository at {top}")]
    #[diagnostic(help(
        "pass a branch, tag or commit that exists here (in CI, fetch enough history: `git fetch origin main`), or the path of a file"
    ))]
    UnknownRevision { given: String, top: String },
    #[error("{config} is outside the repository at {top}")]
    #[diagnostic(help("run cairn from the checkout that holds the configuration"))]
    Outside { config: String, top: String },
}

/// Resolves X: a path that exists is a file, anything else a revision.
pub fn resolve(config: &Path, given: &str) -> Result<Against, AgainstError> {
    if Path::new(given).exists() {
        return Ok(Against::File(config::absolute(Path::new(given))));
    }
    let dir = config_dir(config);
    let top =
        git(&dir, &["rev-parse", "--show-toplevel"]).map_err(|why| AgainstError::NoRepository {
            given: given.to_owned(),
            config: config.display().to_string(),
            why,
        })?;
    let top = PathBuf::from(top.trim_end());
    let commit = git(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{given}^{{commit}}"),
        ],
    )
    .map_err(|_| AgainstError::UnknownRevision {
        given: given.to_owned(),
        top: top.display().to_string(),
    })?;
    let against = Against::Revision {
        top,
        commit: commit.trim().to_owned(),
        given: given.to_owned(),
    };
    // The configuration must be inside the repository.
    if let Against::Revision { top, .. } = &against {
        if relative(top, config).is_none() {
            return Err(AgainstError::Outside {
                config: config.display().to_string(),
                top: top.display().to_string(),
            });
        }
    }
    Ok(against)
}

/// Both sides of a review: each valid, or its diagnostics.
pub struct Sides {
    pub before: Result<(Config, Diagnostics), Diagnostics>,
    pub after: Result<(Config, Diagnostics), Diagnostics>,
    /// The values `${VAR}`s took (name, value), to be masked wherever the
    /// review prints them.
    pub variables: Vec<(String, String)>,
}

/// Loads the before side from `against` and the after side from the
/// working file, each at the working file's path (so that the files each
/// renders differ only where the configuration does). A `${VAR}` that is
/// not set compares as its text, with a warning; the host's time zone is
/// not known (the review is for every host), so cron's zone check waits
/// for `validate` and `plan` on the host.
pub fn load(config: &Path, env: Option<&str>, against: &Against) -> Sides {
    let used = RefCell::new(Vec::new());
    #[allow(clippy::disallowed_methods)] // `${VAR}` reads the environment: this is loading.
    let lookup = |name: &str| {
        let value = std::env::var(name).ok();
        if let Some(value) = &value {
            used.borrow_mut().push((name.to_owned(), value.clone()));
        }
        value
    };
    let load = |files: &dyn Files| {
        config::load(&LoadOptions {
            path: config,
            env,
            lookup: &lookup,
            host_timezone: None,
            files,
            unset: Unset::Literal,
        })
    };
    let before = match against {
        Against::File(path) => load(&Substitute {
            at: config.to_owned(),
            from: path.clone(),
        }),
        Against::Revision { top, commit, .. } => load(&Revision {
            top: top.clone(),
            commit: commit.clone(),
        }),
    };
    let after = load(&config::Disk);
    let mut variables = used.into_inner();
    variables.sort();
    variables.dedup();
    Sides {
        before,
        after,
        variables,
    }
}

/// A file read in place of the configuration, its overlays beside it.
struct Substitute {
    at: PathBuf,
    from: PathBuf,
}

impl Substitute {
    fn actual(&self, path: &Path) -> PathBuf {
        if path == self.at {
            return self.from.clone();
        }
        // An overlay (`STEM.ENV.toml`) is looked for beside the file.
        match (path.file_name(), self.from.parent()) {
            (Some(name), Some(dir)) if path.parent() == self.at.parent() => {
                let stem = |p: &Path| {
                    p.file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                };
                let name = name.to_string_lossy();
                match name.strip_prefix(&format!("{}.", stem(&self.at))) {
                    Some(rest) => dir.join(format!("{}.{rest}", stem(&self.from))),
                    None => dir.join(name.as_ref()),
                }
            }
            _ => path.to_owned(),
        }
    }
}

impl Files for Substitute {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        fs_err::read(self.actual(path))
    }

    fn exists(&self, path: &Path) -> bool {
        self.actual(path).exists()
    }

    fn name(&self, path: &Path) -> String {
        self.actual(path).display().to_string()
    }
}

/// The files of one commit, read with `git show`.
struct Revision {
    top: PathBuf,
    commit: String,
}

impl Revision {
    fn object(&self, path: &Path) -> Option<String> {
        let relative = relative(&self.top, path)?;
        Some(format!("{}:{}", self.commit, relative.display()))
    }
}

impl Files for Revision {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        let not_found = || std::io::Error::from(ErrorKind::NotFound);
        let object = self.object(path).ok_or_else(not_found)?;
        if !self.exists(path) {
            return Err(not_found());
        }
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.top)
            .args(["show", &object])
            .output()?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(std::io::Error::other(format!(
                "git show {object}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }

    fn exists(&self, path: &Path) -> bool {
        let Some(object) = self.object(path) else {
            return false;
        };
        Command::new("git")
            .arg("-C")
            .arg(&self.top)
            .args(["cat-file", "-e", &object])
            .output()
            .is_ok_and(|output| output.status.success())
    }

    fn name(&self, path: &Path) -> String {
        match relative(&self.top, path) {
            Some(relative) => format!("{}:{}", short(&self.commit), relative.display()),
            None => path.display().to_string(),
        }
    }
}

/// The configuration's directory, with symbolic links resolved (Git gives
/// the repository's top level resolved).
fn config_dir(config: &Path) -> PathBuf {
    let dir = config
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs_err::canonicalize(dir).unwrap_or_else(|_| dir.to_owned())
}

/// `path` relative to the repository's top level.
fn relative(top: &Path, path: &Path) -> Option<PathBuf> {
    let resolved = config_dir(path).join(path.file_name()?);
    resolved.strip_prefix(top).ok().map(Path::to_owned)
}

/// Runs git in `dir`: its standard output, or why it failed.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}
