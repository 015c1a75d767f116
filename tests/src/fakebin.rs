//! Fake executables (`kind`, `docker`, `helm`, `spark-submit`, any name) placed first on `PATH`.
//!
//! Every fake is a hard link (or a copy) of the `fake-exe` binary of this package, named after the
//! program it stands for, in a directory that also holds its script `<name>.fake.json`. When run,
//! it records its arguments, stdin, working directory and the environment variables named by the
//! script as one JSON line in `calls.jsonl`, then prints the scripted stdout and stderr and exits
//! with the scripted code. No shell is involved.
//!
//! ```no_run
//! use harness::fakebin::{FakeBins, Reply, Script};
//! let fakes = FakeBins::new();
//! fakes.add("kind", Script::default().on(&["get", "clusters"], Reply::stdout("a\nb\n")));
//! // run the tool under test with PATH=fakes.path_env() …
//! let calls = fakes.calls("kind");
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

const LOG_FILE: &str = "calls.jsonl";
const LOCK_FILE: &str = "calls.lock";
const SCRIPT_SUFFIX: &str = ".fake.json";
/// How long a fake waits for its stdin to reach end-of-file before recording what it has.
const STDIN_WAIT: Duration = Duration::from_secs(2);

/// One answer of a fake: what it prints and how it exits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reply {
    /// Printed on stdout.
    pub stdout: String,
    /// Printed on stderr.
    pub stderr: String,
    /// The exit code.
    pub exit_code: i32,
}

impl Reply {
    /// Success printing `stdout`.
    pub fn stdout(stdout: impl Into<String>) -> Reply {
        Reply {
            stdout: stdout.into(),
            ..Reply::default()
        }
    }

    /// Failure with `exit_code`, printing `stderr`.
    pub fn fail(exit_code: i32, stderr: impl Into<String>) -> Reply {
        Reply {
            stderr: stderr.into(),
            exit_code,
            ..Reply::default()
        }
    }
}

/// A reply for invocations whose arguments start with `args_prefix`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rule {
    /// The leading arguments (after the program name) this rule matches.
    pub args_prefix: Vec<String>,
    /// The answer.
    pub reply: Reply,
}

/// What a fake answers. The reply of invocation *n* (counted from 0 per fake) is
/// `sequence[n]` if present, else the first rule whose prefix matches the arguments, else the
/// default reply made of `stdout`, `stderr` and `exit_code` (empty output, exit 0 by default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Script {
    /// Default stdout.
    pub stdout: String,
    /// Default stderr.
    pub stderr: String,
    /// Default exit code.
    pub exit_code: i32,
    /// Replies chosen by argument prefix, first match wins.
    pub rules: Vec<Rule>,
    /// Replies of the first invocations, in order.
    pub sequence: Vec<Reply>,
    /// Environment variables recorded with each call (when set).
    pub record_env: Vec<String>,
}

impl Script {
    /// By default: succeed printing `stdout`.
    pub fn stdout(stdout: impl Into<String>) -> Script {
        Script {
            stdout: stdout.into(),
            ..Script::default()
        }
    }

    /// By default: fail with `exit_code`, printing `stderr`.
    pub fn fail(exit_code: i32, stderr: impl Into<String>) -> Script {
        Script {
            stderr: stderr.into(),
            exit_code,
            ..Script::default()
        }
    }

    /// Answers `reply` when the arguments start with `args_prefix` (e.g. `["get", "clusters"]`).
    pub fn on(mut self, args_prefix: &[&str], reply: Reply) -> Script {
        self.rules.push(Rule {
            args_prefix: args_prefix.iter().map(|arg| (*arg).to_owned()).collect(),
            reply,
        });
        self
    }

    /// Answers `reply` on the next invocation not yet covered by the sequence.
    pub fn then(mut self, reply: Reply) -> Script {
        self.sequence.push(reply);
        self
    }

    /// Records the value of environment variable `name` with each call.
    pub fn record_env(mut self, name: &str) -> Script {
        self.record_env.push(name.to_owned());
        self
    }

    fn reply(&self, invocation: usize, args: &[String]) -> Reply {
        if let Some(reply) = self.sequence.get(invocation) {
            return reply.clone();
        }
        self.rules
            .iter()
            .find(|rule| args.starts_with(&rule.args_prefix))
            .map(|rule| rule.reply.clone())
            .unwrap_or_else(|| Reply {
                stdout: self.stdout.clone(),
                stderr: self.stderr.clone(),
                exit_code: self.exit_code,
            })
    }
}

