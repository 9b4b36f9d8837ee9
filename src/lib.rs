//! cairn: a declarative, plan-and-apply backup manager.
//!
//! The data flows through the modules in this order: `config` (load and
//! validate `backup.toml`), `schedule` (cron expressions), and the command
//! dispatch in `cli`.

pub mod cli;
pub mod config;
pub mod duration;
pub mod exit;
pub mod output;
pub mod schedule;

use std::ffi::OsString;

pub use exit::ExitStatus;

/// Runs cairn with the given command line and returns how it ended.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitStatus {
    output::install_error_handler();
    match cli::run(args) {
        Ok(status) => status,
        Err(error) if output::is_broken_pipe(&error) => ExitStatus::Success,
        Err(error) => {
            eprintln!("{error:?}");
            ExitStatus::Failure
        }
    }
}
