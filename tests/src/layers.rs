//! The one check of a tool crate's module stack, run by each tool on its own `src/`:
//!
//! ```text
//! main.rs → lib.rs (dispatch) → cmd/<command>.rs → cli.rs, context.rs → domain modules → common
//! ```
//!
//! It reads the sources (line comments aside) and reports every `crate::` path that points up or
//! sideways — a command naming another command or `lib.rs`, `cli` naming `context`, a domain module
//! naming a command, `cli`, `context` or an item of `lib.rs` — and every circle among the domain
//! modules. A file under `src/<dir>/` belongs to module `<dir>`, except under `src/cmd/`, where
//! `cmd/<command>.rs` and `cmd/<command>/…` are module `cmd::<command>`. `main.rs` is the binary's
//! own crate root and is not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the modules (or `cmd::<command>`) its sources name through `crate::`.
type Imports = BTreeMap<String, BTreeSet<String>>;

/// Panics with every break of the one-way stack of the crate at `manifest_dir` (its
/// `CARGO_MANIFEST_DIR`): the one test each tool crate runs on its own `src/`.
pub fn assert_one_way(manifest_dir: &str) {
    if let Err(wrong) = check(&Path::new(manifest_dir).join("src")) {
        panic!("the module stack is broken:\n{}", wrong.join("\n"));
    }
}

/// Checks the crate whose sources are in `src`: `Err` lists each arrow up or sideways
/// (`"<module> imports <module>"`), each circle among domain modules (`"circle: a -> b -> a"`) and
/// each unreadable file.
pub fn check(src: &Path) -> Result<(), Vec<String>> {
    let mut files = Vec::new();
    let mut wrong = Vec::new();
    sources(src, "", &mut files, &mut wrong);
    let modules: BTreeSet<String> = files.iter().map(|(module, _)| top(module)).collect();
    let mut imports = Imports::new();
    for (module, text) in &files {
        let named = imports.entry(module.clone()).or_default();
        for to in crate_paths(text) {
            // `crate::<item>` of lib.rs (e.g. `crate::run`) is an arrow to `lib`.
            let to = if modules.contains(&top(&to)) {
                to
            } else {
                "lib".to_string()
            };
            named.insert(to);
        }
    }
    wrong.extend(violations(&imports));
    if wrong.is_empty() { Ok(()) } else { Err(wrong) }
}

/// The layer of a module: 0 domain, 1 the CLI definition and the context, 2 the commands, 3 the
/// dispatcher. An arrow may only point to a lower layer, or between two domain modules.
fn layer(module: &str) -> u8 {
    match top(module).as_str() {
        "lib" => 3,
        "cmd" => 2,
        "cli" | "context" => 1,
        _ => 0,
    }
}

/// The top-level module of `cmd::get` (`cmd`) or `registry` (`registry`).
fn top(module: &str) -> String {
    module.split("::").next().unwrap_or_default().to_string()
}

/// Every `.rs` file under `dir` (`rel` from `src`) with the module it belongs to; `main.rs` aside.
fn sources(dir: &Path, rel: &str, out: &mut Vec<(String, String)>, wrong: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return wrong.push(format!("cannot read {}: {err}", dir.display())),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if path.is_dir() {
            sources(&path, &rel, out, wrong);
        } else if rel.ends_with(".rs") && rel != "main.rs" {
            match std::fs::read_to_string(&path) {
                Ok(text) => out.push((module_of(&rel), text)),
                Err(err) => wrong.push(format!("cannot read {}: {err}", path.display())),
            }
        }
    }
}

/// The module a source file belongs to: `lib.rs` → `lib`, `registry/auth.rs` → `registry`,
/// `cmd/get.rs` and `cmd/get/flags.rs` → `cmd::get`, `cmd/mod.rs` → `cmd`.
fn module_of(rel: &str) -> String {
    let mut parts = rel.split('/').map(|p| p.strip_suffix(".rs").unwrap_or(p));
    let first = parts.next().unwrap_or_default();
    match (first, parts.next()) {
        ("cmd", Some(command)) if command != "mod" => format!("cmd::{command}"),
        _ => first.to_string(),
    }
}

