//! Running external programs (kind, kubectl, helm, docker, git, spark-submit) from argv vectors,
//! never through a shell string.
//!
//! A [`Cmd`] describes one invocation; a [`Runner`] executes it and honours `--dry-run` by printing
//! the command as a POSIX-shell-quoted line on stdout instead of running it. The API is
//! synchronous: from async code, call it inside `tokio::task::spawn_blocking`. Termination
//! signals sent to the tool while a child runs are forwarded to the child (see `signals`).

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

mod signals;

/// How many trailing lines of the child's stderr a [`RunError::Failed`] keeps.
const STDERR_TAIL_LINES: usize = 20;

/// One program invocation: program, arguments, extra environment, working directory and stdin.
#[derive(Debug, Clone, Default)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    hint: Option<String>,
    secrets: Vec<String>,
}

impl Cmd {
    /// A command running `program` (looked up on `PATH` unless it contains a `/`).
    pub fn new(program: impl Into<OsString>) -> Self {
        Cmd {
            program: program.into(),
            ..Cmd::default()
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the child (the rest of the environment is inherited).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Runs the child in `dir`.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Feeds `bytes` to the child's stdin (otherwise stdin is empty, except for
    /// [`Runner::interactive`], which inherits it).
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Tells the user how to install the program when it is not found, such as
    /// ``run `ktbx install kind` ``.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Marks `value` (a password, a key) as secret: it is replaced by `***` wherever the command
    /// appears in logs or error messages.
    pub fn secret(mut self, value: impl Into<String>) -> Self {
        self.secrets.push(value.into());
        self
    }

    /// The program as given.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments.
    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    /// The extra environment variables, in the order they were set.
    pub fn get_envs(&self) -> &[(OsString, OsString)] {
        &self.envs
    }

    /// The working directory, if one was set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// The command as one POSIX shell line: extra environment variables as `KEY=value` prefixes,
    /// then the program and its arguments, each quoted only when needed. `sh -c` on the line runs
    /// the same argv. The working directory and stdin are not part of the line. Secrets are
    /// included (this is what dry-run prints); logs and errors use [`Cmd::to_redacted_line`].
    pub fn to_shell_line(&self) -> String {
        self.render(false)
    }

    /// [`Cmd::to_shell_line`] with every value registered through [`Cmd::secret`] replaced by
    /// `***`: what logs and error messages show.
    pub fn to_redacted_line(&self) -> String {
        self.render(true)
    }

    fn render(&self, redact: bool) -> String {
        let mask = |word: &OsStr| -> OsString {
            if !redact {
                return word.to_owned();
            }
            let mut text = word.to_string_lossy().into_owned();
            for secret in self.secrets.iter().filter(|s| !s.is_empty()) {
                text = text.replace(secret.as_str(), "***");
            }
            text.into()
        };
        let mut words = Vec::new();
        if self.envs.iter().any(|(k, _)| !is_env_name(k)) {
            words.push("env".to_string());
        }
        for (key, value) in &self.envs {
            if is_env_name(key) {
                words.push(format!(
                    "{}={}",
                    key.to_string_lossy(),
                    shell_quote(&mask(value))
                ));
            } else {
                let mut assignment = key.clone();
                assignment.push("=");
                assignment.push(value);
                words.push(shell_quote(&mask(&assignment)));
            }
        }
        let program = shell_quote(&self.program);
        // `a=b` as the first word would be an assignment, not a command.
        let program = if self.program.to_string_lossy().contains('=') && !program.starts_with('\'')
        {
            format!("'{program}'")
        } else {
            program
        };
        words.push(program);
        words.extend(self.args.iter().map(|a| shell_quote(&mask(a))));
        words.join(" ")
    }
}

fn is_env_name(key: &OsStr) -> bool {
    let key = key.to_string_lossy();
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Quotes one word for a POSIX shell: unchanged when it only has safe characters, otherwise in
/// single quotes (an embedded `'` becomes `'\''`). Non-UTF-8 bytes are replaced by U+FFFD.
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
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it wrote on stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote on stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    fn dry_run() -> Self {
        Output {
            status: ExitStatus::from_raw(0),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }
}

/// Why a command could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program is not on `PATH` (or the given path does not exist).
    #[error("`{program}` not found on PATH: {hint}")]
    NotFound {
        /// The program name.
        program: String,
        /// How to install it.
        hint: String,
    },
    /// The program exists but could not be started.
    #[error("cannot run `{line}`: {source}")]
    Spawn {
        /// The command line.
        line: String,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The program ran and exited unsuccessfully.
    #[error("`{line}` failed with {}{}", exit_text(*.code), last_line(.stderr_tail))]
    Failed {
        /// The command line.
        line: String,
        /// The exit code; `None` when a signal ended it.
        code: Option<i32>,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
}

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "a signal".to_string(),
    }
}

fn last_line(tail: &str) -> String {
    tail.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default()
}

/// Finds `program` on the current `PATH` like a shell would (a name with a `/` is taken as a path).
pub fn which(program: &str) -> Option<PathBuf> {
    which_in(OsStr::new(program), std::env::var_os("PATH").as_deref())
}

fn which_in(program: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.to_string_lossy().contains('/') {
        let candidate = PathBuf::from(program);
        return is_executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path?)
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            }
        })
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

