//! The object store: one generic JSON store keyed by group, plural, namespace and name, with a
//! global resourceVersion counter, a bounded event history for watches, and the write semantics
//! of the real API server (create, update, patch, apply, delete with finalizers, namespace and
//! CRD cascades).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::apply::{Writer, record_update, server_side_apply};
use super::builtin::{
    check_types, default_pod_spec, default_service, has_generation, pod_template_spec,
};
use super::clock::{name_suffix, new_uid, now_rfc3339};
use super::patch::{PatchType, json_patch, merge_patch, strategic_merge_patch};
use super::resources::{Registry, ResourceDef, split_api_version};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;

/// Where an object lives: group, plural, namespace ("" when cluster scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ObjKey {
    pub(crate) group: String,
    pub(crate) plural: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change of the store, as kept in the history and sent to watchers.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) rv: u64,
    pub(crate) kind: EventType,
    pub(crate) key: ObjKey,
    pub(crate) object: Value,
    pub(crate) old: Option<Value>,
}

/// How a request writes: field manager, dry run, subresource.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOptions {
    pub(crate) manager: String,
    pub(crate) dry_run: bool,
    pub(crate) subresource: Option<String>,
    pub(crate) force: bool,
    pub(crate) delete: DeleteOptions,
}

/// The `DeleteOptions` of a DELETE: preconditions and what happens to dependents.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    pub(crate) uid: Option<String>,
    pub(crate) resource_version: Option<String>,
    /// `propagationPolicy: Orphan` (or `orphanDependents: true`): dependents lose their owner
    /// reference instead of being deleted with the owner.
    pub(crate) orphan: bool,
}

impl DeleteOptions {
    /// From a DELETE body (JSON `DeleteOptions`, possibly empty) and the query parameters.
    pub(crate) fn parse(body: &[u8], query_policy: Option<&str>) -> Result<Self, ApiError> {
        let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
        };
        let policy = v["propagationPolicy"].as_str().or(query_policy);
        if let Some(p) = policy
            && !matches!(p, "Orphan" | "Background" | "Foreground")
        {
            return Err(ApiError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        Ok(Self {
            uid: v["preconditions"]["uid"].as_str().map(String::from),
            resource_version: v["preconditions"]["resourceVersion"]
                .as_str()
                .map(String::from),
            orphan: policy == Some("Orphan") || v["orphanDependents"] == json!(true),
        })
    }
}

/// A list request.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListOptions {
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
    pub(crate) limit: Option<usize>,
    pub(crate) continue_token: Option<String>,
}

pub(crate) struct Inner {
    pub(crate) registry: Registry,
    objects: BTreeMap<ObjKey, Value>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    /// Every event with a resourceVersion above this is in `history`.
    floor: u64,
    history_cap: usize,
    events: broadcast::Sender<Arc<Event>>,
}

