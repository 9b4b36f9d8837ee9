//! The command line (SPEC §11): clap definitions and dispatch, nothing else.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use miette::miette;

use crate::config::{self, Config, LoadOptions};
use crate::graph::Graph;
use crate::output;
use crate::plan::{self, render as plan_render, Host};
use crate::ExitStatus;

#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    about = "Declarative, plan-and-apply backup manager",
    long_about = "cairn turns backup.toml into installed schedules, dumps streamed to local and S3 \
                  destinations, and retention that prunes what has expired.\n\n\
                  cairn validate   # is the file right?\n\
                  cairn plan       # what would change, as a reviewable diff\n\
                  cairn apply      # make it so"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "CAIRN_CONFIG",
        default_value = "backup.toml",
        value_name = "PATH"
    )]
    pub config: PathBuf,
    /// Apply the [env.NAME] table and the backup.NAME.toml overlay.
    #[arg(long, global = true, value_name = "NAME")]
    pub env: Option<String>,
    /// Prefix for what cairn writes for itself (units, cron file, state dir), like DESTDIR.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration: schema and meaning, all errors at once.
    Validate {
        /// Print the diagnostics as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of backup.toml.
    Schema,
    /// Print the dependency graph.
    Graph {
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Install schedules, run due jobs and prune expired artifacts.
    Apply(ApplyArgs),
    /// Run one job now.
    Run {
        job: String,
        /// Prune even at a destination whose latest run failed.
        #[arg(long)]
        force_prune: bool,
    },
    /// List artifacts per destination.
    Inventory {
        job: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List runs from the history.
    History {
        job: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show which of the timestamps on stdin a policy keeps, and why.
    Retention {
        /// e.g. daily=7,weekly=4,monthly=12
        #[arg(long, value_name = "SPEC")]
        policy: String,
        #[arg(long)]
        json: bool,
    },
    /// Are the backups healthy? Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Status {
        #[arg(long)]
        json: bool,
        /// Write a node_exporter textfile.
        #[arg(long, value_name = "FILE")]
        prometheus: Option<PathBuf>,
        /// Send `stale` notifications for jobs that became stale (once per episode).
        #[arg(long)]
        notify: bool,
    },
    /// Restore a job's artifact into its store or another target.
    Restore(RestoreArgs),
    /// Restore the newest artifact into a scratch target and run the job's checks.
    Verify {
        job: String,
        /// The age identity file for encrypted artifacts (default: settings.age_identity_file).
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    #[arg(long, value_enum)]
    pub format: Option<PlanFormat>,
    /// Also show what is kept, and why.
    #[arg(long)]
    pub verbose: bool,
    /// Save the plan for `cairn apply FILE`.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Limit the plan to these addresses.
    #[arg(long, value_name = "ADDRESS")]
    pub target: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `cairn plan --out`.
    pub planfile: Option<PathBuf>,
    #[arg(long)]
    pub auto_approve: bool,
    #[arg(long, value_name = "N")]
    pub parallelism: Option<u32>,
    #[arg(long, value_name = "ADDRESS")]
    pub target: Vec<String>,
    #[arg(long)]
    pub force_prune: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub job: Option<String>,
    /// Restore every backup job's newest artifact in dependency order.
    #[arg(long)]
    pub all: bool,
    /// Restore from this destination only.
    #[arg(long, value_name = "DEST")]
    pub from: Option<String>,
    /// The newest artifact made at or before this time (RFC 3339, or a date).
    #[arg(long, value_name = "TIME", conflicts_with = "artifact")]
    pub at: Option<String>,
    /// Exactly this artifact (`cairn inventory JOB` lists them).
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    pub artifact: Option<String>,
    /// Another target than the job's store: a DSN, a Redis URL, a MariaDB schema or a path.
    #[arg(long, value_name = "TARGET", conflicts_with = "all")]
    pub to: Option<String>,
    /// Replace a non-empty target, after a safety backup of it.
    #[arg(long)]
    pub force: bool,
    /// The age identity file for encrypted artifacts (default: settings.age_identity_file).
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
}
/// Parses the command line and runs the command.
pub fn run(args: impl IntoIterator<Item = OsString>) -> miette::Result<ExitStatus> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version are not errors; usage errors exit 1 (not clap's 2).
            let _ = error.print();
            return Ok(if error.use_stderr() {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            });
        }
    };
    match cli.command {
        Command::Validate { json } => validate(&cli.global, json),
        Command::Schema => {
            output::print(&config::json_schema())?;
            Ok(ExitStatus::Success)
        }
        Command::Completions { shell } => {
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "cairn", &mut buffer);
            output::print(&String::from_utf8_lossy(&buffer))?;
            Ok(ExitStatus::Success)
        }
        Command::Graph { format } => graph(&cli.global, format),
        Command::Plan(args) => plan(&cli.global, &args),
        Command::Apply(args) => apply(&cli.global, &args),
        Command::Run { job, force_prune } => run_job(&cli.global, &job, force_prune),
        Command::Inventory { job, json } => inventory(&cli.global, job.as_deref(), json),
        Command::History { job, json } => history(&cli.global, job.as_deref(), json),
        Command::Retention { policy, json } => retention(&cli.global, &policy, json),
        Command::Status {
            json,
            prometheus,
            notify,
        } => status(&cli.global, json, prometheus.as_deref(), notify),
        Command::Restore(args) => restore(&cli.global, &args),
        Command::Verify { job, identity } => verify(&cli.global, &job, identity.as_deref()),
    }
}

