//! cairn's dependency graph (SPEC §3): stores, destinations, schedules,
//! retention policies, jobs and the files cairn generates, joined by "uses"
//! and `after` edges, built with the generic [`crate::graph::Graph`]. It
//! orders the jobs for apply and `restore --all` and is what `cairn graph`
//! prints.

use std::fmt::Write as _;

use super::address::{FileAddress, KubeFile, UnitKind};
use super::model::{Config, JobKind};
use super::raw::Scheduler;

/// A thing in the graph, named by its address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Store(String),
    Destination(String),
    Schedule(String),
    Retention(String),
    Job(String),
    /// A generated file, by plan address (`unit.JOB.service`, `cron.JOB`).
    File(FileAddress),
}

impl Node {
    pub fn address(&self) -> String {
        match self {
            Node::Store(name) => format!("store.{name}"),
            Node::Destination(name) => format!("destination.{name}"),
            Node::Schedule(name) => format!("schedule.{name}"),
            Node::Retention(name) => format!("retention.{name}"),
            Node::Job(name) => super::address::Address::Job(name.clone()).to_string(),
            Node::File(address) => address.to_string(),
        }
    }
}

/// Why one node depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Edge {
    /// A job reads a store, writes a destination, follows a schedule or a
    /// retention policy; a file is rendered from a job.
    Uses,
    /// A job runs after another (its `after`, or the job a verify job tests).
    After,
}

/// The dependency graph of a validated configuration.
pub struct DependencyGraph {
    graph: crate::graph::Graph<Node, Edge>,
}

impl Config {
    /// The dependency graph of this (validated, so acyclic) configuration.
    pub fn dependency_graph(&self) -> DependencyGraph {
        DependencyGraph::build(self)
    }

    /// Every job, each after the jobs it waits for (SPEC §3); ties in name
    /// order.
    pub fn job_order(&self) -> Vec<String> {
        let graph = self.dependency_graph();
        let order = match graph.graph.order(|edge| *edge == Edge::After) {
            Ok(order) => order,
            // Validation rejects cycles; were one left, its jobs go last.
            Err(stuck) => stuck,
        };
        order
            .into_iter()
            .filter_map(|node| match node {
                Node::Job(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }
}

impl DependencyGraph {
    /// The jobs `job` runs after when both run: its `after`, and for a
    /// verify job the job it verifies.
    pub fn runs_after(&self, job: &str) -> Vec<String> {
        self.graph
            .edges_from(&Node::Job(job.to_owned()))
            .into_iter()
            .filter(|(_, edge)| **edge == Edge::After)
            .filter_map(|(node, _)| match node {
                Node::Job(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Builds the graph of a validated configuration (which has no cycle).
    fn build(config: &Config) -> Self {
        let mut graph = DependencyGraph {
            graph: crate::graph::Graph::new(),
        };
        for name in config.stores.keys() {
            graph.node(Node::Store(name.to_string()));
        }
        for name in config.destinations.keys() {
            graph.node(Node::Destination(name.to_string()));
        }
        for name in config.schedules.keys() {
            graph.node(Node::Schedule(name.to_string()));
        }
        for name in config.retention.keys() {
            graph.node(Node::Retention(name.to_string()));
        }
        for (name, job) in &config.jobs {
            let job_node = Node::Job(name.to_string());
            graph.node(job_node.clone());
            if let Some(schedule) = &job.schedule.name {
                graph.edge(&job_node, Node::Schedule(schedule.to_string()), Edge::Uses);
            }
            for other in job.waits_for() {
                graph.edge(&job_node, Node::Job(other.to_string()), Edge::After);
            }
            match &job.kind {
                JobKind::Backup(backup) => {
                    graph.edge(&job_node, Node::Store(backup.store.to_string()), Edge::Uses);
                    for destination in &backup.to {
                        graph.edge(
                            &job_node,
                            Node::Destination(destination.to_string()),
                            Edge::Uses,
                        );
                    }
                    for retention in backup.retention.values() {
                        if let Some(policy) = &retention.name {
                            graph.edge(&job_node, Node::Retention(policy.to_string()), Edge::Uses);
                        }
                    }
                }
                JobKind::Verify(_) => {}
            }
            for file in generated_files(config.settings.scheduler, name.as_str()) {
                graph.edge(&Node::File(file), job_node.clone(), Edge::Uses);
            }
        }
        graph
    }

    fn node(&mut self, node: Node) {
        self.graph.node(node);
    }

    fn edge(&mut self, from: &Node, to: Node, edge: Edge) {
        self.graph.edge(from.clone(), to, edge);
    }

    /// The graph as text: each node with what it uses and waits for.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for node in self.graph.nodes() {
            let _ = writeln!(out, "{}", node.address());
            let mut edges: Vec<(String, Edge)> = self
                .graph
                .edges_from(node)
                .into_iter()
                .map(|(target, edge)| (target.address(), *edge))
                .collect();
            edges.sort();
            for (target, edge) in edges {
                let verb = match edge {
                    Edge::Uses => "uses",
                    Edge::After => "after",
                };
                let _ = writeln!(out, "  {verb} {target}");
            }
        }
        out
    }

    /// The graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut out =
            String::from("digraph cairn {\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n");
        for node in self.graph.nodes() {
            let shape = match node {
                Node::Job(_) => "box",
                Node::File(_) => "note",
                Node::Store(_) | Node::Destination(_) => "cylinder",
                Node::Schedule(_) | Node::Retention(_) => "ellipse",
            };
            let _ = writeln!(out, "  \"{}\" [shape={shape}];", node.address());
        }
        for (from, to, edge) in self.graph.edges() {
            let style = match edge {
                Edge::Uses => "",
                Edge::After => " [style=bold, label=\"after\"]",
            };
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\"{style};",
                from.address(),
                to.address()
            );
        }
        out.push_str("}\n");
        out
    }
}

/// The files a job's schedule is installed as.
pub fn generated_files(scheduler: Scheduler, job: &str) -> Vec<FileAddress> {
    let unit = |unit| FileAddress::Unit {
        job: job.to_owned(),
        unit,
    };
    match scheduler {
        Scheduler::Systemd => vec![unit(UnitKind::Service), unit(UnitKind::Timer)],
        Scheduler::Cron => vec![FileAddress::Cron {
            job: job.to_owned(),
        }],
        Scheduler::Kubernetes => vec![FileAddress::Kube(KubeFile::CronJob {
            job: job.to_owned(),
        })],
        Scheduler::None => Vec::new(),
    }
}
