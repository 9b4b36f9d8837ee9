//! Checks beyond types: references resolve, no `after` cycle, cron
//! expressions parse, retention keeps something, schedules meet their rpo,
//! age recipients parse, options fit their kind. Produces the model.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path as FsPath, PathBuf};

use chrono_tz::Tz;
use petgraph::graph::DiGraph;

use super::diagnostic::Diagnostic;
use super::model::{
    Backup, Compression, Config, Job, JobKind, Notifier, Retention, Schedule, Verify,
};
use super::name::Name;
use super::raw::{self, CompressionAlgorithm, Event, RetentionPolicy, Store};
use super::source::{Location, Sources};
use super::suggest;
use super::tree::{Node, Path};
use super::{LoadOptions, Sections};
use crate::duration::Duration;
use crate::schedule::cron::CronExpr;

struct Checker<'a> {
    tree: &'a Node,
    sources: &'a Sources,
    diagnostics: &'a mut Vec<Diagnostic>,
    /// Entries already reported as broken: references to them are not
    /// reported again as unknown.
    broken: Vec<(String, String)>,
    /// The directory of the base file, for relative paths.
    dir: PathBuf,
}

fn plural(what: &str) -> String {
    match what.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{what}s"),
    }
}

fn path(parts: &[&str]) -> Path {
    parts
        .iter()
        .fold(Path::root(), |path, part| path.key(*part))
}

impl Checker<'_> {
    fn location(&self, path: &Path) -> Location {
        self.tree.locate(path)
    }

    fn error(
        &mut self,
        path: &Path,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        let location = self.location(path);
        self.diagnostics
            .push(Diagnostic::error(message).label(location, label).help(help));
    }

    fn warning(
        &mut self,
        path: &Path,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        let location = self.location(path);
        self.diagnostics.push(
            Diagnostic::warning(message)
                .label(location, label)
                .help(help),
        );
    }

    /// Checks that `name` (written at `at`) names an entry of `[section]`.
    fn reference<T>(
        &mut self,
        at: &Path,
        section: &str,
        what: &str,
        name: &Name,
        existing: &BTreeMap<Name, T>,
    ) -> bool {
        if existing.contains_key(name) {
            return true;
        }
        if self
            .broken
            .iter()
            .any(|(s, n)| s == section && n == name.as_str())
        {
            // Already reported where it is defined.
            return false;
        }
        let names: Vec<&str> = existing.keys().map(Name::as_str).collect();
        let mut help = if names.is_empty() {
            format!(
                "no {} are defined; add a [{section}.{name}] table",
                plural(what)
            )
        } else {
            format!("the {} defined are {}", plural(what), suggest::list(&names))
        };
        if let Some(close) = suggest::closest(name.as_str(), names.iter().copied()) {
            help = format!("did you mean `{close}`? {help}");
        }
        self.error(
            at,
            format!("unknown {what} `{name}`"),
            format!("no {what} named `{name}`"),
            help,
        );
        false
    }

    fn resolve(&self, path: &FsPath) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.dir.join(path)
        }
    }

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

    fn check_exec(&mut self, at: &Path, exec: &Option<Vec<String>>) {
        if let Some(exec) = exec {
            if exec.is_empty() || exec.iter().any(|part| part.is_empty()) {
                self.error(
                    at,
                    "`exec` must list a command and its arguments, none of them empty",
                    "empty command",
                    "e.g. exec = [\"docker\", \"exec\", \"-i\", \"postgres-db\"], or remove `exec` to run the tools directly",
                );
            }
        }
    }
}

