//! Schedules: cron expressions parse and fire, and a job's schedule (with
//! its jitter) can meet its rpo.

use super::Checker;
use crate::config::diagnostic::Diagnostic;
use crate::config::model::Schedule;
use crate::config::name::Name;
use crate::config::raw;
use crate::config::tree::Path;
use crate::duration::Duration;
use crate::schedule::cron::CronExpr;

impl Checker<'_> {
    fn parse_cron(&mut self, at: &Path, text: &str) -> Option<CronExpr> {
        match CronExpr::parse(text) {
            Ok(cron) => Some(cron),
            Err(error) => {
                let whole = self.location(at);
                let location = match &error.span {
                    Some(span) => self
                        .sources
                        .narrow(&whole, text, span.start, span.len().max(1)),
                    None => whole,
                };
                self.diagnostics.push(
                    Diagnostic::error(format!(
                        "invalid cron expression `{text}`: {}",
                        error.message
                    ))
                    .label(location, "invalid cron")
                    .help(error.help.clone()),
                );
                None
            }
        }
    }
}

pub(super) fn check_schedule(
    checker: &mut Checker,
    at: &Path,
    name: Option<Name>,
    schedule: raw::Schedule,
) -> Option<Schedule> {
    let cron = checker.parse_cron(&at.key("cron"), &schedule.cron)?;
    if cron.max_interval().is_none() {
        checker.error(
            &at.key("cron"),
            format!("cron expression `{}` never fires", schedule.cron),
            "no such date",
            "check the day of month against the month: e.g. February has no 30th",
        );
        return None;
    }
    Some(Schedule {
        name,
        cron,
        jitter: schedule.jitter.unwrap_or_default(),
        persistent: schedule.persistent.unwrap_or(true),
    })
}

pub(super) fn check_rpo(
    checker: &mut Checker,
    at: &Path,
    name: &Name,
    schedule: &Schedule,
    rpo: Duration,
) {
    let Some(interval) = schedule.cron.max_interval() else {
        return;
    };
    let worst = interval + schedule.jitter.to_chrono();
    if worst.num_seconds() <= rpo.as_seconds() as i64 {
        return;
    }
    let gap = Duration::from_seconds(interval.num_seconds().max(0) as u64);
    let worst = Duration::from_seconds(worst.num_seconds().max(0) as u64);
    let jitter = if schedule.jitter.is_zero() {
        String::new()
    } else {
        format!(" plus up to {} of jitter", schedule.jitter)
    };
    checker.error(
        at,
        format!(
            "job `{name}` can go {gap}{jitter} between runs (`{}`), longer than its rpo of {rpo}",
            schedule.cron.source()
        ),
        "schedule cannot meet this rpo",
        format!("run the job more often, or raise rpo to at least {worst}"),
    );
}
