//! Deserialization of the values that can be written in more than one form
//! (a name or a table, a tier table or a per-destination table). Each is
//! decided by the shape of the value, so errors speak about the form the
//! operator meant instead of serde's "did not match any variant".

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{
    self, value::MapAccessDeserializer, Deserialize, Deserializer, MapAccess, Visitor,
};

use super::name::Name;
use super::raw::{
    Compression, CompressionAlgorithm, CompressionSettings, JobRetention, PolicyRef,
    RetentionPolicy, Schedule, ScheduleRef, RETENTION_TIERS,
};

fn name<E: de::Error>(text: &str) -> Result<Name, E> {
    Name::new(text).map_err(E::custom)
}

impl<'de> Deserialize<'de> for ScheduleRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScheduleRefVisitor;
        impl<'de> Visitor<'de> for ScheduleRefVisitor {
            type Value = ScheduleRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a schedule name or an inline table such as { cron = \"0 3 * * *\" }")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<ScheduleRef, E> {
                name(text).map(ScheduleRef::Named)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ScheduleRef, A::Error> {
                Schedule::deserialize(MapAccessDeserializer::new(map)).map(ScheduleRef::Inline)
            }
        }
        deserializer.deserialize_any(ScheduleRefVisitor)
    }
}

impl<'de> Deserialize<'de> for PolicyRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PolicyRefVisitor;
        impl<'de> Visitor<'de> for PolicyRefVisitor {
            type Value = PolicyRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a retention policy name or an inline table such as { daily = 7 }")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<PolicyRef, E> {
                name(text).map(PolicyRef::Named)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PolicyRef, A::Error> {
                RetentionPolicy::deserialize(MapAccessDeserializer::new(map)).map(PolicyRef::Inline)
            }
        }
        deserializer.deserialize_any(PolicyRefVisitor)
    }
}

/// One value inside a job's `retention` table, before the table's form is known.
enum RetentionValue {
    Count(i64),
    Text(String),
    Policy(RetentionPolicy),
}

impl<'de> Deserialize<'de> for RetentionValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RetentionValueVisitor;
        impl<'de> Visitor<'de> for RetentionValueVisitor {
            type Value = RetentionValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count, a duration, a policy name or a policy table")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<RetentionValue, E> {
                Ok(RetentionValue::Count(n))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<RetentionValue, E> {
                Ok(RetentionValue::Text(text.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RetentionValue, A::Error> {
                RetentionPolicy::deserialize(MapAccessDeserializer::new(map))
                    .map(RetentionValue::Policy)
            }
        }
        deserializer.deserialize_any(RetentionValueVisitor)
    }
}

impl<'de> Deserialize<'de> for JobRetention {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct JobRetentionVisitor;
        impl<'de> Visitor<'de> for JobRetentionVisitor {
            type Value = JobRetention;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a retention policy name, an inline policy such as { daily = 7 }, \
                     or a policy per destination such as { local = { daily = 7 }, offsite = \"gfs\" }",
                )
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<JobRetention, E> {
                name(text).map(JobRetention::Named)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JobRetention, A::Error> {
                let mut entries: Vec<(String, RetentionValue)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, RetentionValue>()? {
                    entries.push((key, value));
                }
                // A table of policies, or a policy name for a key other than
                // `within` (whose value is a duration string), means the
                // per-destination form.
                let per_destination = entries.iter().any(|(key, value)| match value {
                    RetentionValue::Policy(_) => true,
                    RetentionValue::Text(_) => key != "within",
                    RetentionValue::Count(_) => false,
                });
                if per_destination {
                    per_destination_policies(entries).map(JobRetention::PerDestination)
                } else {
                    inline_policy(entries).map(JobRetention::Inline)
                }
            }
        }
        deserializer.deserialize_any(JobRetentionVisitor)
    }
}

fn per_destination_policies<E: de::Error>(
    entries: Vec<(String, RetentionValue)>,
) -> Result<BTreeMap<Name, PolicyRef>, E> {
    let mut policies = BTreeMap::new();
    for (key, value) in entries {
        let policy = match value {
            RetentionValue::Policy(policy) => PolicyRef::Inline(policy),
            RetentionValue::Text(text) => PolicyRef::Named(name(&text)?),
            RetentionValue::Count(n) => {
                return Err(E::custom(format!(
                    "`{key} = {n}` mixes a retention tier with per-destination policies; \
                     write each destination's policy as a table, e.g. `{key} = {{ daily = {n} }}`"
                )))
            }
        };
        policies.insert(name(&key)?, policy);
    }
    Ok(policies)
}

fn inline_policy<E: de::Error>(
    entries: Vec<(String, RetentionValue)>,
) -> Result<RetentionPolicy, E> {
    let mut policy = RetentionPolicy::default();
    for (key, value) in entries {
        if key == "within" {
            let RetentionValue::Text(text) = value else {
                return Err(E::custom("`within` takes a duration such as \"30d\""));
            };
            policy.within = Some(text.parse().map_err(E::custom)?);
            continue;
        }
        let RetentionValue::Count(n) = value else {
            unreachable!("strings and tables select the per-destination form")
        };
        let count = u32::try_from(n).map_err(|_| {
            E::custom(format!(
                "`{key} = {n}`: a retention count must be a whole number from 0 up"
            ))
        })?;
        let slot = policy.count_mut(&key).ok_or_else(|| {
            E::custom(format!(
                    "unknown retention tier `{key}`, expected one of {}; to give destination \
                     `{key}` its own policy write `{key} = {{ daily = {n} }}` or `{key} = \"POLICY\"`",
                    RETENTION_TIERS.map(|t| format!("`{t}`")).join(", ")
            ))
        })?;
        *slot = Some(count);
    }
    Ok(policy)
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CompressionVisitor;
        impl<'de> Visitor<'de> for CompressionVisitor {
            type Value = Compression;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"zstd\", \"gzip\", \"none\" or a table such as { algorithm = \"zstd\", level = 9 }")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Compression, E> {
                CompressionAlgorithm::deserialize(de::value::StrDeserializer::<E>::new(text))
                    .map(Compression::Algorithm)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Compression, A::Error> {
                CompressionSettings::deserialize(MapAccessDeserializer::new(map))
                    .map(Compression::Detailed)
            }
        }
        deserializer.deserialize_any(CompressionVisitor)
    }
}
