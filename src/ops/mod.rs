//! The use cases: each function here is one thing an operator asks of
//! cairn, composed from the engines below (`plan`, `apply`, `backup`,
//! `restore`, `status`, `notify`). The cli parses, calls one op and prints
//! what it returns; the engines each do one job and know nothing of the
//! others' bookkeeping (locks, the history, notifications).
//!
//! - [`run`]: run a job — lock, backup or verify, history, notify, tidy.
//! - [`restore`]: restore a job's artifact, with the safety backup a forced
//!   restore takes first; `restore --all` in graph order.
//! - [`apply`]: plan (or check a saved plan), then execute it.
//! - [`status`]: evaluate the jobs' health, notify stale ones.
//! - [`load`]: load the configuration and its digest for saved plans.
//! - [`probe`]: load, validate and plan a configuration given as text,
//!   against an empty host (the mutation test and the fuzz target).

pub mod apply;
pub mod load;
pub mod probe;
pub mod restore;
pub mod review;
pub mod run;
pub mod status;
pub mod wal;
