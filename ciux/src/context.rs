//! What every command of one run shares: the process runner (`--dry-run`), the diagnostics stream,
//! the registry client and the async runtime, and the way a project is opened.

use std::cell::{RefCell, RefMut};
use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};
use common::process::Runner;

use crate::ciux_file::CiuxFile;
use crate::credentials::Credentials;
use crate::git::{IndexRefresh, ProjectRepo};
use crate::project::{Project, absolute};
use crate::registry::RegistryClient;
use crate::selector::Selector;

/// The per-run state handed to every command.
pub(crate) struct Context {
    runner: Runner,
    err: RefCell<Box<dyn Write>>,
}

impl Context {
    /// A context writing diagnostics to `err`; `dry_run` makes the runner print instead of run.
    pub(crate) fn new(dry_run: bool, err: Box<dyn Write>) -> Self {
        Self {
            runner: Runner::new(dry_run),
            err: RefCell::new(err),
        }
    }

    /// Runs external commands, or prints them under `--dry-run`.
    pub(crate) fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Whether dirty checks may rewrite a racily clean index (not under `--dry-run`).
    pub(crate) fn index_refresh(&self) -> IndexRefresh {
        IndexRefresh::unless_dry_run(self.runner.is_dry_run())
    }

    /// The human-facing report stream (stderr), apart from the data on stdout.
    pub(crate) fn err(&self) -> RefMut<'_, Box<dyn Write>> {
        self.err.borrow_mut()
    }

    /// The registry client of this run; `CIUX_REGISTRY_TIMEOUT` (seconds, default 30) bounds each request.
    pub(crate) fn registry_client(&self) -> Result<RegistryClient> {
        RegistryClient::new(
            crate::timeout::from_env("CIUX_REGISTRY_TIMEOUT", 30.0),
            Credentials::load(),
        )
        .context("unable to create the registry HTTP client")
    }

    /// Runs a fallible future to completion on the thread's runtime (registry look-ups); a
    /// runtime that cannot start is an error, not a panic.
    pub(crate) fn block_on<T, E>(&self, f: impl Future<Output = Result<T, E>>) -> Result<T>
    where
        anyhow::Error: From<E>,
    {
        Ok(common::runtime::block_on(f)??)
    }
}

/// Opens the project at a user path: absolute root, `.ciux`, selection, and its repository (opened
/// at most once per run: each opening reads the git configuration files again).
pub(crate) fn load_project(
    path: &Path,
    selector: Option<&Selector>,
    main_only: bool,
) -> Result<(Project, ProjectRepo)> {
    let root = absolute(path).with_context(|| format!("invalid path {}", path.display()))?;
    let repo = ProjectRepo::new(&root)?;
    let file = CiuxFile::load(&root)?;
    Ok((Project::new(&root, file, selector, main_only)?, repo))
}
