//! The [`Checker`] every section validates with: the problems found so far, where reading
//! already found some, and the checks of single values (names, durations, sizes, counts,
//! unique names) that every section shares.

use std::collections::HashMap;
use std::time::Duration;

use crate::scenario::file::{DurationText, NumOrText, SizeText};
use crate::scenario::position::JsonPath;
use crate::scenario::problem::Problem;
use crate::vocab::units::{format_size, parse_duration, parse_size};

pub(in crate::scenario) struct Checker<'a> {
    pub(in crate::scenario) problems: Vec<Problem>,
    /// Some entry could not be read at all, so no scenario can be built even without problems here.
    pub(in crate::scenario) incomplete: bool,
    /// Paths where reading found a problem.
    pub(in crate::scenario) broken: &'a [JsonPath],
    /// What the file may do but its author likely did not mean; never a reason to refuse it.
    pub(in crate::scenario) warnings: Vec<Problem>,
}

impl<'a> Checker<'a> {
    pub(in crate::scenario) fn new(broken: &'a [JsonPath]) -> Checker<'a> {
        Checker { problems: Vec::new(), incomplete: false, broken, warnings: Vec::new() }
    }
}

impl Checker<'_> {
    /// True when reading found a problem at `path` or around it (so a missing value there was dropped).
    pub(in crate::scenario) fn is_broken(&self, path: &JsonPath) -> bool {
        self.broken.iter().any(|b| path.starts_with(b))
    }

    /// `default` for an absent field, or `None` when the field was dropped because it was bad.
    pub(in crate::scenario) fn or_default<T>(&self, path: &JsonPath, default: T) -> Option<T> {
        (!self.is_broken(path)).then_some(default)
    }

    pub(in crate::scenario) fn err(&mut self, path: JsonPath, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    pub(in crate::scenario) fn warn(&mut self, path: JsonPath, message: impl Into<String>) {
        self.warnings.push(Problem::new(path, message));
    }

    /// The value, or `None` with its problem recorded at `path`.
    pub(in crate::scenario) fn check<T>(&mut self, r: Result<T, String>, path: JsonPath) -> Option<T> {
        r.map_err(|e| self.err(path, e)).ok()
    }

    pub(in crate::scenario) fn err_key(&mut self, path: JsonPath, message: impl Into<String>) {
        self.problems.push(Problem { path, on_key: true, message: message.into(), meant: None });
    }

    pub(in crate::scenario) fn missing(&mut self, path: JsonPath, what: &str) {
        if !self.is_broken(&path) {
            self.err(path, format!("required field missing: {what}"));
        }
    }

    /// A required name of letters, digits, `.`, `_` and `-` (it ends up in client ids, group
    /// ids and report file names).
    pub(in crate::scenario) fn name(&mut self, kind: &str, v: Option<&str>, path: JsonPath) -> Option<String> {
        let Some(v) = v else {
            self.missing(path, &format!("the {kind}'s name"));
            return None;
        };
        if v.is_empty() {
            self.err(path, format!("the {kind}'s name is empty"));
            return None;
        }
        if v.len() > 100 || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            self.err(path, format!("{kind} name {v:?} must be 1 to 100 letters, digits, `.`, `_` or `-`"));
            return None;
        }
        Some(v.to_string())
    }

    pub(in crate::scenario) fn duration(&mut self, d: &DurationText, path: JsonPath) -> Option<Duration> {
        parse_duration(&d.0).map_err(|e| self.err(path, e)).ok()
    }

    pub(in crate::scenario) fn positive_duration(
        &mut self,
        d: &DurationText,
        path: JsonPath,
        what: &str,
    ) -> Option<Duration> {
        let v = self.duration(d, path.clone())?;
        if v.is_zero() {
            self.err(path, format!("{what} must be longer than 0s"));
            return None;
        }
        Some(v)
    }

    pub(in crate::scenario) fn size(&mut self, s: &SizeText, path: JsonPath) -> Option<u64> {
        let r = match &s.0 {
            NumOrText::Text(t) => parse_size(t),
            NumOrText::Number(n) => match (n.as_u64(), n.as_f64()) {
                (Some(u), _) => Ok(u),
                (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => Ok(f as u64),
                _ => Err(format!(
                    "{n} is not a size: expected a whole number of bytes (0 or more), or a string like \"1KiB\""
                )),
            },
        };
        r.map_err(|e| self.err(path, e)).ok()
    }

    /// A size within `min..=max` bytes.
    pub(in crate::scenario) fn size_in(
        &mut self,
        s: &SizeText,
        path: JsonPath,
        what: &str,
        min: u64,
        max: u64,
    ) -> Option<usize> {
        let v = self.size(s, path.clone())?;
        if v < min || v > max {
            self.err(
                path,
                format!(
                    "{what} {} is out of range: it must be between {} and {}",
                    format_size(v),
                    format_size(min),
                    format_size(max)
                ),
            );
            return None;
        }
        usize::try_from(v).ok()
    }

    /// A count within `1..=max`, `default` when absent.
    pub(in crate::scenario) fn count(
        &mut self,
        v: Option<i64>,
        path: JsonPath,
        what: &str,
        max: i64,
        default: i64,
    ) -> Option<i64> {
        let n = match v {
            Some(n) => n,
            None => return self.or_default(&path, default),
        };
        if n < 1 || n > max {
            self.err(path, format!("{what} must be between 1 and {max}, got {n}"));
            return None;
        }
        Some(n)
    }

    pub(in crate::scenario) fn required<'a, T>(
        &mut self,
        v: Option<&'a T>,
        path: JsonPath,
        what: &str,
    ) -> Option<&'a T> {
        if v.is_none() {
            self.missing(path, what);
        }
        v
    }

    pub(in crate::scenario) fn unique<'a>(
        &mut self,
        kind: &str,
        at: &JsonPath,
        names: impl Iterator<Item = Option<&'a str>>,
    ) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, n) in names.enumerate() {
            let Some(n) = n else { continue };
            if let Some(first) = seen.get(n) {
                self.err(
                    at.index(i).key("name"),
                    format!("duplicate {kind} name {n:?}, already used by {}", at.index(*first)),
                );
            } else {
                seen.insert(n, i);
            }
        }
    }

    pub(in crate::scenario) fn topic_ref(&mut self, t: Option<&str>, path: JsonPath, kind: &str) -> Option<String> {
        match t {
            None => {
                self.missing(path, &format!("the declared topic this {kind} uses"));
                None
            }
            Some("") => {
                self.err(path, "empty topic name");
                None
            }
            Some(t) => Some(t.to_string()),
        }
    }
}

/// What entries need to know about the rest of the file.
pub(in crate::scenario) struct Context {
    pub(in crate::scenario) scenario: String,
    /// Whether it is known if topics get a default replication factor.
    pub(in crate::scenario) cluster_known: bool,
    pub(in crate::scenario) local_nodes: Option<usize>,
    /// A local cluster's replication factor for topics that give none.
    pub(in crate::scenario) default_rf: Option<i32>,
}

/// Validates each readable entry of a list; unreadable ones were reported while reading.
pub(in crate::scenario) fn entries<R, T>(
    c: &mut Checker,
    raw: &[Option<R>],
    at: &JsonPath,
    mut f: impl FnMut(&mut Checker, &R, &JsonPath) -> Option<T>,
) -> Vec<Option<T>> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| match r {
            Some(r) => f(c, r, &at.index(i)),
            None => {
                c.incomplete = true;
                None
            }
        })
        .collect()
}

pub(in crate::scenario) fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