type Sink = Arc<Mutex<dyn Write + Send>>;

/// Where the child's stdout is forwarded while it is captured.
#[derive(Clone, Copy)]
enum Forward {
    ToStdout,
    ToStderr,
    Nowhere,
}

/// Executes [`Cmd`]s, honouring dry-run.
#[derive(Clone)]
pub struct Runner {
    dry_run: bool,
    stdout: Sink,
    stderr: Sink,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner writing to the process's stdout and stderr.
    pub fn new(dry_run: bool) -> Self {
        Runner::with_output(dry_run, std::io::stdout(), std::io::stderr())
    }

    /// A runner whose "terminal" is `stdout` and `stderr` (the dry-run lines and the forwarded
    /// child output go there); for tests and embedding.
    pub fn with_output(
        dry_run: bool,
        stdout: impl Write + Send + 'static,
        stderr: impl Write + Send + 'static,
    ) -> Self {
        Runner {
            dry_run,
            stdout: Arc::new(Mutex::new(stdout)),
            stderr: Arc::new(Mutex::new(stderr)),
        }
    }

    /// Whether commands are only printed.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// Runs `cmd`: its stdout goes to our stdout, its stderr to our stderr, both are also captured.
    /// A non-zero exit is [`RunError::Failed`]. In dry-run mode prints the shell line on stdout,
    /// runs nothing and returns an empty success.
    pub fn run(&self, cmd: &Cmd) -> Result<Output, RunError> {
        if self.print_if_dry_run(cmd)? {
            return Ok(Output::dry_run());
        }
        checked(cmd, self.capture(cmd, Forward::ToStdout)?)
    }

    /// Like [`Runner::run`], but the child's stdout is forwarded to our stderr (for tools whose
    /// stdout is progress or log output, so our stdout stays data only).
    pub fn run_logged(&self, cmd: &Cmd) -> Result<Output, RunError> {
        if self.print_if_dry_run(cmd)? {
            return Ok(Output::dry_run());
        }
        checked(cmd, self.capture(cmd, Forward::ToStderr)?)
    }

    /// Runs a read-only `cmd` even in dry-run mode, capturing its output silently. A non-zero exit
    /// is [`RunError::Failed`].
    pub fn query(&self, cmd: &Cmd) -> Result<Output, RunError> {
        checked(cmd, self.capture(cmd, Forward::Nowhere)?)
    }

    /// Like [`Runner::query`], but any exit status is returned as an [`Output`] (only a missing
    /// program or a failed start is an error): for probes such as `kind version -q`.
    pub fn probe(&self, cmd: &Cmd) -> Result<Output, RunError> {
        self.capture(cmd, Forward::Nowhere)
    }

