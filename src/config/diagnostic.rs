//! Findings about a configuration, each pointing into the file it is about,
//! rendered by miette for people and as JSON for tools.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde::Serialize;

use super::source::{Location, Sources};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A text under a span of a file.
#[derive(Debug, Clone)]
pub struct Label {
    pub location: Location,
    pub text: String,
}

/// One error or warning about the configuration.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// The first label is the primary one: line and column come from it.
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(message)
        }
    }

    pub fn label(mut self, location: Location, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            location,
            text: text.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    fn primary(&self) -> Option<&Location> {
        self.labels.first().map(|label| &label.location)
    }
}

/// All findings about one configuration, with the files they point into.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub sources: Sources,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// Orders findings as they appear in the files, errors before warnings at
    /// the same place, and drops exact repeats.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            let position = |d: &Diagnostic| d.primary().map(|l| (l.source, l.span.start));
            (position(a), a.severity).cmp(&(position(b), b.severity))
        });
        self.items
            .dedup_by(|a, b| a.message == b.message && a.primary() == b.primary());
    }

    /// Renders every finding for a terminal, `colour` selecting ANSI colours.
    pub fn render(&self, colour: bool, width: usize) -> String {
        let theme = if colour {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(width);
        let mut out = String::new();
        for diagnostic in &self.items {
            let report = Rendered::new(diagnostic, &self.sources);
            // Rendering into a String cannot fail.
            let _ = handler.render_report(&mut out, &report);
        }
        out
    }

    /// The findings as JSON values for `validate --json`.
    pub fn to_json(&self) -> Vec<JsonDiagnostic> {
        self.items
            .iter()
            .map(|d| {
                let position = d.primary().map(|location| {
                    let source = self.sources.get(location.source);
                    let (line, column) = self
                        .sources
                        .line_column(location.source, location.span.start);
                    let (end_line, end_column) =
                        self.sources.line_column(location.source, location.span.end);
                    (source.name.clone(), line, column, end_line, end_column)
                });
                JsonDiagnostic {
                    severity: d.severity,
                    message: d.message.clone(),
                    file: position.as_ref().map(|p| p.0.clone()),
                    line: position.as_ref().map(|p| p.1),
                    column: position.as_ref().map(|p| p.2),
                    end_line: position.as_ref().map(|p| p.3),
                    end_column: position.as_ref().map(|p| p.4),
                    label: d.labels.first().map(|l| l.text.clone()),
                    labels: d
                        .labels
                        .iter()
                        .map(|label| {
                            let (line, column) = self
                                .sources
                                .line_column(label.location.source, label.location.span.start);
                            JsonLabel {
                                file: self.sources.get(label.location.source).name.clone(),
                                line,
                                column,
                                text: label.text.clone(),
                            }
                        })
                        .collect(),
                    help: d.help.clone(),
                }
            })
            .collect()
    }
}

/// One finding in `cairn validate --json`.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    pub severity: Severity,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub label: Option<String>,
    /// Every label, the primary one first (a cycle labels each `after` entry).
    pub labels: Vec<JsonLabel>,
    pub help: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub text: String,
}

/// A finding prepared for miette: labels in the primary file are shown on
/// its snippet, labels in other files as related findings.
#[derive(Debug)]
struct Rendered {
    severity: Severity,
    message: String,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Rendered>,
}

impl Rendered {
    fn new(diagnostic: &Diagnostic, sources: &Sources) -> Self {
        let primary = diagnostic.primary().map(|l| l.source);
        let mut labels = Vec::new();
        let mut related = Vec::new();
        for label in &diagnostic.labels {
            let span =
                LabeledSpan::new_with_span(Some(label.text.clone()), label.location.span.clone());
            if Some(label.location.source) == primary {
                labels.push(span);
            } else {
                let source = sources.get(label.location.source);
                related.push(Rendered {
                    severity: diagnostic.severity,
                    message: format!("see also {}", source.name),
                    help: None,
                    source: Some(NamedSource::new(&source.name, redact_secrets(&source.text))),
                    labels: vec![span],
                    related: Vec::new(),
                });
            }
        }
        let source = primary.map(|id| {
            let source = sources.get(id);
            NamedSource::new(&source.name, redact_secrets(&source.text))
        });
        Self {
            severity: diagnostic.severity,
            message: diagnostic.message.clone(),
            help: diagnostic.help.clone(),
            source,
            labels,
            related,
        }
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

/// The file as diagnostics show it: passwords written into URLs
/// (`scheme://user:password@host`) and `password=` keywords are masked with
/// `*`, one per character, so that labels still line up.
pub fn redact_secrets(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let mut mask = |start: usize, end: usize| {
        for byte in &mut bytes[start..end] {
            // Keep multi-byte characters whole: mask their first byte only
            // when it is ASCII; others stay (rare in passwords, and safe).
            if byte.is_ascii() {
                *byte = b'*';
            }
        }
    };
    let stop = |c: u8| c == b'"' || c == b'\'' || c.is_ascii_whitespace();
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let start = from + found + 3;
        let end = text[start..]
            .bytes()
            .position(|c| stop(c) || c == b'/')
            .map_or(text.len(), |p| start + p);
        if let Some(at) = text[start..end].rfind('@') {
            let userinfo = &text[start..start + at];
            // `${VAR}` is a reference, not a secret: it stays readable.
            if let Some(colon) = userinfo
                .find(':')
                .filter(|c| !userinfo[c + 1..].contains("${"))
            {
                mask(start + colon + 1, start + at);
            }
        }
        from = end.max(start);
    }
    let mut from = 0;
    while let Some(found) = text[from..].find("password=") {
        let start = from + found + "password=".len();
        let end = text[start..]
            .bytes()
            .position(stop)
            .map_or(text.len(), |p| start + p);
        if !text[start..end].contains("${") {
            mask(start, end);
        }
        from = end.max(start);
    }
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_place() {
        let text = "dsn = \"postgresql://backup:hunter2@db:5432/app\"\nurl = \"redis://:pw@cache\"\nx = \"host=db password=s3cret\"\n";
        let redacted = redact_secrets(text);
        assert_eq!(redacted.len(), text.len());
        assert!(
            redacted.contains("postgresql://backup:*******@db:5432/app"),
            "{redacted}"
        );
        assert!(redacted.contains("redis://:**@cache"), "{redacted}");
        assert!(redacted.contains("password=******\""), "{redacted}");
        assert_eq!(
            redact_secrets("path = \"/srv/a:b@c\""),
            "path = \"/srv/a:b@c\""
        );
        let reference = "dsn = \"postgresql://backup:${PGPASSWORD}@db/app\"";
        assert_eq!(redact_secrets(reference), reference);
        assert_eq!(
            redact_secrets("u = \"https://example.com/x\""),
            "u = \"https://example.com/x\""
        );
    }
}
