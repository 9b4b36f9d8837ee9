//! cairn's integration tests: one binary, driving the real `cairn` on real files.

// clippy.toml's bans are for cairn itself: the tests set up fixtures with
// std::fs (a failure panics at the call) and read the CAIRN_TEST_* servers.
#![allow(clippy::disallowed_methods)]

mod calendar;
mod ci_examples;
mod cli;
mod common;
mod converge;
mod examples;
mod faults_kill;
mod faults_locks;
mod faults_slow_s3;
mod hosts;
mod invalid;
mod kafka;
mod kubernetes;
mod layers;
mod mutation;
mod notify;
mod plan;
mod records;
mod redis_aof;
mod restore;
mod restore_redis;
mod retention;
mod review;
mod run_faults;
mod run_stores;
mod schema;
mod security;
mod status;
mod wal;
