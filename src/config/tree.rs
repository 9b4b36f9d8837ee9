//! A TOML document as a tree whose every value remembers where it was written.
//!
//! Overlays (`[env.NAME]`, `backup.NAME.toml`) are merged into this tree before
//! it is deserialized, so a diagnostic can point into whichever file a value
//! came from.

use std::fmt;

use indexmap::IndexMap;
use toml_edit::{Item, Value};

use super::source::{Location, SourceId};

/// One value of the document and where it was written.
#[derive(Debug, Clone)]
pub struct Node {
    pub value: NodeValue,
    pub location: Location,
    /// The string as written, before `${VAR}` interpolation; diagnostics show
    /// this rather than the expanded value so that secrets stay out of them.
    pub template: Option<String>,
}

#[derive(Debug, Clone)]
pub enum NodeValue {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

/// A table's entries in the order they were written.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub entries: IndexMap<String, Entry>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// Where the key was written.
    pub key: Location,
    pub node: Node,
}

/// One step on the way from the root to a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Where a value sits in the document, e.g. `jobs.app.checks[0].query`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(pub Vec<Segment>);

impl Path {
    pub fn root() -> Self {
        Self::default()
    }

    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.into()));
        path
    }

    pub fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    pub fn parent(&self) -> Option<Path> {
        let mut path = self.clone();
        path.0.pop()?;
        Some(path)
    }

    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl Node {
    /// Builds the tree of a parsed document.
    pub fn from_document(document: &toml_edit::Document<String>, source: SourceId) -> Node {
        let whole = Location::new(source, 0..0);
        from_item(document.as_item(), source, &whole)
    }

    pub fn empty_table(location: Location) -> Node {
        Node {
            value: NodeValue::Table(Table::default()),
            location,
            template: None,
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match &self.value {
            NodeValue::Table(table) => Some(table),
            _ => None,
        }
    }

    pub fn as_table_mut(&mut self) -> Option<&mut Table> {
        match &mut self.value {
            NodeValue::Table(table) => Some(table),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_table()?.entries.get(key).map(|entry| &entry.node)
    }

    /// The value at `path`, if there is one.
    pub fn find(&self, path: &Path) -> Option<&Node> {
        let mut node = self;
        for segment in &path.0 {
            node = match (segment, &node.value) {
                (Segment::Key(key), NodeValue::Table(table)) => &table.entries.get(key)?.node,
                (Segment::Index(index), NodeValue::Array(items)) => items.get(*index)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Where the key that ends `path` was written, or else where its value is.
    pub fn find_key(&self, path: &Path) -> Option<Location> {
        let parent = self.find(&path.parent()?)?;
        match path.0.last()? {
            Segment::Key(key) => Some(parent.as_table()?.entries.get(key)?.key.clone()),
            Segment::Index(index) => match &parent.value {
                NodeValue::Array(items) => Some(items.get(*index)?.location.clone()),
                _ => None,
            },
        }
    }

    /// The closest location for `path`: its own, or that of the nearest
    /// ancestor that exists (a missing key is reported on its table).
    pub fn locate(&self, path: &Path) -> Location {
        let mut path = path.clone();
        loop {
            if let Some(node) = self.find(&path) {
                return node.location.clone();
            }
            match path.parent() {
                Some(parent) => path = parent,
                None => return self.location.clone(),
            }
        }
    }

    /// A short description of the kind of value, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            NodeValue::String(_) => "a string",
            NodeValue::Integer(_) => "an integer",
            NodeValue::Float(_) => "a float",
            NodeValue::Boolean(_) => "a boolean",
            NodeValue::Datetime(_) => "a date-time",
            NodeValue::Array(_) => "an array",
            NodeValue::Table(_) => "a table",
        }
    }

    /// Deep-merges `overlay` into `self`: tables merge key by key, anything
    /// else (strings, numbers, arrays) is replaced by the overlay's value.
    pub fn merge(&mut self, overlay: Node) {
        match (&mut self.value, overlay.value) {
            (NodeValue::Table(base), NodeValue::Table(over)) => {
                for (key, entry) in over.entries {
                    match base.entries.get_mut(&key) {
                        Some(existing) => {
                            existing.key = entry.key;
                            existing.node.merge(entry.node);
                        }
                        None => {
                            base.entries.insert(key, entry);
                        }
                    }
                }
            }
            (_, value) => {
                self.value = value;
                self.location = overlay.location;
                self.template = overlay.template;
            }
        }
    }
}

fn from_item(item: &Item, source: SourceId, fallback: &Location) -> Node {
    let location = |span: Option<std::ops::Range<usize>>| match span {
        Some(span) => Location::new(source, span),
        None => fallback.clone(),
    };
    match item {
        Item::None => Node::empty_table(fallback.clone()),
        Item::Value(value) => from_value(value, source, fallback),
        Item::Table(table) => {
            let here = location(table.span());
            let entries = table
                .iter()
                .map(|(key, child)| {
                    let key_location = location(table.key(key).and_then(|k| k.span()));
                    let node = from_item(child, source, &key_location);
                    (
                        key.to_owned(),
                        Entry {
                            key: key_location,
                            node,
                        },
                    )
                })
                .collect();
            Node {
                value: NodeValue::Table(Table { entries }),
                location: here,
                template: None,
            }
        }
        Item::ArrayOfTables(tables) => {
            let items = tables
                .iter()
                .map(|table| from_item(&Item::Table(table.clone()), source, fallback))
                .collect();
            Node {
                value: NodeValue::Array(items),
                location: location(tables.span()),
                template: None,
            }
        }
    }
}

fn from_value(value: &Value, source: SourceId, fallback: &Location) -> Node {
    let location = match value.span() {
        Some(span) => Location::new(source, span),
        None => fallback.clone(),
    };
    let value = match value {
        Value::String(s) => NodeValue::String(s.value().clone()),
        Value::Integer(i) => NodeValue::Integer(*i.value()),
        Value::Float(f) => NodeValue::Float(*f.value()),
        Value::Boolean(b) => NodeValue::Boolean(*b.value()),
        Value::Datetime(d) => NodeValue::Datetime(d.value().to_string()),
        Value::Array(array) => NodeValue::Array(
            array
                .iter()
                .map(|v| from_value(v, source, &location))
                .collect(),
        ),
        Value::InlineTable(table) => {
            let entries = table
                .iter()
                .map(|(key, child)| {
                    let key_location = match table.key(key).and_then(|k| k.span()) {
                        Some(span) => Location::new(source, span),
                        None => location.clone(),
                    };
                    let node = from_value(child, source, &key_location);
                    (
                        key.to_owned(),
                        Entry {
                            key: key_location,
                            node,
                        },
                    )
                })
                .collect();
            NodeValue::Table(Table { entries })
        }
    };
    Node {
        value,
        location,
        template: None,
    }
}

/// The configuration as one canonical TOML text: keys sorted, tables as
/// `[a.b]` sections, arrays and their tables inline, each string as it was
/// written (a `${VAR}` unexpanded), without the `[env.*]` tables (their
/// environment is merged already). Two files that differ only in layout,
/// comments or key order give the same text.
pub fn canonical_toml(root: &Node) -> String {
    let mut document = toml_edit::DocumentMut::new();
    if let NodeValue::Table(table) = &root.value {
        let mut keys: Vec<&String> = table.entries.keys().filter(|key| *key != "env").collect();
        keys.sort();
        for key in keys {
            document.insert(key, canonical_item(&table.entries[key].node));
        }
    }
    document.to_string()
}

fn canonical_item(node: &Node) -> Item {
    match &node.value {
        NodeValue::Table(table) => {
            let mut out = toml_edit::Table::new();
            let mut keys: Vec<&String> = table.entries.keys().collect();
            keys.sort();
            let only_tables = table
                .entries
                .values()
                .all(|entry| matches!(entry.node.value, NodeValue::Table(_)));
            out.set_implicit(only_tables && !table.entries.is_empty());
            for key in keys {
                out.insert(key, canonical_item(&table.entries[key].node));
            }
            Item::Table(out)
        }
        _ => Item::Value(canonical_value(node)),
    }
}

fn canonical_value(node: &Node) -> Value {
    match &node.value {
        NodeValue::String(text) => Value::from(node.template.as_deref().unwrap_or(text)),
        NodeValue::Integer(n) => Value::from(*n),
        NodeValue::Float(f) => Value::from(*f),
        NodeValue::Boolean(b) => Value::from(*b),
        NodeValue::Datetime(text) => text
            .parse::<toml_edit::Datetime>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(text.as_str())),
        NodeValue::Array(items) => Value::Array(items.iter().map(canonical_value).collect()),
        NodeValue::Table(table) => {
            let mut inline = toml_edit::InlineTable::new();
            let mut keys: Vec<&String> = table.entries.keys().collect();
            keys.sort();
            for key in keys {
                inline.insert(key, canonical_value(&table.entries[key].node));
            }
            Value::InlineTable(inline)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, source: usize) -> Node {
        let document = toml_edit::Document::parse(text.to_owned()).unwrap();
        Node::from_document(&document, SourceId(source))
    }

    #[test]
    fn values_know_where_they_were_written() {
        let text = "[jobs.app]\nstore = \"db\"\n";
        let tree = parse(text, 0);
        let path = Path::root().key("jobs").key("app").key("store");
        let node = tree.find(&path).unwrap();
        assert_eq!(&text[node.location.span.clone()], "\"db\"");
        assert_eq!(&text[tree.find_key(&path).unwrap().span], "store");
        assert_eq!(path.to_string(), "jobs.app.store");
    }

    #[test]
    fn merge_replaces_scalars_and_arrays_and_merges_tables() {
        let mut base = parse("[a]\nx = 1\nlist = [1, 2]\n[a.inner]\nkeep = true\n", 0);
        let overlay = parse("[a]\nlist = [3]\n[a.inner]\nadded = 2\n", 1);
        base.merge(overlay);
        let a = base.get("a").unwrap();
        assert!(matches!(a.get("x").unwrap().value, NodeValue::Integer(1)));
        match &a.get("list").unwrap().value {
            NodeValue::Array(items) => assert_eq!(items.len(), 1),
            other => panic!("{other:?}"),
        }
        let inner = a.get("inner").unwrap();
        assert!(inner.get("keep").is_some());
        assert_eq!(inner.get("added").unwrap().location.source, SourceId(1));
    }
}
