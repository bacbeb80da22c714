//! Every relative link in the project's Markdown (README.md, docs/*.md, k8s/*.md) leads
//! somewhere: the file or directory exists, and an `#anchor` names a heading of the Markdown
//! file it points into (by GitHub's slug rules). Needs no cluster; a moved or renamed doc,
//! file or heading fails here with every dead link and its file:line, instead of at a reader.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every `.md` in docs/ and k8s/, sorted, relative to the crate root.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md")];
    for dir in ["docs", "k8s"] {
        let mut md: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| PathBuf::from(dir).join(e.unwrap().file_name()))
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        md.sort();
        files.extend(md);
    }
    files
}

/// One link as written: the line it is on (from 1) and its target.
#[derive(Debug, PartialEq)]
struct Link {
    line: usize,
    target: String,
}

/// The lines that are Markdown text, with fenced code blocks blanked out (their contents are
/// code, not links or headings) so that line numbers still match the file.
fn prose_lines(text: &str) -> Vec<String> {
    let mut fence: Option<String> = None;
    text.lines()
        .map(|line| {
            let t = line.trim_start();
            let marker: String = t.chars().take_while(|c| *c == '`' || *c == '~').collect();
            match &fence {
                Some(open) => {
                    // A fence closes with at least as many of the same character.
                    if marker.len() >= open.len()
                        && marker.starts_with(&open[..1])
                        && t[marker.len()..].trim().is_empty()
                    {
                        fence = None;
                    }
                    String::new()
                }
                None if marker.len() >= 3 && marker.chars().all(|c| c == marker.as_bytes()[0] as char) => {
                    fence = Some(marker);
                    String::new()
                }
                None => line.to_string(),
            }
        })
        .collect()
}

