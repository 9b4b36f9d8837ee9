//! `cairn inventory`: the artifacts at every destination.

use super::*;

pub(super) fn inventory(
    global: &GlobalArgs,
    job: Option<&str>,
    json: bool,
) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    let inventory = runtime()?.block_on(async {
        let opened = crate::inventory::open_all(&config).await;
        crate::inventory::read(&opened, job).await
    });
    let errors = inventory.errors();
    for warning in inventory.ignored() {
        eprintln!("warning: {warning}");
    }
    if json {
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&inventory.to_json()).expect("rows serialize")
        ))?;
    } else {
        output::print(&inventory.table())?;
        for (destination, error) in &errors {
            eprintln!("error: destination `{destination}` cannot be read: {error}");
        }
    }
    Ok(if errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
