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
    let rows = inventory.rows();
    let errors = inventory.errors();
    if json {
        let report = serde_json::json!({
            "artifacts": rows,
            "errors": errors.iter().map(|(d, e)| serde_json::json!({"destination": d, "error": e})).collect::<Vec<_>>(),
        });
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("rows serialize")
        ))?;
    } else {
        let mut out = format!(
            "{:<14} {:<18} {:<20} {:<12} {:>10}  {:<16}  {}\n",
            "DESTINATION", "JOB", "ID", "STATUS", "STORED", "SHA256", "REASON"
        );
        for row in &rows {
            out.push_str(&format!(
                "{:<14} {:<18} {:<20} {:<12} {:>10}  {:<16}  {}\n",
                row.destination,
                row.job,
                row.id,
                row.status,
                crate::format::human_bytes(row.stored_size),
                row.streams
                    .first()
                    .map(|s| &s.sha256[..16.min(s.sha256.len())])
                    .unwrap_or("-"),
                row.reason
                    .map(|r| format!("{r:?}").to_lowercase())
                    .unwrap_or_default()
            ));
        }
        if rows.is_empty() {
            out = "No artifacts found.\n".to_owned();
        }
        output::print(&out)?;
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