/// One recorded invocation of a fake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// The fake's name (`kind`).
    pub name: String,
    /// The arguments after the program name.
    pub argv: Vec<String>,
    /// What was read on stdin (lossy UTF-8; empty when stdin was a terminal or did not reach
    /// end-of-file within 2 s).
    pub stdin: String,
    /// The recorded environment variables (those of [`Script::record_env`] that were set).
    pub env: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: PathBuf,
}

/// A directory of fake executables. A temporary one is removed on drop.
pub struct FakeBins {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl FakeBins {
    /// An empty fake directory in a new temporary directory.
    pub fn new() -> FakeBins {
        let temp = tempfile::Builder::new()
            .prefix("fakebin-")
            .tempdir()
            .expect("creating a temporary directory for fake executables");
        FakeBins {
            dir: temp.path().to_owned(),
            _temp: Some(temp),
        }
    }

    /// Fake executables in `dir` (created if missing, kept on drop).
    pub fn in_dir(dir: &Path) -> FakeBins {
        fs::create_dir_all(dir).unwrap_or_else(|err| {
            panic!(
                "creating fake executable directory {}: {err}",
                dir.display()
            )
        });
        FakeBins {
            dir: dir.to_owned(),
            _temp: None,
        }
    }

    /// Installs (or re-scripts) the fake `name`.
    pub fn add(&self, name: &str, script: Script) -> &Self {
        let script_path = self.dir.join(format!("{name}{SCRIPT_SUFFIX}"));
        let json = serde_json::to_vec_pretty(&script).expect("serialising a fake script");
        let temp = self.dir.join(format!(".{name}{SCRIPT_SUFFIX}.tmp"));
        fs::write(&temp, json)
            .and_then(|()| fs::rename(&temp, &script_path))
            .unwrap_or_else(|err| panic!("writing {}: {err}", script_path.display()));
        let exe = self.dir.join(name);
        if !exe.exists() {
            let source = fake_exe_path();
            if fs::hard_link(source, &exe).is_err() {
                fs::copy(source, &exe).unwrap_or_else(|err| {
                    panic!("copying {} to {}: {err}", source.display(), exe.display())
                });
            }
        }
        self
    }

    /// The directory holding the fakes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A `PATH` value with the fake directory first, then the current `PATH`.
    pub fn path_env(&self) -> OsString {
        let current = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(self.dir.clone()).chain(std::env::split_paths(&current));
        std::env::join_paths(dirs).expect("joining PATH entries")
    }

    /// The calls of the fake `name`, oldest first.
    pub fn calls(&self, name: &str) -> Vec<Call> {
        self.all_calls()
            .into_iter()
            .filter(|call| call.name == name)
            .collect()
    }

    /// The calls of every fake of this directory, oldest first.
    pub fn all_calls(&self) -> Vec<Call> {
        let log = self.dir.join(LOG_FILE);
        let text = match fs::read_to_string(&log) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(err) => panic!("reading {}: {err}", log.display()),
        };
        text.lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("bad line in {}: {err}: {line}", log.display()))
            })
            .collect()
    }
}

impl Default for FakeBins {
    fn default() -> Self {
        FakeBins::new()
    }
}

/// The path of the `fake-exe` binary that every fake is a link to.
///
/// Resolution, once per process:
/// 1. `$FINK_FAKE_EXE` if set.
/// 2. `fake-exe` next to the running test executable's `deps` directory (`<target>/debug/`), if
///    it was built from the same `fakebin.rs` as this library: it prints a fingerprint of that
///    source when run as `fake-exe --fingerprint`. `cargo test`/`nextest` of the workspace or of
///    this package build it there, so then nothing more is needed.
/// 3. Otherwise `cargo build -p harness --bin fake-exe --message-format=json` against this
///    workspace (`$CARGO`, else `cargo` on `PATH`) and the executable path cargo reports: this
///    works from the tests of any crate (cargo does not hold the build lock while tests run),
///    honours `CARGO_TARGET_DIR` and never uses a stale binary. The first time it may compile the
///    `harness` package's dependencies with that package's own feature set (minutes, once); after
///    that it is a no-op cargo run of about half a second per test process.
pub fn fake_exe_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("FINK_FAKE_EXE") {
            return PathBuf::from(path);
        }
        sibling_fake_exe().unwrap_or_else(build_fake_exe)
    })
}

