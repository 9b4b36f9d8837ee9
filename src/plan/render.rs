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
        match action {
            ActionKind::Create => self.paint("32", "+"),
            ActionKind::Update => self.paint("33", "~"),
            ActionKind::Destroy => self.paint("31", "-"),
        }
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

/// What a group of actions is about, from the address.
fn section(action: &Action) -> String {
    let place = action
        .path
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if action.address.starts_with("unit.") {
        format!("systemd units in {place}")
    } else {
        format!("cron entries in {}", action.path.display())
    }
}

pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    format!(
        "Plan: {} to add, {} to change, {} to destroy.",
        s.add, s.change, s.destroy
    )
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
/// content for creates and destroys with `verbose`), and the summary line.
pub fn text(plan: &Plan, style: Style, verbose: bool) -> String {
    let mut out = String::new();
    if let Some(warning) = targeting_warning(plan) {
        let _ = writeln!(out, "{}\n", style.paint("33", &warning));
    }
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "No changes. The schedules installed on this host match {}.",
            plan.config.display()
        );
        return out;
    }
    let _ = writeln!(out, "cairn will perform the following actions:");
    let mut current_section = String::new();
    let width = plan
        .actions
        .iter()
        .map(|a| a.address.len())
        .max()
        .unwrap_or(0);
    for action in &plan.actions {
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
        if action.action == ActionKind::Update || verbose {
            for line in action.diff.lines() {
                let _ = writeln!(out, "        {}", style.diff_line(line));
            }
        }
    }
    let _ = writeln!(out, "\n{}", style.paint("1", &summary_line(plan)));
    out
}

/// The markdown view for pull-request comments: the summary first, each
/// change's diff in a collapsed section.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.has_changes() {
        let _ = writeln!(out, "### cairn plan: no changes\n");
        let _ = writeln!(
            out,
            "The schedules installed on this host match `{}`.",
            plan.config.display()
        );
        return out;
    }
    let s = &plan.summary;
    let _ = writeln!(
        out,
        "### cairn plan: {} to add, {} to change, {} to destroy\n",
        s.add, s.change, s.destroy
    );
    if let Some(warning) = targeting_warning(plan) {
        let _ = writeln!(out, "> **{warning}**\n");
    }
    let _ = writeln!(out, "| | address | why |\n| --- | --- | --- |");
    for action in &plan.actions {
        let symbol = match action.action {
            ActionKind::Create => "+ create",
            ActionKind::Update => "~ update",
            ActionKind::Destroy => "- destroy",
        };
        let _ = writeln!(
            out,
            "| `{symbol}` | `{}` | {} |",
            action.address,
            action.reason.replace('|', "\\|")
        );
    }
    let _ = writeln!(out);
    for action in &plan.actions {
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code> ({})</summary>\n\n```diff\n{}```\n\n</details>\n",
            action.address,
            match action.action {
                ActionKind::Create => "create",
                ActionKind::Update => "update",
                ActionKind::Destroy => "destroy",
            },
            action.diff
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