pub(crate) fn validate(
    tree: &Node,
    sections: Sections,
    options: &LoadOptions,
    sources: &Sources,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Config> {
    let config_path = super::absolute(options.path);
    let dir = config_path
        .parent()
        .map(FsPath::to_owned)
        .unwrap_or_default();
    let Sections {
        settings,
        stores,
        destinations,
        retention,
        schedules,
        jobs,
        notify,
        broken,
    } = sections;
    let mut checker = Checker {
        tree,
        sources,
        diagnostics,
        broken,
        dir,
    };
    let (settings, timezone) = check_settings(&mut checker, settings, &options.host_timezone);
    let stores = check_stores(&mut checker, stores);
    let destinations = check_destinations(&mut checker, destinations);
    for (name, policy) in &retention {
        check_keeps_something(&mut checker, &path(&["retention", name.as_str()]), policy);
    }
    let schedules: BTreeMap<Name, Schedule> = schedules
        .into_iter()
        .filter_map(|(name, schedule)| {
            let at = path(&["schedules", name.as_str()]);
            match check_schedule(&mut checker, &at, Some(name.clone()), schedule) {
                Some(schedule) => Some((name, schedule)),
                None => {
                    checker
                        .broken
                        .push(("schedules".to_owned(), name.to_string()));
                    None
                }
            }
        })
        .collect();
    let jobs = check_jobs(
        &mut checker,
        &jobs,
        &stores,
        &destinations,
        &retention,
        &schedules,
        &settings,
    );
    check_cycles(&mut checker, &jobs);
    check_unused(&mut checker, &jobs, &stores, &destinations);
    let notify = check_notify(&mut checker, notify);
    // Reported only when nothing else is wrong: "nothing to do" is noise
    // beside a real error.
    if jobs.is_empty()
        && !checker.diagnostics.iter().any(Diagnostic::is_error)
        && !checker.broken.iter().any(|(section, _)| section == "jobs")
    {
        let name = &sources.get(tree.location.source).name;
        checker.diagnostics.push(
            Diagnostic::error(format!(
                "{name} defines no jobs, so cairn has nothing to do"
            ))
            .label(
                Location::new(tree.location.source, 0..0),
                "no [jobs.NAME] table in this file",
            )
            .help(
                "add a job: [jobs.NAME] with store, schedule and to; backup.toml.example shows one",
            ),
        );
    }
    let timezone = timezone?;
    Some(Config {
        path: config_path,
        env: options.env.map(str::to_owned),
        settings,
        timezone,
        stores,
        destinations,
        retention,
        schedules,
        jobs,
        notify,
    })
}

fn check_settings(
    checker: &mut Checker,
    mut settings: raw::Settings,
    host_timezone: &str,
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
    if settings.scheduler == raw::Scheduler::Cron && !same_zone(&settings.timezone, host_timezone) {
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

fn check_stores(checker: &mut Checker, stores: BTreeMap<Name, Store>) -> BTreeMap<Name, Store> {
    let mut checked = BTreeMap::new();
    for (name, mut store) in stores {
        let at = |key: &str| path(&["stores", name.as_str(), key]);
        let whole = path(&["stores", name.as_str()]);
        match &mut store {
            Store::Postgres(pg) => {
                if pg.dsn.is_some() {
                    for (key, set) in [
                        ("host", pg.host.is_some()),
                        ("port", pg.port.is_some()),
                        ("user", pg.user.is_some()),
                    ] {
                        if set {
                            checker.error(
                                &at(key),
                                format!("store `{name}` sets both `dsn` and `{key}`"),
                                "conflicts with `dsn`",
                                "put host, port and user into the DSN, or remove `dsn` and use host, port and user",
                            );
                        }
                    }
                    check_dsn_password(checker, &at("dsn"), &name);
                }
                if pg.databases.is_empty() {
                    checker.error(&whole, format!("postgres store `{name}` lists no databases"), "needs `databases`", "add databases = [\"app\"]: each database becomes one stream of the artifact");
                }
                if pg.format == raw::PostgresFormat::Directory {
                    checker.error(&at("format"), "pg_dump's directory format writes many files and cannot stream", "cannot stream", "use format = \"custom\" (restored with pg_restore, the default) or \"plain\"");
                }
                checker.check_exec(&at("exec"), &pg.exec);
            }
            Store::Redis(redis) => {
                if !["redis://", "rediss://", "unix://"]
                    .iter()
                    .any(|scheme| redis.url.starts_with(scheme))
                {
                    checker.error(&at("url"), format!("`{}` is not a Redis URL", redact_url(&redis.url)), "not a Redis URL", "write redis://HOST:PORT, rediss://HOST:PORT for TLS, or unix:///path/to/redis.sock");
                }
                match (redis.method, &redis.data_dir) {
                    (raw::RedisMethod::Bgsave, None) => checker.error(&whole, format!("redis store `{name}` uses method = \"bgsave\" without `data_dir`"), "needs `data_dir`", "set data_dir to the server's `dir` (where dump.rdb is written), or use method = \"replication\""),
                    (raw::RedisMethod::Replication, Some(_)) => checker.error(&at("data_dir"), "`data_dir` is only used with method = \"bgsave\"", "not used", "remove data_dir, or set method = \"bgsave\" for a local instance"),
                    _ => {}
                }
                if let Some(dir) = &mut redis.data_dir {
                    *dir = checker.resolve(dir);
                }
                checker.check_exec(&at("exec"), &redis.exec);
            }
            Store::Mariadb(maria) => {
                if maria.socket.is_some() && (maria.host.is_some() || maria.port.is_some()) {
                    checker.error(
                        &at("socket"),
                        format!("store `{name}` sets both `socket` and host/port"),
                        "conflicts with host/port",
                        "connect either through the socket or over TCP with host and port",
                    );
                }
                if maria.databases.is_empty() {
                    checker.error(&whole, format!("mariadb store `{name}` lists no databases"), "needs `databases`", "add databases = [\"app\"]: each database becomes one stream of the artifact");
                }
                if let Some(socket) = &mut maria.socket {
                    *socket = checker.resolve(socket);
                }
                checker.check_exec(&at("exec"), &maria.exec);
            }
            Store::Sqlite(sqlite) => sqlite.path = checker.resolve(&sqlite.path),
            Store::Directory(directory) => {
                directory.path = checker.resolve(&directory.path);
                if directory.exclude.iter().any(String::is_empty) {
                    checker.error(
                        &at("exclude"),
                        "an exclude pattern is empty",
                        "empty pattern",
                        "remove the empty string from exclude",
                    );
                }
            }
            Store::Cassandra(cassandra) => {
                if cassandra.keyspaces.is_empty() {
                    checker.error(
                        &whole,
                        format!("cassandra store `{name}` lists no keyspaces"),
                        "needs `keyspaces`",
                        "add keyspaces = [\"analytics\"]",
                    );
                }
                if let Some(dir) = &mut cassandra.data_dir {
                    *dir = checker.resolve(dir);
                }
                checker.check_exec(&at("exec"), &cassandra.exec);
                not_supported_yet(checker, &at("kind"), &name, "cassandra");
            }
            Store::Kafka(kafka) => {
                if kafka.bootstrap_servers.is_empty() {
                    checker.error(
                        &whole,
                        format!("kafka store `{name}` lists no bootstrap servers"),
                        "needs `bootstrap_servers`",
                        "add bootstrap_servers = [\"kafka-1:9092\"]",
                    );
                }
                if kafka.topics.is_empty() {
                    checker.error(
                        &whole,
                        format!("kafka store `{name}` lists no topics"),
                        "needs `topics`",
                        "add topics = [\"orders\"]",
                    );
                }
                not_supported_yet(checker, &at("kind"), &name, "kafka");
            }
        }
        checked.insert(name, store);
    }
    checked
}

fn not_supported_yet(checker: &mut Checker, at: &Path, name: &Name, kind: &str) {
    checker.warning(
        at,
        format!("store `{name}`: kind `{kind}` is accepted in the configuration but this cairn cannot back it up yet"),
        "not supported yet",
        "jobs that use this store fail with a clear message until a later version adds it",
    );
}

/// Warns about a password written into a DSN in clear text.
fn check_dsn_password(checker: &mut Checker, at: &Path, name: &Name) {
    let Some(node) = checker.tree.find(at) else {
        return;
    };
    let written = node.template.as_deref().or(node.as_str()).unwrap_or("");
    if url_password(written).is_some_and(|password| !password.contains("${")) {
        checker.warning(
            at,
            format!("store `{name}`: the DSN holds a password in clear text"),
            "password in the file",
            "write it as ${PGPASSWORD} (or drop it and use PGPASSWORD or a .pgpass file) so it stays out of Git",
        );
    }
}

/// The password part of a URL such as `scheme://user:password@host`.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo.split_once(':').map(|(_, password)| password)
}

/// A URL with its password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    match url_password(url) {
        Some(password) if !password.is_empty() => {
            url.replacen(&format!(":{password}@"), ":***@", 1)
        }
        _ => url.to_owned(),
    }
}

