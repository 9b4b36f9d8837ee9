//! A job, the settings and the notifications as flat fields for comparison:
//! `schedule`, `retention.offsite`, `store.url`, `destination.offsite.prefix`…
//! each with the value compared and the value shown (secrets redacted).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::model::{Config, Job, JobKind, Schedule};
use crate::config::{redact_token_url, redact_url};
use crate::retention;

/// One field's value: what is compared, and what may be printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub compared: String,
    pub shown: String,
}

impl Field {
    fn plain(text: impl Into<String>) -> Self {
        let text = text.into();
        Field {
            compared: text.clone(),
            shown: text,
        }
    }
}

pub type Fields = BTreeMap<String, Field>;

/// Keys whose values are never shown.
const SECRET_KEYS: [&str; 5] = [
    "password",
    "secret",
    "token",
    "secret_access_key",
    "passphrase",
];

/// A job's fields, with what it reads and writes to resolved: the store's
/// and each destination's settings are the job's fields too, since a
/// change there changes what the job does.
pub fn job(config: &Config, job: &Job) -> Fields {
    let mut fields = Fields::new();
    let mut put = |key: &str, value: String| {
        fields.insert(key.to_owned(), Field::plain(value));
    };
    put(
        "hosts",
        job.hosts
            .as_ref()
            .map_or_else(|| "every host".to_owned(), |hosts| hosts.join(", ")),
    );
    put("schedule", schedule(&job.schedule, config));
    put("schedule.jitter", job.schedule.jitter.to_string());
    put("schedule.persistent", job.schedule.persistent.to_string());
    put("after", list(job.after.iter().map(|n| n.as_str())));
    let duration =
        |d: Option<crate::duration::Duration>| d.map_or("none".into(), |d| d.to_string());
    put("rpo", duration(job.rpo));
    put("timeout", duration(job.timeout));
    if let Ok(hooks) = serde_json::to_value(&job.hooks) {
        flatten("hooks", &hooks, &mut fields, false);
    }
    match &job.kind {
        JobKind::Backup(backup) => {
            let store = config.stores.get(&backup.store);
            fields.insert(
                "store".into(),
                Field::plain(format!(
                    "{} ({})",
                    backup.store,
                    store.map_or("?", |store| store.kind())
                )),
            );
            if let Some(Ok(value)) = store.map(serde_json::to_value) {
                flatten("store", &value, &mut fields, false);
            }
            fields.insert(
                "to".into(),
                Field::plain(list(backup.to.iter().map(|n| n.as_str()))),
            );
            for destination in &backup.to {
                let prefix = format!("destination.{destination}");
                if let Some(Ok(value)) = config
                    .destinations
                    .get(destination)
                    .map(serde_json::to_value)
                {
                    flatten(&prefix, &value, &mut fields, false);
                }
                fields.insert(
                    format!("retention.{destination}"),
                    Field::plain(backup.retention.get(destination).map_or_else(
                        || "none (keeps every artifact)".to_owned(),
                        |kept| retention::describe(&kept.policy),
                    )),
                );
            }
            let compression = match backup.compression.level {
                Some(level) => format!("{:?} level {level}", backup.compression.algorithm),
                None => format!("{:?}", backup.compression.algorithm),
            };
            fields.insert(
                "compression".into(),
                Field::plain(compression.to_lowercase()),
            );
            fields.insert(
                "encrypt_to".into(),
                Field::plain(list(backup.encrypt_to.iter().map(String::as_str))),
            );
            let verifiers = config.jobs.values().filter_map(|other| match &other.kind {
                JobKind::Verify(verify) if verify.verifies == job.name => Some(other.name.as_str()),
                _ => None,
            });
            fields.insert("verified_by".into(), Field::plain(list(verifiers)));
        }
        JobKind::Verify(verify) => {
            fields.insert("verifies".into(), Field::plain(verify.verifies.to_string()));
            if let Ok(Value::Array(checks)) = serde_json::to_value(&verify.checks) {
                for (i, check) in checks.iter().enumerate() {
                    flatten(&format!("checks.{}", i + 1), check, &mut fields, false);
                }
            }
        }
    }
    fields
}

/// `[settings]`, and each notification channel (its URLs show only their
/// host: the rest may be a token).
pub fn global(config: &Config) -> Fields {
    let mut fields = Fields::new();
    if let Ok(settings) = serde_json::to_value(&config.settings) {
        flatten("settings", &settings, &mut fields, false);
    }
    for (name, notifier) in &config.notify {
        if let Ok(channel) = serde_json::to_value(&notifier.channel) {
            flatten(&format!("notify.{name}"), &channel, &mut fields, true);
        }
        fields.insert(
            format!("notify.{name}.events"),
            Field::plain(list(notifier.events.iter().map(|e| e.name()))),
        );
    }
    fields
}