/// The state of a [`FakeApiServer`](super::FakeApiServer): every stored object.
///
/// The harness methods (`apply_json`, `get_json`, `merge_patch_json`, ...) act as a privileged
/// client: they skip admission (namespaces need not exist, `status` is written as given) but
/// produce the same resourceVersions and watch events as API requests.
pub struct Store {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

const HARNESS_MANAGER: &str = "harness";

impl Store {
    pub(crate) fn new(history_cap: usize) -> Self {
        let (events, _) = broadcast::channel(4096);
        let mut inner = Inner {
            registry: Registry::default(),
            objects: BTreeMap::new(),
            rv: 0,
            history: VecDeque::new(),
            floor: 0,
            history_cap: history_cap.max(1),
            events,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            inner.seed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        Self {
            inner: Mutex::new(inner),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates or replaces an object as given: `status` and an explicit `metadata.generation` are
    /// kept; spec defaults are filled in as the API server does (so replacing an object with the
    /// same manifest does not bump its generation). Returns the stored object.
    ///
    /// # Panics
    /// If the object has no `apiVersion`, `kind` or `metadata.name`, or names a resource that is
    /// not served (register its CRD first).
    pub fn apply_json(&self, object: Value) -> Value {
        self.lock().seed(object)
    }

    /// The object, if it exists. `kind` may be the kind, plural, singular or a short name.
    pub fn get_json(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let inner = self.lock();
        let def = inner.resolve(api_version, kind);
        inner
            .objects
            .get(&key(&def, namespace, name))
            .map(|o| served(o, &def))
    }

    /// Every object of a kind, in one namespace or (None) all of them, ordered by namespace and name.
    pub fn list_json(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let inner = self.lock();
        let def = inner.resolve(api_version, kind);
        inner
            .select(&def, namespace, &ListOptions::default())
            .into_iter()
            .map(|(_, o)| served(o, &def))
            .collect()
    }

    /// JSON-merge-patches an object, `status` included; returns it, or None if it does not exist.
    pub fn merge_patch_json(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Option<Value> {
        let mut inner = self.lock();
        let def = inner.resolve(api_version, kind);
        let k = key(&def, namespace, name);
        let old = inner.objects.get(&k)?.clone();
        let mut new = old.clone();
        merge_patch(&mut new, patch);
        let w = Writer {
            manager: HARNESS_MANAGER,
            api_version: &def.api_version(),
            subresource: None,
        };
        record_update(Some(&old), &mut new, &w);
        bump_generation(&def, &old, &mut new);
        Some(served(
            &inner.commit(k, EventType::Modified, new, Some(old)),
            &def,
        ))
    }

    /// Deletes an object at once (finalizers ignored); returns it, or None if it did not exist.
    pub fn delete_json(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let mut inner = self.lock();
        let def = inner.resolve(api_version, kind);
        let k = key(&def, namespace, name);
        inner
            .objects
            .contains_key(&k)
            .then(|| served(&inner.remove(&def, k), &def))
    }

    /// The current resourceVersion (the counter of the last write).
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }
}

fn key(def: &ResourceDef, namespace: Option<&str>, name: &str) -> ObjKey {
    ObjKey {
        group: def.group.clone(),
        plural: def.plural.clone(),
        namespace: if def.namespaced {
            namespace.unwrap_or("default").to_string()
        } else {
            String::new()
        },
        name: name.to_string(),
    }
}

/// The object as served at the request's version.
pub(crate) fn served(obj: &Value, def: &ResourceDef) -> Value {
    let mut o = obj.clone();
    o["apiVersion"] = json!(def.api_version());
    o
}

fn spec_view(def: &ResourceDef, obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        if def.has_status() {
            m.remove("status");
        }
    }
    v
}

fn bump_generation(def: &ResourceDef, old: &Value, new: &mut Value) {
    if !has_generation(def) {
        if let Some(m) = new["metadata"].as_object_mut() {
            m.remove("generation");
        }
        return;
    }
    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    let changed = spec_view(def, old) != spec_view(def, new);
    new["metadata"]["generation"] = json!(if changed { generation + 1 } else { generation });
}

fn is_dns1123_subdomain(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(ok_char)
        && alnum(name.chars().next())
        && alnum(name.chars().last())
}

/// Defaults the real API server fills in on every write (idempotent).
fn apply_defaults(def: &ResourceDef, obj: &mut Value) {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => {
            if obj["spec"]["finalizers"].is_null() {
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
        }
        ("", "secrets") => {
            fold_string_data(obj);
            if obj["type"].is_null() {
                obj["type"] = json!("Opaque");
            }
        }
        ("apps", "deployments" | "statefulsets" | "replicasets" | "daemonsets") => {
            default_workload(&def.plural, &mut obj["spec"])
        }
        ("", "pods") => {
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec);
            }
        }
        ("", "services") => {
            if let Some(spec) = obj.get_mut("spec") {
                default_service(spec);
            }
        }
        _ => {}
    }
    if def.is_builtin()
        && let Some(template) = obj
            .get_mut("spec")
            .and_then(|spec| pod_template_spec(&def.plural, spec))
    {
        default_pod_spec(template);
    }
}

/// The status a new object starts with (a namespace is Active, a pod Pending).
fn initial_status(def: &ResourceDef, obj: &mut Value) {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => obj["status"] = json!({"phase": "Active"}),
        ("", "pods") if obj["status"]["phase"].is_null() => {
            obj["status"]["phase"] = json!("Pending")
        }
        _ => {}
    }
}

