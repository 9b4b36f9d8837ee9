//! Deserializing the tree section by section and entry by entry, so that
//! one bad entry does not hide the others, with serde's errors turned into
//! diagnostics that name the key and say how to fix it.

use std::collections::BTreeMap;

use super::de::{from_node, from_table_without, DeError};
use super::diagnostic::Diagnostic;
use super::name::{self, Name};
use super::raw;
use super::suggest;
use super::tree::{Node, Path};

/// Every section of the file, each entry deserialized on its own. Entries
/// that failed are left out (their errors are in the diagnostics).
#[derive(Debug, Default)]
pub(crate) struct Sections {
    pub settings: raw::Settings,
    pub stores: BTreeMap<Name, raw::Store>,
    pub destinations: BTreeMap<Name, raw::Destination>,
    pub retention: BTreeMap<Name, raw::RetentionPolicy>,
    pub schedules: BTreeMap<Name, raw::Schedule>,
    pub jobs: BTreeMap<Name, raw::Job>,
    pub notify: BTreeMap<Name, raw::Notify>,
    /// Entries whose name or value was rejected; references to them are not
    /// reported again as unknown.
    pub broken: Vec<(String, String)>,
}

pub(super) fn deserialize_sections(tree: &Node, diagnostics: &mut Vec<Diagnostic>) -> Sections {
    let mut sections = Sections::default();
    let Some(root) = tree.as_table() else {
        return sections;
    };
    for (key, entry) in &root.entries {
        if !raw::SECTIONS.contains(&key.as_str()) {
            let mut help = format!("the top-level tables are {}", suggest::list(&raw::SECTIONS));
            if let Some(close) = suggest::closest(key, raw::SECTIONS) {
                help = format!("did you mean `{close}`? {help}");
            }
            diagnostics.push(
                Diagnostic::error(format!("unknown top-level key `{key}`"))
                    .label(entry.key.clone(), "unknown key")
                    .help(help),
            );
        }
    }
    let root_path = Path::root();
    if let Some(node) = tree.get("settings") {
        match from_node::<raw::Settings>(node) {
            Ok(settings) => sections.settings = settings,
            Err(error) => {
                let mut diagnostic = de_diagnostic(error, "settings", node, None);
                diagnostic.message = format!("settings: {}", diagnostic.message);
                diagnostics.push(diagnostic);
            }
        }
    }
    sections.stores = section(
        tree,
        &root_path,
        "stores",
        "store",
        diagnostics,
        &mut sections.broken,
        |node| {
            tagged(node, "store", &raw::STORE_KINDS, |kind, node| {
                Some(match kind {
                    "postgres" => from_table_without(node, "kind").map(raw::Store::Postgres),
                    "redis" => from_table_without(node, "kind").map(raw::Store::Redis),
                    "mariadb" => from_table_without(node, "kind").map(raw::Store::Mariadb),
                    "sqlite" => from_table_without(node, "kind").map(raw::Store::Sqlite),
                    "directory" => from_table_without(node, "kind").map(raw::Store::Directory),
                    "cassandra" => from_table_without(node, "kind").map(raw::Store::Cassandra),
                    "kafka" => from_table_without(node, "kind").map(raw::Store::Kafka),
                    _ => return None,
                })
            })
        },
    );
    sections.destinations = section(
        tree,
        &root_path,
        "destinations",
        "destination",
        diagnostics,
        &mut sections.broken,
        |node| {
            tagged(
                node,
                "destination",
                &raw::DESTINATION_KINDS,
                |kind, node| {
                    Some(match kind {
                        "local" => from_table_without(node, "kind").map(raw::Destination::Local),
                        "s3" => from_table_without(node, "kind").map(raw::Destination::S3),
                        _ => return None,
                    })
                },
            )
        },
    );
    sections.retention = section(
        tree,
        &root_path,
        "retention",
        "retention policy",
        diagnostics,
        &mut sections.broken,
        |node| from_node(node).map_err(|e| de_diagnostic(e, "retention policy", node, None)),
    );
    sections.schedules = section(
        tree,
        &root_path,
        "schedules",
        "schedule",
        diagnostics,
        &mut sections.broken,
        |node| from_node(node).map_err(|e| de_diagnostic(e, "schedule", node, None)),
    );
    sections.jobs = section(
        tree,
        &root_path,
        "jobs",
        "job",
        diagnostics,
        &mut sections.broken,
        |node| from_node(node).map_err(|e| de_diagnostic(e, "job", node, None)),
    );
    sections.notify = section(
        tree,
        &root_path,
        "notify",
        "notifier",
        diagnostics,
        &mut sections.broken,
        |node| {
            tagged(node, "notifier", &raw::NOTIFY_KINDS, |kind, node| {
                Some(match kind {
                    "webhook" => from_table_without(node, "kind").map(raw::Notify::Webhook),
                    "command" => from_table_without(node, "kind").map(raw::Notify::Command),
                    _ => return None,
                })
            })
        },
    );
    let _envs: BTreeMap<Name, raw::EnvOverlay> = section(
        tree,
        &root_path,
        "env",
        "environment",
        diagnostics,
        &mut sections.broken,
        |node| from_node(node).map_err(|e| de_diagnostic(e, "environment", node, None)),
    );
    sections
}

