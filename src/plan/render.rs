//! The plan for people (modelled on `terraform plan`), for pull-request
//! comments (markdown) and for tools (JSON, documented in docs/plan-json.md).

use std::fmt::Write as _;

use super::{Action, ActionKind, Operation, Plan};

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    pub(super) fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub(super) fn symbol(self, action: ActionKind) -> String {
        let (code, symbol) = symbol(action);
        self.paint(code, symbol)
    }

    pub(super) fn diff_line(self, line: &str) -> String {
        if line.starts_with("+++") || line.starts_with("---") {
            self.paint("1", line)
        } else if line.starts_with('+') {
            self.paint("32", line)
        } else if line.starts_with('-') {
            self.paint("31", line)
        } else if line.starts_with("@@") {
            self.paint("36", line)
        } else {
            line.to_owned()
        }
    }
}

/// The ANSI colour and the symbol of an action.
pub(super) fn symbol(action: ActionKind) -> (&'static str, &'static str) {
    match action {
        ActionKind::Create => ("32", "+"),
        ActionKind::Update => ("33", "~"),
        ActionKind::Destroy | ActionKind::Prune | ActionKind::Cleanup => ("31", "-"),
        ActionKind::Run => ("36", ">"),
        ActionKind::Keep => ("2", "="),
    }
}

/// What a group of actions is about.
pub(super) fn section(action: &Action) -> String {
    match &action.operation {
        Operation::Run { .. } => "Jobs to run".to_owned(),
        Operation::Prune { artifact, .. } | Operation::Keep { artifact } => {
            format!("Retention at destination `{}`", artifact.destination)
        }
        Operation::PruneWal { wal, .. } => {
            format!("Retention at destination `{}`", wal.destination)
        }
        Operation::Cleanup { artifact } => format!(
            "Incomplete artifacts at destination `{}`",
            artifact.destination
        ),
        Operation::Create { file, .. }
        | Operation::Update { file, .. }
        | Operation::Destroy { file } => {
            let place = file
                .path
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            if file.address.is_unit() {
                format!("systemd units in {place}")
            } else if file.address.is_kube() {
                format!("Kubernetes manifests in {place}")
            } else {
                format!("cron entries in {}", file.path.display())
            }
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut line = format!(
        "Plan: {} to add, {} to change, {} to destroy, {} to run, {} to prune",
        s.add,
        s.change,
        s.destroy,
        plural(s.run, "job", "jobs"),
        plural(s.prune, "artifact", "artifacts")
    );
    if s.cleanup > 0 {
        line.push_str(&format!(
            ", {} to clean up",
            plural(s.cleanup, "incomplete artifact", "incomplete artifacts")
        ));
    }
    line.push('.');
    line
}

fn targeting_warning(plan: &Plan) -> Option<String> {
    (!plan.targets.is_empty()).then(|| {
        format!(
            "Warning: this plan is limited to --target {}. Targeting is for exceptional \
             situations such as recovering from a mistake, not for routine use: the rest of \
             the configuration is not converged.",
            plan.targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The human view: symbols, grouped by section, diffs for updates (and full
/// content for creates and destroys, and kept artifacts, with `verbose`),
/// notes, and the summary line.
pub fn text(plan: &Plan, style: Style, verbose: bool) -> String {
    let mut out = String::new();
    if let Some(warning) = targeting_warning(plan) {
        let _ = writeln!(out, "{}\n", style.paint("33", &warning));
    }
    let shown: Vec<&Action> = plan
        .actions
        .iter()
        .filter(|a| verbose || a.kind() != ActionKind::Keep)
        .collect();
    if !plan.has_changes() && shown.is_empty() {
        let _ = writeln!(
            out,
            "No changes. The schedules installed on this host match {}, no job is due and nothing is to be pruned.",
            plan.config.display()
        );
    } else {
        if plan.has_changes() {
            let _ = writeln!(out, "cairn will perform the following actions:");
        }
        let mut current_section = String::new();
        let addresses: Vec<String> = shown.iter().map(|a| a.address().to_string()).collect();
        let width = addresses.iter().map(String::len).max().unwrap_or(0);
        for (action, address) in shown.into_iter().zip(&addresses) {
            let section = section(action);
            if section != current_section {
                let _ = writeln!(out, "\n  {}:\n", style.paint("1", &section));
                current_section = section;
            }
            let _ = writeln!(
                out,
                "  {} {:width$}  {}",
                style.symbol(action.kind()),
                address,
                action.reason
            );
            let show_diff = action.kind() == ActionKind::Update
                || (verbose && matches!(action.kind(), ActionKind::Create | ActionKind::Destroy));
            if let (true, Some(file)) = (show_diff, action.file()) {
                for line in file.diff.lines() {
                    let _ = writeln!(out, "        {}", style.diff_line(line));
                }
            }
        }
    }
    if !plan.notes.is_empty() {
        let _ = writeln!(out);
        for note in &plan.notes {
            let _ = writeln!(out, "{} {note}", style.paint("33", "note:"));
        }
    }
    if plan.has_changes() {
        let _ = writeln!(out, "\n{}", style.paint("1", &summary_line(plan)));
    }
    out
}

/// The markdown view for pull-request comments: the summary first, each
/// file change's diff in a collapsed section.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.has_changes() {
        let _ = writeln!(out, "### cairn plan: no changes\n");
        let _ = writeln!(
            out,
            "The schedules installed on this host match `{}`, no job is due and nothing is to be pruned.",
            plan.config.display()
        );
        return out;
    }
    let _ = writeln!(
        out,
        "### cairn {}\n",
        summary_line(plan)
            .trim_end_matches('.')
            .replacen("Plan:", "plan:", 1)
    );
    if let Some(warning) = targeting_warning(plan) {
        let _ = writeln!(out, "> **{warning}**\n");
    }
    let _ = writeln!(out, "| | address | why |\n| --- | --- | --- |");
    for action in plan.actions.iter().filter(|a| a.kind() != ActionKind::Keep) {
        let _ = writeln!(
            out,
            "| `{} {}` | `{}` | {} |",
            symbol(action.kind()).1,
            action.kind().name(),
            action.address(),
            action.reason.replace('|', "\\|")
        );
    }
    for note in &plan.notes {
        let _ = writeln!(out, "\n> note: {note}");
    }
    let _ = writeln!(out);
    for action in &plan.actions {
        let Some(file) = action.file() else { continue };
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code> ({})</summary>\n\n```diff\n{}```\n\n</details>\n",
            file.address,
            action.kind().name(),
            file.diff,
        );
    }
    out
}

/// The JSON view: the plan without the desired contents (those are in the
/// diffs, and in saved plans).
pub fn json(plan: &Plan) -> String {
    let mut plan = serde_json::to_value(plan).expect("plans serialize");
    if let Some(actions) = plan["actions"].as_array_mut() {
        for action in actions.iter_mut().filter_map(|a| a.as_object_mut()) {
            // Shifted out, so the fields after it keep their order.
            action.shift_remove("content");
        }
    }
    let mut text = serde_json::to_string_pretty(&plan).expect("plans serialize");
    text.push('\n');
    text
}
