//! SQLite: a consistent copy of a live database through SQLite's online
//! backup API. The API writes a database file, so this is the one store
//! that goes through a temporary local copy before streaming.

use std::collections::BTreeMap;
use std::io::Write;

use rusqlite::{Connection, OpenFlags};

use crate::cancel::Cancel;
use crate::config::raw::SqliteStore;
use crate::stores::{Dumped, Dumper, StoreError};

pub struct Sqlite {
    name: String,
    store: SqliteStore,
}

impl Sqlite {
    pub fn new(name: &str, store: &SqliteStore) -> Self {
        Self {
            name: name.to_owned(),
            store: store.clone(),
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> StoreError {
        StoreError::new(&self.name, message)
    }
}

impl Dumper for Sqlite {
    fn streams(&self) -> Vec<String> {
        vec![super::STREAM.to_owned()]
    }

    fn dump(
        &mut self,
        _index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<Dumped, StoreError> {
        let path = &self.store.path;
        if !path.is_file() {
            return Err(self
                .error(format!(
                    "{} does not exist or is not a file",
                    path.display()
                ))
                .with_help("check the store's `path`"));
        }
        let source = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| self.error(format!("cannot open {}: {e}", path.display())))?;
        let copy = tempfile::Builder::new()
            .prefix("cairn-sqlite-")
            .tempfile()
            .map_err(|e| {
                self.error(format!(
                    "cannot create a temporary file for the backup copy: {e}"
                ))
            })?;
        {
            let mut target = Connection::open(copy.path())
                .map_err(|e| self.error(format!("cannot open the temporary copy: {e}")))?;
            let backup = rusqlite::backup::Backup::new(&source, &mut target).map_err(|e| {
                self.error(format!(
                    "cannot start the backup of {}: {e}",
                    path.display()
                ))
            })?;
            // Copy in steps so that writers of the live database are not
            // blocked for long; a step restarts when they change it.
            loop {
                if cancel.is_cancelled() {
                    return Err(self.error(cancel.reason().unwrap_or_default()));
                }
                match backup.step(1024) {
                    Ok(rusqlite::backup::StepResult::Done) => break,
                    Ok(_) => {}
                    Err(e) => {
                        return Err(self.error(format!("backup of {} failed: {e}", path.display())))
                    }
                }
            }
        }
        let mut file = copy
            .reopen()
            .map_err(|e| self.error(format!("cannot read the temporary copy: {e}")))?;
        std::io::copy(&mut file, out)
            .map(|_| Dumped::default())
            .map_err(|e| self.error(format!("streaming the copy failed: {e}")))
    }

    fn source(&self) -> String {
        self.store.path.display().to_string()
    }

    fn tools(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("sqlite".to_owned(), rusqlite::version().to_owned())])
    }
}
