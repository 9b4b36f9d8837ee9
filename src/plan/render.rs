//! The plan for people (modelled on `terraform plan`), for pull-request
//! comments (markdown) and for tools (JSON, documented in docs/plan-json.md).

use std::fmt::Write as _;

use super::{Action, ActionKind, Plan};

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn symbol(self, action: ActionKind) -> String {
        let (code, symbol) = symbol(action);
        self.paint(code, symbol)
    }

    fn diff_line(self, line: &str) -> String {
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
fn symbol(action: ActionKind) -> (&'static str, &'static str) {
    match action {
        ActionKind::Create => ("32", "+"),
        ActionKind::Update => ("33", "~"),
        ActionKind::Destroy | ActionKind::Prune | ActionKind::Cleanup => ("31", "-"),
        ActionKind::Run => ("36", ">"),
        ActionKind::Keep => ("2", "="),
    }
}

fn verb(action: ActionKind) -> &'static str {
    match action {
        ActionKind::Create => "create",
        ActionKind::Update => "update",
        ActionKind::Destroy => "destroy",
        ActionKind::Run => "run",
        ActionKind::Prune => "prune",
        ActionKind::Cleanup => "cleanup",
        ActionKind::Keep => "keep",
    }
}

/// What a group of actions is about.
fn section(action: &Action) -> String {
    match action.action {
        ActionKind::Run => "Jobs to run".to_owned(),
        ActionKind::Prune | ActionKind::Keep => format!(
            "Retention at destination `{}`",
            action.destination.as_deref().unwrap_or_default()
        ),
        ActionKind::Cleanup => format!(
            "Incomplete artifacts at destination `{}`",
            action.destination.as_deref().unwrap_or_default()
        ),
        _ => {
            let path = action.path.as_deref().unwrap_or(std::path::Path::new(""));
            if action.address.starts_with("unit.") {
                let place = path
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                format!("systemd units in {place}")
            } else {
                format!("cron entries in {}", path.display())
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
            plan.targets.join(", ")
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
        .filter(|a| verbose || a.action != ActionKind::Keep)
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
        let width = shown.iter().map(|a| a.address.len()).max().unwrap_or(0);
        for action in shown {
            let section = section(action);
            if section != current_section {
                let _ = writeln!(out, "\n  {}:\n", style.paint("1", &section));
                current_section = section;
            }
            let _ = writeln!(
                out,
                "  {} {:width$}  {}",
                style.symbol(action.action),
                action.address,
                action.reason
            );
            let show_diff = action.action == ActionKind::Update
                || (verbose && matches!(action.action, ActionKind::Create | ActionKind::Destroy));
            if let (true, Some(diff)) = (show_diff, &action.diff) {
                for line in diff.lines() {
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
    for action in plan.actions.iter().filter(|a| a.action != ActionKind::Keep) {
        let _ = writeln!(
            out,
            "| `{} {}` | `{}` | {} |",
            symbol(action.action).1,
            verb(action.action),
            action.address,
            action.reason.replace('|', "\\|")
        );
    }
    for note in &plan.notes {
        let _ = writeln!(out, "\n> note: {note}");
    }
    let _ = writeln!(out);
    for action in &plan.actions {
        let Some(diff) = &action.diff else { continue };
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code> ({})</summary>\n\n```diff\n{diff}```\n\n</details>\n",
            action.address,
            verb(action.action),
        );
    }
    out
}

/// The JSON view: the plan without the desired contents (those are in the
/// diffs, and in saved plans).
pub fn json(plan: &Plan) -> String {
    let mut plan = plan.clone();
    for action in &mut plan.actions {
        action.content = None;
    }
    let mut text = serde_json::to_string_pretty(&plan).expect("plans serialize");
    text.push('\n');
    text
}
