//! The shipped examples are valid, with and without their environments.

use crate::common::{assert_valid, root, Cairn};

#[test]
fn reference_example_is_valid() {
    assert_valid("backup.toml.example", None);
    assert_valid("backup.toml.example", Some("staging"));
}

#[test]
fn quickstart_is_valid_without_warnings() {
    assert_valid("examples/quickstart/backup.toml", None);
    let out = Cairn::new(&root())
        .args(["--config", "examples/quickstart/backup.toml", "validate"])
        .run();
    assert!(
        out.stderr.is_empty(),
        "the quickstart should have no warnings:\n{}",
        out.stderr
    );
}

#[test]
fn production_is_valid_in_every_environment() {
    for env in [None, Some("staging"), Some("prod")] {
        assert_valid("examples/production/backup.toml", env);
    }
}

#[test]
fn environments_override_the_base() {
    // The staging overlay switches the time zone; a cron scheduler on this
    // (UTC) host accepts it only because the overlay was applied.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("backup.toml");
    std::fs::write(
        &config,
        r#"
[settings]
scheduler = "cron"
timezone = "America/New_York"

[stores.db]
kind = "sqlite"
path = "app.db"

[destinations.local]
kind = "local"
path = "backups"

[jobs.db]
store = "db"
schedule = { cron = "@daily" }
to = ["local"]
retention = { daily = 7 }

[env.ci.settings]
timezone = "Etc/UTC"
"#,
    )
    .unwrap();
    let base = Cairn::new(dir.path()).args(["validate"]).run();
    assert_eq!(base.code, 1, "{}", base.stderr);
    let ci = Cairn::new(dir.path())
        .args(["--env", "ci", "validate"])
        .run();
    assert_eq!(ci.code, 0, "{}", ci.stderr);
    // The file overlay comes after the [env.NAME] table and wins over it.
    std::fs::write(
        dir.path().join("backup.ci.toml"),
        "[settings]\ntimezone = \"Asia/Tokyo\"\n",
    )
    .unwrap();
    let file = Cairn::new(dir.path())
        .args(["--env", "ci", "validate"])
        .run();
    assert_eq!(file.code, 1, "{}", file.stderr);
    assert!(
        file.stderr.contains("backup.ci.toml"),
        "the error points into the overlay:\n{}",
        file.stderr
    );
    // An environment that is defined nowhere is an error naming it.
    let unknown = Cairn::new(dir.path())
        .args(["--env", "qa", "validate"])
        .run();
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("environment `qa` is not defined"),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stderr.contains("`ci`"), "{}", unknown.stderr);
}

#[test]
fn variables_are_interpolated_and_defaults_apply() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("backup.toml"),
        r#"
[stores.pg]
kind = "postgres"
dsn = "postgresql://backup:${PG_SECRET}@${PGHOST:-127.0.0.1}/postgres"
databases = ["app"]
port = "${PG_SECRET}"

[destinations.local]
kind = "local"
path = "backups"

[jobs.pg]
store = "pg"
schedule = { cron = "@daily" }
to = ["local"]
retention = { daily = 7 }
"#,
    )
    .unwrap();
    let out = Cairn::new(dir.path())
        .env("PG_SECRET", "hunter2-very-secret")
        .arg("validate")
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    // The value came from the environment: the error shows `${PG_SECRET}`,
    // never the secret itself.
    assert!(
        !out.stderr.contains("hunter2"),
        "secret printed:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("${PG_SECRET}"), "{}", out.stderr);
}

#[test]
fn a_postgres_dsn_naming_its_database_needs_no_databases_list() {
    let dir = tempfile::tempdir().unwrap();
    let write = |dsn: &str| {
        std::fs::write(
            dir.path().join("backup.toml"),
            format!(
                r#"
[stores.pg]
kind = "postgres"
dsn = "{dsn}"

[destinations.local]
kind = "local"
path = "backups"

[jobs.pg]
store = "pg"
schedule = {{ cron = "@daily" }}
to = ["local"]
retention = {{ daily = 7 }}
"#
            ),
        )
        .unwrap();
    };
    let load = || {
        cairn::config::load(&cairn::config::LoadOptions {
            path: &dir.path().join("backup.toml"),
            env: None,
            lookup: &|_| None,
            host_timezone: Some("UTC".to_owned()),
            files: &cairn::config::Disk,
            unset: cairn::config::Unset::Error,
        })
    };
    write("postgresql://backup@db.internal/app");
    let (config, _) = load().expect("a DSN naming its database is enough");
    match config.stores.values().next() {
        Some(cairn::config::model::Store::Postgres(pg)) => assert_eq!(pg.databases, ["app"]),
        other => panic!("expected the postgres store, got {other:?}"),
    }
    write("host=db.internal user=backup dbname=orders");
    let (config, _) = load().expect("a keyword DSN naming its database is enough");
    match config.stores.values().next() {
        Some(cairn::config::model::Store::Postgres(pg)) => assert_eq!(pg.databases, ["orders"]),
        other => panic!("expected the postgres store, got {other:?}"),
    }
    // Without a database in the DSN the list stays required.
    write("postgresql://backup@db.internal");
    let diagnostics = load().expect_err("no database anywhere");
    assert_eq!(diagnostics.error_count(), 1);
    let shown = diagnostics.render(false, 100);
    assert!(shown.contains("lists no databases"), "{shown}");
}
