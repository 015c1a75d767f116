//! A reader of exactly the text [`Lock::render`] writes, line by line, without a YAML parser.
//!
//! `ignite --frozen` reads the lock at every run, and a general YAML parser costs about as much as
//! the rest of the replay. This reader takes the lines in the order `render` writes them, each value
//! a JSON string (valid YAML double-quoted scalars, as `render` quotes them), `build` a boolean and
//! `reason` one line of JSON. Any other text (a comment, another key order, a hand-edited value)
//! gives `None`, and the YAML parser reads the file as before: its answers and its error messages
//! are the ones a user sees. The tests check that both parsers agree on rendered locks.

use std::iter::Peekable;
use std::str::Lines;

use serde::de::DeserializeOwned;

use super::{HEADER, Lock, LockedDep, LockedImage, LockedProject};

/// The lock `text` holds when it is in `render`'s form; `None` otherwise.
pub(super) fn read(text: &str) -> Option<Lock> {
    let mut lines = Reader {
        lines: text.lines().peekable(),
    };
    lines.exact(HEADER)?;
    let lock_version = number(lines.value("lockVersion: ")?)?;
    let selector = json(lines.value("selector: ")?)?;
    lines.exact("project:")?;
    let branch = lines.string("  branch: ")?;
    let commit = lines.string("  commit: ")?;
    let tree = lines.optional_string("  tree: ")?;
    let project = LockedProject {
        branch,
        commit,
        tree,
        version: lines.string("  version: ")?,
        image: lines.string("  image: ")?,
        tag: lines.string("  tag: ")?,
        build: match lines.value("  build: ")? {
            "true" => true,
            "false" => false,
            _ => return None,
        },
        reason: json(lines.value("  reason: ")?)?,
    };
    let dependencies = lines.list("dependencies", |lines| {
        let url = lines.string("  - url: ")?;
        Some(LockedDep {
            url,
            workbranch: lines.string("    workbranch: ")?,
            commit: lines.optional_string("    commit: ")?,
            tree: lines.optional_string("    tree: ")?,
            version: lines.optional_string("    version: ")?,
        })
    })?;
    let images = lines.list("images", |lines| {
        let image = lines.string("  - image: ")?;
        Some(LockedImage {
            image,
            digest: lines.optional_string("    digest: ")?,
        })
    })?;
    lines.lines.next().is_none().then_some(Lock {
        lock_version,
        selector,
        project,
        dependencies,
        images,
    })
}

/// The lines still to read.
struct Reader<'a> {
    lines: Peekable<Lines<'a>>,
}

impl<'a> Reader<'a> {
    /// Takes the next line if it is `line`.
    fn exact(&mut self, line: &str) -> Option<()> {
        self.lines.next_if_eq(&line).map(drop)
    }

    /// The rest of the next line, which must start with `prefix`.
    fn value(&mut self, prefix: &str) -> Option<&'a str> {
        self.lines.next()?.strip_prefix(prefix)
    }

    /// The JSON string of the next line, which must start with `prefix`.
    fn string(&mut self, prefix: &str) -> Option<String> {
        json(self.value(prefix)?)
    }

    /// `Some(None)` when the next line does not start with `prefix`; then it is not taken.
    fn optional_string(&mut self, prefix: &str) -> Option<Option<String>> {
        match self.lines.next_if(|line| line.starts_with(prefix)) {
            Some(line) => json(&line[prefix.len()..]).map(Some),
            None => Some(None),
        }
    }

    /// `<key>: []`, or `<key>:` followed by the items `item` reads (each starts with `  - `).
    fn list<T>(
        &mut self,
        key: &str,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        let rest = self.value(key)?;
        let mut items = Vec::new();
        match rest {
            ": []" => {}
            ":" => {
                while self.lines.peek().is_some_and(|l| l.starts_with("  - ")) {
                    items.push(item(self)?);
                }
                if items.is_empty() {
                    return None;
                }
            }
            _ => return None,
        }
        Some(items)
    }
}

