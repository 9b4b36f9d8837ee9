//! `cairn graph`: the dependency graph as text or DOT.

use super::*;

pub(super) fn graph(global: &GlobalArgs, format: GraphFormat) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    let graph = config.dependency_graph();
    output::print(&match format {
        GraphFormat::Text => graph.to_text(),
        GraphFormat::Dot => graph.to_dot(),
    })?;
    Ok(ExitStatus::Success)
}
