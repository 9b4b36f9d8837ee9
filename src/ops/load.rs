//! Loading the configuration the way every command does: `${VAR}`s from the
//! process environment, cron entries in the host's time zone, and the
//! digest a saved plan records of what it was made from.

use std::path::Path;

use crate::config::diagnostic::Diagnostics;
use crate::config::{self, Config, LoadOptions};

/// A valid configuration, its warnings, and the digest of its sources (the
/// files read and `--env`), which a saved plan must match.
pub struct Loaded {
    pub config: Config,
    pub diagnostics: Diagnostics,
    pub digest: String,
}

/// Loads and validates the configuration at `path` with `--env env`;
/// every diagnostic comes back, warnings with the configuration.
pub fn load(path: &Path, env: Option<&str>) -> Result<Loaded, Diagnostics> {
    load_at(path, env, Place::Host)
}

/// [`load`] at `place`.
pub fn load_at(path: &Path, env: Option<&str>, place: Place) -> Result<Loaded, Diagnostics> {
    let (config, diagnostics) = check_at(path, env, place)?;
    let mut fingerprint = String::new();
    for source in diagnostics.sources.iter() {
        fingerprint.push_str(&format!("{}\n{}\n", source.name, source.text));
    }
    fingerprint.push_str(&format!("env={:?}\n", env.map(str::to_owned)));
    Ok(Loaded {
        config,
        diagnostics,
        digest: crate::plan::digest(&fingerprint),
    })
}

/// Where a configuration is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// On a host it runs on: every `${VAR}` must be set, and cron's zone
    /// must be the host's.
    Host,
    /// Away from the hosts (`validate --ci`: a CI runner, a pre-commit
    /// hook): a `${VAR}` not set here is checked as written, with a
    /// warning, and cron's time-zone check is left to the host.
    Away,
}

/// Where `plan` and `apply` load the file: away from the hosts when its
/// scheduler is Kubernetes (they only render manifests there, and the
/// ConfigMap keeps `${VAR}`s as written, so no secret is needed to render),
/// else on the host. Read from the base file's `[settings]`.
pub fn render_place(path: &Path) -> Place {
    let scheduler = fs_err::read_to_string(path)
        .ok()
        .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
        .and_then(|document| {
            document
                .get("settings")?
                .get("scheduler")?
                .as_str()
                .map(str::to_owned)
        });
    if scheduler.as_deref() == Some("kubernetes") {
        Place::Away
    } else {
        Place::Host
    }
}

/// Loads and validates, for `cairn validate`.
pub fn check(path: &Path, env: Option<&str>) -> Result<(Config, Diagnostics), Diagnostics> {
    check_at(path, env, Place::Host)
}

/// Loads and validates at `place`.
pub fn check_at(
    path: &Path,
    env: Option<&str>,
    place: Place,
) -> Result<(Config, Diagnostics), Diagnostics> {
    #[allow(clippy::disallowed_methods)] // `${VAR}` reads the environment: this is loading.
    let lookup = |name: &str| std::env::var(name).ok();
    let (host_timezone, unset) = match place {
        Place::Host => (Some(host_timezone()), config::Unset::Error),
        Place::Away => (None, config::Unset::Literal),
    };
    config::load(&LoadOptions {
        path,
        env,
        lookup: &lookup,
        host_timezone,
        files: &config::Disk,
        unset,
    })
}

/// The host's time zone, which cron entries fire in: /etc/timezone, else the
/// /etc/localtime link, else UTC.
pub fn host_timezone() -> String {
    if let Ok(zone) = fs_err::read_to_string("/etc/timezone") {
        let zone = zone.trim();
        if !zone.is_empty() {
            return zone.to_owned();
        }
    }
    if let Ok(target) = fs_err::read_link("/etc/localtime") {
        let target = target.to_string_lossy();
        if let Some((_, zone)) = target.split_once("zoneinfo/") {
            return zone.to_owned();
        }
    }
    "UTC".to_owned()
}
