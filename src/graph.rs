//! The dependency graph (SPEC §3): stores, destinations, schedules,
//! retention policies, jobs and the files cairn generates, joined by "uses"
//! and `after` edges. It orders plans and applies and is what `cairn graph`
//! prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::config::model::{Config, JobKind};
use crate::config::raw::Scheduler;

/// A thing in the graph, named by its address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Store(String),
    Destination(String),
    Schedule(String),
    Retention(String),
    Job(String),
    /// A generated file, by plan address (`unit.JOB.service`, `cron.JOB`).
    File(String),
}

impl Node {
    pub fn address(&self) -> String {
        match self {
            Node::Store(name) => format!("store.{name}"),
            Node::Destination(name) => format!("destination.{name}"),
            Node::Schedule(name) => format!("schedule.{name}"),
            Node::Retention(name) => format!("retention.{name}"),
            Node::Job(name) => format!("job.{name}"),
            Node::File(address) => address.clone(),
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

pub struct Graph {
    graph: DiGraph<Node, Edge>,
    index: BTreeMap<Node, NodeIndex>,
}

impl Graph {
    /// Builds the graph of a validated configuration (which has no cycle).
    pub fn build(config: &Config) -> Self {
        let mut graph = Graph {
            graph: DiGraph::new(),
            index: BTreeMap::new(),
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
            for other in &job.after {
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
                JobKind::Verify(verify) => {
                    graph.edge(
                        &job_node,
                        Node::Job(verify.verifies.to_string()),
                        Edge::After,
                    );
                }
            }
            for file in generated_files(config.settings.scheduler, name.as_str()) {
                graph.edge(&Node::File(file), job_node.clone(), Edge::Uses);
            }
        }
        graph
    }

    fn node(&mut self, node: Node) -> NodeIndex {
        if let Some(index) = self.index.get(&node) {
            return *index;
        }
        let index = self.graph.add_node(node.clone());
        self.index.insert(node, index);
        index
    }

    fn edge(&mut self, from: &Node, to: Node, edge: Edge) {
        let from = self.node(from.clone());
        let to = self.node(to);
        if !self
            .graph
            .edges_connecting(from, to)
            .any(|e| *e.weight() == edge)
        {
            self.graph.add_edge(from, to, edge);
        }
    }

    /// The graph as text: each node with what it uses and waits for.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (node, index) in &self.index {
            let _ = writeln!(out, "{}", node.address());
            let mut edges: Vec<(String, Edge)> = self
                .graph
                .edges_directed(*index, Direction::Outgoing)
                .map(|e| (self.graph[e.target()].address(), *e.weight()))
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
        for node in self.index.keys() {
            let shape = match node {
                Node::Job(_) => "box",
                Node::File(_) => "note",
                Node::Store(_) | Node::Destination(_) => "cylinder",
                Node::Schedule(_) | Node::Retention(_) => "ellipse",
            };
            let _ = writeln!(out, "  \"{}\" [shape={shape}];", node.address());
        }
        for edge in self.graph.edge_references() {
            let style = match edge.weight() {
                Edge::Uses => "",
                Edge::After => " [style=bold, label=\"after\"]",
            };
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\"{style};",
                self.graph[edge.source()].address(),
                self.graph[edge.target()].address()
            );
        }
        out.push_str("}\n");
        out
    }
}

/// The plan addresses of the files a job's schedule is installed as.
pub fn generated_files(scheduler: Scheduler, job: &str) -> Vec<String> {
    match scheduler {
        Scheduler::Systemd => vec![format!("unit.{job}.service"), format!("unit.{job}.timer")],
        Scheduler::Cron => vec![format!("cron.{job}")],
        Scheduler::None => Vec::new(),
    }
}