fn check_destinations(
    checker: &mut Checker,
    destinations: BTreeMap<Name, raw::Destination>,
) -> BTreeMap<Name, raw::Destination> {
    let mut checked = BTreeMap::new();
    let mut local_paths: BTreeMap<PathBuf, Name> = BTreeMap::new();
    for (name, mut destination) in destinations {
        let at = |key: &str| path(&["destinations", name.as_str(), key]);
        match &mut destination {
            raw::Destination::Local(local) => {
                local.path = checker.resolve(&local.path);
                if let Some(other) = local_paths.insert(local.path.clone(), name.clone()) {
                    // Point at whichever of the two was written last.
                    let mut places = [
                        (
                            other.clone(),
                            checker.location(&path(&["destinations", other.as_str(), "path"])),
                        ),
                        (name.clone(), checker.location(&at("path"))),
                    ];
                    places.sort_by_key(|(_, location)| (location.source, location.span.start));
                    let [(first, first_at), (second, second_at)] = places;
                    checker.diagnostics.push(
                        Diagnostic::error(format!("destinations `{first}` and `{second}` are the same directory"))
                            .label(second_at, format!("`{second}` writes here"))
                            .label(first_at, format!("and so does `{first}`"))
                            .help("give each local destination its own directory; one destination can serve many jobs"),
                    );
                }
            }
            raw::Destination::S3(s3) => {
                if let Err(reason) = check_bucket(&s3.bucket) {
                    checker.error(&at("bucket"), format!("`{}` is not a valid bucket name: {reason}", s3.bucket), "invalid bucket", "bucket names are 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit");
                }
                if s3.prefix.starts_with('/') {
                    checker.error(
                        &at("prefix"),
                        "an S3 prefix does not start with `/`",
                        "leading slash",
                        format!("write prefix = \"{}\"", s3.prefix.trim_start_matches('/')),
                    );
                }
                if let Some(endpoint) = &s3.endpoint {
                    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                        checker.error(
                            &at("endpoint"),
                            format!("`{endpoint}` is not an http(s) URL"),
                            "not a URL",
                            "write the endpoint as a URL, e.g. \"http://127.0.0.1:3900\"",
                        );
                    }
                }
                if matches!(
                    s3.storage_class,
                    Some(raw::StorageClass::Glacier | raw::StorageClass::DeepArchive)
                ) {
                    checker.warning(&at("storage_class"), format!("destination `{name}`: objects in this storage class must be thawed before restore or verify can read them"), "restores need a thaw first", "use GLACIER_IR or STANDARD_IA for backups you want to restore or verify without delay");
                }
            }
        }
        checked.insert(name, destination);
    }
    checked
}

