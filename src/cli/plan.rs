//! `cairn plan`: what apply would change, as text, JSON or Markdown.

use super::*;

pub(super) fn plan(global: &GlobalArgs, args: &PlanArgs) -> miette::Result<ExitStatus> {
    if let Some(against) = &args.against {
        return review(global, args, against);
    }
    let (config, digest) = load_render_config(global)?;
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

/// `cairn plan --against X`: both revisions loaded and rendered offline,
/// every host's jobs unless `--host` picks one.
fn review(global: &GlobalArgs, args: &PlanArgs, against: &str) -> miette::Result<ExitStatus> {
    let path = config::absolute(&global.config);
    let against = ops::review::resolve(&path, against)?;
    let sides = ops::review::load(&path, global.env.as_deref(), &against);
    let described = against.describe();
    let mut valid = Vec::new();
    for (side, loaded) in [
        (format!("before ({described})"), sides.before),
        ("after (the working file)".to_owned(), sides.after),
    ] {
        let diagnostics = match &loaded {
            Ok((_, diagnostics)) | Err(diagnostics) => diagnostics,
        };
        if !diagnostics.items.is_empty() {
            eprintln!("The {side} side:");
            eprint!(
                "{}",
                diagnostics.render(output::stderr_colour(), output::width())
            );
        }
        match loaded {
            Ok((config, _)) => valid.push(config),
            Err(diagnostics) => {
                return Err(miette!(
                    help = "fix the errors above in that revision; `cairn validate` checks the working file",
                    "the {side} side of the review is invalid ({})",
                    format::count(diagnostics.error_count(), "error")
                ))
            }
        }
    }
    let (Some(after), Some(before)) = (valid.pop(), valid.pop()) else {
        return Err(miette!("both sides of the review must load"));
    };
    if args.all_hosts && global.host.is_some() {
        return Err(miette!(
            help = "drop --host to review every host, or --all-hosts to review one",
            "--all-hosts and --host contradict each other"
        ));
    }
    let host = global.host.as_ref().map(|host| host.trim().to_lowercase());
    let mut review =
        crate::plan::review::review(&before, &after, described, host.as_deref(), now()?);
    review.mask(&sides.variables);
    let format = if args.json {
        PlanFormat::Json
    } else {
        args.format.unwrap_or(PlanFormat::Text)
    };
    output::print(&match format {
        PlanFormat::Text => crate::plan::review::render::text(
            &review,
            crate::plan::render::Style {
                colour: output::stdout_colour(),
            },
        ),
        PlanFormat::Json => crate::plan::review::render::json(&review),
        PlanFormat::Markdown => crate::plan::review::render::markdown(&review),
    })?;
    Ok(if args.detailed_exitcode && review.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}
