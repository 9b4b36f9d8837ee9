//! A serde deserializer over the spanned tree, so that type errors, unknown
//! keys and missing keys point at the place in the file that caused them.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::source::Location;
use super::tree::{Entry, Node, NodeValue};

/// A deserialization error and, when known, where it happened.
#[derive(Debug, Clone)]
pub struct DeError {
    pub message: String,
    pub location: Option<Location>,
}

impl DeError {
    /// Attaches `node`'s location unless a more precise one is already known,
    /// and puts back the `${VAR}` form of interpolated strings so that the
    /// message never shows a value that came from the environment.
    fn at(mut self, node: &Node) -> Self {
        if self.location.is_none() {
            self.location = Some(node.location.clone());
            if let (NodeValue::String(value), Some(template)) = (&node.value, &node.template) {
                if !value.is_empty() {
                    self.message = self.message.replace(value.as_str(), template);
                }
            }
        }
        self
    }

    fn at_key(mut self, key: &Location) -> Self {
        if self.location.is_none() {
            self.location = Some(key.clone());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self {
            message: message.to_string(),
            location: None,
        }
    }
}

/// Deserializes any `T` from a node of the tree.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &Node) -> Result<T, DeError> {
    T::deserialize(NodeDeserializer::new(node))
}

/// Deserializes a table as if the key `skip` were not there (used for the
/// `kind` key, which selects the type and is not one of its fields).
pub fn from_table_without<'de, T: de::Deserialize<'de>>(
    node: &Node,
    skip: &str,
) -> Result<T, DeError> {
    T::deserialize(NodeDeserializer {
        node,
        skip: Some(skip),
    })
}

pub struct NodeDeserializer<'a> {
    node: &'a Node,
    skip: Option<&'a str>,
}

impl<'a> NodeDeserializer<'a> {
    pub fn new(node: &'a Node) -> Self {
        Self { node, skip: None }
    }
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let node = self.node;
        let result = match &node.value {
            NodeValue::String(s) | NodeValue::Datetime(s) => visitor.visit_str(s),
            NodeValue::Integer(i) => visitor.visit_i64(*i),
            NodeValue::Float(f) => visitor.visit_f64(*f),
            NodeValue::Boolean(b) => visitor.visit_bool(*b),
            NodeValue::Array(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
            }),
            NodeValue::Table(table) => {
                let skip = self.skip;
                visitor.visit_map(MapAccess {
                    entries: Box::new(
                        table
                            .entries
                            .iter()
                            .filter(move |(key, _)| Some(key.as_str()) != skip),
                    ),
                    value: None,
                })
            }
        };
        result.map_err(|e| e.at(node))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let node = self.node;
        let result = match &node.value {
            NodeValue::String(s) => {
                visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(s.as_str()))
            }
            _ => Err(de::Error::invalid_type(unexpected(node), &visitor)),
        };
        result.map_err(|e| e.at(node))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

fn unexpected(node: &Node) -> de::Unexpected<'_> {
    match &node.value {
        NodeValue::String(s) | NodeValue::Datetime(s) => de::Unexpected::Str(s),
        NodeValue::Integer(i) => de::Unexpected::Signed(*i),
        NodeValue::Float(f) => de::Unexpected::Float(*f),
        NodeValue::Boolean(b) => de::Unexpected::Bool(*b),
        NodeValue::Array(_) => de::Unexpected::Seq,
        NodeValue::Table(_) => de::Unexpected::Map,
    }
}

struct SeqAccess<'a> {
    items: std::slice::Iter<'a, Node>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDeserializer::new(node))
                .map(Some)
                .map_err(|e| e.at(node)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a> {
    entries: Box<dyn Iterator<Item = (&'a String, &'a Entry)> + 'a>,
    value: Option<&'a Node>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, entry)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(&entry.node);
        let key_deserializer = IntoDeserializer::<DeError>::into_deserializer(key.as_str());
        seed.deserialize(key_deserializer)
            .map(Some)
            .map_err(|e| e.at_key(&entry.key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let node = self
            .value
            .take()
            .expect("serde asks for a value only after its key");
        // Errors raised after the value was read (a duration or name that
        // does not parse) belong to the value, not to its table.
        seed.deserialize(NodeDeserializer::new(node))
            .map_err(|e| e.at(node))
    }
}