fn load_options<'a>(
    global: &'a GlobalArgs,
    lookup: &'a dyn Fn(&str) -> Option<String>,
) -> LoadOptions<'a> {
    LoadOptions {
        path: &global.config,
        env: global.env.as_deref(),
        lookup,
        host_timezone: host_timezone(),
    }
}

fn validate(global: &GlobalArgs, json: bool) -> miette::Result<ExitStatus> {
    let lookup = |name: &str| std::env::var(name).ok();
    let result = config::load(&load_options(global, &lookup));
    let warnings = match result
        .as_ref()
        .map_or_else(|d| d.warning_count(), |(_, d)| d.warning_count())
    {
        0 => String::new(),
        n => format!(", {}", count(n, "warning")),
    };
    let (diagnostics, summary) = match &result {
        Ok((config, diagnostics)) => (
            diagnostics,
            format!(
                "{} is valid: {}, {}, {}{warnings}.\n",
                global.config.display(),
                count(config.stores.len(), "store"),
                count(config.destinations.len(), "destination"),
                count(config.jobs.len(), "job"),
            ),
        ),
        Err(diagnostics) => (
            diagnostics,
            format!(
                "{} is invalid: {}{warnings}.\n",
                global.config.display(),
                count(diagnostics.error_count(), "error"),
            ),
        ),
    };
    if json {
        let report = serde_json::json!({
            "format_version": 1,
            "valid": result.is_ok(),
            "errors": diagnostics.error_count(),
            "warnings": diagnostics.warning_count(),
            "diagnostics": diagnostics.to_json(),
        });
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("JSON values serialize")
        ))?;
    } else {
        eprint!(
            "{}",
            diagnostics.render(output::stderr_colour(), output::width())
        );
        if result.is_ok() {
            output::print(&summary)?;
        } else {
            eprint!("{summary}");
        }
    }
    Ok(if result.is_ok() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// "1 job", "2 jobs".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The host's time zone, which cron entries fire in: /etc/timezone, else the
/// /etc/localtime link, else UTC.
fn host_timezone() -> String {
    if let Ok(zone) = fs_err::read_to_string("/etc/timezone") {
        let zone = zone.trim();
        if !zone.is_empty() {
            return zone.to_owned();
        }
    }
    if let Ok(target) = std::fs::read_link("/etc/localtime") {
        let target = target.to_string_lossy();
        if let Some((_, zone)) = target.split_once("zoneinfo/") {
            return zone.to_owned();
        }
    }
    "UTC".to_owned()
}

/// Loads and validates the configuration for a command that needs a valid
/// one: warnings go to stderr, errors end the command.
fn load_config(global: &GlobalArgs) -> miette::Result<(Config, String)> {
    let lookup = |name: &str| std::env::var(name).ok();
    match config::load(&load_options(global, &lookup)) {
        Ok((config, diagnostics)) => {
            eprint!(
                "{}",
                diagnostics.render(output::stderr_colour(), output::width())
            );
            let mut fingerprint = String::new();
            for source in diagnostics.sources.iter() {
                fingerprint.push_str(&format!("{}\n{}\n", source.name, source.text));
            }
            fingerprint.push_str(&format!("env={:?}\n", global.env));
            Ok((config, plan::digest(&fingerprint)))
        }
        Err(diagnostics) => {
            eprint!(
                "{}",
                diagnostics.render(output::stderr_colour(), output::width())
            );
            Err(miette!(
                help = "`cairn validate` lists the same errors; fix them and run the command again",
                "{} is invalid ({})",
                global.config.display(),
                count(diagnostics.error_count(), "error")
            ))
        }
    }
}

fn host(global: &GlobalArgs) -> Host {
    Host {
        root: global.root.as_ref().map(|root| config::absolute(root)),
    }
}

fn graph(global: &GlobalArgs, format: GraphFormat) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    let graph = Graph::build(&config);
    output::print(&match format {
        GraphFormat::Text => graph.to_text(),
        GraphFormat::Dot => graph.to_dot(),
    })?;
    Ok(ExitStatus::Success)
}

