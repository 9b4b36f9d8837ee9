//! cairn's integration tests: one binary, driving the real `cairn` on real files.

mod calendar;
mod cli;
mod common;
mod converge;
mod examples;
mod invalid;
mod plan;
mod retention;
mod run_faults;
mod run_stores;
mod schema;
