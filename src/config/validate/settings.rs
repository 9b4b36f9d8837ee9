//! `[settings]`: the time zone exists (and is the host's own under cron),
//! parallelism and `run_as` make sense, and paths become absolute.

use chrono_tz::Tz;

use super::{path, Checker};
use crate::config::raw;

pub(super) fn check_settings(
    checker: &mut Checker,
    mut settings: raw::Settings,
    host_timezone: Option<&str>,
) -> (raw::Settings, Option<Tz>) {
    let at = |key: &str| path(&["settings", key]);
    let timezone = match settings.timezone.parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            checker.error(
                &at("timezone"),
                format!("unknown time zone `{}`", settings.timezone),
                "not an IANA time zone",
                "use an IANA name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\"",
            );
            None
        }
    };
    // A review renders for hosts it cannot see: their zone is not known.
    if let Some(host_timezone) = host_timezone.filter(|host| {
        settings.scheduler == raw::Scheduler::Cron && !same_zone(&settings.timezone, host)
    }) {
        checker.error(
            &at("timezone"),
            format!(
                "with scheduler = \"cron\" the time zone must be the host's own ({host_timezone}), not `{}`",
                settings.timezone
            ),
            "cron cannot use this zone",
            format!(
                "Debian's cron has no CRON_TZ, so entries fire in the host's zone: set timezone = \"{host_timezone}\", \
                 or use scheduler = \"systemd\", whose timers take any zone"
            ),
        );
    }
    if settings.parallelism == 0 {
        checker.error(
            &at("parallelism"),
            "`parallelism` must be at least 1",
            "zero",
            "set parallelism = 1 to run one job at a time",
        );
    }
    if settings.run_as.is_empty() || settings.run_as.contains(char::is_whitespace) {
        checker.error(
            &at("run_as"),
            format!("`{}` is not a user name", settings.run_as),
            "invalid user",
            "set run_as to an existing user, e.g. \"root\" or \"backup\"",
        );
    }
    for path in [
        &mut settings.units_dir,
        &mut settings.cron_file,
        &mut settings.binary,
        &mut settings.state_dir,
    ] {
        *path = checker.resolve(path);
    }
    for path in [
        &mut settings.environment_file,
        &mut settings.age_identity_file,
    ]
    .into_iter()
    .flatten()
    {
        *path = checker.resolve(path);
    }
    (settings, timezone)
}

/// Whether two zone names mean the same zone for cron's purposes.
fn same_zone(a: &str, b: &str) -> bool {
    let canonical = |zone: &str| match zone {
        "UTC" | "Etc/UTC" | "Etc/UCT" | "UCT" | "Zulu" | "Etc/Zulu" | "Universal"
        | "Etc/Universal" | "GMT" | "Etc/GMT" => "UTC".to_owned(),
        other => other.to_owned(),
    };
    canonical(a) == canonical(b)
}