    /// Runs `cmd` attached to our terminal (stdin, stdout, stderr inherited) and returns its exit
    /// status, whatever it is. In dry-run mode prints the shell line and returns success.
    pub fn interactive(&self, cmd: &Cmd) -> Result<ExitStatus, RunError> {
        if self.print_if_dry_run(cmd)? {
            return Ok(ExitStatus::from_raw(0));
        }
        tracing::info!(command = %cmd.to_redacted_line(), "running");
        let mut command = build(cmd)?;
        command.stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
        let mut child = command.spawn().map_err(|e| spawn_error(cmd, e))?;
        let _running = signals::Running::new(&child);
        let feeder = feed_stdin(&mut child, cmd);
        let status = child.wait().map_err(|e| spawn_error(cmd, e))?;
        join_feeder(feeder);
        Ok(status)
    }

    fn print_if_dry_run(&self, cmd: &Cmd) -> Result<bool, RunError> {
        if !self.dry_run {
            return Ok(false);
        }
        let mut out = self.stdout.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(out, "{}", cmd.to_shell_line())
            .and_then(|()| out.flush())
            .map_err(|source| RunError::Spawn {
                line: cmd.to_redacted_line(),
                source,
            })?;
        Ok(true)
    }

    fn capture(&self, cmd: &Cmd, forward: Forward) -> Result<Output, RunError> {
        tracing::info!(command = %cmd.to_redacted_line(), "running");
        let mut command = build(cmd)?;
        command
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| spawn_error(cmd, e))?;
        let _running = signals::Running::new(&child);
        let feeder = feed_stdin(&mut child, cmd);
        let (out_sink, err_sink) = match forward {
            Forward::ToStdout => (Some(self.stdout.clone()), Some(self.stderr.clone())),
            Forward::ToStderr => (Some(self.stderr.clone()), Some(self.stderr.clone())),
            Forward::Nowhere => (None, None),
        };
        #[allow(
            clippy::expect_used,
            reason = "the command was spawned with both pipes just above"
        )]
        let (stdout_pipe, stderr_pipe) = (
            child.stdout.take().expect("stdout is piped"),
            child.stderr.take().expect("stderr is piped"),
        );
        let out_thread = std::thread::spawn(move || tee(stdout_pipe, out_sink));
        let err_thread = std::thread::spawn(move || tee(stderr_pipe, err_sink));
        let status = child.wait().map_err(|e| spawn_error(cmd, e))?;
        let stdout = out_thread.join().unwrap_or_default();
        let stderr = err_thread.join().unwrap_or_default();
        join_feeder(feeder);
        tracing::debug!(command = %cmd.to_redacted_line(), %status, "finished");
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

fn build(cmd: &Cmd) -> Result<Command, RunError> {
    let path_var = cmd
        .envs
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var_os("PATH"));
    let resolved =
        which_in(&cmd.program, path_var.as_deref()).ok_or_else(|| RunError::NotFound {
            program: cmd.program.to_string_lossy().into_owned(),
            hint: cmd
                .hint
                .clone()
                .unwrap_or_else(|| "install it and make sure its directory is on PATH".to_string()),
        })?;
    let mut command = Command::new(resolved);
    command
        .arg0(&cmd.program)
        .args(&cmd.args)
        .envs(cmd.envs.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    Ok(command)
}

fn spawn_error(cmd: &Cmd, source: std::io::Error) -> RunError {
    let source = match &cmd.cwd {
        Some(dir) if !dir.is_dir() => std::io::Error::new(
            source.kind(),
            format!("working directory {} does not exist", dir.display()),
        ),
        _ => source,
    };
    RunError::Spawn {
        line: cmd.to_redacted_line(),
        source,
    }
}

fn checked(cmd: &Cmd, output: Output) -> Result<Output, RunError> {
    if output.status.success() {
        return Ok(output);
    }
    let text = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
    Err(RunError::Failed {
        line: cmd.to_redacted_line(),
        code: output.status.code(),
        stderr_tail: tail,
    })
}

type Feeder = Option<std::thread::JoinHandle<()>>;

