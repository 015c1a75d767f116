//! Checks the module stack of the crate on its own sources, so that an arrow up fails a test:
//!
//! ```text
//! main.rs → lib.rs (dispatch) → cmd/<command>.rs → cli.rs, context.rs → domain modules → common
//! ```
//!
//! No command refers to another command or to `lib.rs`; `cli.rs` and `context.rs` refer to neither a
//! command nor each other; a domain module refers to no command, `cli`, `context` or `lib.rs` item; the
//! domain modules have no circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layer of a top-level module: lower numbers may refer to higher ones only.
fn layer(module: &str) -> u8 {
    match module {
        "lib" => 0,
        "cmd" => 1,
        "cli" | "context" => 2,
        _ => 3,
    }
}

/// Every `.rs` file under `dir`, with its path relative to `src`.
fn sources(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if path.is_dir() {
            sources(&path, &rel, out);
        } else if rel.ends_with(".rs") {
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The top-level module a source file belongs to (`cmd/get.rs` → `cmd`, `registry/auth.rs` →
/// `registry`, `lib.rs` → `lib`).
fn owner(rel: &str) -> String {
    rel.split(['/', '.']).next().unwrap().to_string()
}

/// The `crate::<module>` paths of a file (its imports and inline paths), comments aside; `crate::cmd::x`
/// counts as `cmd/x` so that commands referring to each other are seen.
fn refers_to(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let mut parts = line[i + 7..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap()
                .split("::");
            let module = parts.next().unwrap_or_default().to_string();
            match (module.as_str(), parts.next()) {
                ("cmd", Some(command)) => found.insert(format!("cmd/{command}")),
                _ => found.insert(module),
            };
        }
    }
    found
}

#[test]
fn no_arrow_up_and_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, "", &mut files);
    let modules: BTreeSet<String> = files.iter().map(|(rel, _)| owner(rel)).collect();
    let mut wrong = Vec::new();
    let mut domain: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // This file names arrows up in its own test.
    for (rel, text) in files.iter().filter(|(rel, _)| rel != "layering.rs") {
        let from = owner(rel);
        for to in refers_to(text) {
            let top = to.split('/').next().unwrap().to_string();
            // `crate::<fn>` of lib.rs (e.g. `crate::run`) is an arrow to lib.
            let top = if modules.contains(&top) {
                top
            } else {
                "lib".to_string()
            };
            let command = rel
                .strip_prefix("cmd/")
                .map(|c| format!("cmd/{}", owner(c)));
            let up = if from == top {
                // A command referring to another command.
                to.starts_with("cmd/") && Some(&to) != command.as_ref()
            } else {
                // Domain modules may refer to each other (circles are checked below).
                layer(&top) < layer(&from) || (layer(&top) == layer(&from) && layer(&from) < 3)
            };
            if up {
                wrong.push(format!("{rel} refers to crate::{to}"));
            }
            if layer(&from) == 3 && layer(&top) == 3 && from != top {
                domain.entry(from.clone()).or_default().insert(top);
            }
        }
    }
    assert!(wrong.is_empty(), "arrows up:\n{}", wrong.join("\n"));
    // Circles among domain modules: depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(at) = path.iter().position(|p| *p == m) {
            panic!("import circle: {} → {m}", path[at..].join(" → "));
        }
        if !done.insert(m) {
            return;
        }
        path.push(m);
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for m in domain.keys() {
        visit(m, &domain, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_check_sees_arrows_up() {
    let refs = refers_to(
        "use crate::cmd::get::load_project;\n// crate::run\nlet t = crate::timeout_from_env(x);",
    );
    assert_eq!(
        refs,
        BTreeSet::from(["cmd/get".to_string(), "timeout_from_env".to_string()])
    );
}
