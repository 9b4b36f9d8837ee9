//! `${VAR}` and `${VAR:-default}` in string values.

use super::diagnostic::Diagnostic;
use super::source::{Location, Sources};
use super::tree::{Node, NodeValue};
use super::Unset;

/// A reference that could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Missing { name: String, offset: usize },
    Unterminated { offset: usize },
    BadName { text: String, offset: usize },
}

/// Expands `${VAR}` references in every string of `root` except under the
/// `env` table (overlays that were not selected may name variables that only
/// exist in their own environment). `$${` stands for a literal `${`.
/// Returns where values were left as written ([`Unset::Literal`]).
pub fn interpolate_tree(
    root: &mut Node,
    sources: &Sources,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: Unset,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Location> {
    let mut literal = Vec::new();
    if let NodeValue::Table(table) = &mut root.value {
        for (key, entry) in table.entries.iter_mut() {
            if key != "env" {
                let mut context = Context {
                    sources,
                    lookup,
                    unset,
                    diagnostics: &mut *diagnostics,
                    literal: &mut literal,
                };
                interpolate_node(&mut entry.node, &mut context);
            }
        }
    }
    literal
}

struct Context<'a> {
    sources: &'a Sources,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    unset: Unset,
    diagnostics: &'a mut Vec<Diagnostic>,
    literal: &'a mut Vec<Location>,
}

fn interpolate_node(node: &mut Node, context: &mut Context) {
    match &mut node.value {
        NodeValue::String(text) => {
            if !text.contains('$') {
                return;
            }
            let (problems, expanded) = match expand(text, context.lookup, context.unset) {
                Ok((expanded, literal)) => {
                    if !literal.is_empty() {
                        context.literal.push(node.location.clone());
                    }
                    (literal, Some(expanded))
                }
                Err(problems) => (problems, None),
            };
            for problem in problems {
                context.diagnostics.push(diagnostic(
                    &problem,
                    text,
                    &node.location,
                    context.sources,
                    context.unset,
                ));
            }
            if let Some(expanded) = expanded.filter(|expanded| expanded != text) {
                node.template = Some(std::mem::replace(text, expanded));
            }
        }
        NodeValue::Array(items) => {
            for item in items {
                interpolate_node(item, context);
            }
        }
        NodeValue::Table(table) => {
            for entry in table.entries.values_mut() {
                interpolate_node(&mut entry.node, context);
            }
        }
        _ => {}
    }
}

fn diagnostic(
    problem: &Problem,
    text: &str,
    location: &Location,
    sources: &Sources,
    unset: Unset,
) -> Diagnostic {
    if let (Problem::Missing { name, offset }, Unset::Literal) = (problem, unset) {
        return Diagnostic::warning(format!(
            "environment variable `{name}` is not set: compared as the text `${{{name}}}`"
        ))
        .label(
            sources.narrow(location, text, *offset, name.len() + 2),
            format!("`{name}` is not set"),
        )
        .help(format!(
            "set {name} where the review runs to compare its value; both sides read the same environment"
        ));
    }
    let (message, label, help, offset, len) = match problem {
        Problem::Missing { name, offset } => (
            format!("environment variable `{name}` is not set"),
            format!("`{name}` is not set"),
            format!(
                "set {name} in the environment (or in settings.environment_file for timers), \
                 or give a default: ${{{name}:-value}}"
            ),
            *offset,
            name.len() + 2,
        ),
        Problem::Unterminated { offset } => (
            "`${` is not closed by `}`".to_owned(),
            "unclosed reference".to_owned(),
            "write ${VAR} or ${VAR:-default}; write $${ for a literal ${".to_owned(),
            *offset,
            2,
        ),
        Problem::BadName { text: name, offset } => (
            format!("`${{{name}}}` is not a valid variable reference"),
            "invalid variable name".to_owned(),
            "variable names are letters, digits and `_`, not starting with a digit; \
             write ${VAR} or ${VAR:-default}"
                .to_owned(),
            *offset,
            name.len() + 2,
        ),
    };
    Diagnostic::error(message)
        .label(sources.narrow(location, text, offset, len), label)
        .help(help)
}

/// Expands every reference in `text`, or lists every one that cannot be.
/// With [`Unset::Literal`] a variable that is not set stays as written and
/// comes back beside the text, to be warned about.
fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: Unset,
) -> Result<(String, Vec<Problem>), Vec<Problem>> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut literal = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
            offset += i + 3;
            continue;
        }
        if !after.starts_with("${") {
            out.push('$');
            rest = &after[1..];
            offset += i + 1;
            continue;
        }
        let Some(close) = after.find('}') else {
            problems.push(Problem::Unterminated { offset: offset + i });
            break;
        };
        let inner = &after[2..close];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if !valid_name(name) {
            problems.push(Problem::BadName {
                text: inner.to_owned(),
                offset: offset + i,
            });
        } else {
            match (lookup(name), default) {
                (Some(value), Some(default)) if value.is_empty() => out.push_str(default),
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    let problem = Problem::Missing {
                        name: name.to_owned(),
                        offset: offset + i,
                    };
                    if unset == Unset::Literal {
                        out.push_str(&after[..=close]);
                        literal.push(problem);
                    } else {
                        problems.push(problem);
                    }
                }
            }
        }
        rest = &after[close + 1..];
        offset += i + close + 1;
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok((out, literal))
    } else {
        Err(problems)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER" => Some("backup".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_references_and_defaults() {
        assert_eq!(
            expand("u=${USER}", &env, Unset::Error).unwrap().0,
            "u=backup"
        );
        let (text, literal) = expand("${NOPE}/${USER}", &env, Unset::Literal).unwrap();
        assert_eq!(text, "${NOPE}/backup");
        assert_eq!(
            literal,
            [Problem::Missing {
                name: "NOPE".into(),
                offset: 0
            }]
        );
        assert_eq!(
            expand("${NOPE:-x}/${USER:-y}", &env, Unset::Error)
                .unwrap()
                .0,
            "x/backup"
        );
        assert_eq!(
            expand("${EMPTY:-fallback}", &env, Unset::Error).unwrap().0,
            "fallback"
        );
        assert_eq!(expand("${EMPTY}", &env, Unset::Error).unwrap().0, "");
        assert_eq!(
            expand("cost $5 $${USER}", &env, Unset::Error).unwrap().0,
            "cost $5 ${USER}"
        );
    }

    #[test]
    fn reports_every_problem_with_its_offset() {
        let problems = expand("${A}-${USER}-${B}", &env, Unset::Error).unwrap_err();
        assert_eq!(
            problems,
            vec![
                Problem::Missing {
                    name: "A".into(),
                    offset: 0
                },
                Problem::Missing {
                    name: "B".into(),
                    offset: 13
                },
            ]
        );
        assert_eq!(
            expand("x${USER", &env, Unset::Error).unwrap_err(),
            vec![Problem::Unterminated { offset: 1 }]
        );
        assert!(matches!(
            expand("${1X}", &env, Unset::Error).unwrap_err()[0],
            Problem::BadName { .. }
        ));
    }
}
