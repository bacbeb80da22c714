//! JSON paths (`producers[0].rate`) and an index from each path to the line and column where it
//! starts in the source text, so that problems found after parsing can still point into the file.
//!
//! serde_json's `Value` forgets positions; rather than a second, position-aware data model, the
//! source is scanned once more here. The scanner assumes text that serde_json already accepted,
//! but it never panics on anything else: it stops and keeps what it indexed so far.

use std::collections::HashMap;
use std::fmt;

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seg {
    /// A member of an object.
    Key(String),
    /// An element of an array.
    Index(usize),
}

/// A path into a JSON document; empty for the whole document. Displays like `producers[0].rate`,
/// `topics[1].config["min.insync.replicas"]`, or `$` for the whole document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JsonPath(pub Vec<Seg>);

impl JsonPath {
    /// The whole document.
    pub fn root() -> JsonPath {
        JsonPath(Vec::new())
    }

    /// This path extended by an object key.
    pub fn key(&self, key: impl Into<String>) -> JsonPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.into()));
        p
    }

    /// This path extended by an array index.
    pub fn index(&self, index: usize) -> JsonPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(index));
        p
    }

    /// This path followed by `rest`.
    pub fn join(&self, rest: &JsonPath) -> JsonPath {
        let mut p = self.clone();
        p.0.extend(rest.0.iter().cloned());
        p
    }

    /// The enclosing path, or `None` for the whole document.
    pub fn parent(&self) -> Option<JsonPath> {
        let (_, init) = self.0.split_last()?;
        Some(JsonPath(init.to_vec()))
    }

    /// True when `self` is `prefix` or lies inside it.
    pub fn starts_with(&self, prefix: &JsonPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// True for the whole document.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("$");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) if is_plain_key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                // NB: keys with dots (librdkafka and topic settings) would be ambiguous as `.a.b`.
                Seg::Key(k) => write!(f, "[{}]", serde_json::Value::String(k.clone()))?,
            }
        }
        Ok(())
    }
}

fn is_plain_key(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A 1-based line and column; columns count characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl Pos {
    /// The start of the file.
    pub const START: Pos = Pos { line: 1, column: 1 };
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Option<Pos>,
    value: Pos,
}

/// Where each value (and each object member's key) of a JSON text starts.
#[derive(Debug, Default)]
pub struct PositionIndex {
    entries: HashMap<JsonPath, Entry>,
    duplicates: Vec<(JsonPath, Pos)>,
}

impl PositionIndex {
    /// Indexes `text`, which should be JSON that serde_json accepts.
    pub fn new(text: &str) -> PositionIndex {
        let mut s = Scanner { bytes: text.as_bytes(), text, i: 0, line: 1, column: 1, index: PositionIndex::default() };
        s.skip_ws();
        s.value(JsonPath::root(), None, 0);
        s.index
    }

    /// Where the value at `path` starts.
    pub fn value(&self, path: &JsonPath) -> Option<Pos> {
        self.entries.get(path).map(|e| e.value)
    }

    /// Where the key of the object member at `path` starts (`None` for array elements and the root).
    pub fn key(&self, path: &JsonPath) -> Option<Pos> {
        self.entries.get(path).and_then(|e| e.key)
    }

    /// The best position for a problem at `path`: its key when `on_key` and it has one, else its
    /// value; a path that is not in the text (a missing field) falls back to the nearest
    /// enclosing value, and finally to the start of the file.
    pub fn locate(&self, path: &JsonPath, on_key: bool) -> Pos {
        if on_key && let Some(p) = self.key(path) {
            return p;
        }
        let mut p = Some(path.clone());
        while let Some(cur) = p {
            if let Some(pos) = self.value(&cur) {
                return pos;
            }
            p = cur.parent();
        }
        Pos::START
    }

    /// Object members whose key appeared earlier in the same object, with the later key's position.
    /// serde_json keeps the last value silently; aftershock reports them instead.
    pub fn duplicate_keys(&self) -> &[(JsonPath, Pos)] {
        &self.duplicates
    }
}

/// Maximum nesting the scanner follows; serde_json itself stops at 128.
const MAX_DEPTH: usize = 256;

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    i: usize,
    line: usize,
    column: usize,
    index: PositionIndex,
}

