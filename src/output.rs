//! Terminal output: colour only on a TTY with NO_COLOR unset, a broken pipe
//! is not an error (ripgrep's rule), one miette handler for errors, and the
//! one log sink the engines report progress and warnings through.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::Arc;

/// Whether stderr gets colours.
#[allow(clippy::disallowed_methods)] // NO_COLOR is a terminal convention.
pub fn stderr_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether stdout gets colours.
#[allow(clippy::disallowed_methods)] // NO_COLOR is a terminal convention.
pub fn stdout_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The width diagnostics wrap at: $COLUMNS, else 100.
#[allow(clippy::disallowed_methods)] // COLUMNS is a terminal convention.
pub fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|c| *c >= 40)
        .unwrap_or(100)
}

pub fn install_error_handler() {
    let colour = stderr_colour();
    let width = width();
    // A second install (tests call `main` repeatedly) keeps the first handler.
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(colour)
                .unicode(true)
                .width(width)
                .build(),
        )
    }));
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> miette::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| miette::Report::new(StdoutError(e)))
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot write to standard output: {0}")]
struct StdoutError(std::io::Error);

pub fn is_broken_pipe(error: &miette::Report) -> bool {
    error
        .downcast_ref::<StdoutError>()
        .is_some_and(|e| e.0.kind() == std::io::ErrorKind::BrokenPipe)
}

/// One line the engines report while they work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A step of a run, restore or verify (`cairn: …` on stderr).
    Progress(&'a str),
    /// Something that went wrong without failing the command (`warning: …`).
    Warning(&'a str),
}

/// Where the engines report progress and warnings: created by the command
/// (stderr) and passed down, so that no core module prints on its own.
#[derive(Clone)]
pub struct Log {
    sink: Arc<dyn Fn(Line<'_>) + Send + Sync>,
    /// Whether the lines reach a terminal, where a live line can replace
    /// the plain ones.
    terminal: bool,
}

impl Log {
    /// Progress as `cairn: …` and warnings as `warning: …` on stderr.
    pub fn stderr() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            ..Self::to(|line| match line {
                Line::Progress(text) => eprintln!("cairn: {text}"),
                Line::Warning(text) => eprintln!("warning: {text}"),
            })
        }
    }

    /// Every line to `sink` (never a terminal).
    pub fn to(sink: impl Fn(Line<'_>) + Send + Sync + 'static) -> Self {
        Self {
            sink: Arc::new(sink),
            terminal: false,
        }
    }

    pub fn progress(&self, text: &str) {
        (self.sink)(Line::Progress(text));
    }

    pub fn warn(&self, text: &str) {
        (self.sink)(Line::Warning(text));
    }

    /// Whether progress goes to a terminal, where a live line can replace
    /// the plain ones.
    pub fn terminal(&self) -> bool {
        self.terminal
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Log")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn a_log_hands_each_line_to_its_sink() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&lines);
        let log = Log::to(move |line| {
            let text = match line {
                Line::Progress(t) => format!("progress {t}"),
                Line::Warning(t) => format!("warning {t}"),
            };
            kept.lock().unwrap().push(text);
        });
        log.progress("dumping `db`");
        log.clone().warn("a hook failed");
        assert_eq!(
            *lines.lock().unwrap(),
            ["progress dumping `db`", "warning a hook failed"]
        );
        assert!(!log.terminal(), "a sink of its own is not a terminal");
    }
}
