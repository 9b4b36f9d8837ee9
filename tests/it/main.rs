//! cairn's integration tests: one binary, driving the real `cairn` on real files.

mod calendar;
mod cli;
mod common;
mod converge;
mod examples;
mod invalid;
mod layers;
mod notify;
mod plan;
mod restore;
mod restore_redis;
mod retention;
mod run_faults;
mod run_stores;
mod schema;
mod status;
