//! Jobs that wait for each other (through `after` or `verifies`) in a
//! cycle, reported once per cycle with a label on each edge.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::graph::DiGraph;

use super::{path, Checker};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Job, JobKind};
use crate::config::name::Name;
use crate::config::suggest;
use crate::config::tree::{Node, Path, Segment};

pub(super) fn check_cycles(checker: &mut Checker, jobs: &BTreeMap<Name, Job>) {
    let mut graph = DiGraph::<&Name, Path>::new();
    let nodes: BTreeMap<&Name, _> = jobs
        .keys()
        .map(|name| (name, graph.add_node(name)))
        .collect();
    for (name, job) in jobs {
        for (i, other) in job.after.iter().enumerate() {
            let at = path(&["jobs", name.as_str(), "after"]).index(i);
            graph.add_edge(nodes[name], nodes[other], at);
        }
        if let JobKind::Verify(verify) = &job.kind {
            let at = path(&["jobs", name.as_str(), "verifies"]);
            graph.add_edge(nodes[name], nodes[&verify.verifies], at);
        }
    }
    for component in petgraph::algo::tarjan_scc(&graph) {
        if component.len() < 2 {
            continue;
        }
        let mut names: Vec<&str> = component.iter().map(|n| graph[*n].as_str()).collect();
        names.sort_unstable();
        let mut diagnostic = Diagnostic::error(format!(
            "jobs {} wait for each other in a cycle",
            suggest::list(&names)
        ))
        .help("remove one of these `after` entries so that the jobs can be ordered");
        let members: BTreeSet<_> = component.iter().copied().collect();
        let mut edges: Vec<&Path> = graph
            .edge_indices()
            .filter(|e| {
                let (a, b) = graph.edge_endpoints(*e).expect("edge exists");
                members.contains(&a) && members.contains(&b)
            })
            .map(|e| &graph[e])
            .collect();
        edges.sort_by_key(|p| checker.location(p).span.start);
        for at in edges {
            let (job, target) = (
                &at.0[1],
                checker
                    .tree
                    .find(at)
                    .and_then(Node::as_str)
                    .unwrap_or_default(),
            );
            let job = match job {
                Segment::Key(job) => job.as_str(),
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