fn plan(global: &GlobalArgs, args: &PlanArgs) -> miette::Result<ExitStatus> {
    let (config, digest) = load_config(global)?;
    let options = plan::PlanOptions {
        targets: &args.target,
        now: now()?,
        verbose: args.verbose,
        force_prune: false,
    };
    let plan = runtime()?.block_on(plan::plan(&config, digest, &host(global), &options))?;
    if let Some(out) = &args.out {
        let saved = serde_json::to_string_pretty(&plan).expect("plans serialize");
        crate::atomic::write_file(out, saved.as_bytes(), 0o600)
            .map_err(|e| miette!("cannot save the plan to {}: {e}", out.display()))?;
    }
    let format = if args.json {
        PlanFormat::Json
    } else {
        args.format.unwrap_or(PlanFormat::Text)
    };
    output::print(&match format {
        PlanFormat::Text => plan_render::text(
            &plan,
            plan_render::Style {
                colour: output::stdout_colour(),
            },
            args.verbose,
        ),
        PlanFormat::Json => plan_render::json(&plan),
        PlanFormat::Markdown => plan_render::markdown(&plan),
    })?;
    if let (Some(out), PlanFormat::Text) = (&args.out, format) {
        output::print(&format!(
            "\nSaved the plan to {}. To apply exactly these actions, run:\n    cairn apply {}\n",
            out.display(),
            out.display()
        ))?;
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

fn apply(global: &GlobalArgs, args: &ApplyArgs) -> miette::Result<ExitStatus> {
    let (config, digest) = load_config(global)?;
    let host = host(global);
    let _lock = crate::apply::lock(&config, &host)?;
    let style = plan_render::Style {
        colour: output::stdout_colour(),
    };
    let now = now()?;
    let runtime = runtime()?;
    let plan = match &args.planfile {
        Some(file) => {
            let saved = saved_plan(file)?;
            if !args.target.is_empty() {
                return Err(miette!(
                    help = "targets are part of the saved plan: make a new one with `cairn plan --target ... -o FILE`",
                    "--target cannot be combined with a saved plan"
                ));
            }
            let stale = |what: &str| {
                miette!(
                    help = format!(
                        "make a new plan with `cairn plan -o {}` and review it",
                        file.display()
                    ),
                    "the saved plan {} is stale: {what} changed since it was made",
                    file.display()
                )
            };
            if saved.config_digest != digest
                || saved.config != config.path
                || saved.env != config.env
            {
                return Err(stale("the configuration"));
            }
            let options = plan::PlanOptions {
                targets: &saved.targets,
                now,
                verbose: false,
                force_prune: args.force_prune,
            };
            let current = runtime.block_on(plan::plan(&config, digest, &host, &options))?;
            if current.fingerprint() != saved.fingerprint() || current.root != saved.root {
                return Err(stale(
                    "the files on this host, the artifacts or the run history",
                ));
            }
            output::print(&plan_render::text(&saved, style, false))?;
            saved
        }
        None => {
            let options = plan::PlanOptions {
                targets: &args.target,
                now,
                verbose: false,
                force_prune: args.force_prune,
            };
            let plan = runtime.block_on(plan::plan(&config, digest, &host, &options))?;
            output::print(&plan_render::text(&plan, style, false))?;
            if !plan.has_changes() {
                return Ok(ExitStatus::Success);
            }
            if !args.auto_approve && !confirm()? {
                output::print("\nApply cancelled.\n")?;
                return Ok(ExitStatus::Failure);
            }
            plan
        }
    };
    if !plan.has_changes() {
        return Ok(ExitStatus::Success);
    }
    let options = crate::apply::ApplyOptions {
        parallelism: args.parallelism.unwrap_or(config.settings.parallelism) as usize,
        now,
    };
    let outcome = runtime.block_on(crate::apply::apply(&plan, &config, &host, &options))?;
    for note in &outcome.notes {
        output::print(&format!("{note}\n"))?;
    }
    for error in &outcome.errors {
        eprintln!("error: {error}");
    }
    output::print(&format!(
        "\nApply complete! Resources: {} added, {} changed, {} destroyed; {} run{}, {} pruned, {} cleaned up.\n",
        outcome.added,
        outcome.changed,
        outcome.destroyed,
        outcome.ran,
        if outcome.ran == 1 { "" } else { "s" },
        outcome.pruned,
        outcome.cleaned
    ))?;
    Ok(if outcome.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn saved_plan(file: &std::path::Path) -> miette::Result<plan::Plan> {
    let text =
        fs_err::read_to_string(file).map_err(|e| miette!("cannot read the saved plan: {e}"))?;
    let plan: plan::Plan = serde_json::from_str(&text).map_err(|e| {
        miette!(
            help = "pass a file written by `cairn plan -o FILE`",
            "{} is not a saved cairn plan: {e}",
            file.display()
        )
    })?;
    if plan.format_version != plan::FORMAT_VERSION {
        return Err(miette!(
            help = "make a new plan with this cairn",
            "{} was saved in plan format {}, this cairn reads format {}",
            file.display(),
            plan.format_version,
            plan::FORMAT_VERSION
        ));
    }
    Ok(plan)
}

/// Asks for `yes` on a terminal; refuses without one rather than waiting.
fn confirm() -> miette::Result<bool> {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            help = "review the plan and run `cairn apply --auto-approve`, or save it with `cairn plan -o FILE` and run `cairn apply FILE`",
            "apply needs a confirmation, and stdin is not a terminal"
        ));
    }
    output::print("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| miette!("cannot read the answer: {e}"))?;
    Ok(answer.trim() == "yes")
}

/// The clock: `CAIRN_NOW` (RFC 3339) when set, else the system clock.
fn now() -> miette::Result<chrono::DateTime<chrono::Utc>> {
    match std::env::var("CAIRN_NOW") {
        Ok(text) => chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| {
                miette!(
                    help = "write it as RFC 3339, e.g. 2026-11-20T02:00:00Z",
                    "CAIRN_NOW=`{text}` is not a time: {e}"
                )
            }),
        Err(_) => Ok(chrono::Utc::now()),
    }
}

fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| miette!("cannot start the async runtime: {e}"))
}