/// A fingerprint (FNV-1a) of this file, compiled into both the library and `fake-exe`.
const FINGERPRINT: u64 = {
    let source = include_bytes!("fakebin.rs");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < source.len() {
        hash = (hash ^ source[i] as u64).wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
};

/// `<target>/<profile>/fake-exe` beside the running test's `deps` directory, when it has this
/// library's fingerprint.
fn sibling_fake_exe() -> Option<PathBuf> {
    let test_exe = std::env::current_exe().ok()?;
    let candidate = test_exe.parent()?.parent()?.join("fake-exe");
    let output = Command::new(&candidate)
        .arg("--fingerprint")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    (output.status.success() && output.stdout == format!("{FINGERPRINT:016x}\n").as_bytes())
        .then_some(candidate)
}

fn build_fake_exe() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = Command::new(&cargo)
        .args([
            "build",
            "--quiet",
            "--message-format=json",
            "-p",
            "harness",
            "--bin",
            "fake-exe",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "running {} to build fake-exe: {err}",
                cargo.to_string_lossy()
            )
        });
    assert!(
        output.status.success(),
        "`cargo build -p harness --bin fake-exe` failed ({}); build it by hand or set FINK_FAKE_EXE",
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == "fake-exe")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo did not report the fake-exe executable")
}

/// The `main` of the `fake-exe` binary: record the call, answer from the script.
pub fn fake_main() -> i32 {
    match run_fake() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("fake-exe: {message}");
            127
        }
    }
}

fn run_fake() -> Result<i32, String> {
    let exe = std::env::current_exe().map_err(|err| format!("locating myself: {err}"))?;
    let dir = exe.parent().ok_or("executable has no directory")?;
    let name = exe
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or("executable name is not UTF-8")?
        .to_owned();
    if name == "fake-exe" {
        // Not a fake: the binary itself, asked which source it was built from.
        if std::env::args().nth(1).as_deref() == Some("--fingerprint") {
            println!("{FINGERPRINT:016x}");
            return Ok(0);
        }
        return Err(
            "run me through a link named after the faked program (see harness::fakebin)".into(),
        );
    }
    let script_path = dir.join(format!("{name}{SCRIPT_SUFFIX}"));
    let script: Script = fs::read(&script_path)
        .map_err(|err| err.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|err| err.to_string()))
        .map_err(|err| format!("reading script {}: {err}", script_path.display()))?;

    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let env = script
        .record_env
        .iter()
        .filter_map(|var| std::env::var(var).ok().map(|value| (var.clone(), value)))
        .collect();
    let call = Call {
        name: name.clone(),
        argv,
        stdin: read_stdin(),
        env,
        cwd: std::env::current_dir().unwrap_or_default(),
    };
    let invocation = record(dir, &call)?;
    let reply = script.reply(invocation, &call.argv);
    print!("{}", reply.stdout);
    eprint!("{}", reply.stderr);
    let _ = std::io::stdout().flush();
    Ok(reply.exit_code)
}

/// Reads stdin to its end, unless it is a terminal; waits at most [`STDIN_WAIT`] for the end, so a
/// pipe inherited from the test runner and never closed does not hang the fake.
fn read_stdin() -> String {
    if std::io::stdin().is_terminal() {
        return String::new();
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::stdin().lock().read_to_end(&mut bytes);
        let _ = sender.send(bytes);
    });
    receiver
        .recv_timeout(STDIN_WAIT)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Appends `call` to the log under the directory's lock; returns how many calls of the same fake
/// preceded it.
fn record(dir: &Path, call: &Call) -> Result<usize, String> {
    let lock_path = dir.join(LOCK_FILE);
    let lock = File::create(&lock_path)
        .map_err(|err| format!("opening {}: {err}", lock_path.display()))?;
    lock.lock()
        .map_err(|err| format!("locking {}: {err}", lock_path.display()))?;
    let log_path = dir.join(LOG_FILE);
    let previous = match fs::read_to_string(&log_path) {
        Ok(text) => text
            .lines()
            .filter_map(|line| serde_json::from_str::<Call>(line).ok())
            .filter(|earlier| earlier.name == call.name)
            .count(),
        Err(_) => 0,
    };
    let mut line = serde_json::to_string(call).map_err(|err| err.to_string())?;
    line.push('\n');
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .and_then(|mut log| log.write_all(line.as_bytes()))
        .map_err(|err| format!("writing {}: {err}", log_path.display()))?;
    Ok(previous)
}
