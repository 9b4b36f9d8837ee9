//! Reading `backup.toml`: the base file, then the selected environment's
//! `[env.NAME]` table and `backup.NAME.toml` merged over it, then `${VAR}`s
//! expanded, as one tree that keeps every value's location.

use std::path::{Path as FsPath, PathBuf};

use super::diagnostic::{Diagnostic, Diagnostics};
use super::source::{Location, Source, SourceId};
use super::tree::Node;
use super::{absolute, interpolate, suggest, Files, LoadOptions};

fn read_source(
    files: &dyn Files,
    path: &FsPath,
    diagnostics: &mut Diagnostics,
) -> Option<(SourceId, toml_edit::Document<String>)> {
    let name = files.name(path);
    let bytes = match files.read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            diagnostics.push(
                Diagnostic::error(format!("cannot read the configuration file {name}: {}", io_reason(&error)))
                    .help("pass --config PATH or set CAIRN_CONFIG; without them cairn reads ./backup.toml"),
            );
            return None;
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            // No snippet: echoing binary data would garble the terminal.
            let offset = error.utf8_error().valid_up_to();
            diagnostics.push(
                Diagnostic::error(format!(
                    "the configuration file {name} is not UTF-8 text (first bad byte at offset {offset})"
                ))
                .help("TOML files are UTF-8; check that this is the right file and that it was not corrupted"),
            );
            return None;
        }
    };
    let id = diagnostics.sources.add(Source {
        name,
        path: absolute(path),
        text: text.clone(),
    });
    match toml_edit::Document::parse(text) {
        Ok(document) => Some((id, document)),
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            let message = error.message().trim_end().to_owned();
            diagnostics.push(
                Diagnostic::error(format!("TOML syntax error: {message}"))
                    .label(Location::new(id, span), message)
                    .help("fix the TOML syntax (https://toml.io); strings need quotes and each key appears once per table"),
            );
            None
        }
    }
}

fn io_reason(error: &std::io::Error) -> String {
    // fs_err's message repeats the path; keep only the cause.
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => std::error::Error::source(error)
            .map(ToString::to_string)
            .unwrap_or_else(|| error.to_string()),
    }
}

/// Reads the base file, merges `[env.NAME]` and `backup.NAME.toml` when an
/// environment is selected, and expands `${VAR}`s. Also returns where
/// values were left as written (a `${VAR}` not set, [`Unset::Literal`]).
pub(super) fn read_tree(
    options: &LoadOptions,
    diagnostics: &mut Diagnostics,
) -> Option<(Node, Vec<Location>)> {
    let (base_id, document) = read_source(options.files, options.path, diagnostics)?;
    let mut tree = Node::from_document(&document, base_id);
    if let Some(env) = options.env {
        let inline = tree.get("env").and_then(|envs| envs.get(env)).cloned();
        let overlay_path = overlay_path(options.path, env);
        let has_file = options.files.exists(&overlay_path);
        if inline.is_none() && !has_file {
            let mut defined: Vec<String> = tree
                .get("env")
                .and_then(Node::as_table)
                .map(|t| t.entries.keys().cloned().collect())
                .unwrap_or_default();
            defined.sort();
            let help = if defined.is_empty() {
                format!(
                    "add an [env.{env}] table or create {}",
                    overlay_path.display()
                )
            } else {
                format!(
                    "the environments defined are {}; or create {}",
                    suggest::list(&defined),
                    overlay_path.display()
                )
            };
            diagnostics
                .push(Diagnostic::error(format!("environment `{env}` is not defined")).help(help));
            return None;
        }
        if let Some(inline) = inline {
            tree.merge(inline);
        }
        if has_file {
            let (overlay_id, overlay) = read_source(options.files, &overlay_path, diagnostics)?;
            let overlay = Node::from_document(&overlay, overlay_id);
            if let Some(location) = overlay
                .as_table()
                .and_then(|t| t.entries.get("env"))
                .map(|e| e.key.clone())
            {
                diagnostics.push(
                    Diagnostic::error("an environment overlay file cannot define environments")
                        .label(location, "not allowed here")
                        .help("move [env.*] tables into the base file"),
                );
                return None;
            }
            tree.merge(overlay);
        }
    }
    let literal = interpolate::interpolate_tree(
        &mut tree,
        &diagnostics.sources,
        options.lookup,
        options.unset,
        &mut diagnostics.items,
    );
    Some((tree, literal))
}

/// `backup.NAME.toml` beside `backup.toml` (in general `STEM.NAME.toml`).
pub fn overlay_path(base: &FsPath, env: &str) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    base.with_file_name(format!("{stem}.{env}.toml"))
}