fn run_job(global: &GlobalArgs, job: &str, force_prune: bool) -> miette::Result<ExitStatus> {
    let (config, digest) = load_config(global)?;
    let reason = match std::env::var("CAIRN_REASON").as_deref() {
        Ok("scheduled") => crate::manifest::Reason::Scheduled,
        _ => crate::manifest::Reason::Manual,
    };
    let now = now()?;
    let host = host(global);
    let runtime = runtime()?;
    if config
        .jobs
        .iter()
        .any(|(name, j)| name.as_str() == job && j.backup().is_none())
    {
        return verify_job(&config, &host, &runtime, job, reason, now, None);
    }
    let options = crate::run::RunOptions {
        reason,
        now,
        store: None,
    };
    let record = runtime.block_on(crate::run::run(&config, job, &host, options))?;
    let mut failed = false;
    for (destination, outcome) in &record.destinations {
        if let Some(error) = &outcome.error {
            failed = true;
            eprintln!("error: job `{job}`: destination `{destination}`: {error}");
        }
    }
    if let Some(error) = &record.error {
        failed = true;
        eprintln!("error: job `{job}` failed: {error}");
    }
    // Before anything that can stop here (a closed stdout): a run that
    // happened is always reported.
    let state_dir = host.local(&config.settings.state_dir);
    runtime.block_on(crate::notify::after_run(&config, &state_dir, &record));
    if failed || record.outcome == crate::history::Outcome::Failed {
        eprintln!(
            "Run {} of job `{job}` failed; earlier backups are untouched and no incomplete artifact counts as a backup.",
            record.id
        );
        return Ok(ExitStatus::Failure);
    }
    output::print(&format!(
        "Backup {} of job `{job}` complete: {} read, {} stored at {}.\n",
        record.id,
        crate::run::human_bytes(record.raw_size),
        crate::run::human_bytes(record.stored_size),
        record
            .destinations
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    prune_after_run(&config, digest, &host, &runtime, job, force_prune)
}

/// After a successful run, prunes that job's artifacts outside retention,
/// with the same planner and executor as `apply`.
fn prune_after_run(
    config: &Config,
    digest: String,
    host: &Host,
    runtime: &tokio::runtime::Runtime,
    job: &str,
    force_prune: bool,
) -> miette::Result<ExitStatus> {
    let targets = [format!("job.{job}")];
    let options = plan::PlanOptions {
        targets: &targets,
        now: now()?,
        verbose: false,
        force_prune,
    };
    let mut plan = runtime.block_on(plan::plan(config, digest, host, &options))?;
    plan.actions.retain(|a| a.action == plan::ActionKind::Prune);
    if plan.actions.is_empty() {
        return Ok(ExitStatus::Success);
    }
    let apply_options = crate::apply::ApplyOptions {
        parallelism: 1,
        now: options.now,
    };
    let outcome = runtime.block_on(crate::apply::apply(&plan, config, host, &apply_options))?;
    for action in &plan.actions {
        eprintln!("cairn: pruned {} ({})", action.address, action.reason);
    }
    for error in &outcome.errors {
        eprintln!("error: {error}");
    }
    Ok(if outcome.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn history(global: &GlobalArgs, job: Option<&str>, json: bool) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    if let Some(job) = job {
        if !config.jobs.keys().any(|j| j.as_str() == job) {
            return Err(miette!(
                help = "`cairn graph` lists the jobs",
                "there is no job `{job}` in the configuration"
            ));
        }
    }
    let state_dir = host(global).local(&config.settings.state_dir);
    let records = crate::history::read(&state_dir, job).map_err(|e| {
        miette!(
            "cannot read the history in {}: {e}",
            state_dir.join("history").display()
        )
    })?;
    if json {
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&records).expect("records serialize")
        ))?;
        return Ok(ExitStatus::Success);
    }
    if records.is_empty() {
        output::print("No runs recorded yet.\n")?;
        return Ok(ExitStatus::Success);
    }
    let mut out = format!(
        "{:<20} {:<20} {:<9} {:>9} {:>10} {:>10}  {}\n",
        "JOB", "RUN", "REASON", "OUTCOME", "DURATION", "STORED", "ERROR"
    );
    for record in &records {
        let duration = (record.finished_at - record.started_at)
            .num_seconds()
            .max(0) as u64;
        let error = record
            .error
            .clone()
            .or_else(|| {
                record
                    .destinations
                    .iter()
                    .find_map(|(d, o)| o.error.as_ref().map(|e| format!("{d}: {e}")))
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<20} {:<20} {:<9} {:>9} {:>10} {:>10}  {}\n",
            record.job,
            record.id,
            format!("{:?}", record.reason).to_lowercase(),
            format!("{:?}", record.outcome).to_lowercase(),
            crate::duration::Duration::from_seconds(duration).to_string(),
            crate::run::human_bytes(record.stored_size),
            error
        ));
    }
    output::print(&out)?;
    Ok(ExitStatus::Success)
}

