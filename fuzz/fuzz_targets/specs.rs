//! Cron expressions and retention specs: cairn's cron parser, the next and
//! previous firing, the longest gap (the rpo check) and the translation to
//! systemd `OnCalendar=`; the retention spec parser (`daily=7,weekly=4`, as
//! `cairn retention --policy` takes it) and the policy applied to
//! timestamps.
//!
//! The input is split at NUL bytes into up to three parts:
//!
//! ```text
//! CRON \0 RETENTION_SPEC \0 TIMES
//! ```
//!
//! - `CRON`: a cron expression (UTF-8, lossily);
//! - `RETENTION_SPEC`: a policy such as `daily=7,within=30d`;
//! - `TIMES`: its first byte picks the time zone; then each 4 bytes
//!   (big-endian) are minutes after 2000-01-01T00:00:00Z, one timestamp each
//!   (the first is also "now" for the cron expression).
//!
//! Every input must end as an error or a result; a panic is a crash.
#![no_main]

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;

use cairn::schedule::calendar::on_calendar;
use cairn::schedule::cron::CronExpr;

const ZONES: [Tz; 6] = [
    chrono_tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::St_Johns,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Pacific::Apia,
    chrono_tz::Asia::Kathmandu,
];

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let cron = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let spec = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let times = parts.next().unwrap_or_default();
    let zone = ZONES[usize::from(times.first().copied().unwrap_or(0)) % ZONES.len()];
    let epoch = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let times: Vec<DateTime<Utc>> = times
        .get(1..)
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|chunk| {
            let minutes = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            epoch + Duration::minutes(i64::from(minutes))
        })
        .collect();
    let now = times.first().copied().unwrap_or(epoch).with_timezone(&zone);

    if let Ok(expr) = CronExpr::parse(&cron) {
        let next = expr.next_after(&now);
        let previous = expr.latest_at_or_before(&now);
        if let (Some(next), Some(previous)) = (next, previous) {
            assert!(
                previous <= now && now < next,
                "{cron}: {previous} {now} {next}"
            );
            assert!(
                expr.matches(next.naive_local()),
                "{cron} does not match {next}"
            );
        }
        let _ = expr.max_interval();
        let calendar = on_calendar(&expr, zone.name());
        assert!(!calendar.is_empty(), "{cron} translates to nothing");
    }

    if let Ok(policy) = cairn::retention::parse_spec(&spec) {
        let decisions = cairn::retention::apply(&policy, &times, zone);
        assert_eq!(decisions.len(), times.len());
        let given: Vec<String> = times.iter().map(DateTime::to_rfc3339).collect();
        let _ = cairn::retention::table(&given, &decisions, &policy, zone);
    }
});
