//! A serde `Deserializer` over a [`Node`] tree: struct fields matched without case (viper
//! lower-cases every key), Go-style loose scalars when asked, ignored keys recorded with their
//! dotted path, and every error carrying the position of the node it is about.

use std::cell::RefCell;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};

use super::tree::{Node, Position, Value, is_null};

/// How scalars are read into booleans, numbers and lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalars {
    /// YAML's own types: a boolean is `true`/`false` unquoted, a number is unquoted.
    Strict,
    /// Also mapstructure's `WeaklyTypedInput`: quoted numbers, Go's `strconv.ParseBool` words
    /// (`1 t T TRUE true True 0 f F FALSE false False`), and a single value for a list.
    Loose,
}

/// Shared state of one decoding.
pub(crate) struct Context {
    pub(crate) scalars: Scalars,
    pub(crate) unknown: RefCell<Vec<String>>,
}

/// A decoding error; the position and key path of the innermost node are filled in on the way out.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) message: String,
    pub(crate) at: Option<Where>,
}

/// A node's file, position and dotted key path.
pub(crate) type Where = (Arc<Path>, Position, String);

impl Error {
    /// Gives the error a position and path unless it has one.
    fn or_at(mut self, at: Where) -> Self {
        self.at.get_or_insert(at);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            message: msg.to_string(),
            at: None,
        }
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A `bool` field read the Go way (`strconv.ParseBool`; empty or null is false) even when the
/// rest of the file is decoded with [`Scalars::Strict`]: `#[serde(deserialize_with = "go_bool")]`.
pub fn go_bool<'de, D: de::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    if text.is_empty() {
        return Ok(false);
    }
    parse_go_bool(&text).ok_or_else(|| de::Error::custom(not_a_bool(&text)))
}

fn not_a_bool(text: &str) -> String {
    format!("{text:?} is not a boolean (use true or false)")
}

/// YAML 1.2 core-schema booleans.
fn yaml_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

enum Number {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
}

/// A YAML 1.2 core-schema integer or float (`12`, `-3`, `0x1f`, `0o17`, `1.5`, `1e3`).
fn number(text: &str) -> Option<Number> {
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if let Some(hex) = unsigned.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok().map(Number::Unsigned);
    }
    if let Some(oct) = unsigned.strip_prefix("0o") {
        return u64::from_str_radix(oct, 8).ok().map(Number::Unsigned);
    }
    if let Ok(u) = unsigned.parse::<u64>() {
        return Some(Number::Unsigned(u));
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Number::Signed(i));
    }
    let looks_numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && text.chars().any(|c| c.is_ascii_digit());
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            Some(Number::Float(f64::INFINITY))
        }
        "-.inf" | "-.Inf" | "-.INF" => Some(Number::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => Some(Number::Float(f64::NAN)),
        _ if looks_numeric => text.parse::<f64>().ok().map(Number::Float),
        _ => None,
    }
}

/// Deserializes one node; `path` is its dotted key path (`kind.workers`, `dependencies[1].url`).
pub(crate) struct NodeDe<'a> {
    pub(crate) node: &'a Node,
    pub(crate) path: String,
    pub(crate) cx: &'a Context,
}

impl NodeDe<'_> {
    /// Where this node is, for errors.
    fn here(&self) -> Where {
        (self.node.origin.clone(), self.node.at, self.path.clone())
    }

    /// Gives an error without a position this node's position and path.
    fn locate<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|e| e.or_at(self.here()))
    }

    fn unexpected(&self) -> Unexpected<'_> {
        match &self.node.value {
            Value::Scalar { .. } if self.node.is_null() => Unexpected::Unit,
            Value::Scalar { text, .. } => Unexpected::Str(text),
            Value::Seq(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
        }
    }

    fn invalid<T>(&self, expected: &dyn de::Expected) -> Result<T, Error> {
        Err(de::Error::invalid_type(self.unexpected(), expected))
    }

    /// The text of a scalar that may be read as a boolean or a number (plain, or any scalar
    /// when loose).
    fn typed_text(&self) -> Option<&str> {
        match &self.node.value {
            Value::Scalar { text, plain } if *plain || self.cx.scalars == Scalars::Loose => {
                Some(text)
            }
            _ => None,
        }
    }

    fn child<'b>(&'b self, node: &'b Node, segment: Segment<'_>) -> NodeDe<'b> {
        let path = match segment {
            Segment::Key(key) if self.path.is_empty() => key.to_string(),
            Segment::Key(key) => format!("{}.{key}", self.path),
            Segment::Index(i) => format!("{}[{i}]", self.path),
        };
        NodeDe {
            node,
            path,
            cx: self.cx,
        }
    }

    fn visit_number<'de, V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, Error> {
        match self.typed_text().and_then(number) {
            Some(Number::Unsigned(u)) => visitor.visit_u64(u),
            Some(Number::Signed(i)) => visitor.visit_i64(i),
            Some(Number::Float(f)) => visitor.visit_f64(f),
            None => self.invalid(&visitor),
        }
    }

    fn visit_seq<'de, V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(SeqAccess {
                parent: self,
                items: items.iter().enumerate(),
            }),
            _ if self.node.is_null() => visitor.visit_seq(SeqAccess {
                parent: self,
                items: [].iter().enumerate(),
            }),
            Value::Scalar { text, .. } if self.cx.scalars == Scalars::Loose => {
                let one = std::slice::from_ref(self.node);
                let items = if text.is_empty() { &[][..] } else { one };
                visitor.visit_seq(SeqAccess {
                    parent: self,
                    items: items.iter().enumerate(),
                })
            }
            _ => self.invalid(&visitor),
        }
    }

    fn visit_map<'de, V: Visitor<'de>>(
        &self,
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Map(entries) => visitor.visit_map(MapAccess {
                parent: self,
                entries: entries.iter(),
                fields,
                value: None,
            }),
            _ if self.node.is_null() => visitor.visit_map(MapAccess {
                parent: self,
                entries: [].iter(),
                fields,
                value: None,
            }),
            _ => self.invalid(&"a mapping"),
        }
    }
}