fn check_bucket(bucket: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&bucket.len()) {
        return Err("it must be 3 to 63 characters long");
    }
    if !bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err("only lowercase letters, digits, dots and hyphens are allowed");
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(bucket.chars().next()) || !edge(bucket.chars().last()) {
        return Err("it must start and end with a letter or digit");
    }
    Ok(())
}

fn keeps_something(policy: &RetentionPolicy) -> bool {
    [
        policy.keep_last,
        policy.hourly,
        policy.daily,
        policy.weekly,
        policy.monthly,
        policy.yearly,
    ]
    .iter()
    .any(|tier| tier.unwrap_or(0) > 0)
        || policy.within.is_some_and(|within| !within.is_zero())
}

fn check_keeps_something(checker: &mut Checker, at: &Path, policy: &RetentionPolicy) -> bool {
    if keeps_something(policy) {
        return true;
    }
    checker.error(
        at,
        "this retention policy keeps no artifact",
        "keeps nothing",
        "set at least one tier above zero, e.g. daily = 7 (an artifact kept by any tier is kept)",
    );
    false
}

fn check_schedule(
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

#[allow(clippy::too_many_arguments)]
fn check_jobs(
    checker: &mut Checker,
    jobs: &BTreeMap<Name, raw::Job>,
    stores: &BTreeMap<Name, Store>,
    destinations: &BTreeMap<Name, raw::Destination>,
    policies: &BTreeMap<Name, RetentionPolicy>,
    schedules: &BTreeMap<Name, Schedule>,
    settings: &raw::Settings,
) -> BTreeMap<Name, Job> {
    let mut checked = BTreeMap::new();
    for (name, job) in jobs {
        let at = |key: &str| path(&["jobs", name.as_str(), key]);
        let schedule = match &job.schedule {
            raw::ScheduleRef::Named(schedule) => checker
                .reference(
                    &at("schedule"),
                    "schedules",
                    "schedule",
                    schedule,
                    schedules,
                )
                .then(|| schedules.get(schedule).cloned())
                .flatten(),
            raw::ScheduleRef::Inline(inline) => {
                check_schedule(checker, &at("schedule"), None, inline.clone())
            }
        };
        let mut after = Vec::new();
        for (i, other) in job.after.iter().enumerate() {
            let at_entry = at("after").index(i);
            if other == name {
                checker.error(
                    &at_entry,
                    format!("job `{name}` cannot run after itself"),
                    "itself",
                    "remove it from `after`",
                );
            } else if after.contains(other) {
                checker.error(
                    &at_entry,
                    format!("job `{other}` appears twice in `after`"),
                    "repeated",
                    "list each job once",
                );
            } else if checker.reference(&at_entry, "jobs", "job", other, jobs) {
                after.push(other.clone());
            }
        }
        for (key, duration) in [("rpo", job.rpo), ("timeout", job.timeout)] {
            if duration.is_some_and(Duration::is_zero) {
                checker.error(
                    &at(key),
                    format!("`{key}` must be longer than zero"),
                    "zero",
                    "give a duration such as \"26h\", or remove the key",
                );
            }
        }
        if let (Some(schedule), Some(rpo)) = (&schedule, job.rpo) {
            check_rpo(checker, &at("rpo"), name, schedule, rpo);
        }
        let hooks = job.hooks.clone().unwrap_or_default();
        for (key, commands) in [
            ("before", &hooks.before),
            ("after", &hooks.after),
            ("on_failure", &hooks.on_failure),
        ] {
            for (i, command) in commands.iter().enumerate() {
                if command.trim().is_empty() {
                    checker.error(
                        &at("hooks").key(key).index(i),
                        "a hook command is empty",
                        "empty command",
                        "remove it, or write the command line to run through sh -c",
                    );
                }
            }
        }
        let kind = match job.kind {
            raw::JobKind::Backup => {
                check_backup(checker, name, job, stores, destinations, policies)
                    .map(JobKind::Backup)
            }
            raw::JobKind::Verify => {
                check_verify(checker, name, job, jobs, stores, settings).map(JobKind::Verify)
            }
        };
        if let (Some(schedule), Some(kind)) = (schedule, kind) {
            checked.insert(
                name.clone(),
                Job {
                    name: name.clone(),
                    schedule,
                    after,
                    rpo: job.rpo,
                    timeout: job.timeout,
                    hooks,
                    kind,
                },
            );
        }
    }
    checked
}

fn check_rpo(checker: &mut Checker, at: &Path, name: &Name, schedule: &Schedule, rpo: Duration) {
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

fn check_backup(
    checker: &mut Checker,
    name: &Name,
    job: &raw::Job,
    stores: &BTreeMap<Name, Store>,
    destinations: &BTreeMap<Name, raw::Destination>,
    policies: &BTreeMap<Name, RetentionPolicy>,
) -> Option<Backup> {
    let at = |key: &str| path(&["jobs", name.as_str(), key]);
    let whole = path(&["jobs", name.as_str()]);
    let mut ok = true;
    if job.verifies.is_some() || !job.checks.is_empty() {
        let key = if job.verifies.is_some() {
            "verifies"
        } else {
            "checks"
        };
        checker.error(
            &at(key),
            format!("`{key}` is only for verify jobs"),
            "only for kind = \"verify\"",
            "set kind = \"verify\" on this job, or remove the key",
        );
        ok = false;
    }
    let store = match &job.store {
        Some(store) => checker
            .reference(&at("store"), "stores", "store", store, stores)
            .then(|| store.clone()),
        None => {
            let names: Vec<&str> = stores.keys().map(Name::as_str).collect();
            let help = if names.is_empty() {
                "add store = \"NAME\" and define [stores.NAME]".to_owned()
            } else {
                format!("add store = \"NAME\" with one of {}", suggest::list(&names))
            };
            checker.error(
                &whole,
                format!("backup job `{name}` has no `store`"),
                "needs `store`",
                help,
            );
            None
        }
    };
    if job.to.is_empty() {
        let names: Vec<&str> = destinations.keys().map(Name::as_str).collect();
        let help = if names.is_empty() {
            "add to = [\"NAME\"] and define [destinations.NAME]".to_owned()
        } else {
            format!("add to = [...] with some of {}", suggest::list(&names))
        };
        checker.error(
            &whole,
            format!("backup job `{name}` has no destinations (`to`)"),
            "needs `to`",
            help,
        );
        ok = false;
    }
    let mut to: Vec<Name> = Vec::new();
    for (i, destination) in job.to.iter().enumerate() {
        let at_entry = at("to").index(i);
        if to.contains(destination) {
            checker.error(
                &at_entry,
                format!("destination `{destination}` appears twice in `to`"),
                "repeated",
                "list each destination once",
            );
            ok = false;
        } else if checker.reference(
            &at_entry,
            "destinations",
            "destination",
            destination,
            destinations,
        ) {
            to.push(destination.clone());
        } else {
            ok = false;
        }
    }
    let retention = check_job_retention(checker, name, job, &to, policies);
    let compression = check_compression(checker, &at("compression"), &job.compression);
    let mut encrypt_to = Vec::new();
    for (i, recipient) in job.encrypt_to.iter().enumerate() {
        match recipient.parse::<age::x25519::Recipient>() {
            Ok(_) => encrypt_to.push(recipient.clone()),
            Err(reason) => {
                checker.error(
                    &at("encrypt_to").index(i),
                    format!("`{recipient}` is not an age recipient: {reason}"),
                    "not an age recipient",
                    "use an age public key (\"age1...\"), as printed by `age-keygen -y KEYFILE`",
                );
                ok = false;
            }
        }
    }
    let (store, retention, compression) = (store?, retention?, compression?);
    ok.then_some(Backup {
        store,
        to,
        retention,
        compression,
        encrypt_to,
    })
}

fn check_job_retention(
    checker: &mut Checker,
    name: &Name,
    job: &raw::Job,
    to: &[Name],
    policies: &BTreeMap<Name, RetentionPolicy>,
) -> Option<BTreeMap<Name, Retention>> {
    let at = path(&["jobs", name.as_str(), "retention"]);
    let resolve =
        |checker: &mut Checker, at: &Path, policy: &raw::PolicyRef| -> Option<Retention> {
            match policy {
                raw::PolicyRef::Named(policy) => checker
                    .reference(at, "retention", "retention policy", policy, policies)
                    .then(|| Retention {
                        name: Some(policy.clone()),
                        policy: policies[policy].clone(),
                    }),
                raw::PolicyRef::Inline(policy) => {
                    check_keeps_something(checker, at, policy).then(|| Retention {
                        name: None,
                        policy: policy.clone(),
                    })
                }
            }
        };
    let mut retention = BTreeMap::new();
    match &job.retention {
        None => {
            if !to.is_empty() {
                checker.warning(&path(&["jobs", name.as_str()]), format!("job `{name}` has no retention: its artifacts are kept forever"), "no `retention`", "add retention = \"POLICY\" or retention = { daily = 7 } so old artifacts are pruned");
            }
        }
        Some(raw::JobRetention::Named(policy)) => {
            let policy = resolve(checker, &at, &raw::PolicyRef::Named(policy.clone()))?;
            retention = to.iter().map(|d| (d.clone(), policy.clone())).collect();
        }
        Some(raw::JobRetention::Inline(policy)) => {
            let policy = resolve(checker, &at, &raw::PolicyRef::Inline(policy.clone()))?;
            retention = to.iter().map(|d| (d.clone(), policy.clone())).collect();
        }
        Some(raw::JobRetention::PerDestination(per_destination)) => {
            let mut ok = true;
            for (destination, policy) in per_destination {
                let at_entry = at.key(destination.as_str());
                if !to.contains(destination) && !job.to.contains(destination) {
                    checker.error(&at_entry, format!("job `{name}` sets a retention for `{destination}`, which is not one of its destinations"), "not in `to`", format!("the job writes to {}; add `{destination}` to `to` or remove this entry", suggest::list(&job.to)));
                    ok = false;
                    continue;
                }
                match resolve(checker, &at_entry, policy) {
                    Some(policy) => {
                        retention.insert(destination.clone(), policy);
                    }
                    None => ok = false,
                }
            }
            for destination in to {
                if ok && !per_destination.contains_key(destination) {
                    checker.warning(&at, format!("job `{name}` has no retention for destination `{destination}`: its artifacts there are kept forever"), "no policy for this destination", format!("add {destination} = {{ daily = 7 }} or {destination} = \"POLICY\""));
                }
            }
            if !ok {
                return None;
            }
        }
    }
    Some(retention)
}

fn check_compression(
    checker: &mut Checker,
    at: &Path,
    compression: &Option<raw::Compression>,
) -> Option<Compression> {
    let (algorithm, level) = match compression {
        None => return Some(Compression::default()),
        Some(raw::Compression::Algorithm(algorithm)) => (*algorithm, None),
        Some(raw::Compression::Detailed(settings)) => (settings.algorithm, settings.level),
    };
    let (range, default) = match algorithm {
        CompressionAlgorithm::Zstd => (1..=19, Some(3)),
        CompressionAlgorithm::Gzip => (1..=9, Some(6)),
        CompressionAlgorithm::None => (0..=0, None),
    };
    match (level, default) {
        (Some(_), None) => {
            checker.error(
                &at.key("level"),
                "`level` has no meaning without compression",
                "not used",
                "remove level, or choose algorithm = \"zstd\" or \"gzip\"",
            );
            None
        }
        (Some(level), Some(_)) if !range.contains(&level) => {
            checker.error(
                &at.key("level"),
                format!(
                    "compression level {level} is out of range {}-{}",
                    range.start(),
                    range.end()
                ),
                "out of range",
                "zstd takes 1-19 (3 is the default and fast), gzip 1-9 (6 is the default)",
            );
            None
        }
        (level, default) => Some(Compression {
            algorithm,
            level: level.or(default),
        }),
    }
}

fn check_verify(
    checker: &mut Checker,
    name: &Name,
    job: &raw::Job,
    jobs: &BTreeMap<Name, raw::Job>,
    stores: &BTreeMap<Name, Store>,
    settings: &raw::Settings,
) -> Option<Verify> {
    let at = |key: &str| path(&["jobs", name.as_str(), key]);
    let mut ok = true;
    for (key, set) in [
        ("store", job.store.is_some()),
        ("to", !job.to.is_empty()),
        ("retention", job.retention.is_some()),
        ("compression", job.compression.is_some()),
        ("encrypt_to", !job.encrypt_to.is_empty()),
    ] {
        if set {
            checker.error(&at(key), format!("verify job `{name}` does not take `{key}`"), "not for verify jobs", "a verify job restores the newest artifact of the job named in `verifies`; remove this key");
            ok = false;
        }
    }
    let Some(verifies) = &job.verifies else {
        checker.error(
            &path(&["jobs", name.as_str()]),
            format!("verify job `{name}` does not say what it verifies"),
            "needs `verifies`",
            "add verifies = \"JOB\" naming the backup job whose artifacts it restores",
        );
        return None;
    };
    if !checker.reference(&at("verifies"), "jobs", "job", verifies, jobs) {
        return None;
    }
    let target = &jobs[verifies];
    if target.kind == raw::JobKind::Verify {
        checker.error(
            &at("verifies"),
            format!("`{verifies}` is a verify job; a verify job verifies a backup job"),
            "not a backup job",
            "name the backup job whose artifacts should be restore-tested",
        );
        return None;
    }
    if !target.encrypt_to.is_empty() && settings.age_identity_file.is_none() {
        checker.warning(&at("verifies"), format!("job `{verifies}` encrypts its artifacts but no `settings.age_identity_file` is set"), "cannot decrypt", "set settings.age_identity_file on the host that runs this verify job");
    }
    let store_kind = target
        .store
        .as_ref()
        .and_then(|s| stores.get(s))
        .map(Store::kind);
    for (i, check) in job.checks.iter().enumerate() {
        ok &= check_check(checker, &at("checks").index(i), check, store_kind);
    }
    ok.then(|| Verify {
        verifies: verifies.clone(),
        checks: job.checks.clone(),
    })
}

fn check_check(
    checker: &mut Checker,
    at: &Path,
    check: &raw::Check,
    store_kind: Option<&str>,
) -> bool {
    let set: Vec<&str> = [
        ("query", check.query.is_some()),
        ("min_keys", check.min_keys.is_some()),
        ("min_files", check.min_files.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect();
    if set.len() != 1 {
        checker.error(at, "a check needs exactly one of `query`, `min_keys` or `min_files`", "one kind of check per entry", "write one [[jobs.NAME.checks]] entry per check, e.g. query = \"select count(*) from users\" with min = 1");
        return false;
    }
    let what = set[0];
    let fits: &[&str] = match what {
        "query" => &["postgres", "mariadb", "sqlite"],
        "min_keys" => &["redis"],
        _ => &["directory"],
    };
    if let Some(kind) = store_kind {
        if !fits.contains(&kind) {
            checker.error(
                &at.key(what),
                format!("`{what}` checks do not apply to {kind} stores"),
                format!("not for {kind}"),
                format!("`{what}` works with {} stores", suggest::list(fits)),
            );
            return false;
        }
    }
    if what != "query" {
        for (key, set) in [
            ("min", check.min.is_some()),
            ("max", check.max.is_some()),
            ("database", check.database.is_some()),
        ] {
            if set {
                checker.error(
                    &at.key(key),
                    format!("`{key}` only goes with `query`"),
                    "not used",
                    format!("`{what}` is itself the minimum; remove `{key}`"),
                );
                return false;
            }
        }
    } else if check.min.is_none() && check.max.is_none() {
        checker.error(
            at,
            "a query check needs `min`, `max` or both",
            "no bound",
            "e.g. min = 1 to require at least one row",
        );
        return false;
    }
    if let (Some(min), Some(max)) = (check.min, check.max) {
        if min > max {
            checker.error(
                &at.key("min"),
                format!("`min` ({min}) is greater than `max` ({max})"),
                "no value can pass",
                "swap them or fix one",
            );
            return false;
        }
    }
    true
}

fn check_cycles(checker: &mut Checker, jobs: &BTreeMap<Name, Job>) {
    let mut graph = DiGraph::<&Name, Path>::new();
    let nodes: BTreeMap<&Name, _> = jobs
        .keys()
        .map(|name| (name, graph.add_node(name)))
        .collect();
    for (name, job) in jobs {
        for (i, other) in job.after.iter().enumerate() {
            let at = path(&["jobs", name.as_str(), "after"]).index(i);
            graph.add_edge(nodes[name], nodes[other], at);
        }
        if let JobKind::Verify(verify) = &job.kind {
            let at = path(&["jobs", name.as_str(), "verifies"]);
            graph.add_edge(nodes[name], nodes[&verify.verifies], at);
        }
    }
    for component in petgraph::algo::tarjan_scc(&graph) {
        if component.len() < 2 {
            continue;
        }
        let mut names: Vec<&str> = component.iter().map(|n| graph[*n].as_str()).collect();
        names.sort_unstable();
        let mut diagnostic = Diagnostic::error(format!(
            "jobs {} wait for each other in a cycle",
            suggest::list(&names)
        ))
        .help("remove one of these `after` entries so that the jobs can be ordered");
        let members: BTreeSet<_> = component.iter().copied().collect();
        let mut edges: Vec<&Path> = graph
            .edge_indices()
            .filter(|e| {
                let (a, b) = graph.edge_endpoints(*e).expect("edge exists");
                members.contains(&a) && members.contains(&b)
            })
            .map(|e| &graph[e])
            .collect();
        edges.sort_by_key(|p| checker.location(p).span.start);
        for at in edges {
            let (job, target) = (
                &at.0[1],
                checker
                    .tree
                    .find(at)
                    .and_then(Node::as_str)
                    .unwrap_or_default(),
            );
            let job = match job {
                super::tree::Segment::Key(job) => job.as_str(),
                _ => "",
            };
            diagnostic = diagnostic.label(
                checker.location(at),
                format!("`{job}` waits for `{target}`"),
            );
        }
        checker.diagnostics.push(diagnostic);
    }
}

fn check_unused(
    checker: &mut Checker,
    jobs: &BTreeMap<Name, Job>,
    stores: &BTreeMap<Name, Store>,
    destinations: &BTreeMap<Name, raw::Destination>,
) {
    let used_stores: BTreeSet<&Name> = jobs
        .values()
        .filter_map(|j| j.backup())
        .map(|b| &b.store)
        .collect();
    let used_destinations: BTreeSet<&Name> = jobs
        .values()
        .filter_map(|j| j.backup())
        .flat_map(|b| &b.to)
        .collect();
    let jobs_failed = checker.diagnostics.iter().any(Diagnostic::is_error);
    if jobs_failed {
        // A job that failed validation may be the one that uses them.
        return;
    }
    for name in stores.keys().filter(|n| !used_stores.contains(n)) {
        checker.warning(
            &path(&["stores", name.as_str()]),
            format!("store `{name}` is not backed up by any job"),
            "unused",
            format!("add a job with store = \"{name}\", or remove the store"),
        );
    }
    for name in destinations
        .keys()
        .filter(|n| !used_destinations.contains(n))
    {
        checker.warning(
            &path(&["destinations", name.as_str()]),
            format!("destination `{name}` is not used by any job"),
            "unused",
            format!("add \"{name}\" to a job's `to`, or remove the destination"),
        );
    }
}

fn check_notify(
    checker: &mut Checker,
    notify: BTreeMap<Name, raw::Notify>,
) -> BTreeMap<Name, Notifier> {
    let mut checked = BTreeMap::new();
    for (name, channel) in notify {
        let at = |key: &str| path(&["notify", name.as_str(), key]);
        let on = match &channel {
            raw::Notify::Webhook(webhook) => {
                for (key, url) in std::iter::once(("url".to_owned(), &webhook.url)).chain(
                    webhook
                        .urls
                        .iter()
                        .map(|(event, url)| (format!("urls.{}", event_name(*event)), url)),
                ) {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        let at = key
                            .split('.')
                            .fold(path(&["notify", name.as_str()]), |p, k| p.key(k));
                        checker.error(
                            &at,
                            format!("`{}` is not an http(s) URL", redact_url(url)),
                            "not a URL",
                            "write a URL such as \"https://hc-ping.com/UUID\"",
                        );
                    }
                }
                &webhook.on
            }
            raw::Notify::Command(command) => {
                if command.command.trim().is_empty() {
                    checker.error(
                        &at("command"),
                        "the notification command is empty",
                        "empty command",
                        "write the command line to run through sh -c",
                    );
                }
                &command.on
            }
        };
        if on.as_ref().is_some_and(Vec::is_empty) {
            checker.error(&at("on"), format!("notifier `{name}` is sent no events"), "no events", "list events such as on = [\"failure\", \"recovery\", \"stale\"], or remove `on` for that default");
        }
        let events = on
            .clone()
            .unwrap_or_else(|| vec![Event::Failure, Event::Recovery, Event::Stale]);
        checked.insert(name, Notifier { channel, events });
    }
    checked
}

fn event_name(event: Event) -> &'static str {
    match event {
        Event::Failure => "failure",
        Event::Recovery => "recovery",
        Event::Stale => "stale",
        Event::Success => "success",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_found_and_redacted() {
        assert_eq!(
            url_password("postgresql://u:secret@db:5432/x"),
            Some("secret")
        );
        assert_eq!(url_password("postgresql://u@db/x"), None);
        assert_eq!(
            redact_url("redis://:pw@cache:6379"),
            "redis://:***@cache:6379"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(check_bucket("backups-01.example").is_ok());
        for bad in [
            "ab",
            "Backups",
            "-x-bucket",
            "bucket_",
            "a".repeat(64).as_str(),
        ] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_policy_of_zeros_keeps_nothing() {
        assert!(!keeps_something(&RetentionPolicy::default()));
        assert!(!keeps_something(&RetentionPolicy {
            daily: Some(0),
            within: Some(Duration::from_seconds(0)),
            ..Default::default()
        }));
        assert!(keeps_something(&RetentionPolicy {
            weekly: Some(1),
            ..Default::default()
        }));
    }
}
