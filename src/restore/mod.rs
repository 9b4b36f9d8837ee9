//! Restoring artifacts (`cairn restore`, SPEC §8): pick an artifact, check
//! its checksums before the target changes, and load it through the
//! store kind's [`Target`].

mod target;

pub use target::Target;
