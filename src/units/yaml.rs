//! A small YAML writer for the manifests cairn renders: block style, keys
//! in the order given, strings quoted unless plainly safe (so that no YAML
//! 1.1 parser reads `yes`, `on`, `0755` or `1e3` as anything but text), and
//! multi-line strings as literal blocks.

use serde_json::Value;

/// The YAML text of `value` (an object), ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(_) | Value::Array(_) => block(value, 0, &mut out),
        scalar => {
            out.push_str(&inline(scalar, 0));
            out.push('\n');
        }
    }
    out
}

fn block(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                out.push_str(&pad);
                out.push_str(&string(key));
                out.push(':');
                member(value, indent, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        // The first key on the dash's line, the rest below it.
                        let mut first = true;
                        for (key, value) in map {
                            if first {
                                out.push(' ');
                                first = false;
                            } else {
                                out.push_str(&" ".repeat(indent + 2));
                            }
                            out.push_str(&string(key));
                            out.push(':');
                            member(value, indent + 2, out);
                        }
                    }
                    _ => member(item, indent, out),
                }
            }
        }
        _ => {}
    }
}

/// What follows `key:` or `-`: a scalar on the same line, or a block below.
fn member(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            block(value, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            block(value, indent + 2, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar, indent + 2));
            out.push('\n');
        }
    }
}

fn inline(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(text) if text.contains('\n') && literal_block_fits(text) => {
            literal(text, indent)
        }
        Value::String(text) => string(text),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
    }
}

/// A literal block keeps every character, but its first line must not
/// start with a space (the indentation would be read from it) and no line
/// may hold a character YAML forbids unescaped.
fn literal_block_fits(text: &str) -> bool {
    !text.starts_with([' ', '\t', '\n'])
        && text
            .chars()
            .all(|c| c == '\n' || c == '\t' || !c.is_control())
        && !text.lines().any(|line| line.ends_with([' ', '\t']))
}

fn literal(text: &str, indent: usize) -> String {
    let body = text.trim_end_matches('\n');
    let trailing = text.len() - body.len();
    let chomping = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let pad = " ".repeat(indent);
    let mut out = format!("|{chomping}");
    for line in text
        .split('\n')
        .take(body.split('\n').count() + trailing.saturating_sub(1))
    {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

/// A string as a plain scalar when that is safe, else double-quoted (JSON's
/// escapes are YAML's).
fn string(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !text.starts_with(['-', '.', '/'])
        && !looks_typed(text);
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
    }
}

/// Whether a YAML 1.1 or 1.2 parser would read the text as something other
/// than a string.
fn looks_typed(text: &str) -> bool {
    const WORDS: [&str; 12] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf", "~",
    ];
    let lower = text.to_ascii_lowercase();
    WORDS.contains(&lower.as_str())
        || text.starts_with(|c: char| c.is_ascii_digit())
        || lower.starts_with(".inf")
        || lower.starts_with(".nan")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_come_out_as_block_yaml() {
        let value = serde_json::json!({
            "apiVersion": "v1",
            "metadata": { "name": "cairn-config", "labels": { "app.kubernetes.io/name": "cairn" } },
            "list": [{ "name": "a", "value": "yes" }, "plain", 3],
            "empty": {},
            "data": { "backup.toml": "[settings]\nscheduler = \"kubernetes\"\n" },
        });
        assert_eq!(
            to_yaml(&value),
            "apiVersion: v1\nmetadata:\n  name: cairn-config\n  labels:\n    app.kubernetes.io/name: cairn\n\
             list:\n  - name: a\n    value: \"yes\"\n  - plain\n  - 3\nempty: {}\n\
             data:\n  backup.toml: |\n    [settings]\n    scheduler = \"kubernetes\"\n"
        );
    }

    #[test]
    fn typed_looking_strings_are_quoted() {
        for text in ["on", "No", "0755", "1e3", "", "a b", "-x", "~", "x: y"] {
            assert!(string(text).starts_with('"'), "{text}");
        }
        for text in ["cairn", "batch/v1", "Europe/Berlin", "a_b-c.d"] {
            assert_eq!(string(text), text);
        }
    }

    #[test]
    fn literal_blocks_keep_every_line() {
        let yaml = to_yaml(&serde_json::json!({ "t": "a\n\nb\n\n" }));
        assert_eq!(yaml, "t: |+\n  a\n\n  b\n\n");
        let yaml = to_yaml(&serde_json::json!({ "t": "a\nb" }));
        assert_eq!(yaml, "t: |-\n  a\n  b\n");
    }
}
