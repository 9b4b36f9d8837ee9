//! Ordering named things: a directed graph whose nodes are any ordered keys
//! (job names, addresses) and whose edges carry a label, with the two
//! questions cairn asks of it — which nodes wait for each other in a cycle
//! (validation), and in what order every node can come after the nodes it
//! points to (apply, `restore --all`). It knows nothing of the
//! configuration: `config::graph` builds cairn's dependency graph with it.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

/// A directed graph of `N`s joined by edges labelled `E`. An edge names
/// its nodes; a node it names that was not added is added with it.
#[derive(Debug, Clone)]
pub struct Graph<N, E> {
    graph: DiGraph<N, E>,
    index: BTreeMap<N, NodeIndex>,
}

/// Nodes that wait for each other, with the edges among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle<'g, N, E> {
    /// The members, in node order.
    pub nodes: Vec<&'g N>,
    /// The edges from a member to a member, in the order they were added.
    pub edges: Vec<(&'g N, &'g N, &'g E)>,
}

impl<N: Ord + Clone, E> Default for Graph<N, E> {
    fn default() -> Self {
        Self {
            graph: DiGraph::new(),
            index: BTreeMap::new(),
        }
    }
}

impl<N: Ord + Clone, E> Graph<N, E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `node` (once).
    pub fn node(&mut self, node: N) {
        self.index_of(node);
    }

    fn index_of(&mut self, node: N) -> NodeIndex {
        if let Some(index) = self.index.get(&node) {
            return *index;
        }
        let index = self.graph.add_node(node.clone());
        self.index.insert(node, index);
        index
    }

    /// Adds an edge from `from` to `to` labelled `label`, unless the same
    /// edge is there already.
    pub fn edge(&mut self, from: N, to: N, label: E)
    where
        E: PartialEq,
    {
        let from = self.index_of(from);
        let to = self.index_of(to);
        if !self
            .graph
            .edges_connecting(from, to)
            .any(|e| *e.weight() == label)
        {
            self.graph.add_edge(from, to, label);
        }
    }

    pub fn contains(&self, node: &N) -> bool {
        self.index.contains_key(node)
    }

    /// Every node, in node order.
    pub fn nodes(&self) -> impl Iterator<Item = &N> {
        self.index.keys()
    }

    /// The edges leaving `node`: each target with its label.
    pub fn edges_from<'g>(&'g self, node: &N) -> Vec<(&'g N, &'g E)> {
        let Some(index) = self.index.get(node) else {
            return Vec::new();
        };
        self.graph
            .edges_directed(*index, Direction::Outgoing)
            .map(|e| (&self.graph[e.target()], e.weight()))
            .collect()
    }

    /// Every edge, as (from, to, label), in the order they were added.
    pub fn edges(&self) -> impl Iterator<Item = (&N, &N, &E)> {
        self.graph
            .edge_references()
            .map(|e| (&self.graph[e.source()], &self.graph[e.target()], e.weight()))
    }

    /// The groups of two or more nodes that reach each other, each with
    /// the edges among its members; in the order of their first member.
    pub fn cycles(&self) -> Vec<Cycle<'_, N, E>> {
        let mut cycles: Vec<Cycle<'_, N, E>> = petgraph::algo::tarjan_scc(&self.graph)
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| {
                let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
                let mut nodes: Vec<&N> = component.iter().map(|n| &self.graph[*n]).collect();
                nodes.sort();
                let edges = self
                    .graph
                    .edge_references()
                    .filter(|e| members.contains(&e.source()) && members.contains(&e.target()))
                    .map(|e| (&self.graph[e.source()], &self.graph[e.target()], e.weight()))
                    .collect();
                Cycle { nodes, edges }
            })
            .collect();
        cycles.sort_by(|a, b| a.nodes.first().cmp(&b.nodes.first()));
        cycles
    }

    /// Every node, each after the nodes its edges point to (the edges
    /// `follow` accepts); ties in node order, pass by pass: each pass takes,
    /// in node order, every node whose targets are all placed. Nodes in a
    /// cycle are returned as the error, in node order.
    pub fn order(&self, follow: impl Fn(&E) -> bool) -> Result<Vec<&N>, Vec<&N>> {
        let mut placed: BTreeSet<NodeIndex> = BTreeSet::new();
        let mut order = Vec::with_capacity(self.index.len());
        let mut left: Vec<NodeIndex> = self.index.values().copied().collect();
        while !left.is_empty() {
            let before = left.len();
            left.retain(|node| {
                let ready = self
                    .graph
                    .edges_directed(*node, Direction::Outgoing)
                    .filter(|e| follow(e.weight()))
                    .all(|e| e.target() == *node || placed.contains(&e.target()));
                if ready {
                    placed.insert(*node);
                    order.push(&self.graph[*node]);
                }
                !ready
            });
            if left.len() == before {
                let mut stuck: Vec<&N> = left.iter().map(|n| &self.graph[*n]).collect();
                stuck.sort();
                return Err(stuck);
            }
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_puts_each_node_after_its_targets_with_ties_by_name() {
        let mut graph: Graph<&str, ()> = Graph::new();
        for node in ["c", "b", "a"] {
            graph.node(node);
        }
        graph.edge("a", "b", ());
        assert_eq!(graph.order(|_| true).unwrap(), [&"b", &"c", &"a"]);
        graph.edge("b", "z", ());
        assert_eq!(graph.order(|_| true).unwrap(), [&"c", &"z", &"b", &"a"]);
    }

    #[test]
    fn order_follows_only_the_chosen_edges() {
        let mut graph: Graph<&str, bool> = Graph::new();
        graph.edge("a", "b", false);
        assert_eq!(graph.order(|follow| *follow).unwrap(), [&"a", &"b"]);
        assert_eq!(graph.order(|_| true).unwrap(), [&"b", &"a"]);
    }

    #[test]
    fn cycles_name_their_members_and_edges() {
        let mut graph: Graph<&str, u8> = Graph::new();
        graph.edge("a", "b", 1);
        graph.edge("b", "a", 2);
        graph.edge("b", "c", 3);
        graph.edge("x", "x", 4);
        let cycles = graph.cycles();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].nodes, [&"a", &"b"]);
        assert_eq!(cycles[0].edges, [(&"a", &"b", &1), (&"b", &"a", &2)]);
        assert_eq!(graph.order(|_| true).unwrap_err(), [&"a", &"b"]);
    }

    #[test]
    fn edges_add_their_nodes_once() {
        let mut graph: Graph<String, ()> = Graph::new();
        graph.edge("a".into(), "b".into(), ());
        graph.edge("a".into(), "b".into(), ());
        assert_eq!(graph.nodes().count(), 2);
        assert_eq!(graph.edges().count(), 1);
        assert!(graph.contains(&"b".to_owned()));
        assert_eq!(graph.edges_from(&"a".to_owned()).len(), 1);
    }
}
