//! Decoding of the Kubernetes protobuf envelope for the few kinds kubectl creates through its
//! typed clients (`kubectl create namespace|configmap|secret` send
//! `application/vnd.kubernetes.protobuf` bodies and no fallback to JSON exists).
//!
//! The envelope is the magic `k8s\0` followed by a `runtime.Unknown` message whose `raw` field
//! holds the object. Only the fields those commands set are decoded; empty values (how
//! gogo-protobuf writes unset fields) are skipped, and any other field is an error naming it,
//! never silently dropped.

use serde_json::{Map, Value, json};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    StrList,
    MapStr,
    /// `map<string, bytes>`, rendered as base64 strings as in JSON.
    MapBytes,
    Msg(&'static [(u32, &'static str, Kind)]),
}

const OBJECT_META: &[(u32, &str, Kind)] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (5, "uid", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "generation", Kind::Int),
    (11, "labels", Kind::MapStr),
    (12, "annotations", Kind::MapStr),
    (14, "finalizers", Kind::StrList),
];

const NAMESPACE: &[(u32, &str, Kind)] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "spec", Kind::Msg(&[(1, "finalizers", Kind::StrList)])),
    (3, "status", Kind::Msg(&[(1, "phase", Kind::Str)])),
];

const CONFIG_MAP: &[(u32, &str, Kind)] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::MapStr),
    (3, "binaryData", Kind::MapBytes),
    (4, "immutable", Kind::Bool),
];

const SECRET: &[(u32, &str, Kind)] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::MapBytes),
    (3, "type", Kind::Str),
    (4, "stringData", Kind::MapStr),
    (5, "immutable", Kind::Bool),
];

/// One field as read from the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first().ok_or("truncated varint")?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>, String> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| "field number too large")?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                if len > self.buf.len() {
                    return Err("truncated field".into());
                }
                let (data, rest) = self.buf.split_at(len);
                self.buf = rest;
                Wire::Bytes(data)
            }
            t => return Err(format!("field {field}: wire type {t} is not decoded")),
        };
        Ok(Some((field, wire)))
    }
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "string field is not UTF-8".to_string())
}

fn map_entry(bytes: &[u8]) -> Result<(String, Vec<u8>), String> {
    let (mut key, mut value) = (String::new(), Vec::new());
    let mut r = Reader { buf: bytes };
    while let Some((f, w)) = r.next()? {
        match (f, w) {
            (1, Wire::Bytes(b)) => key = text(b)?,
            (2, Wire::Bytes(b)) => value = b.to_vec(),
            _ => return Err("malformed map entry".into()),
        }
    }
    Ok((key, value))
}

fn message(bytes: &[u8], schema: &[(u32, &str, Kind)], what: &str) -> Result<Value, String> {
    let mut out = Map::new();
    let mut r = Reader { buf: bytes };
    while let Some((field, wire)) = r.next()? {
        let empty = match wire {
            Wire::Bytes(b) => b.is_empty(),
            Wire::Varint(v) => {
                v == 0
                    && !schema
                        .iter()
                        .any(|(n, _, k)| *n == field && matches!(k, Kind::Bool))
            }
        };
        if empty {
            // gogo-protobuf writes unset non-pointer fields as empty values: they mean "unset".
            continue;
        }
        let Some((_, name, kind)) = schema.iter().find(|(n, _, _)| *n == field) else {
            return Err(format!(
                "field {field} of {what} is not decoded by the fake API server (send JSON)"
            ));
        };
        let name = name.to_string();
        match (kind, wire) {
            (Kind::Str, Wire::Bytes(b)) => {
                out.insert(name, json!(text(b)?));
            }
            (Kind::Int, Wire::Varint(v)) => {
                out.insert(name, json!(v as i64));
            }
            (Kind::Bool, Wire::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (Kind::StrList, Wire::Bytes(b)) => {
                let list = out.entry(name).or_insert_with(|| json!([]));
                if let Value::Array(a) = list {
                    a.push(json!(text(b)?));
                }
            }
            (Kind::MapStr | Kind::MapBytes, Wire::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                let v = if matches!(kind, Kind::MapStr) {
                    json!(text(&v)?)
                } else {
                    json!(STANDARD.encode(&v))
                };
                if let Value::Object(m) = out.entry(name).or_insert_with(|| json!({})) {
                    m.insert(k, v);
                }
            }
            (Kind::Msg(inner), Wire::Bytes(b)) => {
                let decoded = message(b, inner, &name)?;
                if decoded.as_object().is_some_and(|m| !m.is_empty()) {
                    out.insert(name, decoded);
                }
            }
            _ => {
                return Err(format!(
                    "field {field} ({name}) of {what} has an unexpected wire type"
                ));
            }
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a protobuf request body into the JSON object it stands for.
pub(crate) fn decode(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(b"k8s\0")
        .ok_or("missing the k8s protobuf magic prefix")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    let mut r = Reader { buf: envelope };
    while let Some((field, wire)) = r.next()? {
        match (field, wire) {
            (1, Wire::Bytes(b)) => {
                let mut t = Reader { buf: b };
                while let Some((f, w)) = t.next()? {
                    match (f, w) {
                        (1, Wire::Bytes(v)) => api_version = text(v)?,
                        (2, Wire::Bytes(v)) => kind = text(v)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = Some(b),
            _ => {}
        }
    }
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        _ => {
            return Err(format!(
                "protobuf bodies of {api_version} {kind} are not decoded by the fake API server (only Namespace, ConfigMap, Secret); send JSON"
            ));
        }
    };
    let mut obj = message(raw.unwrap_or_default(), schema, &kind)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![(n << 3) | 2, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn decodes_a_secret() {
        let entry = [field(1, b"password"), field(2, b"changeme")].concat();
        let meta = [
            field(1, b"fink-producer"),
            field(3, b"kafka"),
            field(11, &[field(1, b"app"), field(2, b"fink")].concat()),
        ]
        .concat();
        let raw = [field(1, &meta), field(2, &entry), field(3, b"Opaque")].concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "fink-producer", "namespace": "kafka", "labels": {"app": "fink"}},
                   "data": {"password": "Y2hhbmdlbWU="}})
        );
    }

    #[test]
    fn refuses_unknown_fields_and_kinds() {
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [
            b"k8s\0".to_vec(),
            field(1, &type_meta),
            field(2, &field(9, b"x")),
        ]
        .concat();
        assert!(decode(&body).unwrap_err().contains("field 9 of ConfigMap"));
        let pod = [field(1, b"v1"), field(2, b"Pod")].concat();
        assert!(
            decode(&[b"k8s\0".to_vec(), field(1, &pod)].concat())
                .unwrap_err()
                .contains("v1 Pod")
        );
        assert!(decode(b"{}").is_err());
    }
}
