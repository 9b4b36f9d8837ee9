//! The files a configuration was read from, and positions inside them.

use std::ops::Range;
use std::path::PathBuf;

/// Index of a file in [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId(pub usize);

/// A byte range in one of the configuration files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub source: SourceId,
    pub span: Range<usize>,
}

impl Location {
    pub fn new(source: SourceId, span: Range<usize>) -> Self {
        Self { source, span }
    }
}

/// One configuration file as read from disk.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name shown in diagnostics (the path as the operator gave it).
    pub name: String,
    /// The absolute path.
    pub path: PathBuf,
    pub text: String,
}

/// Every file that went into a configuration: the base file first, then overlays.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<Source>,
}

impl Sources {
    pub fn add(&mut self, source: Source) -> SourceId {
        self.files.push(source);
        SourceId(self.files.len() - 1)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Source> {
        self.files.iter()
    }

    pub fn get(&self, id: SourceId) -> &Source {
        &self.files[id.0]
    }

    /// The location of `value[offset..offset + len]` inside the file, where
    /// `location` is that of the whole string value `value`. Exact when the
    /// string is written without escapes before that part (the usual case),
    /// else the whole string's location.
    pub fn narrow(&self, location: &Location, value: &str, offset: usize, len: usize) -> Location {
        let written = self
            .get(location.source)
            .text
            .get(location.span.clone())
            .unwrap_or("");
        // Skip the opening quote(s): ", ', """ or '''.
        let quote = written
            .chars()
            .take_while(|c| *c == '"' || *c == '\'')
            .count()
            .min(3);
        let body = &written[quote..];
        if body.get(..offset) == value.get(..offset) && offset + len <= body.len() {
            let start = location.span.start + quote + offset;
            return Location::new(location.source, start..start + len);
        }
        location.clone()
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, id: SourceId, offset: usize) -> (usize, usize) {
        line_column(&self.get(id).text, offset)
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 1000), (3, 1));
    }
}
