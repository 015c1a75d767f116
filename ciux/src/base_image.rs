//! Base images: image dependencies of `.ciux` marked `base: true` are the images the project image is
//! built `FROM`. An image found in the registry is reused only if it records (see
//! [`crate::registry::RecordedBase`]) a base whose digest is still that base's current digest; each
//! declared base costs at most one manifest request per run.

use std::collections::HashMap;

use crate::image_ref::ImageRef;
use crate::registry::{Fetched, RecordedBase, RegistryClient, RegistryError};

/// How a found image's base differs from the declared one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseChange {
    /// The declared base image.
    pub(crate) reference: String,
    /// The digest the image records (`None`: it records none).
    pub(crate) old: Option<String>,
    /// The base's current digest.
    pub(crate) new: String,
}

/// The declared bases of a project and, once fetched, their current manifests.
pub(crate) struct Bases {
    declared: Vec<ImageRef>,
    current: HashMap<usize, Fetched>,
}

impl Bases {
    /// The declared bases.
    pub(crate) fn new(declared: Vec<ImageRef>) -> Self {
        Self {
            declared,
            current: HashMap::new(),
        }
    }

    /// Whether no base is declared (images are then reused without looking at their base).
    pub(crate) fn is_empty(&self) -> bool {
        self.declared.is_empty()
    }

    /// `None` when the recorded digest is the current digest (or that of one of its images) of the
    /// declared base the record names (of any declared base when it names none of them), else how
    /// it differs. Fetches each base needed once.
    pub(crate) async fn check(
        &mut self,
        client: &RegistryClient,
        recorded: &RecordedBase,
    ) -> Result<Option<BaseChange>, RegistryError> {
        let named = recorded
            .name
            .as_deref()
            .and_then(|n| ImageRef::parse(n).ok());
        let mut matching: Vec<usize> = (0..self.declared.len())
            .filter(|&i| {
                named.as_ref().is_none_or(|n| {
                    n.registry == self.declared[i].registry
                        && n.repository == self.declared[i].repository
                })
            })
            .collect();
        if matching.is_empty() {
            matching = (0..self.declared.len()).collect();
        }
        for &i in &matching {
            let fetched = self.current_of(client, i).await?;
            let holds = recorded
                .digest
                .as_ref()
                .is_some_and(|d| *d == fetched.digest || fetched.children.iter().any(|c| c == d));
            if holds {
                return Ok(None);
            }
        }
        let first = matching[0];
        Ok(Some(BaseChange {
            reference: self.declared[first].to_string(),
            old: recorded.digest.clone(),
            new: self.current_of(client, first).await?.digest.clone(),
        }))
    }

    async fn current_of(
        &mut self,
        client: &RegistryClient,
        i: usize,
    ) -> Result<&Fetched, RegistryError> {
        if !self.current.contains_key(&i) {
            let image = &self.declared[i];
            let fetched = client
                .fetch(image)
                .await?
                .ok_or_else(|| RegistryError::Status {
                    image: image.to_string(),
                    status: 404,
                    detail: " (a base image declared in .ciux: check its tag)".into(),
                })?;
            self.current.insert(i, fetched);
        }
        Ok(&self.current[&i])
    }
}