/// Spec defaults of apps workloads that `kubectl rollout status` relies on.
fn default_workload(plural: &str, spec: &mut Value) {
    let mut set = |k: &str, v: Value| {
        if spec[k].is_null() {
            spec[k] = v;
        }
    };
    if plural != "daemonsets" {
        set("replicas", json!(1));
    }
    set("revisionHistoryLimit", json!(10));
    match plural {
        "deployments" => {
            set("progressDeadlineSeconds", json!(600));
            set(
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
        }
        "statefulsets" => {
            set("podManagementPolicy", json!("OrderedReady"));
            set(
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
        }
        "daemonsets" => {
            set(
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
        }
        _ => {}
    }
}

/// Secrets: `stringData` is base64-encoded into `data` and dropped, as the API server does.
fn fold_string_data(obj: &mut Value) {
    let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    for (k, v) in sd {
        obj["data"][k.as_str()] = json!(STANDARD.encode(v.as_str().unwrap_or_default()));
    }
}

fn crd_established(obj: &mut Value) {
    let now = now_rfc3339();
    let condition = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    let versions: Vec<Value> = obj["spec"]["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    obj["status"] = json!({
        "acceptedNames": obj["spec"]["names"].clone(),
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found for the names"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": versions,
    });
}

impl Inner {
    /// The resource a harness call names.
    ///
    /// # Panics
    /// If it is not served: the harness call is a test bug.
    fn resolve(&self, api_version: &str, kind: &str) -> ResourceDef {
        self.registry.resolve(api_version, kind).cloned().unwrap_or_else(|| {
            panic!("fake API server: no resource {kind:?} in {api_version:?} (register its CustomResourceDefinition first)")
        })
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    pub(crate) fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Events after `rv` still in the history, or `410 Expired` if some were dropped.
    pub(crate) fn events_since(&self, rv: u64) -> Result<Vec<Arc<Event>>, ApiError> {
        if rv < self.floor {
            return Err(ApiError::gone(rv, self.floor + 1));
        }
        Ok(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    fn seed(&mut self, mut obj: Value) -> Value {
        let api_version = obj["apiVersion"]
            .as_str()
            .unwrap_or_else(|| panic!("fake API server: object without apiVersion: {obj}"))
            .to_string();
        let kind = obj["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("fake API server: object without kind: {obj}"))
            .to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("fake API server: object without metadata.name: {obj}"))
            .to_string();
        let def = self.resolve(&api_version, &kind);
        if def.namespaced && obj["metadata"]["namespace"].is_null() {
            obj["metadata"]["namespace"] = json!("default");
        }
        let k = key(&def, obj["metadata"]["namespace"].as_str(), &name);
        let w = Writer {
            manager: HARNESS_MANAGER,
            api_version: &api_version,
            subresource: None,
        };
        match self.objects.get(&k).cloned() {
            Some(old) => {
                for f in ["uid", "creationTimestamp"] {
                    obj["metadata"][f] = old["metadata"][f].clone();
                }
                apply_defaults(&def, &mut obj);
                record_update(Some(&old), &mut obj, &w);
                let given_generation = obj["metadata"].get("generation").cloned();
                bump_generation(&def, &old, &mut obj);
                if let Some(g) = given_generation {
                    obj["metadata"]["generation"] = g;
                }
                if def.plural == "customresourcedefinitions" {
                    self.register_crd(&mut obj)
                        .unwrap_or_else(|e| panic!("fake API server: invalid CRD: {e}"));
                }
                served(&self.commit(k, EventType::Modified, obj, Some(old)), &def)
            }
            None => {
                if def.plural == "customresourcedefinitions" {
                    self.register_crd(&mut obj)
                        .unwrap_or_else(|e| panic!("fake API server: invalid CRD: {e}"));
                }
                let status = obj.get("status").cloned();
                apply_defaults(&def, &mut obj);
                initial_status(&def, &mut obj);
                if let Some(s) = status {
                    obj["status"] = s;
                }
                obj["metadata"]["uid"] = json!(new_uid());
                obj["metadata"]["creationTimestamp"] = json!(now_rfc3339());
                if obj["metadata"]["generation"].is_null() && has_generation(&def) {
                    obj["metadata"]["generation"] = json!(1);
                }
                record_update(None, &mut obj, &w);
                let stored = served(&self.commit(k, EventType::Added, obj, None), &def);
                self.namespace_created(&def, &name);
                stored
            }
        }
    }

    fn register_crd(&mut self, obj: &mut Value) -> Result<(), String> {
        self.registry.register_crd(obj)?;
        crd_established(obj);
        Ok(())
    }

    /// Stores a write: next resourceVersion, history, broadcast. Returns the stored object.
    fn commit(
        &mut self,
        key: ObjKey,
        kind: EventType,
        mut obj: Value,
        old: Option<Value>,
    ) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        if kind == EventType::Deleted {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key.clone(), obj.clone());
        }
        let event = Arc::new(Event {
            rv: self.rv,
            kind,
            key,
            object: obj.clone(),
            old,
        });
        self.history.push_back(event.clone());
        while self.history.len() > self.history_cap {
            if let Some(e) = self.history.pop_front() {
                self.floor = e.rv;
            }
        }
        let _ = self.events.send(event);
        obj
    }

    /// Removes an object now, with the cascades of namespaces and CRDs.
    fn remove(&mut self, def: &ResourceDef, k: ObjKey) -> Value {
        let Some(obj) = self.objects.get(&k).cloned() else {
            return Value::Null;
        };
        match (def.group.as_str(), def.plural.as_str()) {
            ("", "namespaces") => {
                let inside: Vec<ObjKey> = self
                    .objects
                    .keys()
                    .filter(|o| o.namespace == k.name)
                    .cloned()
                    .collect();
                for o in inside {
                    if let Some(old) = self.objects.get(&o).cloned() {
                        self.commit(o, EventType::Deleted, old, None);
                    }
                }
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let group = obj["spec"]["group"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let plural = obj["spec"]["names"]["plural"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let instances: Vec<ObjKey> = self
                    .objects
                    .keys()
                    .filter(|o| o.group == group && o.plural == plural)
                    .cloned()
                    .collect();
                for o in instances {
                    if let Some(old) = self.objects.get(&o).cloned() {
                        self.commit(o, EventType::Deleted, old, None);
                    }
                }
                self.registry.unregister_group_resource(&group, &plural);
            }
            _ => {}
        }
        let namespace = k.namespace.clone();
        let gone = self.commit(k, EventType::Deleted, obj, None);
        // The garbage collector deletes the dependents (background propagation).
        for (dependent, old) in
            self.dependents(gone["metadata"]["uid"].as_str().unwrap_or_default())
        {
            self.collect(dependent, old);
        }
        if !namespace.is_empty() {
            self.finish_namespace(&namespace);
        }
        gone
    }

    fn select(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Vec<(&ObjKey, &Value)> {
        select_in(&self.objects, def, namespace, opts)
    }

    /// The objects as they were at resourceVersion `rv` (undoing the later events), or `410` when
    /// the history no longer reaches back that far.
    fn objects_at(&self, rv: u64) -> Result<BTreeMap<ObjKey, Value>, ApiError> {
        if rv < self.floor {
            return Err(ApiError::continue_expired());
        }
        let mut objects = self.objects.clone();
        for e in self.history.iter().rev().take_while(|e| e.rv > rv) {
            match (e.kind, &e.old) {
                (EventType::Added, _) => {
                    objects.remove(&e.key);
                }
                (EventType::Modified, Some(old)) => {
                    objects.insert(e.key.clone(), old.clone());
                }
                (EventType::Modified, None) => {}
                (EventType::Deleted, _) => {
                    objects.insert(e.key.clone(), e.object.clone());
                }
            }
        }
        Ok(objects)
    }

    pub(crate) fn get(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.objects
            .get(&key(def, namespace, name))
            .map(|o| served(o, def))
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))
    }

    /// A `<Kind>List` with `metadata.resourceVersion`, paginated by `limit` / `continue`.
    pub(crate) fn list(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<Value, ApiError> {
        let (snapshot, after) = match &opts.continue_token {
            Some(t) => {
                let (rv, ns, name) = decode_continue(t)
                    .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
                (rv, Some((ns, name)))
            }
            None => (self.rv, None),
        };
        // Later pages are served from the first page's snapshot, as etcd serves them.
        let past;
        let objects = if snapshot == self.rv {
            &self.objects
        } else {
            past = self.objects_at(snapshot)?;
            &past
        };
        let all = select_in(objects, def, namespace, opts);
        let start = all
            .iter()
            .position(|(k, _)| {
                after
                    .as_ref()
                    .is_none_or(|a| (&k.namespace, &k.name) > (&a.0, &a.1))
            })
            .unwrap_or(all.len());
        let rest = &all[start..];
        let take = opts
            .limit
            .filter(|l| *l > 0)
            .unwrap_or(usize::MAX)
            .min(rest.len());
        let items: Vec<Value> = rest[..take].iter().map(|(_, o)| served(o, def)).collect();
        let mut metadata = json!({ "resourceVersion": snapshot.to_string() });
        if take < rest.len() {
            let last = rest[take - 1].0;
            metadata["continue"] = json!(encode_continue(snapshot, &last.namespace, &last.name));
            metadata["remainingItemCount"] = json!(rest.len() - take);
        }
        Ok(json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": metadata,
            "items": items,
        }))
    }

    /// A create inside `namespace`: it must exist and not be terminating.
    fn check_namespace(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ApiError> {
        if let Some(ns) = namespace.filter(|_| def.namespaced) {
            match self.objects.get(&namespace_key(ns)) {
                None => return Err(ApiError::not_found("", "namespaces", ns)),
                Some(n) if !n["metadata"]["deletionTimestamp"].is_null() => {
                    return Err(ApiError::namespace_terminating(
                        &def.group,
                        &def.plural,
                        name,
                        ns,
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Checks `apiVersion`/`kind`/namespace of a request body against the URL and fills them in.
    fn check_body(
        def: &ResourceDef,
        namespace: Option<&str>,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        if let Some(av) = obj["apiVersion"].as_str() {
            let (g, _) = split_api_version(av);
            if g != def.group {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({})",
                    def.api_version()
                )));
            }
        }
        if let Some(kind) = obj["kind"].as_str()
            && kind != def.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                def.kind
            )));
        }
        obj["apiVersion"] = json!(def.api_version());
        obj["kind"] = json!(def.kind);
        if def.namespaced {
            match obj["metadata"]["namespace"].as_str() {
                Some(ns) if Some(ns) != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => obj["metadata"]["namespace"] = json!(namespace.unwrap_or("default")),
            }
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        Ok(())
    }

    /// POST.
    pub(crate) fn create(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        Self::check_body(def, namespace, &mut obj)?;
        let name = match (
            obj["metadata"]["name"].as_str(),
            obj["metadata"]["generateName"].as_str(),
        ) {
            (Some(n), _) if !n.is_empty() => n.to_string(),
            (_, Some(prefix)) => format!("{prefix}{}", name_suffix()),
            _ => {
                return Err(ApiError::invalid(
                    &def.group,
                    &def.kind,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
        };
        if !is_dns1123_subdomain(&name) {
            return Err(ApiError::invalid(
                &def.group,
                &def.kind,
                &name,
                format!(
                    "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            ));
        }
        obj["metadata"]["name"] = json!(name);
        self.check_namespace(def, namespace, &name)?;
        let k = key(def, namespace, &name);
        if self.objects.contains_key(&k) {
            return Err(ApiError::already_exists(&def.group, &def.plural, &name));
        }
        if def.group.is_empty() && def.plural == "pods" {
            self.admit_pod(&k.namespace, &name, &mut obj)?;
        }
        self.insert_new(def, k, obj, opts, None)
    }

    /// Fills in system metadata and stores a new object (POST, or apply that creates).
    fn insert_new(
        &mut self,
        def: &ResourceDef,
        k: ObjKey,
        mut obj: Value,
        opts: &WriteOptions,
        applied: Option<&Value>,
    ) -> Result<Value, ApiError> {
        if def.has_status()
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        apply_defaults(def, &mut obj);
        initial_status(def, &mut obj);
        if def.plural == "customresourcedefinitions" {
            let mut probe = self.registry.clone();
            probe
                .register_crd(&obj)
                .map_err(|e| ApiError::invalid(&def.group, &def.kind, &k.name, e))?;
        }
        if let Some(m) = obj["metadata"].as_object_mut() {
            for f in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "managedFields",
            ] {
                m.remove(f);
            }
        }
        obj["metadata"]["uid"] = json!(new_uid());
        obj["metadata"]["creationTimestamp"] = json!(now_rfc3339());
        if has_generation(def) {
            obj["metadata"]["generation"] = json!(1);
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("generation");
        }
        check_types(def, &obj)?;
        let api_version = def.api_version();
        let w = Writer {
            manager: &opts.manager,
            api_version: &api_version,
            subresource: None,
        };
        match applied {
            Some(a) => {
                let managed = server_side_apply(None, a, &w, opts.force)?;
                obj["metadata"]["managedFields"] = managed["metadata"]["managedFields"].clone();
            }
            None => record_update(None, &mut obj, &w),
        }
        if opts.dry_run {
            return Ok(obj);
        }
        if def.plural == "customresourcedefinitions" {
            self.register_crd(&mut obj)
                .map_err(|e| ApiError::invalid(&def.group, &def.kind, &k.name, e))?;
        }
        let name = k.name.clone();
        let stored = served(&self.commit(k, EventType::Added, obj, None), def);
        self.namespace_created(def, &name);
        Ok(stored)
    }

    /// The `default` ServiceAccount the controller-manager creates in every new namespace.
    fn namespace_created(&mut self, def: &ResourceDef, name: &str) {
        if def.group.is_empty() && def.plural == "namespaces" {
            let sa = ObjKey {
                group: String::new(),
                plural: "serviceaccounts".into(),
                namespace: name.into(),
                name: "default".into(),
            };
            if !self.objects.contains_key(&sa) {
                self.seed(json!({
                    "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": name},
                }));
            }
        }
    }

    /// The ServiceAccount admission plugin: a pod runs as `default` unless it names another,
    /// and the account must exist.
    fn admit_pod(&self, namespace: &str, name: &str, pod: &mut Value) -> Result<(), ApiError> {
        let account = match pod["spec"]["serviceAccountName"].as_str() {
            Some(a) if !a.is_empty() => a.to_string(),
            _ => match pod["spec"]["serviceAccount"].as_str() {
                Some(a) if !a.is_empty() => a.to_string(),
                _ => "default".to_string(),
            },
        };
        let k = ObjKey {
            group: String::new(),
            plural: "serviceaccounts".into(),
            namespace: namespace.into(),
            name: account.clone(),
        };
        if !self.objects.contains_key(&k) {
            return Err(ApiError::forbidden(
                "",
                "pods",
                name,
                &format!(
                    "error looking up service account {namespace}/{account}: serviceaccount \"{account}\" not found"
                ),
            ));
        }
        pod["spec"]["serviceAccountName"] = json!(account);
        pod["spec"]["serviceAccount"] = json!(account);
        Ok(())
    }

    /// PUT (main resource or `status`).
    pub(crate) fn update(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        Self::check_body(def, namespace, &mut obj)?;
        if obj["metadata"]["name"].as_str() != Some(name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                obj["metadata"]["name"].as_str().unwrap_or_default()
            )));
        }
        let k = key(def, namespace, name);
        let old = self
            .objects
            .get(&k)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        self.finish_update(def, k, old, obj, opts, None)
    }

    /// PATCH of any type.
    pub(crate) fn patch(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        kind: PatchType,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let k = key(def, namespace, name);
        let existing = self.objects.get(&k).cloned();
        if kind == PatchType::Apply {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("apply patch is not UTF-8"))?;
            let mut applied: Value = serde_saphyr::from_str(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            if applied["apiVersion"].is_null() || applied["kind"].is_null() {
                return Err(ApiError::bad_request(
                    "apply patches must specify apiVersion and kind",
                ));
            }
            Self::check_body(def, namespace, &mut applied)?;
            if applied["metadata"]["name"].as_str() != Some(name) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    applied["metadata"]["name"].as_str().unwrap_or_default()
                )));
            }
            let Some(old) = existing else {
                self.check_namespace(def, namespace, name)?;
                let mut obj = applied.clone();
                if def.group.is_empty() && def.plural == "pods" {
                    self.admit_pod(&k.namespace, name, &mut obj)?;
                }
                return self.insert_new(def, k, obj, opts, Some(&applied));
            };
            let api_version = def.api_version();
            let w = Writer {
                manager: &opts.manager,
                api_version: &api_version,
                subresource: opts.subresource.as_deref(),
            };
            let new = server_side_apply(Some(&old), &applied, &w, opts.force)?;
            return self.finish_update(def, k, old, new, opts, Some(()));
        }
        if kind == PatchType::Strategic && !def.is_builtin() {
            return Err(ApiError::strategic_patch_of_custom_resource());
        }
        let old = existing.ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        let patch: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        let mut new = old.clone();
        match kind {
            PatchType::Merge => merge_patch(&mut new, &patch),
            PatchType::Strategic => strategic_merge_patch(&mut new, &patch),
            PatchType::Json => json_patch(&mut new, &patch)
                .map_err(|e| ApiError::invalid(&def.group, &def.kind, name, e))?,
            PatchType::Apply => unreachable!("handled above"),
        }
        if new["metadata"]["name"].as_str() != Some(name) {
            return Err(ApiError::bad_request(
                "metadata.name cannot be changed by a patch",
            ));
        }
        self.finish_update(def, k, old, new, opts, None)
    }

    /// Common end of PUT and PATCH: preconditions, status split, generation, finalizers, commit.
    fn finish_update(
        &mut self,
        def: &ResourceDef,
        k: ObjKey,
        old: Value,
        mut new: Value,
        opts: &WriteOptions,
        applied: Option<()>,
    ) -> Result<Value, ApiError> {
        if let Some(rv) = new["metadata"]["resourceVersion"].as_str()
            && rv
                != old["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
        {
            return Err(ApiError::conflict(&def.group, &def.plural, &k.name));
        }
        let sub = opts.subresource.as_deref();
        if sub == Some("status") {
            let status = new.get("status").cloned();
            new = old.clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        } else if def.has_status() {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
        ] {
            match old["metadata"].get(f) {
                Some(v) => new["metadata"][f] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(f);
                    }
                }
            }
        }
        apply_defaults(def, &mut new);
        bump_generation(def, &old, &mut new);
        check_types(def, &new)?;
        if applied.is_none() {
            let api_version = def.api_version();
            let w = Writer {
                manager: &opts.manager,
                api_version: &api_version,
                subresource: sub,
            };
            new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
            record_update(Some(&old), &mut new, &w);
        }
        if def.plural == "customresourcedefinitions" {
            let mut probe = self.registry.clone();
            probe
                .register_crd(&new)
                .map_err(|e| ApiError::invalid(&def.group, &def.kind, &k.name, e))?;
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if new == old || opts.dry_run {
            return Ok(served(&new, def));
        }
        if def.plural == "customresourcedefinitions" && sub.is_none() {
            self.register_crd(&mut new)
                .map_err(|e| ApiError::invalid(&def.group, &def.kind, &k.name, e))?;
        }
        let terminating = !new["metadata"]["deletionTimestamp"].is_null();
        let finalizers_left = new["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if terminating && !finalizers_left {
            self.objects.insert(k.clone(), new);
            return Ok(served(&self.remove(def, k), def));
        }
        Ok(served(
            &self.commit(k, EventType::Modified, new, Some(old)),
            def,
        ))
    }

    /// DELETE of one object: its preconditions, then immediate, or `deletionTimestamp` while
    /// finalizers remain; namespaces terminate while their content is deleted.
    pub(crate) fn delete(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let k = key(def, namespace, name);
        let old = self
            .objects
            .get(&k)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        let meta = &old["metadata"];
        let preconditions = [
            ("UID", &opts.delete.uid, &meta["uid"]),
            (
                "ResourceVersion",
                &opts.delete.resource_version,
                &meta["resourceVersion"],
            ),
        ];
        for (what, wanted, actual) in preconditions {
            let actual = actual.as_str().unwrap_or_default();
            if let Some(wanted) = wanted
                && wanted != actual
            {
                return Err(ApiError::precondition_failed(
                    &def.group,
                    &def.plural,
                    name,
                    &format!("{what} in precondition: {wanted}, {what} in object meta: {actual}"),
                ));
            }
        }
        if opts.dry_run {
            return Ok(served(&old, def));
        }
        if def.plural == "namespaces" && def.group.is_empty() {
            return Ok(served(&self.terminate_namespace(k, old), def));
        }
        if opts.delete.orphan {
            self.orphan_dependents(meta["uid"].as_str().unwrap_or_default());
        }
        Ok(served(&self.collect(k, old), def))
    }

    /// Deletes an object as the garbage collector and the namespace controller do: at once, or
    /// only marked with a `deletionTimestamp` while finalizers remain. Returns what is stored or
    /// gone.
    fn collect(&mut self, k: ObjKey, old: Value) -> Value {
        if old["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            if !old["metadata"]["deletionTimestamp"].is_null() {
                return old;
            }
            let mut new = old.clone();
            new["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            return self.commit(k, EventType::Modified, new, Some(old));
        }
        match self.def_of(&k) {
            Some(def) => self.remove(&def, k),
            None => self.commit(k, EventType::Deleted, old, None),
        }
    }

    /// The served resource a stored key belongs to.
    fn def_of(&self, k: &ObjKey) -> Option<ResourceDef> {
        self.registry
            .all()
            .iter()
            .find(|d| d.group == k.group && d.plural == k.plural)
            .cloned()
    }

    /// A namespace DELETE: `Terminating` with a `deletionTimestamp`, its content deleted (objects
    /// with finalizers stay until they are released), and the namespace gone once empty.
    fn terminate_namespace(&mut self, k: ObjKey, old: Value) -> Value {
        if !old["metadata"]["deletionTimestamp"].is_null() {
            return old;
        }
        let mut new = old.clone();
        new["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        new["status"]["phase"] = json!("Terminating");
        let terminating = self.commit(k.clone(), EventType::Modified, new, Some(old));
        let inside: Vec<ObjKey> = self
            .objects
            .keys()
            .filter(|o| o.namespace == k.name)
            .cloned()
            .collect();
        for o in inside {
            if let Some(obj) = self.objects.get(&o).cloned() {
                self.collect(o, obj);
            }
        }
        self.finish_namespace(&k.name).unwrap_or(terminating)
    }

    /// Removes a terminating namespace once nothing is left inside; returns it if it went.
    fn finish_namespace(&mut self, name: &str) -> Option<Value> {
        let k = namespace_key(name);
        let ns = self.objects.get(&k)?;
        if ns["metadata"]["deletionTimestamp"].is_null()
            || self.objects.keys().any(|o| o.namespace == name)
        {
            return None;
        }
        let ns = ns.clone();
        Some(self.commit(k, EventType::Deleted, ns, None))
    }

    /// Removes the owner references to `uid` (an owner deleted with `propagationPolicy: Orphan`).
    fn orphan_dependents(&mut self, uid: &str) {
        for (k, old) in self.dependents(uid) {
            let mut new = old.clone();
            if let Some(refs) = new["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"] != uid);
                if refs.is_empty()
                    && let Some(m) = new["metadata"].as_object_mut()
                {
                    m.remove("ownerReferences");
                }
            }
            self.commit(k, EventType::Modified, new, Some(old));
        }
    }

    /// Objects with an owner reference to `uid`.
    fn dependents(&self, uid: &str) -> Vec<(ObjKey, Value)> {
        if uid.is_empty() {
            return Vec::new();
        }
        self.objects
            .iter()
            .filter(|(_, o)| {
                o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
            })
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect()
    }

    /// DELETE on a collection (with selectors).
    pub(crate) fn delete_collection(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        list: &ListOptions,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let names: Vec<(String, String)> = self
            .select(def, namespace, list)
            .into_iter()
            .map(|(k, _)| (k.namespace.clone(), k.name.clone()))
            .collect();
        let mut items = Vec::new();
        for (ns, name) in names {
            let ns = (!ns.is_empty()).then_some(ns);
            items.push(self.delete(def, ns.as_deref(), &name, opts)?);
        }
        Ok(json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": { "resourceVersion": self.rv.to_string() },
            "items": items,
        }))
    }
}