/// `cairn retention`: which of the timestamps on stdin a policy keeps, and
/// why. Periods are in the configuration's time zone when there is a
/// configuration file, else in UTC.
fn retention(global: &GlobalArgs, spec: &str, json: bool) -> miette::Result<ExitStatus> {
    use std::io::Read;
    let policy = crate::retention::parse_spec(spec).map_err(|e| {
        miette!(
            help = "write the policy as e.g. daily=7,weekly=4,monthly=12",
            "--policy: {e}"
        )
    })?;
    let timezone = if global.config.exists() {
        load_config(global)?.0.timezone
    } else {
        chrono_tz::UTC
    };
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| miette!("cannot read the timestamps from stdin: {e}"))?;
    let mut given = Vec::new();
    let mut times = Vec::new();
    for (number, line) in input.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let time = chrono::DateTime::parse_from_rfc3339(line).map_err(|e| {
            miette!(
                help = "give one RFC 3339 timestamp per line, e.g. 2026-11-20T02:00:00Z",
                "line {}: `{line}` is not an RFC 3339 timestamp: {e}",
                number + 1
            )
        })?;
        given.push(line.to_owned());
        times.push(time.with_timezone(&chrono::Utc));
    }
    let decisions = crate::retention::apply(&policy, &times, timezone);
    if json {
        let items: Vec<serde_json::Value> = given
            .iter()
            .zip(&decisions)
            .map(|(time, decision)| serde_json::json!({ "time": time, "keep": decision.keep, "reasons": decision.reasons }))
            .collect();
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&items).expect("JSON values serialize")
        ))?;
        return Ok(ExitStatus::Success);
    }
    let width = given.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (time, decision) in given.iter().zip(&decisions) {
        if decision.keep {
            out.push_str(&format!(
                "keep   {time:width$}  {}\n",
                decision.reasons.join(", ")
            ));
        } else {
            out.push_str(&format!(
                "prune  {time:width$}  outside {}\n",
                crate::retention::describe(&policy)
            ));
        }
    }
    let kept = decisions.iter().filter(|d| d.keep).count();
    out.push_str(&format!(
        "\n{kept} kept, {} pruned by {} (periods in {timezone}).\n",
        decisions.len() - kept,
        crate::retention::describe(&policy)
    ));
    output::print(&out)?;
    Ok(ExitStatus::Success)
}

