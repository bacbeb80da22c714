//! The crate's module graph, read from `use crate::`, `crate::` and `super::` paths in src/:
//! no cycle between top-level modules, none between files, and the leaves import nothing
//! above them. `cargo test --test layering -- --nocapture` prints the top-level graph.
//! Re-exports (`pub use`) are not counted: they name a module's interface, not a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`chaos::engine`, `runner`) of every source file, and its text without
/// comments, test modules and re-exports.
fn sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p: PathBuf = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") && p.file_name().is_some_and(|n| n != "tests.rs") {
                let rel = p.strip_prefix(&root).unwrap().with_extension("");
                let mut segs: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
                if segs.last().is_some_and(|s| s == "mod" || s == "lib" || s == "main") {
                    segs.pop();
                }
                out.insert(segs.join("::"), strip(&std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out
}

fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") && lines.peek().is_some_and(|n| n.trim_start().starts_with("mod ")) {
            // Skip the test module: up to the line that closes it at the same indent.
            let indent = line.len() - t.len();
            let close = format!("{}}}", " ".repeat(indent));
            for l in lines.by_ref() {
                if l == close {
                    break;
                }
            }
            continue;
        }
        if t.starts_with("//") || t.starts_with("pub use ") || t.starts_with("pub(crate) use ") {
            continue;
        }
        out.push_str(line.split("//").next().unwrap_or(""));
        out.push('\n');
    }
    out
}

/// The file a path names from `from`: the longest prefix of it that is a source file.
fn resolve(path: &[String], files: &BTreeMap<String, String>) -> Option<String> {
    (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|p| files.contains_key(p))
}

fn edges(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in files {
        let here: Vec<String> = if module.is_empty() { vec![] } else { module.split("::").map(String::from).collect() };
        let is_dir_mod = files.keys().any(|k| k.starts_with(&format!("{module}::")));
        let parent: Vec<String> = if is_dir_mod { here.clone() } else { here[..here.len().saturating_sub(1)].to_vec() };
        let mut targets = BTreeSet::new();
        let words: Vec<&str> = text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).collect();
        for w in words {
            let segs: Vec<String> = w.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
            let path = match segs.first().map(String::as_str) {
                Some("crate") => segs[1..].to_vec(),
                Some("super") => parent.iter().cloned().chain(segs[1..].iter().cloned()).collect(),
                _ => continue,
            };
            if let Some(t) = resolve(&path, files) {
                targets.insert(t);
            }
        }
        // `use crate::{a::b, c}` groups.
        for group in text.split("use crate::{").skip(1) {
            let body = group.split("};").next().unwrap_or("");
            for item in body.split(',') {
                let segs: Vec<String> =
                    item.trim().trim_start_matches('{').split("::").map(|s| s.trim().to_string()).collect();
                if let Some(t) = resolve(&segs, files) {
                    targets.insert(t);
                }
            }
        }
        targets.remove(module);
        targets.remove("");
        out.insert(module.clone(), targets);
    }
    out
}

fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // A node is on a cycle when it can reach itself; report each strongly connected group once.
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = graph.get(from).into_iter().flatten().collect();
        while let Some(n) = stack.pop() {
            if seen.insert(n.clone()) {
                stack.extend(graph.get(n).into_iter().flatten());
            }
        }
        seen
    };
    let mut out: Vec<Vec<String>> = Vec::new();
    for n in graph.keys() {
        let r = reach(n);
        if r.contains(n) {
            let group: Vec<String> = graph.keys().filter(|m| r.contains(*m) && reach(m).contains(n)).cloned().collect();
            if !out.contains(&group) {
                out.push(group);
            }
        }
    }
    out
}

fn top(m: &str) -> String {
    m.split("::").next().unwrap_or("").to_string()
}

#[test]
fn modules_depend_one_way() {
    let files = sources();
    let file_graph = edges(&files);
    let mut top_graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in &file_graph {
        let entry = top_graph.entry(top(from)).or_default();
        entry.extend(tos.iter().map(|t| top(t)).filter(|t| *t != top(from)));
    }
    top_graph.remove("");
    for (m, deps) in &top_graph {
        println!("{m:>10} -> {}", deps.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    assert_eq!(cycles(&top_graph), Vec::<Vec<String>>::new(), "top-level modules in a cycle");
    assert_eq!(cycles(&file_graph), Vec::<Vec<String>>::new(), "files in a cycle");
    let leaves = [("vocab", &[][..]), ("stop", &[][..]), ("error", &[][..])];
    for (leaf, allowed) in leaves {
        let extra: Vec<&String> = top_graph[leaf].iter().filter(|d| !allowed.contains(&d.as_str())).collect();
        assert!(extra.is_empty(), "{leaf} must import nothing above it, imports {extra:?}");
    }
    // The command line's exit codes stay in the command line: nothing below it names them.
    let above_cli: Vec<&String> = top_graph.iter().filter(|(_, d)| d.contains("cli")).map(|(m, _)| m).collect();
    assert!(above_cli.is_empty(), "modules below the CLI import it: {above_cli:?}");
    let outcome_users: Vec<&String> =
        files.iter().filter(|(m, text)| top(m) != "cli" && text.contains("crate::Outcome")).map(|(m, _)| m).collect();
    assert!(outcome_users.is_empty(), "modules below the CLI use its Outcome: {outcome_users:?}");
    let below_plan = ["vocab", "error", "cluster", "scenario"];
    let extra: Vec<&String> = top_graph["scenario"].iter().filter(|d| !below_plan.contains(&d.as_str())).collect();
    assert!(extra.is_empty(), "scenario imports {extra:?}");
}
