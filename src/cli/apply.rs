//! `cairn apply`: show the plan (made now, or saved and checked), ask, and
//! execute it.

use crate::plan::render::{self as plan_render, Style};

use super::*;

pub(super) fn apply(global: &GlobalArgs, args: &ApplyArgs) -> miette::Result<ExitStatus> {
    let (config, digest) = load_render_config(global)?;
    let host = host(global);
    let _lock = ops::apply::lock(&config, &host)?;
    let style = Style {
        colour: output::stdout_colour(),
    };
    let now = now()?;
    let runtime = runtime()?;
    let plan = match &args.planfile {
        Some(file) => {
            if !args.target.is_empty() {
                // Read first: a file that is no plan is the better message.
                ops::apply::read_saved(file)?;
                return Err(ops::apply::SavedPlanError::Targeted.into());
            }
            let saved = runtime.block_on(ops::apply::check_saved(
                file,
                &config,
                digest,
                &host,
                now,
                args.force_prune,
            ))?;
            output::print(&plan_render::text(&saved, style, false))?;
            saved
        }
        None => {
            let options = crate::plan::PlanOptions {
                targets: &args.target,
                now,
                verbose: false,
                force_prune: args.force_prune,
            };
            let plan = runtime.block_on(crate::plan::plan(&config, digest, &host, &options))?;
            output::print(&plan_render::text(&plan, style, false))?;
            if !plan.has_changes() {
                return Ok(ExitStatus::Success);
            }
            if !args.auto_approve && !confirm()? {
                output::print("\nApply cancelled.\n")?;
                return Ok(ExitStatus::Failure);
            }
            plan
        }
    };
    if !plan.has_changes() {
        return Ok(ExitStatus::Success);
    }
    let parallelism = args.parallelism.unwrap_or(config.settings.parallelism) as usize;
    let outcome = runtime.block_on(ops::apply::execute(
        &plan,
        &config,
        &host,
        parallelism,
        now,
        &Log::stderr(),
    ))?;
    for note in &outcome.notes {
        output::print(&format!("{note}\n"))?;
    }
    for error in &outcome.errors {
        eprintln!("error: {error}");
    }
    output::print(&outcome.summary())?;
    Ok(if outcome.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// Asks for `yes` on a terminal; refuses without one rather than waiting.
fn confirm() -> miette::Result<bool> {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            help = "review the plan and run `cairn apply --auto-approve`, or save it with `cairn plan -o FILE` and run `cairn apply FILE`",
            "apply needs a confirmation, and stdin is not a terminal"
        ));
    }
    output::print("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| miette!("cannot read the answer: {e}"))?;
    Ok(answer.trim() == "yes")
}
