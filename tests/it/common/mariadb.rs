//! The suite's MariaDB (`CAIRN_TEST_MARIADB_*`), driven with the `mariadb`
//! client as the test user over TCP, the password in MYSQL_PWD.

use std::process::Command;

use super::{tool, Sandbox, Servers};

pub struct MariaDb {
    pub host: String,
    pub port: String,
    pub user: String,
    pub password: String,
}

impl MariaDb {
    pub fn new(servers: &Servers) -> Self {
        MariaDb {
            host: servers.var("CAIRN_TEST_MARIADB_HOST").to_owned(),
            port: servers.var("CAIRN_TEST_MARIADB_PORT").to_owned(),
            user: servers.var("CAIRN_TEST_MARIADB_USER").to_owned(),
            password: servers.var("CAIRN_TEST_MARIADB_PASSWORD").to_owned(),
        }
    }

    /// The `mariadb` client.
    pub fn client(&self) -> Command {
        let mut command = Command::new("mariadb");
        command
            .arg("--host")
            .arg(&self.host)
            .arg("--port")
            .arg(&self.port)
            .args(["--protocol=tcp", "--batch", "--skip-column-names"])
            .arg("--user")
            .arg(&self.user)
            .env("MYSQL_PWD", &self.password);
        command
    }

    pub fn sql(&self, sql: &str) -> String {
        tool(self.client().arg("--execute").arg(sql))
    }

    /// Drops `database` (if it exists) when the test ends.
    pub fn drop_at_end(&self, sandbox: &Sandbox, database: &str) {
        let mut drop = self.client();
        drop.arg("--execute")
            .arg(format!("drop database if exists {database}"));
        sandbox.clean_up_with(drop);
    }

    /// What an operator checks after a restore: the rows, the table's
    /// definition, and the triggers and routines that `--triggers --routines`
    /// promise.
    pub fn snapshot(&self, database: &str) -> String {
        self.sql(&format!(
            "select * from {database}.t order by id;
             show create table {database}.t;
             select trigger_name, action_statement from information_schema.triggers
                 where trigger_schema = '{database}';
             select routine_name, routine_definition from information_schema.routines
                 where routine_schema = '{database}';"
        ))
    }

    /// The lines of a store of `database` on this server.
    pub fn store(&self, database: &str) -> String {
        format!(
            "kind = \"mariadb\"\nhost = \"{}\"\nport = {}\nuser = \"{}\"\ndatabases = [\"{database}\"]",
            self.host, self.port, self.user,
        )
    }
}
