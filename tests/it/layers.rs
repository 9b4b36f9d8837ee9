//! The layer table (docs/architecture.md): every top-level module of `src/`
//! has one place in it, and a module imports only modules below its own
//! place, so no two modules import each other.

use std::path::Path;

use crate::common::layers::{check, Import};

/// Top to bottom; a module may import only the modules after it.
const LAYERS: &[(&str, &[&str])] = &[
    ("cli: parse a command, call one op, print", &["cli"]),
    ("ops: one use case each", &["ops"]),
    (
        "engines",
        &[
            "apply",
            "plan",
            "units",
            "status",
            "restore",
            "backup",
            "notify",
            "inventory",
            "retention",
            "wal",
        ],
    ),
    (
        "infrastructure",
        &["history", "stores", "pipeline", "destinations", "manifest"],
    ),
    (
        "base",
        &[
            "config", "schedule", "graph", "state", "lock", "cancel", "atomic", "recycle",
            "output", "format", "duration", "exit",
        ],
    ),
];

fn table() -> Vec<&'static str> {
    LAYERS
        .iter()
        .flat_map(|(_, modules)| modules.iter().copied())
        .collect()
}

fn listing(imports: &[Import]) -> String {
    imports.iter().map(|i| format!("\n  {i}")).collect()
}

#[test]
fn src_imports_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let table = table();
    let report = check(&src, &table);
    assert!(
        report.unplaced.is_empty(),
        "top-level modules missing from the layer table in tests/it/layers.rs: {:?}",
        report.unplaced
    );
    for module in &table {
        assert!(
            src.join(format!("{module}.rs")).exists() || src.join(module).is_dir(),
            "the layer table names `{module}`, which src/ does not have"
        );
    }
    assert!(
        report.upward.is_empty(),
        "imports of a module at the same place or above in the layer table:{}",
        listing(&report.upward)
    );
    // The scan sees the crate: the engines reach the base layer.
    assert!(
        report
            .imports
            .iter()
            .any(|i| i.from == "ops" && i.to == "backup"),
        "the scan found no import of `backup` by `ops`; is it reading src/?"
    );
}

#[test]
fn the_check_fails_on_an_upward_import() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layers/src");
    let report = check(&root, &["cli", "config", "format"]);
    let upward: Vec<(String, usize, &str, &str)> = report
        .upward
        .iter()
        .map(|i| {
            (
                i.file.display().to_string(),
                i.line,
                i.from.as_str(),
                i.to.as_str(),
            )
        })
        .collect();
    assert_eq!(
        upward,
        [
            ("config/model.rs".to_owned(), 4, "config", "cli"),
            ("config/model.rs".to_owned(), 8, "config", "cli"),
            ("config/model.rs".to_owned(), 12, "config", "cli"),
        ],
        "comments, strings and `super::` inside the file's own module are not imports"
    );
    assert!(report.unplaced.is_empty());
    // Downward imports are seen and allowed.
    assert!(report
        .imports
        .iter()
        .any(|i| i.from == "cli" && i.to == "config"));
    assert!(report
        .imports
        .iter()
        .any(|i| i.from == "config" && i.to == "format"));

    let without_format = check(&root, &["cli", "config"]);
    assert_eq!(without_format.unplaced, ["format"]);
}