impl Scanner<'_> {
    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.column }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    fn bump(&mut self) {
        let Some(b) = self.peek() else { return };
        self.i += 1;
        if b == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if b & 0xC0 != 0x80 {
            // Only the first byte of a UTF-8 sequence starts a new character.
            self.column += 1;
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    /// Scans one value starting at the current byte; false when the text is not as expected.
    fn value(&mut self, path: JsonPath, key: Option<Pos>, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let start = self.pos();
        if self.index.entries.insert(path.clone(), Entry { key, value: start }).is_some() {
            self.index.duplicates.push((path.clone(), key.unwrap_or(start)));
        }
        match self.peek() {
            Some(b'{') => self.object(path, depth),
            Some(b'[') => self.array(path, depth),
            Some(b'"') => self.string().is_some(),
            Some(_) => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.bump();
                }
                true
            }
            None => false,
        }
    }

    fn object(&mut self, path: JsonPath, depth: usize) -> bool {
        self.bump(); // {
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
            return true;
        }
        loop {
            self.skip_ws();
            let key_pos = self.pos();
            let Some(key) = self.string() else { return false };
            self.skip_ws();
            if self.peek() != Some(b':') {
                return false;
            }
            self.bump();
            self.skip_ws();
            if !self.value(path.key(key), Some(key_pos), depth + 1) {
                return false;
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b'}') => {
                    self.bump();
                    return true;
                }
                _ => return false,
            }
        }
    }

    fn array(&mut self, path: JsonPath, depth: usize) -> bool {
        self.bump(); // [
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.bump();
            return true;
        }
        let mut n = 0;
        loop {
            self.skip_ws();
            if !self.value(path.index(n), None, depth + 1) {
                return false;
            }
            n += 1;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b']') => {
                    self.bump();
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// Scans a string literal and returns its decoded text.
    fn string(&mut self) -> Option<String> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.i;
        self.bump();
        loop {
            match self.peek()? {
                b'\\' => {
                    self.bump();
                    self.bump();
                }
                b'"' => {
                    self.bump();
                    break;
                }
                _ => self.bump(),
            }
        }
        // Decoding escapes by hand would duplicate serde_json; let it decode the literal.
        serde_json::from_str(self.text.get(start..self.i)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    fn path(s: &[Seg]) -> JsonPath {
        JsonPath(s.to_vec())
    }

    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    const DOC: &str = r#"{
  "name": "x",
  "producers": [
    {"name": "p", "rate": "10k"},
    { "size": {"uniform": {"min": 1}} }
  ],
  "topics": [],
  "config": {"min.insync.replicas": 2, "a\"b": true}
}"#;

    #[test]
    fn indexes_values_and_keys() {
        let ix = PositionIndex::new(DOC);
        assert_eq!(ix.value(&JsonPath::root()), Some(p(1, 1)));
        assert_eq!(ix.key(&path(&[k("name")])), Some(p(2, 3)));
        assert_eq!(ix.value(&path(&[k("name")])), Some(p(2, 11)));
        assert_eq!(ix.value(&path(&[k("producers")])), Some(p(3, 16)));
        assert_eq!(ix.value(&path(&[k("producers"), Seg::Index(0)])), Some(p(4, 5)));
        assert_eq!(ix.value(&path(&[k("producers"), Seg::Index(0), k("rate")])), Some(p(4, 27)));
        assert_eq!(ix.key(&path(&[k("producers"), Seg::Index(0), k("rate")])), Some(p(4, 19)));
        assert_eq!(ix.key(&path(&[k("producers"), Seg::Index(0)])), None);
        let min = path(&[k("producers"), Seg::Index(1), k("size"), k("uniform"), k("min")]);
        assert_eq!(ix.value(&min), Some(p(5, 35)));
        assert_eq!(ix.value(&path(&[k("topics")])), Some(p(7, 13)));
        assert_eq!(ix.value(&path(&[k("config"), k("min.insync.replicas")])), Some(p(8, 37)));
        assert_eq!(ix.key(&path(&[k("config"), k("a\"b")])), Some(p(8, 40)));
        assert!(ix.duplicate_keys().is_empty());
    }

    #[test]
    fn missing_paths_fall_back_to_the_nearest_enclosing_value() {
        let ix = PositionIndex::new(DOC);
        let max = path(&[k("producers"), Seg::Index(1), k("size"), k("uniform"), k("max")]);
        assert_eq!(ix.locate(&max, false), p(5, 27));
        assert_eq!(ix.locate(&max, true), p(5, 27));
        assert_eq!(ix.locate(&path(&[k("nope"), Seg::Index(3)]), false), p(1, 1));
        assert_eq!(ix.locate(&path(&[k("name")]), true), p(2, 3));
        assert_eq!(ix.locate(&path(&[k("name")]), false), p(2, 11));
    }

    #[test]
    fn columns_count_characters() {
        let ix = PositionIndex::new("{\"d\": \"héllo→\", \"n\": 1}");
        assert_eq!(ix.value(&path(&[k("n")])), Some(p(1, 22)));
        let ix = PositionIndex::new("{\r\n\t\"n\": 1}");
        assert_eq!(ix.value(&path(&[k("n")])), Some(p(2, 7)));
    }

    #[test]
    fn reports_duplicate_keys() {
        let ix = PositionIndex::new("{\"a\": 1,\n \"a\": {\"b\": 2}}");
        assert_eq!(ix.duplicate_keys(), &[(path(&[k("a")]), p(2, 2))]);
        // The last value wins, as in serde_json.
        assert_eq!(ix.value(&path(&[k("a"), k("b")])), Some(p(2, 13)));
    }

    #[test]
    fn never_panics_on_bad_text() {
        for text in ["", "{", "[1,", "{\"a\" 1}", "\"abc", "{\"a\":\"\\", "}}}", "[[[[", "\u{feff}{}"] {
            let _ = PositionIndex::new(text).locate(&path(&[k("a")]), true);
        }
        let deep = "[".repeat(10_000);
        let _ = PositionIndex::new(&deep);
    }

    #[test]
    fn displays_paths() {
        assert_eq!(JsonPath::root().to_string(), "$");
        assert_eq!(JsonPath::root().key("producers").index(0).key("rate").to_string(), "producers[0].rate");
        assert_eq!(
            JsonPath::root().key("topics").index(1).key("config").key("min.insync.replicas").to_string(),
            "topics[1].config[\"min.insync.replicas\"]"
        );
        assert_eq!(JsonPath::root().key("$schema").to_string(), "$schema");
        assert_eq!(JsonPath::root().index(2).to_string(), "[2]");
    }

    #[test]
    fn path_relations() {
        let a = JsonPath::root().key("a");
        let ab = a.index(1);
        assert!(ab.starts_with(&a));
        assert!(!a.starts_with(&ab));
        assert_eq!(ab.parent(), Some(a.clone()));
        assert_eq!(JsonPath::root().parent(), None);
        assert_eq!(JsonPath::root().join(&ab), ab);
    }
}
