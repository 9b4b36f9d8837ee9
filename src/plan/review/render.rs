//! A review for people, for pull-request comments (markdown: the summary
//! first, the details collapsed) and for tools (JSON, docs/plan-json.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Change, Review};
use crate::plan::render::{section, symbol, Style};
use crate::plan::{ActionKind, FORMAT_VERSION};

/// "every host" for `None`.
fn host_name(host: &Option<String>) -> String {
    host.as_ref()
        .map_or_else(|| "every host".to_owned(), |host| format!("host `{host}`"))
}

fn value(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("(none)")
}

/// The line that sums the review up.
pub fn summary_line(review: &Review) -> String {
    let s = review.summary();
    let jobs = review.changes.len();
    format!(
        "Review: {} to add, {} to change, {} to destroy; {} job and setting change{}.",
        s.add,
        s.change,
        s.destroy,
        jobs,
        if jobs == 1 { "" } else { "s" }
    )
}

/// The effect lines of a change: next fires, steady-state counts, its note.
fn effects(change: &Change) -> Vec<String> {
    let mut lines = Vec::new();
    match (&change.next_fires_before, &change.next_fires_after) {
        (Some(before), Some(after)) => {
            lines.push(format!("next fires before: {}", before.join(", ")));
            lines.push(format!("next fires after:  {}", after.join(", ")));
        }
        (Some(fires), None) | (None, Some(fires)) => {
            lines.push(format!("next fires: {}", fires.join(", ")));
        }
        (None, None) => {}
    }
    let empty = BTreeMap::new();
    let (kept_before, kept_after) = (
        change.kept_before.as_ref().unwrap_or(&empty),
        change.kept_after.as_ref().unwrap_or(&empty),
    );
    let no_ages = BTreeMap::new();
    let (old_before, old_after) = (
        change.oldest_kept_before.as_ref().unwrap_or(&no_ages),
        change.oldest_kept_after.as_ref().unwrap_or(&no_ages),
    );
    let destinations: std::collections::BTreeSet<&String> =
        kept_before.keys().chain(kept_after.keys()).collect();
    let count = |kept: Option<&Option<usize>>| match kept {
        None => "-".to_owned(),
        Some(None) => "every".to_owned(),
        Some(Some(n)) => n.to_string(),
    };
    let age = |age: Option<&String>| age.map_or("-", String::as_str).to_owned();
    for destination in destinations {
        let (b, a) = (kept_before.get(destination), kept_after.get(destination));
        let line = match (b, a) {
            (Some(_), Some(_)) => format!(
                "keeps {} → {} artifacts at {destination}; oldest kept {} → {}",
                count(b),
                count(a),
                age(old_before.get(destination)),
                age(old_after.get(destination))
            ),
            _ => format!(
                "keeps {} artifacts at {destination}; oldest kept {}",
                count(b.or(a)),
                age(old_before.get(destination).or(old_after.get(destination)))
            ),
        };
        lines.push(line);
    }
    if let Some(note) = &change.note {
        lines.push(note.clone());
    }
    lines
}

/// One change as a sentence: "schedule: daily 02:00 UTC → daily 03:30 UTC".
fn describe(change: &Change) -> (ActionKind, String) {
    match (&change.before, &change.after, change.field.as_str()) {
        (None, Some(after), "job") => (ActionKind::Create, format!("job added: {after}")),
        (Some(before), None, "job") => (ActionKind::Destroy, format!("job removed: {before}")),
        (None, Some(after), field) => (ActionKind::Create, format!("{field}: {after} (new)")),
        (Some(before), None, field) => (ActionKind::Destroy, format!("{field}: {before} (gone)")),
        (before, after, field) => (
            ActionKind::Update,
            format!("{field}: {} → {}", value(before), value(after)),
        ),
    }
}

