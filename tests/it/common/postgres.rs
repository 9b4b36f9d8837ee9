//! The suite's PostgreSQL (`CAIRN_TEST_PG_*`), driven with its own client
//! tools as the test user over TCP, the password in PGPASSWORD.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{tool, Sandbox, Servers};

/// The rows of a source database's table `t`, in a stable order.
pub const PG_ROWS: &str = "select * from t order by id";

pub struct Postgres {
    pub host: String,
    pub port: String,
    pub user: String,
    pub password: String,
    bin: PathBuf,
}

impl Postgres {
    pub fn new(servers: &Servers) -> Self {
        Postgres {
            host: servers.var("CAIRN_TEST_PG_HOST").to_owned(),
            port: servers.var("CAIRN_TEST_PG_PORT").to_owned(),
            user: servers.var("CAIRN_TEST_PG_USER").to_owned(),
            password: servers.var("CAIRN_TEST_PG_PASSWORD").to_owned(),
            bin: PathBuf::from(servers.var("CAIRN_TEST_PG_BIN")),
        }
    }

    /// A client tool (`psql`, `pg_restore`, …) connecting as the test user.
    pub fn tool(&self, program: &str) -> Command {
        let mut command = Command::new(Path::new(&self.bin).join(program));
        command
            .arg("--host")
            .arg(&self.host)
            .arg("--port")
            .arg(&self.port)
            .arg("--username")
            .arg(&self.user)
            .arg("--no-password")
            .env("PGPASSWORD", &self.password);
        command
    }

    pub fn psql_command(&self, database: &str, sql: &str) -> Command {
        let mut command = self.tool("psql");
        command
            .args(["--no-psqlrc", "-At", "-v", "ON_ERROR_STOP=1", "--dbname"])
            .arg(database)
            .arg("--command")
            .arg(sql);
        command
    }

    pub fn psql(&self, database: &str, sql: &str) -> String {
        tool(&mut self.psql_command(database, sql))
    }

    /// Creates an empty database (dropping one left by an earlier run) that
    /// the sandbox drops when the test ends.
    pub fn create_database(&self, sandbox: &Sandbox, name: &str) {
        let drop = format!("drop database if exists {name} with (force)");
        sandbox.clean_up_with(self.psql_command("postgres", &drop));
        self.psql("postgres", &drop);
        self.psql("postgres", &format!("create database {name}"));
    }

    /// Creates database `name` with a table `t` of `rows` rows that differ
    /// from database to database (so that swapped streams would show).
    pub fn create_source(&self, sandbox: &Sandbox, name: &str, rows: u32) {
        self.create_database(sandbox, name);
        self.psql(
            name,
            &format!(
                "create table t (id int primary key, name text not null, amount numeric(12,2),
                                 tags text[], payload jsonb, created timestamptz);
                 create index t_by_name on t (name);
                 insert into t
                 select i, '{name} row ' || i || case when i % 7 = 0 then ' zoë ''q''' else '' end,
                        i * 1.25, array['a' || i, 'b'], jsonb_build_object('n', i),
                        timestamptz '2026-01-01 00:00:00+00' + i * interval '1 hour'
                 from generate_series(1, {rows}) as i;
                 update t set amount = null where id % 5 = 0;"
            ),
        );
    }

    /// Creates database `name` with a table of `rows` rows of 1 KiB of
    /// random text: a dump of about `rows` KiB.
    pub fn create_noise(&self, sandbox: &Sandbox, name: &str, rows: u32) {
        self.create_database(sandbox, name);
        self.psql(
            name,
            &format!(
                "CREATE TABLE noise AS SELECT i, repeat(md5(random()::text), 32) AS text \
                 FROM generate_series(1, {rows}) AS i"
            ),
        );
    }

    /// The lines of a store of `databases` on this server, plus `extra`.
    pub fn store(&self, databases: &[&str], extra: &str) -> String {
        format!(
            "kind = \"postgres\"\nhost = \"{}\"\nport = {}\nuser = \"{}\"\ndatabases = {databases:?}\n{extra}",
            self.host, self.port, self.user,
        )
    }

    /// A DSN with the password as an operator writes it, from the
    /// environment variable `var`; cairn takes the password out again.
    pub fn dsn_with_password_from(&self, var: &str) -> String {
        format!(
            "postgresql://{}:${{{var}}}@{}:{}/postgres",
            self.user, self.host, self.port
        )
    }
}
