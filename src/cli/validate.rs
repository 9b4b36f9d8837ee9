//! `cairn validate`: every diagnostic of the file, and a summary.

use super::*;

pub(super) fn validate(global: &GlobalArgs, json: bool, ci: bool) -> miette::Result<ExitStatus> {
    let place = if ci {
        ops::load::Place::Away
    } else {
        ops::load::Place::Host
    };
    let result = ops::load::check_at(&global.config, global.env.as_deref(), place);
    let warnings = match result
        .as_ref()
        .map_or_else(|d| d.warning_count(), |(_, d)| d.warning_count())
    {
        0 => String::new(),
        n => format!(", {}", format::count(n, "warning")),
    };
    let (diagnostics, summary) = match &result {
        Ok((config, diagnostics)) => (
            diagnostics,
            format!(
                "{} is valid: {}, {}, {}{warnings}.\n",
                global.config.display(),
                format::count(config.stores.len(), "store"),
                format::count(config.destinations.len(), "destination"),
                format::count(config.jobs.len(), "job"),
            ),
        ),
        Err(diagnostics) => (
            diagnostics,
            format!(
                "{} is invalid: {}{warnings}.\n",
                global.config.display(),
                format::count(diagnostics.error_count(), "error"),
            ),
        ),
    };
    if json {
        let report = serde_json::json!({
            "format_version": 1,
            "valid": result.is_ok(),
            "errors": diagnostics.error_count(),
            "warnings": diagnostics.warning_count(),
            "diagnostics": diagnostics.to_json(),
        });
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("JSON values serialize")
        ))?;
    } else {
        eprint!(
            "{}",
            diagnostics.render(output::stderr_colour(), output::width())
        );
        if result.is_ok() {
            output::print(&summary)?;
        } else {
            eprint!("{summary}");
        }
    }
    Ok(if result.is_ok() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
