//! `cairn plan` and `cairn apply`.

use super::*;

pub(super) fn plan(global: &GlobalArgs, args: &PlanArgs) -> miette::Result<ExitStatus> {
    let (config, digest) = load_config(global)?;
    let options = plan::PlanOptions {
        targets: &args.target,
        now: now()?,
        verbose: args.verbose,
        force_prune: false,
    };
    let plan = runtime()?.block_on(plan::plan(&config, digest, &host(global), &options))?;
    if let Some(out) = &args.out {
        let saved = serde_json::to_string_pretty(&plan).expect("plans serialize");
        crate::atomic::write_file(out, saved.as_bytes(), 0o600)
            .map_err(|e| miette!("cannot save the plan to {}: {e}", out.display()))?;
    }
    let format = if args.json {
        PlanFormat::Json
    } else {
        args.format.unwrap_or(PlanFormat::Text)
    };
    output::print(&match format {
        PlanFormat::Text => plan_render::text(
            &plan,
            plan_render::Style {
                colour: output::stdout_colour(),
            },
            args.verbose,
        ),
        PlanFormat::Json => plan_render::json(&plan),
        PlanFormat::Markdown => plan_render::markdown(&plan),
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

pub(super) fn apply(global: &GlobalArgs, args: &ApplyArgs) -> miette::Result<ExitStatus> {
    let (config, digest) = load_config(global)?;
    let host = host(global);
    let _lock = crate::apply::lock(&config, &host)?;
    let style = plan_render::Style {
        colour: output::stdout_colour(),
    };
    let now = now()?;
    let runtime = runtime()?;
    let plan = match &args.planfile {
        Some(file) => {
            let saved = saved_plan(file)?;
            if !args.target.is_empty() {
                return Err(miette!(
                    help = "targets are part of the saved plan: make a new one with `cairn plan --target ... -o FILE`",
                    "--target cannot be combined with a saved plan"
                ));
            }
            let stale = |what: &str| {
                miette!(
                    help = format!(
                        "make a new plan with `cairn plan -o {}` and review it",
                        file.display()
                    ),
                    "the saved plan {} is stale: {what} changed since it was made",
                    file.display()
                )
            };
            if saved.config_digest != digest
                || saved.config != config.path
                || saved.env != config.env
            {
                return Err(stale("the configuration"));
            }
            let options = plan::PlanOptions {
                targets: &saved.targets,
                now,
                verbose: false,
                force_prune: args.force_prune,
            };
            let current = runtime.block_on(plan::plan(&config, digest, &host, &options))?;
            if current.fingerprint() != saved.fingerprint() || current.root != saved.root {
                return Err(stale(
                    "the files on this host, the artifacts or the run history",
                ));
            }
            output::print(&plan_render::text(&saved, style, false))?;
            saved
        }
        None => {
            let options = plan::PlanOptions {
                targets: &args.target,
                now,
                verbose: false,
                force_prune: args.force_prune,
            };
            let plan = runtime.block_on(plan::plan(&config, digest, &host, &options))?;
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
    let options = crate::apply::ApplyOptions {
        parallelism: args.parallelism.unwrap_or(config.settings.parallelism) as usize,
        now,
    };
    let outcome = runtime.block_on(crate::apply::apply(&plan, &config, &host, &options))?;
    for note in &outcome.notes {
        output::print(&format!("{note}\n"))?;
    }
    for error in &outcome.errors {
        eprintln!("error: {error}");
    }
    output::print(&format!(
        "\nApply complete! Resources: {} added, {} changed, {} destroyed; {} run{}, {} pruned, {} cleaned up.\n",
        outcome.added,
        outcome.changed,
        outcome.destroyed,
        outcome.ran,
        if outcome.ran == 1 { "" } else { "s" },
        outcome.pruned,
        outcome.cleaned
    ))?;
    Ok(if outcome.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn saved_plan(file: &std::path::Path) -> miette::Result<plan::Plan> {
    let text =
        fs_err::read_to_string(file).map_err(|e| miette!("cannot read the saved plan: {e}"))?;
    let plan: plan::Plan = serde_json::from_str(&text).map_err(|e| {
        miette!(
            help = "pass a file written by `cairn plan -o FILE`",
            "{} is not a saved cairn plan: {e}",
            file.display()
        )
    })?;
    if plan.format_version != plan::FORMAT_VERSION {
        return Err(miette!(
            help = "make a new plan with this cairn",
            "{} was saved in plan format {}, this cairn reads format {}",
            file.display(),
            plan.format_version,
            plan::FORMAT_VERSION
        ));
    }
    Ok(plan)
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
