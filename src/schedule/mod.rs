//! Schedules: cron expressions (Vixie cron's semantics) and their exact
//! translation into systemd calendar events. Pure: no I/O, no configuration;
//! the files that carry schedules are rendered by `units`.

pub mod calendar;
pub mod cron;
pub mod kubernetes;