/// The line with inline code spans (`` `...` ``) removed: a link written inside one is shown,
/// not followed.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
        let after = &rest[start + ticks..];
        let close = "`".repeat(ticks);
        match after.find(&close) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                // An unclosed run of backticks is literal text.
                out.push_str(&rest[start..start + ticks]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Inline links and images (`[text](target "title")`, `![alt](target)`) and reference
/// definitions (`[id]: target`).
fn links(text: &str) -> Vec<Link> {
    let mut out = Vec::new();
    for (i, line) in prose_lines(text).iter().enumerate() {
        let line = without_code_spans(line);
        let t = line.trim_start();
        if t.starts_with('[')
            && let Some(end) = t.find("]:")
            && !t[..end].contains("](")
        {
            if let Some(target) = t[end + 2..].split_whitespace().next() {
                out.push(Link { line: i + 1, target: target.trim_matches(['<', '>']).to_string() });
            }
            continue;
        }
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            // Targets may hold balanced parentheses; the link ends at the first unbalanced `)`.
            let mut depth = 0usize;
            let end = after.char_indices().find_map(|(j, c)| match c {
                '(' => {
                    depth += 1;
                    None
                }
                ')' if depth == 0 => Some(j),
                ')' => {
                    depth -= 1;
                    None
                }
                _ => None,
            });
            let Some(end) = end else { break };
            let inner = after[..end].trim();
            let target = if let Some(angled) = inner.strip_prefix('<') {
                angled.split('>').next().unwrap_or_default()
            } else {
                inner.split_whitespace().next().unwrap_or_default()
            };
            out.push(Link { line: i + 1, target: target.to_string() });
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: the text as rendered (code marks, emphasis and link
/// syntax gone), lower-cased, with everything but letters, digits, `-`, `_` and spaces
/// dropped and spaces turned into `-`.
fn slug(heading: &str) -> String {
    // `[text](url)` renders as `text`.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|c| open + c) else { break };
        let Some(end) = rest[close..].find(')').map(|e| close + e) else { break };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor a Markdown file offers: its headings' slugs (a repeated slug gets `-1`, `-2`,
/// ... as GitHub numbers them) and any explicit HTML `id`/`name`.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut add = |s: String| {
        let mut candidate = s.clone();
        let mut n = 0;
        while !seen.insert(candidate.clone()) {
            n += 1;
            candidate = format!("{s}-{n}");
        }
    };
    let lines = prose_lines(text);
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let hashes = t.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && (t.len() == hashes || t[hashes..].starts_with([' ', '\t'])) {
            // A closing run of `#` is not part of the heading.
            add(slug(t[hashes..].trim().trim_end_matches('#')));
        } else if i > 0
            && !t.is_empty()
            && (t.trim_end().chars().all(|c| c == '=') || t.trim_end().chars().all(|c| c == '-'))
            && !lines[i - 1].trim().is_empty()
            && line.len() - t.len() < 4
        {
            // A setext heading: the line above, underlined.
            add(slug(&lines[i - 1]));
        }
        for attr in ["id=\"", "name=\""] {
            let mut rest = line.as_str();
            while let Some(at) = rest.find(attr) {
                let after = &rest[at + attr.len()..];
                if let Some(end) = after.find('"') {
                    add(after[..end].to_string());
                }
                rest = after;
            }
        }
    }
    seen
}

/// `%20` and friends, as a browser reads a link.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a link from `file` (relative to the crate root) is dead, or `None` when it leads
/// somewhere or is not a relative link.
fn dead(file: &Path, target: &str) -> Option<String> {
    let lower = target.to_ascii_lowercase();
    if target.is_empty() || lower.contains("://") || lower.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let path = percent_decode(path);
    let resolved = if path.is_empty() {
        file.to_path_buf()
    } else if let Some(from_root) = path.strip_prefix('/') {
        PathBuf::from(from_root)
    } else {
        file.parent().unwrap_or(Path::new("")).join(&path)
    };
    let on_disk = root().join(&resolved);
    if !on_disk.exists() {
        return Some(format!("{} does not exist", resolved.display()));
    }
    let anchor = anchor.map(percent_decode)?;
    if on_disk.extension().is_none_or(|e| e != "md") {
        // Anchors into code (`#L10`) or other files are not checked.
        return None;
    }
    let text = std::fs::read_to_string(&on_disk).unwrap_or_default();
    if anchors(&text).contains(&anchor.to_lowercase()) {
        None
    } else {
        Some(format!("{} has no heading with the anchor #{anchor}", resolved.display()))
    }
}

#[test]
fn every_relative_link_in_the_docs_leads_somewhere() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for link in links(&text) {
            checked += 1;
            if let Some(why) = dead(&file, &link.target) {
                problems.push(format!("{}:{}: ({}) {why}", file.display(), link.line, link.target));
            }
        }
    }
    assert!(checked > 50, "only {checked} links found: is the link reader broken?");
    assert!(problems.is_empty(), "{} dead link(s):\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn links_are_read_as_markdown_renders_them() {
    let text = "See [a](a.md), ![img](i.png \"title\") and [b](<b c.md#x>).\n\
                `[not](a link)` and [c](f(1).md)\n\
                ```\n[in](code.md)\n```\n\
                [ref]: ref.md \"Title\"\n";
    let got = links(text);
    let got: Vec<(usize, &str)> = got.iter().map(|l| (l.line, l.target.as_str())).collect();
    assert_eq!(got, [(1, "a.md"), (1, "i.png"), (1, "b c.md#x"), (2, "f(1).md"), (6, "ref.md")]);
}

#[test]
fn anchors_follow_githubs_slugs() {
    assert_eq!(slug("Ack stamps on librdkafka's broker thread"), "ack-stamps-on-librdkafkas-broker-thread");
    assert_eq!(slug("Stopping a run early (`abort_on_fail`)"), "stopping-a-run-early-abort_on_fail");
    assert_eq!(slug("Timestamp error (mock cluster, injected RTT)"), "timestamp-error-mock-cluster-injected-rtt");
    assert_eq!(slug("See [the docs](x.md) now"), "see-the-docs-now");
    let a = anchors("# Intro\n## Faults\n### Faults\nSetext\n------\n```\n# not a heading\n```\n<a id=\"here\"></a>\n");
    for want in ["intro", "faults", "faults-1", "setext", "here"] {
        assert!(a.contains(want), "{want} in {a:?}");
    }
    assert!(!a.contains("not-a-heading"));
}

#[test]
fn a_dead_link_is_reported_with_why() {
    let readme = Path::new("README.md");
    assert_eq!(dead(readme, "https://example.com/x.md"), None);
    assert_eq!(dead(readme, "docs/scenarios.md#capacity"), None);
    assert_eq!(dead(readme, "#layout"), None);
    assert_eq!(dead(Path::new("docs/ci.md"), "../README.md#exit-codes"), None);
    assert_eq!(dead(readme, "docs/kubernetes.md").as_deref(), Some("docs/kubernetes.md does not exist"));
    assert_eq!(
        dead(readme, "docs/scenarios.md#no-such-heading").as_deref(),
        Some("docs/scenarios.md has no heading with the anchor #no-such-heading")
    );
    assert_eq!(dead(readme, "#nowhere").as_deref(), Some("README.md has no heading with the anchor #nowhere"));
}
