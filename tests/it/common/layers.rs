//! The layer check: reads every `.rs` file under a source tree, finds each
//! path that names another top-level module (`crate::x…`, `crate::{x, y}`,
//! and `super::…` chains that climb out of the file's module), and reports
//! every import that points up the layer table or sideways within it.
//!
//! Paths are found in the token stream, not in `use` lines only: an inline
//! `crate::format::age(..)` counts as much as a `use`. Comments, string
//! literals and character literals are blanked first, and inline `mod NAME {`
//! blocks are followed so that `super::` in a test module resolves to the
//! module around it.

use std::fmt;
use std::path::{Path, PathBuf};

/// One import of a module by another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub file: PathBuf,
    pub line: usize,
    pub from: String,
    pub to: String,
}

impl fmt::Display for Import {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}` imports `{}`",
            self.file.display(),
            self.line,
            self.from,
            self.to
        )
    }
}

/// What is wrong with a tree measured against a layer table.
#[derive(Debug, Default)]
pub struct Report {
    /// Imports of a module at the same place or above in the table.
    pub upward: Vec<Import>,
    /// Top-level modules of the tree that the table does not place.
    pub unplaced: Vec<String>,
    /// Every import between two different top-level modules.
    pub imports: Vec<Import>,
}

/// Checks the tree under `root` (a crate's `src/`) against `table`: top-level
/// modules from top to bottom, each allowed to import only those after it.
pub fn check(root: &Path, table: &[&str]) -> Report {
    let mut report = Report::default();
    let rank = |name: &str| table.iter().position(|m| *m == name);
    for module in top_level_modules(root) {
        if rank(&module).is_none() {
            report.unplaced.push(module);
        }
    }
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    let tops = top_level_modules(root);
    for file in files {
        let relative = file.strip_prefix(root).expect("collected under root");
        let Some(module_path) = module_path(relative) else {
            continue; // the crate root (lib.rs, main.rs) sits above every layer
        };
        let text = fs_err::read_to_string(&file).expect("read a source file");
        for (line, to) in references(&text, &module_path) {
            if to == module_path[0] || !tops.contains(&to) {
                continue;
            }
            let import = Import {
                file: relative.to_owned(),
                line,
                from: module_path[0].clone(),
                to,
            };
            if let (Some(from), Some(to)) = (rank(&import.from), rank(&import.to)) {
                if to <= from {
                    report.upward.push(import.clone());
                }
            }
            report.imports.push(import);
        }
    }
    report
}

fn top_level_modules(root: &Path) -> Vec<String> {
    let mut modules: Vec<String> = fs_err::read_dir(root)
        .expect("read the source tree")
        .map(|entry| entry.expect("read a directory entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            if path.is_dir() {
                Some(name)
            } else {
                let stem = name.strip_suffix(".rs")?;
                (stem != "lib" && stem != "main").then(|| stem.to_owned())
            }
        })
        .collect();
    modules.sort();
    modules.dedup();
    modules
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs_err::read_dir(dir).expect("read a source directory") {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The module a file defines, as segments: `config/validate/mod.rs` is
/// `config::validate`; `None` for the crate root.
fn module_path(relative: &Path) -> Option<Vec<String>> {
    let mut segments: Vec<String> = relative
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = segments.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if segments.is_empty() && (stem == "lib" || stem == "main") {
        return None;
    }
    if stem != "mod" {
        segments.push(stem.to_owned());
    }
    Some(segments)
}

/// Every top-level module a path in `text` names, with its line, given the
/// module path of the file.
fn references(text: &str, file_module: &[String]) -> Vec<(usize, String)> {
    let tokens = tokens(&blank(text));
    let mut found = Vec::new();
    // Inline modules opened in this file: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let (line, token) = (tokens[i].0, tokens[i].1.as_str());
        match token {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
            }
            "mod" if is_ident(at(&tokens, i + 1)) && at(&tokens, i + 2) == "{" => {
                inline.push((at(&tokens, i + 1).to_owned(), depth + 1));
            }
            "crate" | "super"
                if at(&tokens, i + 1) == "::" && at(&tokens, i.wrapping_sub(1)) != "::" =>
            {
                let mut current: Vec<String> = file_module.to_vec();
                current.extend(inline.iter().map(|(name, _)| name.clone()));
                let mut j = i;
                let mut escaped = token == "crate";
                if token == "crate" {
                    current.clear();
                    j += 2;
                } else {
                    while at(&tokens, j) == "super" && at(&tokens, j + 1) == "::" {
                        if current.pop().is_none() {
                            escaped = true;
                        }
                        j += 2;
                    }
                    escaped |= current.is_empty();
                }
                if escaped || current.is_empty() {
                    if at(&tokens, j) == "{" {
                        for name in group_heads(&tokens, j) {
                            found.push((line, name));
                        }
                    } else if is_ident(at(&tokens, j)) {
                        found.push((line, at(&tokens, j).to_owned()));
                    }
                } else if let Some(first) = current.first() {
                    // `super::` that stays inside a top-level module names it.
                    found.push((line, first.clone()));
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The first identifier of each item of a `{a, b::c, d::{e}}` group that
/// opens at `tokens[open]`.
fn group_heads(tokens: &[(usize, String)], open: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (_, token) in &tokens[open..] {
        match token.as_str() {
            "{" => {
                depth += 1;
                if depth == 1 {
                    expect_head = true;
                }
            }
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "," if depth == 1 => expect_head = true,
            t if depth == 1 && expect_head && is_ident(t) => {
                heads.push(t.to_owned());
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}

fn at(tokens: &[(usize, String)], i: usize) -> &str {
    tokens.get(i).map_or("", |(_, t)| t.as_str())
}

fn is_ident(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && token.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Identifiers, `::` and single punctuation characters, each with its line.
fn tokens(text: &str) -> Vec<(usize, String)> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push((line, chars[start..i].iter().collect()));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push((line, "::".to_owned()));
            i += 2;
        } else {
            tokens.push((line, c.to_string()));
            i += 1;
        }
    }
    tokens
}

/// `text` with comments, string literals and character literals replaced by
/// spaces (newlines kept, so lines still count).
fn blank(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let keep_lines = |slice: &[char], out: &mut String| {
        out.extend(slice.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&c| c == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            block_comment_end(rest)
        } else if rest[0] == 'r'
            && matches!(rest.get(1), Some('"') | Some('#'))
            && !prev_is_ident(&chars, i)
        {
            raw_string_end(rest).unwrap_or(0)
        } else if rest[0] == '"' {
            string_end(rest)
        } else if rest[0] == '\'' {
            char_literal_end(rest).unwrap_or(0)
        } else {
            0
        };
        if end == 0 {
            out.push(chars[i]);
            i += 1;
        } else {
            keep_lines(&rest[..end], &mut out);
            i += end;
        }
    }
    out
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn block_comment_end(rest: &[char]) -> usize {
    let mut depth = 0;
    let mut i = 0;
    while i < rest.len() {
        if rest[i..].starts_with(&['/', '*']) {
            depth += 1;
            i += 2;
        } else if rest[i..].starts_with(&['*', '/']) {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    rest.len()
}

fn string_end(rest: &[char]) -> usize {
    let mut i = 1;
    while i < rest.len() {
        match rest[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    rest.len()
}

/// `r"…"`, `r#"…"#`: the length, or `None` when `r` starts an identifier.
fn raw_string_end(rest: &[char]) -> Option<usize> {
    let hashes = rest[1..].iter().take_while(|&&c| c == '#').count();
    if rest.get(1 + hashes) != Some(&'"') {
        return None;
    }
    let mut close = vec!['"'];
    close.extend(std::iter::repeat_n('#', hashes));
    let body = 2 + hashes;
    (body..rest.len())
        .find(|&i| rest[i..].starts_with(&close))
        .map(|i| i + close.len())
        .or(Some(rest.len()))
}

/// `'x'`, `'\n'`, `'\''`: the length; `None` for a lifetime such as `'a`.
fn char_literal_end(rest: &[char]) -> Option<usize> {
    if rest.get(1) == Some(&'\\') {
        return (2..rest.len().min(12))
            .find(|&i| rest[i] == '\'')
            .map(|i| i + 1);
    }
    (rest.get(2) == Some(&'\'')).then_some(3)
}
