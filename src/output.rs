//! Terminal output: colour only on a TTY with NO_COLOR unset, a broken pipe
//! is not an error (ripgrep's rule), and one miette handler for errors.

use std::io::{IsTerminal, Write};

/// Whether stderr gets colours.
pub fn stderr_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether stdout gets colours.
pub fn stdout_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The width diagnostics wrap at: $COLUMNS, else 100.
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
