//! Stand-in for `common::process` and `common::fs` (same API as docs/CONTRACTS.md) until the `common`
//! branch lands; then this module becomes `pub(crate) use common::{fs, process};`.

/// Running external programs from argv vectors.
pub mod process {
    use std::ffi::{OsStr, OsString};
    use std::io::Write;
    use std::path::PathBuf;
    use std::process::{ExitStatus, Stdio};

    /// A command line: program, arguments, stdin and an install hint.
    #[derive(Debug, Clone)]
    pub struct Cmd {
        program: OsString,
        args: Vec<OsString>,
        stdin: Option<Vec<u8>>,
        hint: String,
    }

    impl Cmd {
        /// A command running `program`.
        pub fn new(program: impl Into<OsString>) -> Self {
            Self {
                program: program.into(),
                args: Vec::new(),
                stdin: None,
                hint: String::new(),
            }
        }
        /// Adds an argument.
        pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
            self.args.push(arg.into());
            self
        }
        /// Adds arguments.
        pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
            self.args.extend(args.into_iter().map(Into::into));
            self
        }
        /// Bytes written to the child's stdin.
        pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
            self.stdin = Some(bytes.into());
            self
        }
        /// How to install the program when it is missing.
        pub fn hint(mut self, hint: impl Into<String>) -> Self {
            self.hint = hint.into();
            self
        }
        /// The command as a POSIX shell line.
        pub fn to_shell_line(&self) -> String {
            std::iter::once(&self.program)
                .chain(&self.args)
                .map(|w| shell_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        }
    }

    /// Quotes one word for a POSIX shell when needed.
    pub fn shell_quote(word: &OsStr) -> String {
        let word = word.to_string_lossy();
        let safe = |c: char| c.is_ascii_alphanumeric() || "_-+=:,./@%".contains(c);
        if !word.is_empty() && word.chars().all(safe) {
            return word.into_owned();
        }
        format!("'{}'", word.replace('\'', r"'\''"))
    }

    /// What a finished child produced.
    #[derive(Debug, Clone)]
    pub struct Output {
        /// Exit status.
        pub status: ExitStatus,
        /// Captured stdout.
        pub stdout: Vec<u8>,
        /// Captured stderr.
        pub stderr: Vec<u8>,
    }

    impl Output {
        /// Stdout as text.
        pub fn stdout_str(&self) -> String {
            String::from_utf8_lossy(&self.stdout).into_owned()
        }
    }

    /// Why a command could not run or did not succeed.
    #[derive(Debug, thiserror::Error)]
    pub enum RunError {
        /// The program is not on PATH.
        #[error("`{program}` not found on PATH: {hint}")]
        NotFound {
            /// Program name.
            program: String,
            /// How to install it.
            hint: String,
        },
        /// Could not start.
        #[error("cannot run `{line}`: {source}")]
        Spawn {
            /// Command line.
            line: String,
            /// OS error.
            source: std::io::Error,
        },
        /// Non-zero exit.
        #[error("`{line}` failed with exit code {code:?}: {stderr_tail}")]
        Failed {
            /// Command line.
            line: String,
            /// Exit code.
            code: Option<i32>,
            /// End of stderr.
            stderr_tail: String,
        },
    }

    /// Runs commands, or prints them in dry-run.
    #[derive(Debug, Clone)]
    pub struct Runner {
        dry_run: bool,
    }

    impl Runner {
        /// A runner.
        pub fn new(dry_run: bool) -> Self {
            Self { dry_run }
        }
        /// Dry-run mode.
        pub fn is_dry_run(&self) -> bool {
            self.dry_run
        }
        /// Runs a mutating command; the child's stdout goes to our stderr (and is captured).
        pub fn run_logged(&self, cmd: &Cmd) -> Result<Output, RunError> {
            if self.dry_run {
                println!("{}", cmd.to_shell_line());
                return Ok(Output {
                    status: ExitStatus::default(),
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                });
            }
            let out = self.query(cmd)?;
            let _ = std::io::stderr().write_all(&out.stdout);
            Ok(out)
        }
        /// Runs a read-only command (also in dry-run) and captures its output.
        pub fn query(&self, cmd: &Cmd) -> Result<Output, RunError> {
            let line = cmd.to_shell_line();
            let program = cmd.program.to_string_lossy().into_owned();
            let found: Option<PathBuf> = if program.contains('/') {
                Some(PathBuf::from(&program))
            } else {
                std::env::var_os("PATH").and_then(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(&program))
                        .find(|p| p.is_file())
                })
            };
            if found.is_none() {
                return Err(RunError::NotFound {
                    program,
                    hint: cmd.hint.clone(),
                });
            }
            let mut child = std::process::Command::new(&cmd.program)
                .args(&cmd.args)
                .stdin(if cmd.stdin.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|source| RunError::Spawn {
                    line: line.clone(),
                    source,
                })?;
            if let (Some(bytes), Some(mut stdin)) = (&cmd.stdin, child.stdin.take()) {
                let _ = stdin.write_all(bytes);
            }
            let out = child.wait_with_output().map_err(|source| RunError::Spawn {
                line: line.clone(),
                source,
            })?;
            if !out.status.success() {
                let tail = String::from_utf8_lossy(&out.stderr);
                return Err(RunError::Failed {
                    line,
                    code: out.status.code(),
                    stderr_tail: tail
                        .lines()
                        .rev()
                        .take(5)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n"),
                });
            }
            Ok(Output {
                status: out.status,
                stdout: out.stdout,
                stderr: out.stderr,
            })
        }
    }
}

/// Atomic file writes.
pub mod fs {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    /// A file-system operation that failed.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot {action} {}: {source}", path.display())]
    pub struct FsError {
        /// What was being done.
        pub action: &'static str,
        /// The path.
        pub path: PathBuf,
        /// The I/O error.
        #[source]
        pub source: std::io::Error,
    }

    /// Writes `bytes` to `path` through a temporary file and a rename.
    pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
        let err = |action| {
            move |source| FsError {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp =
            tempfile::NamedTempFile::new_in(dir).map_err(err("create a temporary file for"))?;
        tmp.write_all(bytes).map_err(err("write"))?;
        tmp.as_file().sync_all().map_err(err("sync"))?;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
            .map_err(err("set the mode of"))?;
        tmp.persist(path)
            .map_err(|e| e.error)
            .map_err(err("rename into"))?;
        Ok(())
    }
}
