//! A configuration given as text, taken through everything `validate` and
//! `plan` do that needs no host: the real loader (the files written to a
//! scratch directory, `--env`, `${VAR}`s from the given variables),
//! validation, the diagnostics as `validate` renders them, and, when the
//! configuration is valid, the pure plan diff against an empty host
//! (nothing installed, no history, every destination empty), rendered as
//! `plan` prints it. The in-suite mutation test and the `loader` fuzz
//! target both drive this, so that they exercise one path.

use std::collections::BTreeMap;

use crate::config::{self, LoadOptions};
use crate::plan::{self, Diff, Observed, PlanOptions, Summary};

/// One configuration to probe.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// `backup.toml`, as bytes (the loader must cope with non-UTF-8).
    pub base: Vec<u8>,
    /// `--env NAME`.
    pub env: Option<String>,
    /// `backup.NAME.toml`, written beside the base file when `env` is a
    /// plain file name part (no `/`, no NUL, not too long).
    pub overlay: Option<Vec<u8>>,
    /// The environment `${VAR}`s read; nothing else is visible.
    pub vars: BTreeMap<String, String>,
    /// The host's time zone (cron entries fire in it).
    pub host_timezone: String,
}

/// How a probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The configuration was refused with this many errors.
    Invalid { errors: usize },
    /// The configuration is valid; the plan has this many actions.
    Valid { actions: usize },
}

/// Loads, validates and plans `probe` offline. Errors only when the scratch
/// directory cannot be written.
pub fn probe(probe: &Probe) -> std::io::Result<Outcome> {
    let dir = tempfile::Builder::new().prefix("cairn-probe.").tempdir()?;
    let path = dir.path().join("backup.toml");
    fs_err::write(&path, &probe.base)?;
    if let (Some(env), Some(overlay)) = (&probe.env, &probe.overlay) {
        if !env.contains(['/', '\0']) {
            // A name the file system refuses (too long) has no overlay
            // file, as it would have none for the operator.
            let _ = fs_err::write(config::overlay_path(&path, env), overlay);
        }
    }
    let lookup = |name: &str| probe.vars.get(name).cloned();
    let loaded = config::load(&LoadOptions {
        path: &path,
        env: probe.env.as_deref(),
        lookup: &lookup,
        host_timezone: Some(probe.host_timezone.clone()),
        files: &config::Disk,
        unset: config::Unset::Error,
    });
    let (config, diagnostics) = match loaded {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            diagnostics.render(false, 100);
            diagnostics.to_json();
            return Ok(Outcome::Invalid {
                errors: diagnostics.error_count(),
            });
        }
    };
    diagnostics.render(false, 100);
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-01T02:30:00Z")
        .map(|time| time.to_utc())
        .unwrap_or_default();
    let observed = Observed::empty(&config);
    let Diff { actions, notes } = plan::diff(
        &config,
        &observed,
        &PlanOptions {
            targets: &[],
            now,
            verbose: true,
            force_prune: false,
        },
    );
    let rendered = plan::Plan {
        format_version: plan::FORMAT_VERSION,
        cairn_version: String::new(),
        config: path.clone(),
        env: config.env.clone(),
        root: None,
        config_digest: String::new(),
        targets: Vec::new(),
        summary: Summary::of(&actions),
        actions,
        notes,
    };
    plan::render::text(&rendered, plan::render::Style { colour: false }, true);
    plan::render::json(&rendered);
    plan::render::markdown(&rendered);
    Ok(Outcome::Valid {
        actions: rendered.actions.len(),
    })
}