fn inventory(global: &GlobalArgs, job: Option<&str>, json: bool) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    let inventory = runtime()?.block_on(async {
        let opened = crate::inventory::open_all(&config).await;
        crate::inventory::read(&opened, job).await
    });
    let rows = inventory.rows();
    let errors = inventory.errors();
    if json {
        let report = serde_json::json!({
            "artifacts": rows,
            "errors": errors.iter().map(|(d, e)| serde_json::json!({"destination": d, "error": e})).collect::<Vec<_>>(),
        });
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("rows serialize")
        ))?;
    } else {
        let mut out = format!(
            "{:<14} {:<18} {:<20} {:<12} {:>10}  {:<16}  {}\n",
            "DESTINATION", "JOB", "ID", "STATUS", "STORED", "SHA256", "REASON"
        );
        for row in &rows {
            out.push_str(&format!(
                "{:<14} {:<18} {:<20} {:<12} {:>10}  {:<16}  {}\n",
                row.destination,
                row.job,
                row.id,
                row.status,
                crate::run::human_bytes(row.stored_size),
                row.streams
                    .first()
                    .map(|s| &s.sha256[..16.min(s.sha256.len())])
                    .unwrap_or("-"),
                row.reason
                    .map(|r| format!("{r:?}").to_lowercase())
                    .unwrap_or_default()
            ));
        }
        if rows.is_empty() {
            out = "No artifacts found.\n".to_owned();
        }
        output::print(&out)?;
        for (destination, error) in &errors {
            eprintln!("error: destination `{destination}` cannot be read: {error}");
        }
    }
    Ok(if errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn restore(global: &GlobalArgs, args: &RestoreArgs) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    let at = args.at.as_deref().map(parse_time).transpose()?;
    let options = crate::restore::RestoreOptions {
        selection: crate::restore::Selection {
            from: args.from.as_deref(),
            at,
            artifact: args.artifact.as_deref(),
        },
        to: args.to.as_deref(),
        force: args.force,
        identity: args.identity.as_deref(),
        now: now()?,
    };
    let host = host(global);
    let runtime = runtime()?;
    let jobs: Vec<String> = match &args.job {
        Some(job) => vec![job.clone()],
        None => crate::restore::backup_jobs_in_order(&config),
    };
    for (done, job) in jobs.iter().enumerate() {
        let notes = crate::restore::restore(runtime.handle(), &config, &host, job, &options)
            .map_err(|error| {
                if jobs.len() > 1 {
                    eprintln!(
                        "error: restore --all stopped at job `{job}` after restoring {done} of {} jobs ({}); the jobs after it were not restored",
                        jobs.len(),
                        jobs[..done].join(", ")
                    );
                }
                miette::Report::new(error)
            })?;
        for note in notes {
            eprintln!("note: {note}");
        }
    }
    output::print(&format!(
        "Restored {}.\n",
        jobs.iter()
            .map(|j| format!("`{j}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    Ok(ExitStatus::Success)
}

/// `--at`: RFC 3339, or a date (the end of that day, UTC).
fn parse_time(text: &str) -> miette::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(23, 59, 59)
            .expect("a valid time")
            .and_utc());
    }
    Err(miette!(
        help = "write it as RFC 3339 (2026-11-20T02:00:00Z) or a date (2026-11-20, meaning its end, UTC)",
        "--at `{text}` is not a time"
    ))
}

fn verify(
    global: &GlobalArgs,
    job: &str,
    identity: Option<&std::path::Path>,
) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    let runtime = runtime()?;
    verify_job(
        &config,
        &host(global),
        &runtime,
        job,
        crate::manifest::Reason::Manual,
        now()?,
        identity,
    )
}