fn feed_stdin(child: &mut std::process::Child, cmd: &Cmd) -> Feeder {
    let bytes = cmd.stdin.clone()?;
    let mut pipe = child.stdin.take()?;
    // A child that exits without reading all its input closes the pipe: not our error.
    Some(std::thread::spawn(move || {
        let _ = pipe.write_all(&bytes);
    }))
}

fn join_feeder(feeder: Feeder) {
    if let Some(handle) = feeder {
        let _ = handle.join();
    }
}

/// Copies `pipe` to `sink` (if any) chunk by chunk while keeping everything.
fn tee(mut pipe: impl Read, sink: Option<Sink>) -> Vec<u8> {
    let mut captured = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                captured.extend_from_slice(&buf[..n]);
                if let Some(sink) = &sink {
                    let mut out = sink.lock().unwrap_or_else(|p| p.into_inner());
                    // A closed terminal must not stop the capture or block the child.
                    let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    captured
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared in-memory "terminal".
    #[derive(Clone, Default)]
    struct Screen(Arc<Mutex<Vec<u8>>>);

    impl Write for Screen {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Screen {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn runner(dry_run: bool) -> (Runner, Screen, Screen) {
        let (out, err) = (Screen::default(), Screen::default());
        (
            Runner::with_output(dry_run, out.clone(), err.clone()),
            out,
            err,
        )
    }

    fn sh(script: &str) -> Cmd {
        Cmd::new("sh").arg("-c").arg(script).arg("sh")
    }

    /// The argv that `sh -c LINE` actually runs, through a real POSIX shell.
    fn argv_through_shell(line: &str) -> Vec<String> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printargs() {{ for a in \"$@\"; do printf '%s\\0' \"$a\"; done; }}; printargs {line}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_terminator('\0').map(str::to_string).collect()
    }

    #[test]
    fn shell_line_quotes_only_when_needed() {
        let cmd = Cmd::new("kind").args([
            "create",
            "cluster",
            "--name",
            "fink ci",
            "--config",
            "/tmp/a b/k.yaml",
        ]);
        assert_eq!(
            cmd.to_shell_line(),
            "kind create cluster --name 'fink ci' --config '/tmp/a b/k.yaml'"
        );
        let cmd = Cmd::new("echo").args(["", "it's", "$(rm -rf /)", "a\"b", "x=y", "~", "#c", "*"]);
        assert_eq!(
            cmd.to_shell_line(),
            r#"echo '' 'it'\''s' '$(rm -rf /)' 'a"b' x=y '~' '#c' '*'"#
        );
        let cmd = Cmd::new("docker").env("A", "1 2").env("B", "").arg("ps");
        assert_eq!(cmd.to_shell_line(), "A='1 2' B='' docker ps");
        let cmd = Cmd::new("a=b").env("X-Y", "1");
        assert_eq!(cmd.to_shell_line(), "env X-Y=1 'a=b'");
    }

    #[test]
    fn secrets_are_masked_in_logs_and_errors_only() {
        let cmd = Cmd::new("spark-submit")
            .args([
                "--conf",
                "spark.hadoop.fs.s3a.secret.key=s3cr3t",
                "--user",
                "fink",
            ])
            .env("KAFKA_PASSWORD", "s3cr3t")
            .secret("s3cr3t");
        assert_eq!(
            cmd.to_redacted_line(),
            "KAFKA_PASSWORD='***' spark-submit --conf 'spark.hadoop.fs.s3a.secret.key=***' --user fink"
        );
        assert!(cmd.to_shell_line().contains("secret.key=s3cr3t"));
        let (runner, _, _) = runner(false);
        let failing = sh("exit 1").arg("s3cr3t").secret("s3cr3t");
        let err = runner.query(&failing).unwrap_err().to_string();
        assert!(!err.contains("s3cr3t") && err.contains("***"), "{err}");
    }

    #[test]
    fn shell_line_round_trips_through_sh() {
        let args = [
            "plain",
            "two words",
            "it's",
            "$HOME",
            "`id`",
            "\\back\\slash",
            "new\nline",
            "",
            "tab\there",
            "é€",
            "!bang",
            "a;b|c&d",
            "'",
            "\"",
        ];
        let cmd = Cmd::new("printf").args(args);
        let mut expected = vec!["printf".to_string()];
        expected.extend(args.iter().map(|s| s.to_string()));
        assert_eq!(argv_through_shell(&cmd.to_shell_line()), expected);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn any_argv_round_trips_through_sh(args in proptest::collection::vec("[^\\x00]{0,12}", 0..5)) {
            let cmd = Cmd::new("prog").args(&args);
            let mut expected = vec!["prog".to_string()];
            expected.extend(args.iter().cloned());
            proptest::prop_assert_eq!(argv_through_shell(&cmd.to_shell_line()), expected);
        }
    }

    #[test]
    fn run_tees_output_and_keeps_it() {
        let (runner, out, err) = runner(false);
        let output = runner.run(&sh("echo to-out; echo to-err >&2")).unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout_str(), "to-out\n");
        assert_eq!(output.stderr_str(), "to-err\n");
        assert_eq!(out.text(), "to-out\n");
        assert_eq!(err.text(), "to-err\n");
    }

    #[test]
    fn run_logged_sends_child_stdout_to_our_stderr() {
        let (runner, out, err) = runner(false);
        let output = runner.run_logged(&sh("echo progress")).unwrap();
        assert_eq!(output.stdout_str(), "progress\n");
        assert_eq!(out.text(), "");
        assert_eq!(err.text(), "progress\n");
    }

    #[test]
    fn query_is_silent_and_runs_even_in_dry_run() {
        let (runner, out, err) = runner(true);
        let output = runner.query(&Cmd::new("echo").arg("kind")).unwrap();
        assert_eq!(output.stdout_str(), "kind\n");
        assert_eq!(out.text(), "");
        assert_eq!(err.text(), "");
    }

    #[test]
    fn dry_run_prints_the_line_and_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let (runner, out, _) = runner(true);
        let cmd = Cmd::new("touch").arg(&marker);
        let output = runner.run(&cmd).unwrap();
        assert!(output.status.success() && output.stdout.is_empty());
        runner.run_logged(&cmd).unwrap();
        assert!(runner.interactive(&cmd).unwrap().success());
        assert!(!marker.exists());
        let line = format!("touch {}\n", marker.display());
        assert_eq!(out.text(), line.repeat(3));
    }

    #[test]
    fn env_cwd_and_stdin_reach_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, _, _) = runner(false);
        let cmd = sh("printf '%s|%s|' \"$FINK_X\" \"$(pwd)\"; cat")
            .env("FINK_X", "v 1")
            .current_dir(dir.path())
            .stdin_bytes("from stdin");
        let output = runner.query(&cmd).unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(
            output.stdout_str(),
            format!("v 1|{}|from stdin", cwd.display())
        );
    }

    #[test]
    fn large_stdin_and_output_do_not_deadlock() {
        let (runner, _, _) = runner(false);
        let input = vec![b'x'; 1 << 20];
        let output = runner
            .query(&Cmd::new("cat").stdin_bytes(input.clone()))
            .unwrap();
        assert_eq!(output.stdout, input);
    }

    #[test]
    fn non_zero_exit_is_failed_with_code_and_stderr_tail() {
        let (runner, _, err) = runner(false);
        let result = runner.run(&sh(
            "echo first >&2; echo 'ERROR: node(s) already exist' >&2; exit 3",
        ));
        match &result {
            Err(RunError::Failed {
                code,
                stderr_tail,
                line,
            }) => {
                assert_eq!(*code, Some(3));
                assert_eq!(stderr_tail, "first\nERROR: node(s) already exist");
                assert!(line.starts_with("sh -c "), "{line}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = result.unwrap_err().to_string();
        assert!(
            msg.ends_with("failed with exit code 3: ERROR: node(s) already exist"),
            "{msg}"
        );
        assert!(err.text().contains("already exist"));
    }

    #[test]
    fn probe_returns_any_exit_status() {
        let (runner, _, _) = runner(false);
        let output = runner.probe(&sh("echo v0.20.0; exit 1")).unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(output.stdout_str(), "v0.20.0\n");
    }

    #[test]
    fn missing_program_names_it_and_says_how_to_install() {
        let (runner, _, _) = runner(false);
        let err = runner
            .run(&Cmd::new("fink-no-such-tool").hint("run `ktbx install kind`"))
            .unwrap_err();
        assert!(matches!(err, RunError::NotFound { .. }));
        assert_eq!(
            err.to_string(),
            "`fink-no-such-tool` not found on PATH: run `ktbx install kind`"
        );
        let err = runner.query(&Cmd::new("/nonexistent/kind")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`/nonexistent/kind` not found on PATH: install it and make sure its directory is on PATH"
        );
    }

    #[test]
    fn path_from_the_command_env_is_used_for_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fakekind");
        std::fs::write(&fake, "#!/bin/sh\necho \"fake $*\"\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let (runner, _, _) = runner(false);
        let path = format!("{}:/usr/bin:/bin", dir.path().display());
        let output = runner
            .query(&Cmd::new("fakekind").arg("get").env("PATH", path))
            .unwrap();
        assert_eq!(output.stdout_str(), "fake get\n");
        assert!(which("fakekind").is_none());
        assert!(which("sh").is_some());
    }

    #[test]
    fn missing_working_directory_is_a_spawn_error_naming_it() {
        let (runner, _, _) = runner(false);
        let err = runner
            .query(&Cmd::new("true").current_dir("/nonexistent/dir"))
            .unwrap_err();
        assert!(matches!(err, RunError::Spawn { .. }));
        assert!(
            err.to_string()
                .contains("working directory /nonexistent/dir does not exist"),
            "{err}"
        );
    }

    /// Runs one test of this binary alone in a child process (signals are process-wide).
    fn run_isolated(test: &str) -> std::process::ExitStatus {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--ignored", "--quiet", "--test-threads=1"])
            .stdout(Stdio::null())
            .status()
            .unwrap()
    }

    #[test]
    #[ignore = "run alone in its own process by termination_signals_reach_the_child"]
    fn isolated_sigterm_is_forwarded_to_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let script = format!(
            "trap 'echo got-term; exit 7' TERM; touch '{}'; while :; do sleep 0.05; done",
            ready.display()
        );
        let killer = std::thread::spawn(move || {
            for _ in 0..1000 {
                if ready.exists() {
                    let me = rustix::process::getpid();
                    rustix::process::kill_process(me, rustix::process::Signal::TERM).unwrap();
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("the child never started");
        });
        let (runner, out, _) = runner(false);
        let err = runner.run(&sh(&script)).unwrap_err();
        killer.join().unwrap();
        assert!(
            matches!(err, RunError::Failed { code: Some(7), .. }),
            "{err}"
        );
        assert_eq!(out.text(), "got-term\n");
    }

    #[test]
    #[ignore = "run alone in its own process by termination_signals_reach_the_child"]
    fn isolated_sigterm_without_a_child_terminates() {
        let (runner, _, _) = runner(false);
        runner.query(&Cmd::new("true")).unwrap();
        let me = rustix::process::getpid();
        rustix::process::kill_process(me, rustix::process::Signal::TERM).unwrap();
        std::thread::sleep(std::time::Duration::from_secs(10));
    }

    #[test]
    fn termination_signals_reach_the_child() {
        let status = run_isolated("process::tests::isolated_sigterm_is_forwarded_to_the_child");
        assert!(status.success(), "{status}");
        // Once no child runs, SIGTERM terminates the tool as usual (the handler does not swallow it).
        let status = run_isolated("process::tests::isolated_sigterm_without_a_child_terminates");
        assert_eq!(status.signal(), Some(15), "{status}");
    }

    #[test]
    fn interactive_returns_the_exit_status() {
        let (runner, _, _) = runner(false);
        let status = runner.interactive(&sh("exit 4").stdin_bytes("")).unwrap();
        assert_eq!(status.code(), Some(4));
    }
}
