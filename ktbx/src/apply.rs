//! Server-side apply of multi-document manifests (as `kubectl apply --server-side`): namespaces
//! first, then CRDs (waiting until they are Established), then everything else, each object
//! through the API resource that discovery gives for its kind. Re-applying changes nothing.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::{Api, Client, ResourceExt};

use common::kube::retry::retry_transient;

/// Field manager of every apply.
pub(crate) const FIELD_MANAGER: &str = "ktbx";

/// Decoder limits for upstream manifests: release manifests (Calico's tigera-operator, OLM's CRDs)
/// hold deeply nested OpenAPI schemas and hundreds of thousands of nodes, beyond the defaults
/// meant for config files.
fn manifest_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 512;
    budget.max_nodes = 20_000_000;
    budget.max_events = 50_000_000;
    budget.max_documents = 100_000;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// Parses a multi-document YAML manifest into objects (empty documents are skipped).
pub(crate) fn parse_manifests(text: &str, origin: &str) -> anyhow::Result<Vec<DynamicObject>> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_str_multiple_with_options(text, manifest_options())
            .with_context(|| format!("parsing the manifests of {origin}"))?;
    let mut objects = Vec::new();
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        if doc.get("kind").and_then(|k| k.as_str()) == Some("List") {
            for item in doc
                .get("items")
                .and_then(|i| i.as_array())
                .into_iter()
                .flatten()
            {
                objects.push(object(item.clone(), origin)?);
            }
        } else {
            objects.push(object(doc, origin)?);
        }
    }
    Ok(objects)
}

fn object(doc: serde_json::Value, origin: &str) -> anyhow::Result<DynamicObject> {
    let obj: DynamicObject = serde_json::from_value(doc)
        .with_context(|| format!("a document of {origin} is not a Kubernetes object"))?;
    if obj.types.is_none() || obj.metadata.name.is_none() {
        bail!("a document of {origin} has no apiVersion, kind or metadata.name");
    }
    Ok(obj)
}

fn gvk(obj: &DynamicObject) -> anyhow::Result<GroupVersionKind> {
    let types = obj
        .types
        .as_ref()
        .context("object without apiVersion/kind")?;
    GroupVersionKind::try_from(types).map_err(|e| anyhow::anyhow!("{e}"))
}

fn rank(obj: &DynamicObject) -> u8 {
    match obj.types.as_ref().map(|t| t.kind.as_str()) {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        _ => 2,
    }
}

/// Objects in apply order: namespaces, CRDs, the rest (stable otherwise).
pub(crate) fn apply_order(mut objects: Vec<DynamicObject>) -> Vec<DynamicObject> {
    objects.sort_by_key(rank);
    objects
}

/// A short `kind/name` (with namespace) for messages.
pub(crate) fn describe(obj: &DynamicObject) -> String {
    let kind = obj.types.as_ref().map_or("?", |t| t.kind.as_str());
    match &obj.metadata.namespace {
        Some(ns) => format!("{kind}/{} -n {ns}", obj.name_any()),
        None => format!("{kind}/{}", obj.name_any()),
    }
}

/// Applies objects with a shared discovery cache.
pub(crate) struct Applier {
    client: Client,
    cache: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
}

impl Applier {
    /// An applier on `client`.
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            cache: HashMap::new(),
        }
    }

    async fn resource(
        &mut self,
        gvk: &GroupVersionKind,
    ) -> anyhow::Result<(ApiResource, ApiCapabilities)> {
        if let Some(found) = self.cache.get(gvk) {
            return Ok(found.clone());
        }
        let found = kube::discovery::pinned_kind(&self.client, gvk)
            .await
            .with_context(|| {
                format!(
                    "the cluster does not serve {}/{} {} (is its CRD or operator installed?)",
                    gvk.group, gvk.version, gvk.kind
                )
            })?;
        self.cache.insert(gvk.clone(), found.clone());
        Ok(found)
    }

    /// Server-side applies one object; namespaced objects without a namespace go to `default_ns`.
    pub(crate) async fn apply(
        &mut self,
        obj: &DynamicObject,
        default_ns: &str,
    ) -> anyhow::Result<()> {
        let gvk = gvk(obj)?;
        let (ar, caps) = self.resource(&gvk).await?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(
                self.client.clone(),
                obj.metadata.namespace.as_deref().unwrap_or(default_ns),
                &ar,
            ),
            Scope::Cluster => Api::all_with(self.client.clone(), &ar),
        };
        let mut body = obj.clone();
        if caps.scope == Scope::Namespaced && body.metadata.namespace.is_none() {
            body.metadata.namespace = Some(default_ns.to_string());
        }
        let name = obj.name_any();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&body);
        retry_transient(&format!("applying {}", describe(&body)), || {
            api.patch(&name, &params, &patch)
        })
        .await
        .with_context(|| format!("applying {}", describe(&body)))?;
        Ok(())
    }

    /// Applies every object in order, waiting for CRDs to be Established before the objects after them.
    pub(crate) async fn apply_all(
        &mut self,
        objects: Vec<DynamicObject>,
        default_ns: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let objects = apply_order(objects);
        let mut pending_crds = Vec::new();
        for obj in &objects {
            if rank(obj) == 2 && !pending_crds.is_empty() {
                self.wait_established(std::mem::take(&mut pending_crds), timeout)
                    .await?;
            }
            tracing::debug!(object = %describe(obj), "server-side apply");
            self.apply(obj, default_ns).await?;
            if rank(obj) == 1 {
                pending_crds.push(obj.name_any());
            }
        }
        self.wait_established(pending_crds, timeout).await
    }

    /// Waits until the named CRDs are Established.
    pub(crate) async fn wait_established(
        &self,
        names: Vec<String>,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        for name in names {
            let cond = kube::runtime::conditions::is_crd_established();
            tokio::time::timeout(
                timeout,
                kube::runtime::wait::await_condition(api.clone(), &name, cond),
            )
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "timed out after {} waiting for CRD {name} to be Established",
                    common::duration::format_duration(timeout)
                )
            })?
            .with_context(|| format!("waiting for CRD {name}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: op
  namespace: ops
---
# comment only
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.com
---
apiVersion: v1
kind: Namespace
metadata:
  name: ops
";

    #[test]
    fn documents_are_parsed_and_ordered() {
        let objs = apply_order(parse_manifests(MANIFEST, "test").unwrap());
        let names: Vec<String> = objs.iter().map(describe).collect();
        assert_eq!(
            names,
            vec![
                "Namespace/ops",
                "CustomResourceDefinition/things.example.com",
                "Deployment/op -n ops"
            ]
        );
    }

    #[test]
    fn deep_and_large_manifests_parse() {
        // 100 nested levels, as in the OpenAPI schemas of big CRDs (the default budget stops at 64), and many documents.
        let mut deep =
            String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n");
        let mut indent = String::from("  ");
        for i in 0..100 {
            deep.push_str(&format!("{indent}k{i}:\n"));
            indent.push_str("  ");
        }
        deep.push_str(&format!("{indent}leaf: x\n"));
        let many = (0..2000)
            .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n"))
            .collect::<String>();
        assert_eq!(
            parse_manifests(&format!("{deep}{many}"), "big")
                .unwrap()
                .len(),
            2001
        );
    }

    #[test]
    fn lists_are_flattened_and_junk_is_an_error() {
        let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n";
        assert_eq!(parse_manifests(list, "l").unwrap().len(), 1);
        assert!(parse_manifests("just: text\n", "x").is_err());
        assert!(parse_manifests("a: [\n", "x").is_err());
    }
}