/// Deserializes every entry of the table `key` with `parse`, reporting bad
/// names and bad values without stopping at the first.
fn section<T>(
    tree: &Node,
    root: &Path,
    key: &str,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
    broken: &mut Vec<(String, String)>,
    parse: impl Fn(&Node) -> Result<T, Diagnostic>,
) -> BTreeMap<Name, T> {
    let mut entries = BTreeMap::new();
    let Some(node) = tree.find(&root.key(key)) else {
        return entries;
    };
    let Some(table) = node.as_table() else {
        diagnostics.push(
            Diagnostic::error(format!(
                "`{key}` must be a table of named {what}s, not {}",
                node.type_name()
            ))
            .label(node.location.clone(), "expected a table")
            .help(format!(
                "write each {what} as its own table, e.g. [{key}.NAME]"
            )),
        );
        return entries;
    };
    for (name, entry) in &table.entries {
        let parsed = match Name::new(name) {
            Ok(name) => Some(name),
            Err(message) => {
                diagnostics.push(
                    Diagnostic::error(format!("{what} `{name}`: {message}"))
                        .label(entry.key.clone(), "invalid name")
                        .help(Name::help()),
                );
                None
            }
        };
        match parse(&entry.node) {
            Ok(value) => {
                if let Some(name) = parsed {
                    entries.insert(name, value);
                } else {
                    broken.push((key.to_owned(), name.clone()));
                }
            }
            Err(mut diagnostic) => {
                diagnostic.message = format!("{what} `{name}`: {}", diagnostic.message);
                diagnostics.push(diagnostic);
                broken.push((key.to_owned(), name.clone()));
            }
        }
    }
    entries
}

/// Deserializes a table whose `kind` key selects its type.
fn tagged<T>(
    node: &Node,
    what: &str,
    kinds: &[&str],
    by_kind: impl Fn(&str, &Node) -> Option<Result<T, DeError>>,
) -> Result<T, Diagnostic> {
    let kinds_help = format!("set kind to one of {}", suggest::list(kinds));
    if node.as_table().is_none() {
        return Err(
            Diagnostic::error(format!("expected a table, found {}", node.type_name()))
                .label(node.location.clone(), "expected a table")
                .help(format!(
                    "write the {what} as a table with a `kind`, e.g. {{ kind = \"{}\", ... }}",
                    kinds[0]
                )),
        );
    }
    let Some(kind_node) = node.get("kind") else {
        return Err(Diagnostic::error("`kind` is missing")
            .label(node.location.clone(), "this table needs a `kind`")
            .help(kinds_help));
    };
    let Some(kind) = kind_node.as_str() else {
        return Err(Diagnostic::error(format!(
            "`kind` must be a string, not {}",
            kind_node.type_name()
        ))
        .label(kind_node.location.clone(), "expected a string")
        .help(kinds_help));
    };
    match by_kind(kind, node) {
        Some(result) => result.map_err(|e| de_diagnostic(e, what, node, Some((kind, kinds)))),
        None => {
            let mut help = kinds_help;
            if let Some(close) = suggest::closest(kind, kinds.iter().copied()) {
                help = format!("did you mean `{close}`? {help}");
            }
            Err(Diagnostic::error(format!("unknown {what} kind `{kind}`"))
                .label(kind_node.location.clone(), "unknown kind")
                .help(help))
        }
    }
}