/// The modules named by the `crate::` paths of `text` (`use crate::{cli, cmd::get}` names `cli` and
/// `cmd::get`), line comments aside.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        tree_paths(&code[i + "crate::".len()..], &mut found);
    }
    found
}

/// The modules named by a use tree starting at `rest`: `a::…`, or `{a, b::c, …}`.
fn tree_paths(rest: &str, found: &mut BTreeSet<String>) {
    match rest.strip_prefix('{') {
        Some(group) => group_items(group)
            .into_iter()
            .for_each(|item| tree_paths(item.trim_start(), found)),
        None => {
            let name = ident(rest);
            if name.is_empty() || name == "self" {
                return;
            }
            if name == "cmd" {
                match rest["cmd".len()..].strip_prefix("::") {
                    Some(tail) if tail.starts_with('{') => {
                        for item in group_items(&tail[1..]) {
                            match ident(item.trim_start()) {
                                command if command.is_empty() || command == "self" => {
                                    found.insert("cmd".to_string())
                                }
                                command => found.insert(format!("cmd::{command}")),
                            };
                        }
                    }
                    Some(tail) if !ident(tail).is_empty() => {
                        found.insert(format!("cmd::{}", ident(tail)));
                    }
                    _ => {
                        found.insert("cmd".to_string());
                    }
                }
            } else {
                found.insert(name);
            }
        }
    }
}

/// The comma-separated items of a `{…}` group whose opening brace was just consumed.
fn group_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Every arrow that breaks the stack, and every circle among domain modules.
fn violations(imports: &Imports) -> Vec<String> {
    let mut found = Vec::new();
    for (from, named) in imports {
        for to in named.iter().filter(|to| *to != from) {
            let (lf, lt) = (layer(from), layer(to));
            if lt > lf || (lt == lf && lf != 0) {
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

#[cfg(test)]
mod tests {
    use super::check;

    /// A source tree of `(path, text)` files in a temporary directory.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    /// The one-way stack of a well-shaped tool.
    const GOOD: &[(&str, &str)] = &[
        ("main.rs", "fn main() { tool::run(); }"),
        (
            "lib.rs",
            "mod cli;\nmod cmd;\nuse crate::cmd::{get, set};\npub fn run() { crate::cli::parse(); }",
        ),
        ("cmd/mod.rs", "pub(crate) mod get;\npub(crate) mod set;"),
        (
            "cmd/get.rs",
            "use crate::{\n    cli::GetArgs,\n    context::Context,\n    store::{self, Store},\n};",
        ),
        ("cmd/set/mod.rs", "mod flags;\nuse crate::cmd::set::flags;"),
        ("cmd/set/flags.rs", "use crate::store::Key;"),
        ("cli.rs", "use crate::store::Key;"),
        ("context.rs", "use crate::store::Store;"),
        (
            "store/mod.rs",
            "// crate::cmd::get is documented, not imported\nuse crate::net::Url;",
        ),
        ("store/key.rs", "use crate::net;"),
        ("net.rs", "pub struct Url;"),
    ];

    #[test]
    fn a_one_way_stack_passes() {
        let dir = tree(GOOD);
        assert_eq!(check(dir.path()), Ok(()));
    }

    #[test]
    fn arrows_up_commands_importing_commands_and_circles_are_found() {
        let mut files = GOOD.to_vec();
        files.extend([
            // A command importing another command (in a group), and lib.rs's `run`.
            (
                "cmd/get.rs",
                "use crate::{cmd::set::flags, cli::GetArgs};\nfn f() { crate::run() }",
            ),
            // The CLI definition naming the context.
            ("cli.rs", "use crate::context::Context;"),
            // A domain module naming a command, and a circle of two domain modules.
            ("net.rs", "use crate::cmd::get;\nuse crate::store::Store;"),
        ]);
        let dir = tree(&files);
        assert_eq!(
            check(dir.path()),
            Err(vec![
                "cli imports context".to_string(),
                "cmd::get imports cmd::set".to_string(),
                "cmd::get imports lib".to_string(),
                "net imports cmd::get".to_string(),
                "circle: net -> store -> net".to_string(),
            ])
        );
    }

    #[test]
    fn a_missing_source_directory_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let wrong = check(&dir.path().join("src")).unwrap_err();
        assert!(wrong[0].starts_with("cannot read "), "{wrong:?}");
    }
}
