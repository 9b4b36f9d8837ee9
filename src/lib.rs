//! cairn: a declarative, plan-and-apply backup manager.
//!
//! The modules form layers, and a module imports only modules below it
//! (docs/architecture.md has the map; tests/it/layers.rs enforces it):
//! `cli` parses a command, calls one use case in `ops` and prints; `ops`
//! composes the engines (`apply`, `plan`, `units`, `status`, `restore`,
//! `backup`, `notify`, `inventory`, `retention`); they stand on the
//! infrastructure (`history`, `stores`, `pipeline`, `destinations`,
//! `manifest`), which stands on the base (`config`, `schedule`, `graph`,
//! `state`, `lock`, `cancel`, `atomic`, `recycle`, `output`, `format`,
//! `duration`, `exit`).

pub mod apply;
pub mod atomic;
pub mod backup;
pub mod cancel;
pub mod cli;
pub mod config;
pub mod destinations;
pub mod duration;
pub mod exit;
pub mod format;
pub mod graph;
pub mod history;
pub mod inventory;
pub mod lock;
pub mod manifest;
pub mod notify;
pub mod ops;
pub mod output;
pub mod pipeline;
pub mod plan;
pub mod recycle;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod state;
pub mod status;
pub mod stores;
pub mod units;
pub mod wal;

use std::ffi::OsString;

pub use exit::ExitStatus;

/// Runs cairn with the given command line and returns how it ended.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitStatus {
    bound_allocator();
    output::install_error_handler();
    let args: Vec<OsString> = args.into_iter().collect();
    let fetch = is_wal_fetch(&args);
    if fetch {
        // PostgreSQL ends recovery at a restore_command that exits 1-125:
        // a panic (101) must stop it instead.
        std::panic::set_hook(Box::new(|info| {
            eprintln!("cairn wal fetch: internal error: {info}");
            std::process::exit(255);
        }));
    }
    let status = match cli::run(args) {
        Ok(status) => status,
        Err(error) if output::is_broken_pipe(&error) => ExitStatus::Success,
        Err(error) => {
            eprintln!("{error:?}");
            ExitStatus::Failure
        }
    };
    match status {
        // Usage and configuration errors too: only "not archived" is 1.
        ExitStatus::Failure if fetch => ExitStatus::FetchFailed,
        status => status,
    }
}

/// Whether the command line is `cairn … wal fetch …`.
fn is_wal_fetch(args: &[OsString]) -> bool {
    args.windows(2)
        .any(|pair| pair[0] == "wal" && pair[1] == "fetch")
}

/// Keeps glibc's allocator from holding on to freed stream buffers: a fixed
/// mmap threshold (glibc otherwise raises it after the first large free, and
/// later multi-MiB buffers then stay in the heap) and two arenas, so that
/// peak memory stays near what the pipeline holds at once.
fn bound_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 512 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
