//! A YAML document read into a small tree that keeps each node's file and position, so that
//! every decoding error (syntax, type or value) can name `file:line:column`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_saphyr::granit_parser::{Event, Options, Parser, ScalarStyle, ScanError, Span};

use super::ConfigError;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl From<&Span> for Position {
    fn from(span: &Span) -> Self {
        Self {
            line: span.start.line() as u64,
            column: span.start.col() as u64 + 1,
        }
    }
}

/// One YAML node: a scalar, a sequence or a mapping, with where it was read.
#[derive(Debug, Clone)]
pub struct Node {
    pub(crate) value: Value,
    pub(crate) at: Position,
    pub(crate) origin: Arc<Path>,
}

/// The content of a node.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A scalar's text; `plain` when it was neither quoted nor a block scalar (only plain
    /// scalars are read as null, booleans or numbers).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key as written, and where.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) text: String,
    pub(crate) at: Position,
}

impl Node {
    /// An empty document (null), read from `origin`.
    pub fn null(origin: &Path) -> Self {
        Self {
            value: Value::Scalar {
                text: String::new(),
                plain: true,
            },
            at: Position { line: 1, column: 1 },
            origin: Arc::from(origin),
        }
    }

    /// The number of nodes in this subtree (mapping keys not counted).
    fn count(&self) -> usize {
        1 + match &self.value {
            Value::Scalar { .. } => 0,
            Value::Seq(items) => items.iter().map(Node::count).sum(),
            Value::Map(entries) => entries.iter().map(|(_, v)| v.count()).sum(),
        }
    }

    /// Whether the node is YAML null (`~`, `null`, or nothing at all).
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null(text))
    }

    /// The file the node was read from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// Merges `overlay` into this node (viper's `MergeInConfig`): mappings merge key by key,
    /// keys compared without case; any other overlay node replaces this one. A null overlay
    /// leaves a mapping as it is.
    pub fn merge(&mut self, overlay: Node) {
        match (&mut self.value, overlay.value) {
            (Value::Map(base), Value::Map(entries)) => {
                for (key, value) in entries {
                    match base
                        .iter_mut()
                        .find(|(k, _)| k.text.eq_ignore_ascii_case(&key.text))
                    {
                        Some((_, existing))
                            if matches!(existing.value, Value::Map(_))
                                && (matches!(value.value, Value::Map(_)) || value.is_null()) =>
                        {
                            existing.merge(value)
                        }
                        // The value read last names its key in messages.
                        Some(entry) => *entry = (key, value),
                        None => base.push((key, value)),
                    }
                }
            }
            (Value::Map(_), Value::Scalar { text, plain: true }) if is_null(&text) => {}
            (_, value) => {
                *self = Node {
                    value,
                    at: overlay.at,
                    origin: overlay.origin,
                }
            }
        }
    }
}

/// YAML 1.2 core-schema null.
pub(crate) fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Parses `text` (read from `origin`) into a tree. Syntax errors, duplicate keys, non-scalar
/// keys and several documents are errors at their position.
pub(super) fn parse(text: &str, origin: &Path) -> Result<Node, ConfigError> {
    let origin: Arc<Path> = Arc::from(origin);
    let error = |at: Position, message: String| ConfigError::Parse {
        path: origin.to_path_buf(),
        line: at.line,
        column: at.column,
        message,
    };
    let mut builder = Builder::default();
    let mut options = Options::default();
    options.set_emit_comments(false);
    for event in Parser::new_from_str_with_options(text, options) {
        let (event, span) = event.map_err(|e: ScanError| {
            let at = Position {
                line: e.marker().line() as u64,
                column: e.marker().col() as u64 + 1,
            };
            error(at, e.info())
        })?;
        let at = Position::from(&span);
        let node = |value| Node {
            value,
            at,
            origin: origin.clone(),
        };
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain
                    && tag.is_none_or(|t| !t.to_string().ends_with(":str"));
                let value = Value::Scalar {
                    text: text.into_owned(),
                    plain,
                };
                builder
                    .complete(node(value), anchor)
                    .map_err(|(at, m)| error(at, m))?;
            }
            Event::SequenceStart(_, anchor, _) => builder.stack.push(Frame {
                node: node(Value::Seq(Vec::new())),
                anchor,
                key: None,
            }),
            Event::MappingStart(_, anchor, _) => builder.stack.push(Frame {
                node: node(Value::Map(Vec::new())),
                anchor,
                key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = builder.stack.pop() else {
                    return Err(error(at, "an end without its start".to_string()));
                };
                builder
                    .complete(frame.node, frame.anchor)
                    .map_err(|(at, m)| error(at, m))?;
            }
            Event::Alias(id) => {
                let target = builder.anchors.get(&id).cloned().ok_or_else(|| {
                    error(at, "alias to an anchor that is not defined".to_string())
                })?;
                builder.expanded += target.count();
                if builder.expanded > MAX_EXPANDED_NODES {
                    return Err(error(
                        at,
                        format!(
                            "aliases expand to more than {MAX_EXPANDED_NODES} nodes: write the values out"
                        ),
                    ));
                }
                builder
                    .complete(target, 0)
                    .map_err(|(at, m)| error(at, m))?;
            }
            _ => {}
        }
    }
    Ok(builder.root.unwrap_or_else(|| Node::null(&origin)))
}

struct Frame {
    node: Node,
    anchor: usize,
    /// In a mapping: the key read, waiting for its value.
    key: Option<Key>,
}

/// How many nodes aliases may copy in one file (a few nested aliases could otherwise expand to
/// billions).
const MAX_EXPANDED_NODES: usize = 100_000;

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    /// Nodes copied by aliases so far.
    expanded: usize,
}

impl Builder {
    /// Places a completed node in its parent (or as the document).
    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), (Position, String)> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let path = self.path();
        let Some(frame) = self.stack.last_mut() else {
            if self.root.is_some() {
                return Err((
                    node.at,
                    "the file holds more than one YAML document".to_string(),
                ));
            }
            self.root = Some(node);
            return Ok(());
        };
        match (&mut frame.node.value, frame.key.take()) {
            (Value::Seq(items), _) => items.push(node),
            (Value::Map(entries), Some(key)) => entries.push((key, node)),
            (Value::Map(entries), None) => {
                let Value::Scalar { text, .. } = node.value else {
                    return Err((node.at, with_path(&path, "mapping keys must be scalars")));
                };
                if entries.iter().any(|(k, _)| k.text == text) {
                    return Err((
                        node.at,
                        with_path(&path, &format!("duplicate mapping key `{text}`")),
                    ));
                }
                frame.key = Some(Key { text, at: node.at });
            }
            (Value::Scalar { .. }, _) => unreachable!("scalars are never on the stack"),
        }
        Ok(())
    }

    /// The dotted path of the innermost open collection.
    fn path(&self) -> String {
        let open = self.stack.len().saturating_sub(1);
        let mut path = String::new();
        for frame in &self.stack[..open] {
            match (&frame.node.value, &frame.key) {
                (Value::Seq(items), _) => path.push_str(&format!("[{}]", items.len())),
                (Value::Map(_), Some(key)) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&key.text);
                }
                _ => {}
            }
        }
        path
    }
}

fn with_path(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}