/// A decimal number as `render` writes it (no sign, no leading zero).
fn number(text: &str) -> Option<u32> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// One JSON value, the whole of `text`.
fn json<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;
    use crate::image_decision::BuildReason;

    fn yaml(text: &str) -> Option<Lock> {
        serde_saphyr::from_str(text).ok()
    }

    fn reasons() -> impl Strategy<Value = BuildReason> {
        let s = || any::<String>();
        prop_oneof![
            (s(), s())
                .prop_map(|(reference, commit)| BuildReason::ImageFound { reference, commit }),
            (s(), proptest::collection::vec(s(), 0..3))
                .prop_map(|(commit, paths)| BuildReason::SourceChange { commit, paths }),
            (s(), any::<u16>())
                .prop_map(|(reference, status)| BuildReason::ImageMissing { reference, status }),
            (any::<Option<u16>>(), any::<u32>())
                .prop_map(|(status, attempts)| BuildReason::RegistryError { status, attempts }),
            (s(), any::<Option<String>>(), s()).prop_map(|(reference, old, new)| {
                BuildReason::BaseImageChanged {
                    reference,
                    old,
                    new,
                }
            }),
            Just(BuildReason::Forced),
        ]
    }

    prop_compose! {
        fn locks()(
            strings in proptest::collection::vec(any::<String>(), 7),
            tree in any::<Option<String>>(),
            build in any::<bool>(),
            reason in reasons(),
            deps in proptest::collection::vec(
                (any::<String>(), any::<String>(), any::<[Option<String>; 3]>()), 0..3),
            images in proptest::collection::vec((any::<String>(), any::<Option<String>>()), 0..3),
        ) -> Lock {
            let mut deps: Vec<LockedDep> = deps
                .into_iter()
                .map(|(url, workbranch, [commit, tree, version])| LockedDep {
                    url, workbranch, commit, tree, version,
                })
                .collect();
            deps.sort_by(|a, b| a.url.cmp(&b.url));
            let mut images: Vec<LockedImage> = images
                .into_iter()
                .map(|(image, digest)| LockedImage { image, digest })
                .collect();
            images.sort_by(|a, b| a.image.cmp(&b.image));
            let [selector, branch, commit, version, image, tag, _] = strings.try_into().unwrap();
            Lock {
                lock_version: 1,
                selector,
                project: LockedProject { branch, commit, tree, version, image, tag, build, reason },
                dependencies: deps,
                images,
            }
        }
    }

    proptest! {
        /// What `render` writes reads back by this reader, and the YAML parser, whenever it reads
        /// the text, reads the same lock.
        #[test]
        fn rendered_locks_read_back_as_the_yaml_parser_reads_them(lock in locks()) {
            let text = lock.render();
            prop_assert_eq!(read(&text), Some(lock.clone()));
            if let Some(parsed) = yaml(&text) {
                prop_assert_eq!(parsed, lock);
            }
        }

        /// On a rendered lock with one line changed, this reader gives the YAML parser's answer or
        /// leaves the text to it.
        #[test]
        fn an_edited_lock_is_read_as_yaml_reads_it_or_left_to_it(
            lock in locks(),
            line in any::<prop::sample::Index>(),
            edit in "[ #:\"\\[\\]a-z0-9-]{0,12}",
            insert in any::<bool>(),
        ) {
            let mut lines: Vec<String> = lock.render().lines().map(String::from).collect();
            let at = line.index(lines.len());
            if insert {
                lines.insert(at, edit);
            } else {
                lines[at].push_str(&edit);
            }
            let text = lines.join("\n");
            if let Some(fast) = read(&text) {
                prop_assert_eq!(Some(fast), yaml(&text));
            }
        }
    }

    #[test]
    fn a_rendered_lock_is_read_without_the_yaml_parser() {
        let text = super::super::tests::sample().render();
        assert!(read(&text).is_some());
        assert_eq!(read(&text), yaml(&text));
    }

    #[test]
    fn hand_edited_locks_are_left_to_the_yaml_parser() {
        let text = super::super::tests::sample().render();
        for edited in [
            text.replace("lockVersion: 1", "lockVersion: 01"),
            text.replace("  build: false", "  build: no"),
            text.replace("selector: \"itest\"", "selector: itest"),
            text.replace("selector: \"itest\"", "selector: \"itest\" # ci"),
            text.replace("project:\n", "project:\n  # by hand\n"),
            text.replacen("  branch: \"main\"\n", "", 1),
            format!("{text}extra: 1\n"),
        ] {
            assert_eq!(read(&edited), None, "{edited}");
        }
        // The YAML parser still reads the ones that are valid locks.
        let by_hand = text.replace("selector: \"itest\"", "selector: itest # ci");
        assert_eq!(
            Some(Lock::parse(&by_hand, Path::new(".ciux.lock")).unwrap()),
            read(&text)
        );
    }
}