fn select_in<'a>(
    objects: &'a BTreeMap<ObjKey, Value>,
    def: &ResourceDef,
    namespace: Option<&str>,
    opts: &ListOptions,
) -> Vec<(&'a ObjKey, &'a Value)> {
    objects
        .iter()
        .filter(|(k, _)| k.group == def.group && k.plural == def.plural)
        .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
        .filter(|(_, o)| opts.labels.matches(o) && opts.fields.matches(o))
        .collect()
}

fn namespace_key(name: &str) -> ObjKey {
    ObjKey {
        group: String::new(),
        plural: "namespaces".into(),
        namespace: String::new(),
        name: name.into(),
    }
}

/// A continue token: the resourceVersion of the first page and the last key served.
fn encode_continue(rv: u64, namespace: &str, name: &str) -> String {
    hex::encode(format!("{rv}/{namespace}/{name}"))
}

fn decode_continue(token: &str) -> Option<(u64, String, String)> {
    let text = String::from_utf8(hex::decode(token).ok()?).ok()?;
    let (rv, rest) = text.split_once('/')?;
    let (ns, name) = rest.split_once('/')?;
    Some((rv.parse().ok()?, ns.into(), name.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_floor_expires_old_resource_versions() {
        let store = Store::new(2);
        let inner = store.lock();
        // Four namespaces and their `default` ServiceAccounts were seeded with a history of 2:
        // events 1 to 6 are gone.
        assert_eq!(inner.events_since(5).unwrap_err().code, 410);
        assert_eq!(inner.events_since(6).unwrap().len(), 2);
        assert!(inner.events_since(8).unwrap().is_empty());
    }

    #[test]
    fn dns1123_names() {
        assert!(is_dns1123_subdomain("a-b.c"));
        assert!(!is_dns1123_subdomain("A"));
        assert!(!is_dns1123_subdomain("-a"));
    }
}