/// Turns a deserialization error into a diagnostic with a label that says
/// what is wrong at that spot and a help line that says how to fix it.
fn de_diagnostic(
    error: DeError,
    what: &str,
    node: &Node,
    kind: Option<(&str, &[&str])>,
) -> Diagnostic {
    let location = error
        .location
        .clone()
        .unwrap_or_else(|| node.location.clone());
    let mut message = error.message;
    let backticked = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let (label, help) = if let Some(rest) = message.strip_prefix("unknown field ") {
        let words = backticked(rest);
        let field = words.first().cloned().unwrap_or_default();
        let expected = &words[1.min(words.len())..];
        let mut help = match suggest::closest(&field, expected.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `{close}`? "),
            None => String::new(),
        };
        if let Some((kind, _)) = kind {
            let owners = other_kinds_with_field(what, &field, kind);
            if !owners.is_empty() {
                help.push_str(&format!(
                    "`{field}` is an option of {} {what}s, not of {kind} ones; ",
                    owners.join(" and ")
                ));
            }
        }
        if expected.is_empty() {
            help.push_str("remove it");
        } else {
            help.push_str(&format!(
                "the keys allowed here are {}",
                suggest::list(expected)
            ));
        }
        message = format!("unknown key `{field}`");
        ("unknown key".to_owned(), help)
    } else if let Some(rest) = message.strip_prefix("missing field ") {
        let field = backticked(rest).into_iter().next().unwrap_or_default();
        message = format!("required key `{field}` is missing");
        (
            format!("`{field}` is missing here"),
            format!("add `{field} = ...` to this table; backup.toml.example shows every key with an example"),
        )
    } else if message.starts_with("invalid type") {
        (
            "wrong type".to_owned(),
            "backup.toml.example shows every key with an example value".to_owned(),
        )
    } else if let Some(rest) = message.strip_prefix("unknown variant ") {
        let words = backticked(rest);
        let expected = &words[1.min(words.len())..];
        let mut help = format!("use one of {}", suggest::list(expected));
        if let Some(close) = suggest::closest(
            words.first().map(String::as_str).unwrap_or(""),
            expected.iter().map(String::as_str),
        ) {
            help = format!("did you mean `{close}`? {help}");
        }
        ("unknown value".to_owned(), help)
    } else if message.starts_with("invalid duration") {
        (
            "invalid duration".to_owned(),
            crate::duration::Duration::help().to_owned(),
        )
    } else if message.starts_with("invalid name") {
        ("invalid name".to_owned(), name::Name::help().to_owned())
    } else {
        (
            "invalid value".to_owned(),
            "backup.toml.example shows every key with an example value".to_owned(),
        )
    };
    Diagnostic::error(plain_words(&message))
        .label(location, label)
        .help(help)
}

/// serde's words for types, in the words of a TOML file.
fn plain_words(message: &str) -> String {
    [
        ("unknown variant", "unknown value"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u32", "expected a whole number from 0 up"),
        ("expected u64", "expected a whole number from 0 up"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("invalid type: map", "invalid type: table"),
        ("invalid type: sequence", "invalid type: array"),
        ("expected struct ", "expected a table for "),
    ]
    .iter()
    .fold(message.to_owned(), |text, (from, to)| {
        text.replace(from, to)
    })
}

/// The other kinds of stores (or destinations, notifiers) that have `field`,
/// read from the schema so that the answer follows the model.
fn other_kinds_with_field(what: &str, field: &str, kind: &str) -> Vec<String> {
    let definition = match what {
        "store" => "Store",
        "destination" => "Destination",
        "notifier" => "Notify",
        _ => return Vec::new(),
    };
    let schema = schemars::schema_for!(raw::Config);
    let variants = schema
        .get("$defs")
        .and_then(|defs| defs.get(definition))
        .and_then(|def| def.get("oneOf"))
        .and_then(|variants| variants.as_array())
        .cloned()
        .unwrap_or_default();
    variants
        .iter()
        .filter_map(|variant| {
            let properties = variant.get("properties")?;
            let name = properties.get("kind")?.get("const")?.as_str()?;
            (name != kind && properties.get(field).is_some()).then(|| name.to_owned())
        })
        .collect()
}
