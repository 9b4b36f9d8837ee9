//! The command line (SPEC §11): clap definitions, dispatch and what the
//! commands share (loading the configuration, the clock, the runtime);
//! the commands themselves live in the submodules.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use miette::miette;

use crate::config::{self, Config};
use crate::output::Log;
use crate::state::Host;
use crate::{format, ops, output, ExitStatus};

mod apply;
mod graph;
mod history;
mod inventory;
mod plan;
mod restore;
mod retention;
mod run;
mod status;
mod validate;
mod verify;
mod wal;

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
    /// Act on this host's jobs (plan, apply, run, status); default: this
    /// host's name (gethostname), compared case-insensitively.
    #[arg(long, global = true, value_name = "NAME")]
    pub host: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration: schema and meaning, all errors at once.
    Validate {
        /// Print the diagnostics as JSON.
        #[arg(long)]
        json: bool,
        /// Check away from the hosts (CI, pre-commit): a ${VAR} not set
        /// here is checked as written, with a warning, and cron's time-zone
        /// check against this machine is skipped.
        #[arg(long)]
        ci: bool,
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
        /// Every job of the file, not only this host's (with
        /// `settings.state = "destinations"`, from the records there).
        #[arg(long)]
        all_hosts: bool,
    },
    /// Show which of the timestamps on stdin a policy keeps, and why.
    Retention {
        /// e.g. daily=7,weekly=4,monthly=12
        #[arg(long, value_name = "SPEC")]
        policy: String,
        /// Compare with this policy (the one in force before the change).
        #[arg(long, value_name = "SPEC")]
        against_policy: Option<String>,
        /// Instead of timestamps on stdin, the artifacts of JOB at its
        /// destinations.
        #[arg(long, value_name = "JOB")]
        from_inventory: Option<String>,
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
        /// Every host's jobs, grouped by host, instead of this host's.
        #[arg(long)]
        all_hosts: bool,
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
    /// PostgreSQL's WAL archive: archive_command and restore_command.
    Wal {
        #[command(subcommand)]
        command: WalCommand,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// Archive one WAL file at every destination of a job; exit 0 only when
    /// every destination holds it.
    /// archive_command = 'cairn wal push %p --job JOB --config /etc/cairn/backup.toml'
    Push {
        /// The file PostgreSQL archives (%p).
        path: PathBuf,
        /// The basebackup job whose archive this is.
        #[arg(long)]
        job: String,
    },
    /// Fetch one archived WAL file; exit 0 fetched, 1 not archived (the end
    /// of the archive), 255 any other failure, which stops recovery.
    /// restore_command = 'cairn wal fetch %f %p --job JOB --config /etc/cairn/backup.toml'
    Fetch {
        /// The file's name (%f).
        name: String,
        /// Where to write it (%p).
        dest: PathBuf,
        #[arg(long)]
        job: String,
    },
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
    pub target: Vec<crate::plan::Target>,
    /// Review the configuration against an earlier one: a file, or a Git
    /// revision of the repository holding it. Reads no host, destination,
    /// server or credential.
    #[arg(long, value_name = "FILE|REVISION", conflicts_with_all = ["out", "target", "verbose"])]
    pub against: Option<String>,
    /// With --against: every host's jobs, grouped per host (the default
    /// unless --host picks one).
    #[arg(long, requires = "against")]
    pub all_hosts: bool,
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
    pub target: Vec<crate::plan::Target>,
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
    /// Another target than the job's store: a DSN, a Redis URL, a MariaDB schema, a path,
    /// or Kafka bootstrap servers (HOST:PORT[,HOST:PORT]).
    #[arg(long, value_name = "TARGET", conflicts_with = "all")]
    pub to: Option<String>,
    /// Kafka: restore each topic under this prefix plus its saved name.
    #[arg(long, value_name = "P", conflicts_with = "all")]
    pub topic_prefix: Option<String>,
    /// Replace a non-empty target, after a safety backup of it.
    #[arg(long)]
    pub force: bool,
    /// The age identity file for encrypted artifacts (default: settings.age_identity_file).
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Base backups: the timeline to recover along, `latest` or a number.
    #[arg(long, value_name = "N|latest", default_value = "latest")]
    pub timeline: String,
    /// Base backups: what the server does at the recovery target.
    #[arg(long, value_enum, default_value_t = TargetActionArg::Promote)]
    pub target_action: TargetActionArg,
    /// Base backups: start the server on the restored data directory and
    /// wait until recovery reached its target.
    #[arg(long)]
    pub start: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TargetActionArg {
    Promote,
    Pause,
    Shutdown,
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
        Command::Validate { json, ci } => validate::validate(&cli.global, json, ci),
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
        Command::Graph { format } => graph::graph(&cli.global, format),
        Command::Plan(args) => plan::plan(&cli.global, &args),
        Command::Apply(args) => apply::apply(&cli.global, &args),
        Command::Run { job, force_prune } => run::run(&cli.global, &job, force_prune),
        Command::Inventory { job, json } => inventory::inventory(&cli.global, job.as_deref(), json),
        Command::History {
            job,
            json,
            all_hosts,
        } => history::history(&cli.global, job.as_deref(), json, all_hosts),
        Command::Retention {
            policy,
            against_policy,
            from_inventory,
            json,
        } => retention::retention(
            &cli.global,
            &retention::Request {
                policy: &policy,
                against: against_policy.as_deref(),
                from_inventory: from_inventory.as_deref(),
                json,
            },
        ),
        Command::Status {
            json,
            prometheus,
            notify,
            all_hosts,
        } => status::status(&cli.global, json, prometheus.as_deref(), notify, all_hosts),
        Command::Restore(args) => restore::restore(&cli.global, &args),
        Command::Verify { job, identity } => verify::verify(&cli.global, &job, identity.as_deref()),
        Command::Wal { command } => wal::wal(&cli.global, command),
    }
}

/// Loads and validates the configuration for a command that needs a valid
/// one: warnings go to stderr, errors end the command.
fn load_config(global: &GlobalArgs) -> miette::Result<(Config, String)> {
    load_config_with(global, true)
}

/// [`load_config`], printing warnings only when `warnings` (`wal push` and
/// `wal fetch` run once per WAL segment: their output goes to the server
/// log, where a warning per segment would drown the rest).
fn load_config_with(global: &GlobalArgs, warnings: bool) -> miette::Result<(Config, String)> {
    load_config_at(global, warnings, ops::load::Place::Host)
}

/// [`load_config_with`] at `place`.
fn load_config_at(
    global: &GlobalArgs,
    warnings: bool,
    place: ops::load::Place,
) -> miette::Result<(Config, String)> {
    match ops::load::load_at(&global.config, global.env.as_deref(), place) {
        Ok(loaded) => {
            if warnings {
                eprint!(
                    "{}",
                    loaded
                        .diagnostics
                        .render(output::stderr_colour(), output::width())
                );
            }
            Ok((loaded.config, loaded.digest))
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
                format::count(diagnostics.error_count(), "error")
            ))
        }
    }
}