/// A schedule as people say it: "daily 02:00 Europe/Berlin", "hourly at :15
/// UTC", "weekly on Sunday 03:00 UTC", else "cron `*/10 * * * *` in UTC".
pub fn schedule(schedule: &Schedule, config: &Config) -> String {
    let cron = &schedule.cron;
    let zone = config.timezone.name();
    let (minutes, hours) = (cron.minutes(), cron.hours());
    let every_day = !cron.day_of_month_restricted() && cron.months().len() == 12;
    let weekdays = cron.days_of_week();
    let at = |h: u32, m: u32| format!("{h:02}:{m:02}");
    match (minutes.as_slice(), hours.as_slice()) {
        ([m], [h]) if every_day && !cron.day_of_week_restricted() => {
            format!("daily {} {zone}", at(*h, *m))
        }
        ([m], [h]) if every_day && weekdays.len() == 1 => {
            const DAYS: [&str; 7] = [
                "Sunday",
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
            ];
            let day = DAYS.get(weekdays[0] as usize % 7).copied().unwrap_or("?");
            format!("weekly on {day} {} {zone}", at(*h, *m))
        }
        ([m], hours) if hours.len() == 24 && every_day && !cron.day_of_week_restricted() => {
            format!("hourly at :{m:02} {zone}")
        }
        _ => format!("cron `{}` in {zone}", cron.source()),
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Flattens a JSON value into dotted fields; `kind` is left out of stores
/// and destinations (the `store` field names it). `tokens`: URLs may carry
/// a token anywhere (notifications).
fn flatten(prefix: &str, value: &Value, fields: &mut Fields, tokens: bool) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                flatten(&format!("{prefix}.{key}"), value, fields, tokens);
            }
        }
        Value::Null => {}
        Value::Array(items) if items.iter().all(|item| !item.is_object()) => {
            let texts: Vec<String> = items.iter().map(scalar).collect();
            let key = prefix.rsplit('.').next().unwrap_or(prefix);
            let shown: Vec<String> = texts.iter().map(|t| shown(key, t, tokens)).collect();
            fields.insert(
                prefix.to_owned(),
                Field {
                    compared: texts.join(", "),
                    shown: if shown.is_empty() {
                        "none".to_owned()
                    } else {
                        shown.join(", ")
                    },
                },
            );
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}.{}", i + 1), item, fields, tokens);
            }
        }
        scalar_value => {
            let key = prefix.rsplit('.').next().unwrap_or(prefix);
            let text = scalar(scalar_value);
            fields.insert(
                prefix.to_owned(),
                Field {
                    shown: shown(key, &text, tokens),
                    compared: text,
                },
            );
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// What may be printed of a value: nothing of a secret, no password in a
/// URL or keyword DSN, only the host of a URL that may carry a token.
fn shown(key: &str, text: &str, tokens: bool) -> String {
    if SECRET_KEYS.iter().any(|secret| key.contains(secret)) {
        return "(secret)".to_owned();
    }
    if text.contains("://") {
        return if tokens {
            redact_token_url(text)
        } else {
            redact_url(text)
        };
    }
    if text.contains("password=") {
        return text
            .split_whitespace()
            .map(|word| {
                if word.starts_with("password=") {
                    "password=***"
                } else {
                    word
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_shown() {
        assert_eq!(shown("password", "hunter2", false), "(secret)");
        assert_eq!(
            shown("dsn", "postgresql://app:hunter2@db/app", false),
            "postgresql://app:***@db/app"
        );
        assert_eq!(
            shown("dsn", "host=db password=hunter2 dbname=app", false),
            "host=db password=*** dbname=app"
        );
        assert!(!shown(
            "url",
            "https://hooks.slack.com/services/T0/B0/hunter2",
            true
        )
        .contains("hunter2"));
    }

    #[test]
    fn nested_values_flatten_to_dotted_fields() {
        let mut fields = Fields::new();
        let value = serde_json::json!({"bucket": "b", "tags": ["x", "y"], "nested": {"a": 1}, "gone": null});
        flatten("destination.s3", &value, &mut fields, false);
        let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "destination.s3.bucket",
                "destination.s3.nested.a",
                "destination.s3.tags"
            ]
        );
        assert_eq!(fields["destination.s3.tags"].shown, "x, y");
    }
}
