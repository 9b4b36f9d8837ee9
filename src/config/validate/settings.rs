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
    check_kubernetes(checker, &mut settings);
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

/// `scheduler = "kubernetes"` needs `[settings.kubernetes]`, serves no
/// declared hosts, and names its namespace, image, ServiceAccount and
/// Secrets as Kubernetes accepts them.
fn check_kubernetes(checker: &mut Checker, settings: &mut raw::Settings) {
    let at = |key: &str| path(&["settings", "kubernetes", key]);
    let kubernetes = settings.scheduler == raw::Scheduler::Kubernetes;
    if kubernetes && settings.kubernetes.is_none() {
        checker.error(
            &path(&["settings", "scheduler"]),
            "scheduler = \"kubernetes\" needs a [settings.kubernetes] table",
            "no [settings.kubernetes]",
            "add [settings.kubernetes] with at least namespace = \"backup\" and image = \"registry/cairn:TAG\"",
        );
    }
    if kubernetes && settings.hosts.is_some() {
        checker.error(
            &path(&["settings", "hosts"]),
            "settings.hosts does not apply with scheduler = \"kubernetes\": the cluster picks the nodes",
            "not with kubernetes",
            "remove settings.hosts",
        );
    }
    if kubernetes && settings.state != raw::StateKeeping::Destinations {
        checker.error(
            &path(&["settings", "scheduler"]),
            "scheduler = \"kubernetes\" needs settings.state = \"destinations\"",
            "pods forget their state",
            "add state = \"destinations\" to [settings]: a pod's state directory is gone when it ends, so the run records must live at the destinations",
        );
    }
    let Some(kube) = &mut settings.kubernetes else {
        return;
    };
    if !kubernetes {
        checker.warning(
            &path(&["settings", "kubernetes"]),
            "[settings.kubernetes] is ignored unless scheduler = \"kubernetes\"",
            "ignored",
            "set scheduler = \"kubernetes\", or remove the table",
        );
    }
    let mut names = vec![
        ("namespace", kube.namespace.clone()),
        ("service_account", kube.service_account.clone()),
    ];
    names.extend(
        kube.env_from_secrets
            .iter()
            .map(|secret| ("env_from_secrets", secret.clone())),
    );
    for (key, name) in names {
        if !is_dns_name(&name) {
            checker.error(
                &at(key),
                format!("`{name}` is not a Kubernetes name"),
                "not a DNS name",
                "use lowercase letters, digits and `-` (and `.` between parts), starting and ending with a letter or digit, at most 253 characters",
            );
        }
    }
    if kube.image.trim().is_empty() || kube.image.contains(char::is_whitespace) {
        checker.error(
            &at("image"),
            format!("`{}` is not a container image", kube.image),
            "not an image",
            "name the image that holds cairn and the dump tools, pinned: registry.example.com/cairn:1.2.3",
        );
    }
    kube.manifests_dir = checker.resolve(&kube.manifests_dir);
}

/// A DNS subdomain name as Kubernetes checks most object names.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