/// One verify run (`cairn verify`, or `cairn run` of a verify job): the
/// record goes to the history and the notifications; exit 1 when it failed.
fn verify_job(
    config: &Config,
    host: &Host,
    runtime: &tokio::runtime::Runtime,
    job: &str,
    reason: crate::manifest::Reason,
    now: chrono::DateTime<chrono::Utc>,
    identity: Option<&std::path::Path>,
) -> miette::Result<ExitStatus> {
    let options = crate::restore::verify::VerifyOptions {
        reason,
        now,
        identity,
    };
    let record = crate::restore::verify::verify(runtime.handle(), config, host, job, &options)?;
    let state_dir = host.local(&config.settings.state_dir);
    runtime.block_on(crate::notify::after_run(config, &state_dir, &record));
    let verified = record
        .verify
        .as_ref()
        .expect("verify runs have a verify record");
    let what = match (&verified.artifact, &verified.destination) {
        (Some(artifact), Some(destination)) => {
            format!(
                "artifact {artifact} of job `{}` from `{destination}`",
                verified.job
            )
        }
        _ => format!("job `{}`", verified.job),
    };
    match &record.error {
        Some(error) => {
            eprintln!("error: verify `{job}` failed: {error}");
            eprintln!("Verify of {what} failed.");
            Ok(ExitStatus::Failure)
        }
        None => {
            output::print(&format!(
                "Verify of {what} passed: {} checks.\n",
                verified.checks.len()
            ))?;
            Ok(ExitStatus::Success)
        }
    }
}

/// `cairn status`: exits with the worst job's state (0 OK, 1 WARNING,
/// 2 CRITICAL, 3 UNKNOWN). Whatever keeps it from telling — an invalid
/// configuration, a bad `CAIRN_NOW`, an unreadable history — is UNKNOWN (3),
/// not an error (1), so that monitoring tells "cannot tell" from "broken".
fn status(
    global: &GlobalArgs,
    json: bool,
    prometheus: Option<&std::path::Path>,
    notify: bool,
) -> miette::Result<ExitStatus> {
    let report = (|| {
        let (config, _) = load_config(global)?;
        let now = now()?;
        let state_dir = host(global).local(&config.settings.state_dir);
        let records = crate::history::read(&state_dir, None).map_err(|e| {
            miette!(
                help = "check that this user can read the state directory (settings.state_dir)",
                "cannot read the run history in {}: {e}",
                state_dir.join("history").display()
            )
        })?;
        let runtime = runtime()?;
        let listings = runtime.block_on(crate::status::read_destinations(&config));
        let report = crate::status::evaluate(&config, &listings, &records, now);
        if notify {
            runtime.block_on(crate::status::notify_stale(&config, &state_dir, &report));
        }
        Ok::<_, miette::Report>(report)
    })();
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("{error:?}");
            if json {
                let text = crate::status::json_unknown(now().ok(), &error.to_string());
                output::print(&text)?;
            } else {
                output::print("Status: UNKNOWN (cairn cannot tell; see the error above).\n")?;
            }
            return Ok(ExitStatus::Unknown);
        }
    };
    let mut state = report.state;
    if let Some(file) = prometheus {
        if let Err(e) = crate::status::prometheus::write(file, &report) {
            eprintln!(
                "error: cannot write the Prometheus textfile {}: {e}\n  help: check that the directory exists and this user may write to it",
                file.display()
            );
            state = state.max(crate::status::State::Unknown);
        }
    }
    output::print(&if json {
        crate::status::json(&report)
    } else {
        crate::status::text(&report)
    })?;
    Ok(state.exit_status())
}
