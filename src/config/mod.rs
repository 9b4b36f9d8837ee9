//! Loading `backup.toml`: read the file, merge the selected environment's
//! overlays, expand `${VAR}`s, deserialize each entry on its own (so that one
//! bad entry does not hide the others), then validate into [`model::Config`].
//!
//! `read` builds the tree, `sections` deserializes it into the `raw` model,
//! `validate` checks it and builds the model.

pub mod address;
pub mod de;
pub mod diagnostic;
pub mod environment_file;
mod forms;
pub mod graph;
pub mod interpolate;
pub mod model;
pub mod name;
pub mod raw;
mod read;
mod redact;
mod sections;
pub mod source;
mod suggest;
pub mod tree;
mod validate;

use std::path::{Path as FsPath, PathBuf};

use diagnostic::Diagnostics;
use read::read_tree;
use sections::deserialize_sections;

pub use model::Config;
pub use read::overlay_path;
pub use redact::{redact_token_url, redact_url};

/// What loading needs from the world, passed in so that loading is testable.
pub struct LoadOptions<'a> {
    /// The configuration file.
    pub path: &'a FsPath,
    /// `--env NAME`.
    pub env: Option<&'a str>,
    /// Environment variable lookup for `${VAR}`.
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The host's own time zone (cron entries fire in it); `None` when the
    /// host is not known (a review renders for a host it cannot see).
    pub host_timezone: Option<String>,
    /// Where the files are read from: the disk, or a Git revision.
    pub files: &'a dyn Files,
    /// What a `${VAR}` that is not set becomes.
    pub unset: Unset,
}

/// The configuration files as loading reads them.
pub trait Files {
    /// The file's bytes (an error of kind `NotFound` when it is absent).
    fn read(&self, path: &FsPath) -> std::io::Result<Vec<u8>>;
    fn exists(&self, path: &FsPath) -> bool;
    /// The name diagnostics give the file.
    fn name(&self, path: &FsPath) -> String;
}

/// The files on disk.
pub struct Disk;

impl Files for Disk {
    fn read(&self, path: &FsPath) -> std::io::Result<Vec<u8>> {
        fs_err::read(path)
    }

    fn exists(&self, path: &FsPath) -> bool {
        path.exists()
    }

    fn name(&self, path: &FsPath) -> String {
        path.display().to_string()
    }
}

/// What a `${VAR}` with no value and no default becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unset {
    /// An error: the command needs the value.
    Error,
    /// Its own text, with a warning: a review compares what is written.
    Literal,
}

/// Loads and validates a configuration. Warnings come back with the
/// configuration; any error means no configuration.
pub fn load(options: &LoadOptions) -> Result<(Config, Diagnostics), Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let Some((tree, literal)) = read_tree(options, &mut diagnostics) else {
        diagnostics.sort();
        return Err(diagnostics);
    };
    let sections = deserialize_sections(&tree, &mut diagnostics.items);
    let config = validate::validate(
        &tree,
        sections,
        options,
        &diagnostics.sources,
        &mut diagnostics.items,
    );
    // A value left as written (`${VAR}` not set, in a review) may not pass
    // the checks its real value would: what they find about it is said,
    // not held against the file.
    for diagnostic in diagnostics.items.iter_mut().filter(|d| d.is_error()) {
        let about_literal = diagnostic.labels.first().is_some_and(|label| {
            literal.iter().any(|value| {
                value.source == label.location.source
                    && value.span.start < label.location.span.end.max(label.location.span.start + 1)
                    && label.location.span.start < value.span.end
            })
        });
        if about_literal {
            diagnostic.severity = diagnostic::Severity::Warning;
            diagnostic.message = format!("{} (a variable left as written)", diagnostic.message);
        }
    }
    diagnostics.sort();
    match config {
        Some(mut config) if !diagnostics.has_errors() => {
            if config.settings.scheduler == raw::Scheduler::Kubernetes {
                config.effective = Some(tree::canonical_toml(&tree));
            }
            Ok((config, diagnostics))
        }
        _ => Err(diagnostics),
    }
}

/// The absolute form of a path as the operator gave it.
pub fn absolute(path: &FsPath) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The JSON Schema of `backup.toml`, as committed in `schemas/backup.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(raw::Config);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}
