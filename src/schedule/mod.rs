//! Schedules: cron expressions, their translation into systemd calendar
//! events, and rendering of the files cairn installs.

pub mod calendar;
pub mod cron;
pub mod render;
