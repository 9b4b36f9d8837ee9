//! `cairn plan`: what apply would change, as text, JSON or Markdown.

use super::*;

pub(super) fn plan(global: &GlobalArgs, args: &PlanArgs) -> miette::Result<ExitStatus> {
    let (config, digest) = load_host_config(global)?;
    let options = crate::plan::PlanOptions {
        targets: &args.target,
        now: now()?,
        verbose: args.verbose,
        force_prune: false,
    };
    let plan = runtime()?.block_on(crate::plan::plan(&config, digest, &host(global), &options))?;
    if let Some(out) = &args.out {
        ops::apply::save(&plan, out)
            .map_err(|e| miette!("cannot save the plan to {}: {e}", out.display()))?;
    }
    let format = if args.json {
        PlanFormat::Json
    } else {
        args.format.unwrap_or(PlanFormat::Text)
    };
    output::print(&match format {
        PlanFormat::Text => crate::plan::render::text(
            &plan,
            crate::plan::render::Style {
                colour: output::stdout_colour(),
            },
            args.verbose,
        ),
        PlanFormat::Json => crate::plan::render::json(&plan),
        PlanFormat::Markdown => crate::plan::render::markdown(&plan),
    })?;
    if let (Some(out), PlanFormat::Text) = (&args.out, format) {
        output::print(&format!(
            "\nSaved the plan to {}. To apply exactly these actions, run:\n    cairn apply {}\n",
            out.display(),
            out.display()
        ))?;
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}
