//! `cairn wal push` and `wal fetch` (SPEC §12): PostgreSQL starts them
//! without the units' environment, so `settings.environment_file` is read
//! into the process environment before the configuration is loaded (its
//! values fill in what the environment lacks; they never override it).

use std::path::Path;

use crate::config::{environment_file, Config};
use crate::wal::{Archive, WalError};

/// Sets the variables of the configuration's environment file that the
/// environment does not have. Must run before any thread starts.
pub fn load_environment_file(config: &Path) -> Result<(), String> {
    let Some(path) = environment_file::locate(config) else {
        return Ok(());
    };
    let text =
        fs_err::read_to_string(&path).map_err(|e| format!("settings.environment_file: {e}"))?;
    for (key, value) in environment_file::parse(&text) {
        #[allow(clippy::disallowed_methods)] // Loading: the file fills in the environment.
        let unset = std::env::var_os(&key).is_none();
        if unset {
            // SAFETY: called from `main` before the runtime or any other
            // thread exists (see `cli::wal`), so nothing reads the
            // environment concurrently.
            std::env::set_var(key, value);
        }
    }
    Ok(())
}

/// Archives the file at `path` for `job` at every destination.
pub async fn push(config: &Config, job: &str, path: &Path) -> Result<(), WalError> {
    let (archive, unopened) = Archive::open(config, job).await?;
    archive.push(path, unopened).await
}

/// Fetches the archived file `name` of `job` into `dest`; `Ok(false)` when
/// the archive ends before it.
pub async fn fetch(config: &Config, job: &str, name: &str, dest: &Path) -> Result<bool, WalError> {
    let (archive, unopened) = Archive::open(config, job).await?;
    archive
        .fetch(
            name,
            dest,
            config.settings.age_identity_file.as_deref(),
            unopened,
        )
        .await
}