enum Segment<'k> {
    Key(&'k str),
    Index(usize),
}

macro_rules! numbers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let result = self.visit_number(visitor);
            self.locate(result)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.value {
            Value::Scalar { text, plain: true } => {
                if is_null(text) {
                    visitor.visit_unit()
                } else if let Some(b) = yaml_bool(text) {
                    visitor.visit_bool(b)
                } else {
                    match number(text) {
                        Some(Number::Unsigned(u)) => visitor.visit_u64(u),
                        Some(Number::Signed(i)) => visitor.visit_i64(i),
                        Some(Number::Float(f)) => visitor.visit_f64(f),
                        None => visitor.visit_str(text),
                    }
                }
            }
            Value::Scalar { text, .. } => visitor.visit_str(text),
            Value::Seq(_) => self.visit_seq(visitor),
            Value::Map(_) => self.visit_map(None, visitor),
        };
        self.locate(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let loose = self.cx.scalars == Scalars::Loose;
        let empty = matches!(&self.node.value, Value::Scalar { text, .. } if text.is_empty());
        let result = if self.node.is_null() || (loose && empty) {
            visitor.visit_bool(false)
        } else {
            let text = self.typed_text();
            let parsed = text.and_then(|t| {
                if loose {
                    parse_go_bool(t)
                } else {
                    yaml_bool(t)
                }
            });
            match (parsed, &self.node.value) {
                (Some(b), _) => visitor.visit_bool(b),
                (None, Value::Scalar { text, .. }) => Err(de::Error::custom(not_a_bool(text))),
                (None, _) => self.invalid(&visitor),
            }
        };
        self.locate(result)
    }

    numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.value {
            _ if self.node.is_null() => visitor.visit_str(""),
            Value::Scalar { text, .. } => visitor.visit_str(text),
            _ => self.invalid(&visitor),
        };
        self.locate(result)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            let result = visitor.visit_none();
            self.locate(result)
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = if self.node.is_null() {
            visitor.visit_unit()
        } else {
            self.invalid(&visitor)
        };
        self.locate(result)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.visit_seq(visitor);
        self.locate(result)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.visit_map(None, visitor);
        self.locate(result)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let result = self.visit_map(Some(fields), visitor);
        self.locate(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let result = match &self.node.value {
            Value::Scalar { text, .. } => {
                visitor.visit_enum(IntoDeserializer::<Error>::into_deserializer(text.as_str()))
            }
            _ => self.invalid(&visitor),
        };
        self.locate(result)
    }

    /// A key the target type does not know: recorded, then skipped.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.cx.unknown.borrow_mut().push(self.path.clone());
        visitor.visit_unit()
    }
}

struct SeqAccess<'a, 'n> {
    parent: &'a NodeDe<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'n, Node>>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some((i, node)) => {
                let child = self.parent.child(node, Segment::Index(i));
                let at = child.here();
                seed.deserialize(child).map(Some).map_err(|e| e.or_at(at))
            }
            None => Ok(None),
        }
    }
}

struct MapAccess<'a, 'n> {
    parent: &'a NodeDe<'a>,
    entries: std::slice::Iter<'n, (super::tree::Key, Node)>,
    /// The fields of the struct being decoded; keys matching one without case are read as it.
    fields: Option<&'static [&'static str]>,
    value: Option<(&'n super::tree::Key, &'n Node)>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, node)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, node));
        let name = self
            .fields
            .and_then(|fields| {
                fields
                    .iter()
                    .find(|f| f.eq_ignore_ascii_case(&key.text))
                    .copied()
            })
            .unwrap_or(&key.text);
        let key_node = Node {
            value: Value::Scalar {
                text: name.to_string(),
                plain: false,
            },
            at: key.at,
            origin: node.origin.clone(),
        };
        let de = self.parent.child(&key_node, Segment::Key(&key.text));
        let at = de.here();
        seed.deserialize(de).map(Some).map_err(|e| e.or_at(at))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, node) = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("a value was asked for before its key"))?;
        let child = self.parent.child(node, Segment::Key(&key.text));
        let at = child.here();
        seed.deserialize(child).map_err(|e| e.or_at(at))
    }
}
