//! MariaDB and MySQL: `mariadb-dump --single-transaction --routines --events
//! --triggers` per database (`mysqldump` where that is what is installed).
//! The password comes from MYSQL_PWD or an option file, never from cairn.

use std::collections::BTreeMap;
use std::io::Write;

use crate::cancel::Cancel;
use crate::config::raw::MariadbStore;
use crate::stores::{Dumped, Dumper, StoreError, ToolCommand};

pub struct Mariadb {
    name: String,
    store: MariadbStore,
    program: &'static str,
}

impl Mariadb {
    pub fn new(name: &str, store: &MariadbStore) -> Self {
        Self {
            name: name.to_owned(),
            store: store.clone(),
            program: super::program(store, "mariadb-dump", "mysqldump"),
        }
    }

    pub(super) fn connection_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(socket) = &self.store.socket {
            args.push(format!("--socket={}", socket.display()));
        }
        if let Some(host) = &self.store.host {
            args.push(format!("--host={host}"));
            args.push("--protocol=tcp".to_owned());
        }
        if let Some(port) = self.store.port {
            args.push(format!("--port={port}"));
        }
        if let Some(user) = &self.store.user {
            args.push(format!("--user={user}"));
        }
        args
    }
}

impl Dumper for Mariadb {
    fn streams(&self) -> Vec<String> {
        self.store
            .databases
            .iter()
            .map(|db| super::database_stream(db))
            .collect()
    }

    fn dump(
        &mut self,
        index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<Dumped, StoreError> {
        let database = &self.store.databases[index];
        ToolCommand::new(self.program, &self.store.exec)
            .args(self.connection_args())
            .args([
                "--single-transaction",
                "--routines",
                "--events",
                "--triggers",
            ])
            .arg(database.clone())
            .stream_to(out, cancel)
            .map(|stderr| Dumped { stderr })
            .map_err(|message| {
                let error = StoreError::new(&self.name, message);
                if error.message.contains("Access denied") {
                    error.with_help(
                        "set MYSQL_PWD or a [client] password in an option file for the job's user",
                    )
                } else {
                    error
                }
            })
    }

    fn source(&self) -> String {
        match (&self.store.socket, &self.store.host) {
            (Some(socket), _) => socket.display().to_string(),
            (None, Some(host)) => format!("{host}:{}", self.store.port.unwrap_or(3306)),
            (None, None) => "local server".to_owned(),
        }
    }

    fn tools(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(
            self.program.to_owned(),
            ToolCommand::new(self.program, &self.store.exec).version(),
        )])
    }
}
