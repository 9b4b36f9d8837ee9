//! The configuration file as written: serde types with `deny_unknown_fields`,
//! whose doc comments become the descriptions of the JSON Schema.
//!
//! Nothing here is checked beyond types; `validate` turns these into the
//! model the rest of cairn works with.
//!
//! One file per section of the file; everything is re-exported here, so
//! `raw::Store`, `raw::Job` and the rest are named from this module.

mod destinations;
mod jobs;
mod notify;
mod retention;
mod settings;
mod stores;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::name::Name;

pub use destinations::*;
pub use jobs::*;
pub use notify::*;
pub use retention::*;
pub use settings::*;
pub use stores::*;

/// cairn's configuration: what to back up, when, where to and for how long.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "cairn backup.toml")]
pub struct Config {
    /// Host-wide settings: scheduler, paths, time zone, parallelism.
    #[serde(default)]
    pub settings: Settings,
    /// Data sources, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<Store>")]
    pub stores: BTreeMap<Name, Store>,
    /// Where artifacts are stored, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<Destination>")]
    pub destinations: BTreeMap<Name, Destination>,
    /// Retention policies, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<RetentionPolicy>")]
    pub retention: BTreeMap<Name, RetentionPolicy>,
    /// Schedules, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<Schedule>")]
    pub schedules: BTreeMap<Name, Schedule>,
    /// Backup and verify jobs, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<Job>")]
    pub jobs: BTreeMap<Name, Job>,
    /// Notification channels, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<Notify>")]
    pub notify: BTreeMap<Name, Notify>,
    /// Per-environment overrides, deep-merged over the rest of the file when
    /// cairn runs with `--env NAME`.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<EnvOverlay>")]
    pub env: BTreeMap<Name, EnvOverlay>,
}

/// The top-level keys of the file, in the order the documentation lists them.
pub const SECTIONS: [&str; 8] = [
    "settings",
    "stores",
    "destinations",
    "retention",
    "schedules",
    "jobs",
    "notify",
    "env",
];

/// Overrides for one environment: any part of the file, deep-merged over it.
/// Tables merge key by key; strings, numbers and arrays replace.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvOverlay {
    /// Overrides of `[settings]`.
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[stores]`.
    pub stores: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[destinations]`.
    pub destinations: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[retention]`.
    pub retention: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[schedules]`.
    pub schedules: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[jobs]`.
    pub jobs: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[notify]`.
    pub notify: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A map keyed by names, in the schema: an object whose property names match
/// the name pattern.
fn named_map<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let values = generator.subschema_for::<T>();
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "pattern": super::name::PATTERN },
        "additionalProperties": values,
    })
}
