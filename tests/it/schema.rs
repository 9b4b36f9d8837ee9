//! The committed JSON Schema is the one the code generates.

use crate::common::{root, Cairn};

#[test]
fn committed_schema_matches_generated() {
    let generated = Cairn::new(&root()).arg("schema").run();
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let path = root().join("schemas/backup.schema.json");
    if std::env::var_os("CAIRN_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated.stdout).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated.stdout,
        "schemas/backup.schema.json differs from `cairn schema`; regenerate it with \
         `CAIRN_UPDATE_SCHEMA=1 cargo test --test it schema` (or `cargo run -- schema > schemas/backup.schema.json`) \
         and commit the result"
    );
}

#[test]
fn schema_describes_every_section() {
    let schema: serde_json::Value =
        serde_json::from_str(&Cairn::new(&root()).arg("schema").run().stdout).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    for section in [
        "settings",
        "stores",
        "destinations",
        "retention",
        "schedules",
        "jobs",
        "notify",
        "env",
    ] {
        let description = properties[section]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            !description.is_empty(),
            "section {section} has no description"
        );
    }
}
