//! Atomic file replacement: readers see the old file or the complete new one, never a partial
//! write, and a crash leaves no half-written target.
//!
//! The content goes to a temporary file in the target's directory (same filesystem, so the rename
//! is atomic), is flushed to disk, gets its mode, and is renamed over the target; the directory is
//! then synced so the rename itself is durable.

use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A file-system operation that failed, with the path it was about. The display names the action
/// and the path only; the cause is the error's `source` (printed by `{:#}` of an `anyhow::Error`).
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct FsError {
    /// What was being done, such as `write` or `create a temporary file next to`.
    pub action: &'static str,
    /// The path concerned.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

impl FsError {
    fn new(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        FsError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `bytes` to `path` atomically with permission bits `mode` (such as `0o644` or `0o755`).
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(|e| FsError::new("write", path, e))?;
    file.commit(mode)
}

/// A file being written next to its final path; [`AtomicFile::commit`] puts it in place, dropping
/// it without committing removes it. Implements [`Write`] for streaming writers.
#[derive(Debug)]
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file in `dest`'s directory (which must exist).
    pub fn create(dest: &Path) -> Result<Self, FsError> {
        let dir = parent_dir(dest);
        let prefix = format!(
            ".{}.",
            dest.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| FsError::new("create a temporary file in", dir, without_temp_path(e)))?;
        Ok(AtomicFile {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary file's path (its content so far can be read from there).
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// The temporary file itself (for kernel-side copies into it and for syncing it early).
    pub fn file_mut(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Flushes to disk, sets `mode`, renames over the destination and syncs the directory.
    pub fn commit(self, mode: u32) -> Result<(), FsError> {
        let dest = self.dest.clone();
        self.persist(mode, true)?;
        let dir = parent_dir(&dest);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| FsError::new("sync the directory", dir, e))
    }

    /// Sets `mode` and renames over the destination without waiting for the disk: readers still
    /// see the old file or the complete new one, but after a crash the file may be empty or
    /// partial. Only for content that is verified when read back, such as a download cache.
    pub fn commit_unsynced(self, mode: u32) -> Result<(), FsError> {
        self.persist(mode, false)
    }

    fn persist(mut self, mode: u32, sync: bool) -> Result<(), FsError> {
        let dest = self.dest;
        self.temp
            .flush()
            .map_err(|e| FsError::new("write", &dest, e))?;
        let file = self.temp.as_file();
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(|e| FsError::new("set the mode of", &dest, e))?;
        if sync {
            file.sync_all()
                .map_err(|e| FsError::new("flush to disk", &dest, e))?;
        }
        self.temp
            .persist(&dest)
            .map_err(|e| FsError::new("replace", &dest, e.error))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.flush()
    }
}

/// A `tempfile` error without the ` at path "<random temporary name>"` it appends to the
/// operating system's message (the [`FsError`] names the directory already).
fn without_temp_path(err: std::io::Error) -> std::io::Error {
    let text = err.to_string();
    match text.split_once(" at path ") {
        Some((os, _)) if err.get_ref().is_some() => std::io::Error::new(err.kind(), os),
        _ => err,
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_content_and_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("kind");
        atomic_write(&target, b"#!/bin/sh\n", 0o755).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"#!/bin/sh\n");
        assert_eq!(mode_of(&target), 0o755);
        assert_eq!(entries(dir.path()), ["kind"]);
    }

    #[test]
    fn replaces_an_existing_file_and_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ciux.sh");
        std::fs::write(&target, "old content that is longer\n").unwrap();
        atomic_write(&target, b"new\n", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
        assert_eq!(mode_of(&target), 0o644);
        assert_eq!(entries(dir.path()), ["ciux.sh"]);
    }

    #[test]
    fn an_unsynced_commit_replaces_the_target_too() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("cached");
        std::fs::write(&target, "old\n").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.file_mut().write_all(b"new\n").unwrap();
        file.commit_unsynced(0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
        assert_eq!(mode_of(&target), 0o644);
        assert_eq!(entries(dir.path()), ["cached"]);
    }

    #[test]
    fn dropping_without_commit_leaves_the_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("env");
        std::fs::write(&target, "old\n").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"partial").unwrap();
        drop(file);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old\n");
        assert_eq!(entries(dir.path()), ["env"]);
    }

    #[test]
    fn missing_directory_is_an_error_naming_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing/dir/file");
        let err = anyhow::Error::from(atomic_write(&target, b"x", 0o644).unwrap_err());
        assert_eq!(
            format!("{err:#}"),
            format!(
                "cannot create a temporary file in {}: No such file or directory (os error 2)",
                dir.path().join("missing/dir").display()
            )
        );
    }

    #[test]
    fn target_that_is_a_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "x").unwrap();
        let err = atomic_write(&target, b"x", 0o644).unwrap_err();
        assert!(err.to_string().starts_with("cannot replace "), "{err}");
        assert_eq!(entries(dir.path()), ["sub"]);
    }
}
