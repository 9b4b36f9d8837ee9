//! Jobs that wait for each other (through `after` or `verifies`) in a
//! cycle, reported once per cycle with a label on each edge.

use std::collections::BTreeMap;

use super::{path, Checker};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Job, JobKind};
use crate::config::name::Name;
use crate::config::suggest;
use crate::config::tree::{Node, Path, Segment};
use crate::graph::Graph;

pub(super) fn check_cycles(checker: &mut Checker, jobs: &BTreeMap<Name, Job>) {
    // A reference to a job that does not exist is an edge to a node
    // without a job: reported by the reference check, harmless here.
    let mut graph = Graph::<&Name, Path>::new();
    for (name, job) in jobs {
        graph.node(name);
        for (i, other) in job.after.iter().enumerate() {
            let at = path(&["jobs", name.as_str(), "after"]).index(i);
            graph.edge(name, other, at);
        }
        if let JobKind::Verify(verify) = &job.kind {
            let at = path(&["jobs", name.as_str(), "verifies"]);
            graph.edge(name, &verify.verifies, at);
        }
    }
    for cycle in graph.cycles() {
        let names: Vec<&str> = cycle.nodes.iter().map(|n| n.as_str()).collect();
        let mut diagnostic = Diagnostic::error(format!(
            "jobs {} wait for each other in a cycle",
            suggest::list(&names)
        ))
        .help("remove one of these `after` entries so that the jobs can be ordered");
        let mut edges: Vec<&Path> = cycle.edges.iter().map(|(_, _, at)| *at).collect();
        edges.sort_by_key(|p| checker.location(p).span.start);
        for at in edges {
            let target = checker
                .tree
                .find(at)
                .and_then(Node::as_str)
                .unwrap_or_default();
            // The edge's path is jobs.NAME.after[i] or jobs.NAME.verifies.
            let job = match at.0.get(1) {
                Some(Segment::Key(job)) => job.as_str(),
                _ => "",
            };
            diagnostic = diagnostic.label(
                checker.location(at),
                format!("`{job}` waits for `{target}`"),
            );
        }
        checker.diagnostics.push(diagnostic);
    }
}
