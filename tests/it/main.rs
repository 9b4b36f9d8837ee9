//! cairn's integration tests: one binary, driving the real `cairn` on real files.

mod calendar;
mod cli;
mod common;
mod examples;
mod invalid;
mod plan;
mod schema;
