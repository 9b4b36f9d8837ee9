//! Names of stores, destinations, schedules, policies, jobs and notifiers.
//!
//! Names become file, unit and object names, so they are restricted to
//! `[a-z0-9][a-z0-9_-]{0,62}`.

use std::borrow::Borrow;
use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};

/// The regular expression the JSON Schema uses for names.
pub const PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,62}$";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    pub fn new(text: &str) -> Result<Self, NameError> {
        check(text).map(|()| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn help() -> &'static str {
        "names start with a lowercase letter or digit and continue with up to 62 lowercase \
         letters, digits, `_` or `-` (they become file, unit and object names)"
    }
}

/// Why a text is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name cannot be empty")]
    Empty,
    #[error("invalid name `{0}`: it must start with a lowercase letter or a digit")]
    BadStart(String),
    #[error("invalid name `{0}`: `{1}` is not allowed in names")]
    BadCharacter(String, char),
    #[error("invalid name `{0}`: it is {1} characters long, the limit is 63")]
    TooLong(String, usize),
}

/// Why `text` is not a valid name, if it is not.
pub fn check(text: &str) -> Result<(), NameError> {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return Err(NameError::Empty);
    };
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(NameError::BadStart(text.to_owned()));
    }
    if let Some(bad) =
        chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        return Err(NameError::BadCharacter(text.to_owned(), bad));
    }
    if text.len() > 63 {
        return Err(NameError::TooLong(text.to_owned(), text.len()));
    }
    Ok(())
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        Name::new(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Name {
    fn schema_name() -> Cow<'static, str> {
        "Name".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": PATTERN,
            "description": "A name: lowercase letters, digits, `_` and `-`, starting with a letter or digit, at most 63 characters."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for good in ["a", "app_db", "pg-main", "0day", &"a".repeat(63)] {
            assert!(check(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["", "App", "_x", "-x", "a.b", "a b", "é", &"a".repeat(64)] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
