//! `cairn wal push` and `cairn wal fetch`: PostgreSQL's archive_command and
//! restore_command (SPEC §12). PostgreSQL reads their exit codes: push
//! never exits above 125 (the archiver would stop), fetch exits 1 only for
//! "not archived" and 255 for everything else (see `crate::main`).

use super::*;

pub(super) fn wal(global: &GlobalArgs, command: WalCommand) -> miette::Result<ExitStatus> {
    // Before the runtime starts any thread: it sets environment variables.
    ops::wal::load_environment_file(&global.config).map_err(|e| miette!("{e}"))?;
    let (config, _) = load_config_with(global, false)?;
    let runtime = runtime()?;
    match command {
        WalCommand::Push { path, job } => {
            runtime.block_on(ops::wal::push(&config, &job, &path))?;
            Ok(ExitStatus::Success)
        }
        WalCommand::Fetch { name, dest, job } => {
            // The identity decrypts the archive: it must be the server's own.
            if let Some(warning) = config
                .settings
                .age_identity_file
                .as_deref()
                .and_then(crate::pipeline::exposed_identity_warning)
            {
                Log::stderr().warn(&warning);
            }
            if runtime.block_on(ops::wal::fetch(&config, &job, &name, &dest))? {
                Ok(ExitStatus::Success)
            } else {
                Ok(ExitStatus::NotArchived)
            }
        }
    }
}