/// [`load_config`] for a command that acts on one host's jobs: the
/// configuration scoped to `--host` (or this host), which must be one of
/// `settings.hosts` when the file declares them.
fn load_host_config(global: &GlobalArgs) -> miette::Result<(Config, String)> {
    scope_to_host(global, load_config(global)?)
}

/// [`load_host_config`] for `plan` and `apply`, which with a Kubernetes
/// scheduler only render: no `${VAR}` needs a value there.
fn load_render_config(global: &GlobalArgs) -> miette::Result<(Config, String)> {
    let place = ops::load::render_place(&global.config);
    scope_to_host(global, load_config_at(global, true, place)?)
}

fn scope_to_host(
    global: &GlobalArgs,
    (mut config, digest): (Config, String),
) -> miette::Result<(Config, String)> {
    let host = match &global.host {
        Some(host) => host.trim().to_lowercase(),
        None => this_host().ok_or_else(|| {
            miette!(
                help = "pass --host NAME",
                "cannot tell this host's name (gethostname failed)"
            )
        })?,
    };
    if let Some(declared) = &config.settings.hosts {
        if !declared.iter().any(|d| d.to_lowercase() == host) {
            return Err(miette!(
                help = "pass --host NAME for one of them, or add this host to settings.hosts",
                "host `{host}` is not one of the hosts {} serves ({})",
                global.config.display(),
                declared.join(", ")
            ));
        }
    }
    config.host = Some(host);
    Ok((config, digest))
}

/// This host's name as gethostname(2) gives it, lowercase.
fn this_host() -> Option<String> {
    crate::state::host_name()
}

fn host(global: &GlobalArgs) -> Host {
    Host {
        root: global.root.as_ref().map(|root| config::absolute(root)),
    }
}

/// The clock: `CAIRN_NOW` (RFC 3339) when set, else the system clock.
fn now() -> miette::Result<chrono::DateTime<chrono::Utc>> {
    #[allow(clippy::disallowed_methods)] // SPEC §11: CAIRN_NOW replaces the clock.
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
