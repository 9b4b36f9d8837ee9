//! The command line (SPEC §11): clap definitions, dispatch and what the
//! commands share (loading the configuration, the clock, the runtime);
//! the commands themselves live in the submodules.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use miette::miette;

use crate::config::{self, Config, LoadOptions};
use crate::graph::Graph;
use crate::output;
use crate::plan::{self, render as plan_render, Host};
use crate::ExitStatus;

mod planning;
mod recovery;
mod runs;

use planning::{apply, plan};
use recovery::{restore, status, verify};
use runs::{history, inventory, retention, run_job};

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
