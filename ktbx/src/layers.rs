//! Test-only check of the one-way module stack: `lib` → `cmd::*` → `cli`, `context` → domain
//! modules. It reads the sources and fails on any `crate::` path that points up or sideways (one
//! command naming another, the domain naming the CLI) and on any circle among domain modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the top-level modules (or `cmd::<command>`) its source names through `crate::`.
type Imports = BTreeMap<String, BTreeSet<String>>;

/// The layer of a module: 0 domain, 1 the CLI definition and the context, 2 the commands, 3 the
/// dispatcher.
fn layer(module: &str) -> u8 {
    match module {
        "lib" => 3,
        m if m == "cmd" || m.starts_with("cmd::") => 2,
        "cli" | "context" => 1,
        _ => 0,
    }
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The `crate::` paths of every source file of the library (a file under `src/<dir>/` other than
/// `cmd` counts as part of module `<dir>`).
fn read_imports() -> Imports {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let dir = path.file_name().unwrap().to_str().unwrap().to_string();
            for sub in std::fs::read_dir(&path).unwrap() {
                let sub = sub.unwrap().path();
                let stem = sub.file_stem().unwrap().to_str().unwrap().to_string();
                let module = match dir.as_str() {
                    "cmd" if stem != "mod" => format!("cmd::{stem}"),
                    _ => dir.clone(),
                };
                files.push((module, sub));
            }
        } else {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            files.push((stem, path));
        }
    }
    let mut imports = Imports::new();
    for (module, path) in files {
        if path.extension().is_none_or(|e| e != "rs") || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let named = text.match_indices("crate::").map(|(i, _)| {
            let rest = &text[i + "crate::".len()..];
            match ident(rest).as_str() {
                "cmd" => match rest["cmd".len()..].strip_prefix("::") {
                    Some(tail) if !tail.starts_with('{') => format!("cmd::{}", ident(tail)),
                    _ => "cmd".to_string(),
                },
                name => name.to_string(),
            }
        });
        imports.entry(module).or_default().extend(named);
    }
    imports
}

/// Every arrow that breaks the stack, and every circle among domain modules.
fn violations(imports: &Imports) -> Vec<String> {
    let mut found = Vec::new();
    for (from, named) in imports {
        for to in named.iter().filter(|to| *to != from) {
            let (lf, lt) = (layer(from), layer(to));
            let sideways_ok = lf == 0 && lt == 0;
            if lt > lf || (lt == lf && !sideways_ok) {
                found.push(format!("{from} imports {to}"));
            }
        }
    }
    // Circles among domain modules: depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        imports: &'a Imports,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        found: &mut Vec<String>,
    ) {
        if let Some(start) = path.iter().position(|p| *p == m) {
            found.push(format!("circle: {} -> {m}", path[start..].join(" -> ")));
            return;
        }
        if !done.insert(m) {
            return;
        }
        path.push(m);
        for to in imports.get(m).into_iter().flatten() {
            if to != m && layer(to) == 0 {
                visit(to, imports, path, done, found);
            }
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for m in imports.keys().filter(|m| layer(m) == 0) {
        visit(m, imports, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn every_import_points_down_the_stack() {
    let imports = read_imports();
    for module in ["lib", "cmd", "cmd::create", "addons", "config"] {
        assert!(imports.contains_key(module), "{module} not read");
    }
    assert_eq!(violations(&imports), Vec::<String>::new());
}

#[test]
fn the_check_finds_arrows_up_sideways_and_circles() {
    let imports: Imports = [
        ("lib", vec!["cmd", "cli"]),
        ("cmd::create", vec!["cmd::install", "cli", "config"]),
        ("cmd::install", vec!["lib"]),
        ("cli", vec!["context", "tools"]),
        ("config", vec!["cli", "tools"]),
        ("tools", vec!["config"]),
    ]
    .into_iter()
    .map(|(m, v)| (m.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        violations(&imports),
        [
            "cli imports context",
            "cmd::create imports cmd::install",
            "cmd::install imports lib",
            "config imports cli",
            "circle: config -> tools -> config",
        ]
    );
}