/// The human view: per host, the file actions (with diffs for updates) and
/// the job changes; then the settings; then the summary.
pub fn text(review: &Review, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Reviewing {} against {}.",
        review.config.display(),
        review.against
    );
    if !review.has_changes() {
        let _ = writeln!(
            out,
            "\nNo changes: both revisions install the same files and run and keep the same things."
        );
        return out;
    }
    for host in &review.hosts {
        let actions: Vec<_> = review
            .actions
            .iter()
            .filter(|(h, _)| h == host)
            .map(|(_, a)| a)
            .collect();
        let changes: Vec<&Change> = review
            .changes
            .iter()
            .filter(|c| c.job.is_some() && &c.host == host)
            .collect();
        if review.hosts.len() > 1 || host.is_some() {
            let _ = writeln!(
                out,
                "\n{}:",
                style.paint("1", &format!("On {}", host_name(host)))
            );
        }
        if actions.is_empty() && changes.is_empty() {
            let _ = writeln!(out, "\n  No changes.");
            continue;
        }
        let mut current = String::new();
        let width = actions
            .iter()
            .map(|a| a.address().to_string().len())
            .max()
            .unwrap_or(0);
        for action in actions {
            let title = section(action);
            if title != current {
                let _ = writeln!(out, "\n  {}:\n", style.paint("1", &title));
                current = title;
            }
            let _ = writeln!(
                out,
                "  {} {:width$}  {}",
                style.symbol(action.kind()),
                action.address().to_string(),
                action.reason
            );
            if let (ActionKind::Update, Some(file)) = (action.kind(), action.file()) {
                for line in file.diff.lines() {
                    let _ = writeln!(out, "        {}", style.diff_line(line));
                }
            }
        }
        if !changes.is_empty() {
            let _ = writeln!(out, "\n  {}:\n", style.paint("1", "Jobs"));
            let width = changes
                .iter()
                .filter_map(|c| c.job.as_ref())
                .map(String::len)
                .max()
                .unwrap_or(0);
            for change in changes {
                let (kind, sentence) = describe(change);
                let _ = writeln!(
                    out,
                    "  {} {:width$}  {sentence}",
                    style.symbol(kind),
                    change.job.as_deref().unwrap_or_default()
                );
                for line in effects(change) {
                    let _ = writeln!(out, "  {:width$}      {line}", "");
                }
            }
        }
    }
    let global: Vec<&Change> = review.changes.iter().filter(|c| c.job.is_none()).collect();
    if !global.is_empty() {
        let _ = writeln!(
            out,
            "\n{}:\n",
            style.paint("1", "Settings and notifications")
        );
        for change in global {
            let (kind, sentence) = describe(change);
            let _ = writeln!(out, "  {} {sentence}", style.symbol(kind));
        }
    }
    for note in &review.notes {
        let _ = writeln!(out, "\n{} {note}", style.paint("33", "note:"));
    }
    let _ = writeln!(out, "\n{}", style.paint("1", &summary_line(review)));
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The markdown view for a pull-request comment: the summary and a table of
/// the changes first, then each host's file diffs and each change's effects
/// in collapsed sections.
pub fn markdown(review: &Review) -> String {
    let mut out = String::new();
    if !review.has_changes() {
        let _ = writeln!(out, "### cairn review: no changes\n");
        let _ = writeln!(
            out,
            "`{}` installs the same files and runs and keeps the same things as {}.",
            review.config.display(),
            cell(&review.against)
        );
        return out;
    }
    let _ = writeln!(
        out,
        "### cairn {}\n",
        summary_line(review)
            .trim_end_matches('.')
            .replacen("Review:", "review:", 1)
    );
    let _ = writeln!(out, "Against {}.\n", cell(&review.against));
    if !review.changes.is_empty() {
        let _ = writeln!(out, "| | host | job | change |\n| --- | --- | --- | --- |");
        for change in &review.changes {
            let (kind, sentence) = describe(change);
            let mut text = cell(&sentence);
            for line in effects(change) {
                text.push_str("<br>");
                text.push_str(&cell(&line));
            }
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {text} |",
                symbol(kind).1,
                change.host.as_deref().unwrap_or("*"),
                change
                    .job
                    .as_deref()
                    .map_or_else(|| "(settings)".to_owned(), |job| format!("`{job}`")),
            );
        }
        let _ = writeln!(out);
    }
    if !review.actions.is_empty() {
        let _ = writeln!(out, "| | host | file | why |\n| --- | --- | --- | --- |");
        for (host, action) in &review.actions {
            let _ = writeln!(
                out,
                "| `{} {}` | {} | `{}` | {} |",
                symbol(action.kind()).1,
                action.kind().name(),
                host.as_deref().unwrap_or("*"),
                action.address(),
                cell(&action.reason)
            );
        }
        let _ = writeln!(out);
        for (host, action) in &review.actions {
            let Some(file) = action.file() else { continue };
            let _ = writeln!(
                out,
                "<details><summary><code>{}</code> ({}, {})</summary>\n\n```diff\n{}```\n\n</details>\n",
                file.address,
                action.kind().name(),
                host_name(host).replace('`', ""),
                file.diff,
            );
        }
    }
    for note in &review.notes {
        let _ = writeln!(out, "> note: {note}\n");
    }
    out
}

/// The JSON view: `actions` as `plan --json` writes them, each with its
/// `host`, and the `changes`.
pub fn json(review: &Review) -> String {
    let actions: Vec<serde_json::Value> = review
        .actions
        .iter()
        .map(|(host, action)| {
            let mut value = serde_json::to_value(action).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.shift_remove("content");
                object.insert("host".into(), serde_json::json!(host));
            }
            value
        })
        .collect();
    let summary = review.summary();
    let document = serde_json::json!({
        "format_version": FORMAT_VERSION,
        "cairn_version": env!("CARGO_PKG_VERSION"),
        "config": review.config,
        "env": review.env,
        "against": review.against,
        "hosts": review.hosts,
        "actions": actions,
        "changes": review.changes,
        "notes": review.notes,
        "summary": {
            "add": summary.add,
            "change": summary.change,
            "destroy": summary.destroy,
            "changes": review.changes.len(),
        },
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}
