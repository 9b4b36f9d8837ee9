//! cairn's integration tests: one binary, driving the real `cairn` on real files.

mod cli;
mod common;
mod examples;
mod invalid;
mod schema;
