//! Git fixtures built with the git CLI, and `git daemon` on loopback for `git://` remotes.
//!
//! Every git command runs from an argv vector with a fixed identity and a clock that advances one
//! minute per commit or tag (author and committer dates through `GIT_*_DATE`), and with the user's
//! and the system's git configuration ignored, so the same steps give the same hashes on every
//! machine.
//!
//! ```no_run
//! use harness::git::{GitDaemon, GitRepo};
//! let repo = GitRepo::temp();
//! let c1 = repo.commit("c1", &[("rootfs/file1.txt", "one\n")]);
//! repo.annotated_tag("v1.0.0", "release 1.0.0");
//! let root = tempfile::tempdir().unwrap();
//! repo.bare_clone(&root.path().join("fink-broker.git"));
//! let daemon = GitDaemon::serve(root.path());
//! let url = daemon.url("fink-broker.git"); // git://127.0.0.1:PORT/fink-broker.git
//! // later: new upstream commits
//! repo.commit("c2", &[]);
//! repo.push(&url, &["main"]);
//! ```

use std::ffi::OsStr;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Author and committer name of every fixture commit and tag.
pub const AUTHOR_NAME: &str = "Fink Tester";
/// Author and committer email of every fixture commit and tag.
pub const AUTHOR_EMAIL: &str = "tester@fink-tools.invalid";
/// The date of a fixture's first commit (2024-01-01T00:00:00Z), in seconds since the epoch.
pub const FIRST_COMMIT_TIME: i64 = 1_704_067_200;

/// A git command with the fixture identity, clock and an isolated configuration.
fn git_command(time: i64) -> Command {
    isolated_command(Path::new("git"), time)
}

/// `program` (git or one of its helpers) with the fixture identity, clock and configuration.
fn isolated_command(program: &Path, time: i64) -> Command {
    let date = format!("{time} +0000");
    let mut command = Command::new(program);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
    ] {
        command.env_remove(var);
    }
    command
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
        .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
        .env("GIT_COMMITTER_NAME", AUTHOR_NAME)
        .env("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    command
}

/// Runs `command` and returns its trimmed stdout; panics with git's stderr when it fails.
fn run(mut command: Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("running {command:?}: {err} (is git installed?)"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned()
}

/// A git working repository used as a fixture. A temporary one is removed on drop.
pub struct GitRepo {
    dir: PathBuf,
    clock: AtomicI64,
    _temp: Option<tempfile::TempDir>,
}

impl GitRepo {
    /// `git init` in `dir` (created if missing) with `main` as the initial branch.
    pub fn init(dir: &Path) -> GitRepo {
        GitRepo::init_on(dir, "main")
    }

    /// `git init` in `dir` (created if missing) with `branch` as the initial branch (e.g.
    /// `master`, as in the Go originals' tests).
    pub fn init_on(dir: &Path, branch: &str) -> GitRepo {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
        let mut command = git_command(FIRST_COMMIT_TIME);
        command
            .arg("-c")
            .arg(format!("init.defaultBranch={branch}"))
            .args(["init", "-q"])
            .arg(dir);
        run(command);
        GitRepo::open(dir)
    }

    /// `git init` in a new temporary directory, on `main`.
    pub fn temp() -> GitRepo {
        GitRepo::temp_on("main")
    }

    /// `git init` in a new temporary directory, on `branch`.
    pub fn temp_on(branch: &str) -> GitRepo {
        let temp = tempfile::Builder::new()
            .prefix("git-fixture-")
            .tempdir()
            .expect("creating a temporary directory for a git fixture");
        let repo = GitRepo::init_on(temp.path(), branch);
        GitRepo {
            _temp: Some(temp),
            ..repo
        }
    }

    /// `git clone <url> <dir>`: a working clone of a served or bare repository, e.g. to push new
    /// upstream commits from.
    pub fn clone_from(url: &str, dir: &Path) -> GitRepo {
        let mut command = git_command(FIRST_COMMIT_TIME);
        command.args(["clone", "-q", url]).arg(dir);
        run(command);
        GitRepo::open(dir)
    }

    fn open(dir: &Path) -> GitRepo {
        GitRepo {
            dir: dir.to_owned(),
            clock: AtomicI64::new(FIRST_COMMIT_TIME),
            _temp: None,
        }
    }

    /// The working directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Runs `git <args>` in the repository and returns its trimmed stdout (for anything the
    /// helpers below do not cover). Panics if git fails.
    pub fn git<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = git_command(self.clock.load(Ordering::SeqCst));
        command.arg("-C").arg(&self.dir).args(args);
        run(command)
    }

    /// Advances the fixture clock by one minute.
    fn tick(&self) {
        self.clock.fetch_add(60, Ordering::SeqCst);
    }

    /// Writes `files` (`(relative path, content)`, parent directories created), stages them and
    /// commits with `message` (an empty commit when `files` is empty). Returns the commit hash.
    pub fn commit(&self, message: &str, files: &[(&str, &str)]) -> String {
        for (path, content) in files {
            let file = self.dir.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|err| panic!("creating {}: {err}", parent.display()));
            }
            std::fs::write(&file, content)
                .unwrap_or_else(|err| panic!("writing {}: {err}", file.display()));
            self.git(["add", "--", path]);
        }
        self.tick();
        self.git(["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// Appends `count` commits to the current branch in one `git fast-import`, the `i`-th writing
    /// `i` into `path`, then checks the result out. Returns the new HEAD. For long histories (a
    /// process per commit would take seconds).
    pub fn commit_many(&self, count: usize, path: &str) -> String {
        let branch = self.current_branch();
        let mut stream = format!("reset refs/heads/{branch}\nfrom {}\n\n", self.head());
        for i in 0..count {
            self.tick();
            let time = self.clock.load(Ordering::SeqCst);
            let message = format!("commit {i}");
            let content = format!("{i}\n");
            stream.push_str(&format!(
                "commit refs/heads/{branch}\ncommitter Fixture <fixture@example.org> {time} +0000\n\
                 data {}\n{message}\nM 100644 inline {path}\ndata {}\n{content}\n",
                message.len(),
                content.len()
            ));
        }
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["fast-import", "--quiet"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("starting git fast-import");
        child
            .stdin
            .take()
            .expect("fast-import stdin")
            .write_all(stream.as_bytes())
            .expect("writing the fast-import stream");
        assert!(
            child.wait().expect("waiting for git fast-import").success(),
            "git fast-import failed"
        );
        self.git(["reset", "-q", "--hard"]);
        self.head()
    }

    /// A lightweight tag on HEAD.
    pub fn tag(&self, name: &str) {
        self.git(["tag", name]);
    }

    /// An annotated tag on HEAD.
    pub fn annotated_tag(&self, name: &str, message: &str) {
        self.tick();
        self.git(["tag", "-a", name, "-m", message]);
    }

    /// Creates branch `name` at HEAD without switching to it.
    pub fn branch(&self, name: &str) {
        self.git(["branch", name]);
    }

    /// Switches to branch (or commit) `name`.
    pub fn checkout(&self, name: &str) {
        self.git(["checkout", "-q", name]);
    }

    /// Merges `branch` into the current branch with a merge commit (`--no-ff`); returns its hash.
    pub fn merge(&self, branch: &str) -> String {
        self.tick();
        let message = format!("Merge branch '{branch}'");
        self.git(["merge", "-q", "--no-ff", "-m", &message, branch]);
        self.head()
    }

    /// The full hash of HEAD.
    pub fn head(&self) -> String {
        self.rev_parse("HEAD")
    }

    /// The full hash of `rev`.
    pub fn rev_parse(&self, rev: &str) -> String {
        self.git(["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")])
    }

    /// The current branch name (empty on a detached HEAD).
    pub fn current_branch(&self) -> String {
        self.git(["branch", "--show-current"])
    }

    /// `git clone --bare` of this repository into `dest` (all branches and tags), to be served by
    /// [`GitDaemon`] or used as a `file://` remote. Returns `dest`.
    pub fn bare_clone(&self, dest: &Path) -> PathBuf {
        let mut command = git_command(FIRST_COMMIT_TIME);
        command
            .args(["clone", "-q", "--bare"])
            .arg(&self.dir)
            .arg(dest);
        run(command);
        dest.to_owned()
    }

    /// `git push <remote> <refspecs…>`; `remote` is a URL or path. Tags are pushed with
    /// `--tags` or explicit refspecs.
    pub fn push(&self, remote: &str, refspecs: &[&str]) {
        let mut args = vec!["push", "-q", remote];
        args.extend_from_slice(refspecs);
        self.git(args);
    }
}

/// `git daemon` serving the repositories under a root directory on 127.0.0.1, push enabled.
///
/// The harness owns the listening socket and runs one `git-daemon --inetd` per connection, as
/// inetd would: `git daemon` itself listens with a backlog of 5, so a client opening more
/// connections at once than that would see SYNs dropped and a one-second retransmission delay.
/// Stopped on drop, connections still being served included.
pub struct GitDaemon {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    children: Arc<Mutex<Vec<Child>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl GitDaemon {
    /// Serves every repository under `root` (bare `name.git` directories or working
    /// repositories) on a free loopback port.
    pub fn serve(root: &Path) -> GitDaemon {
        let mut exec_path = git_command(FIRST_COMMIT_TIME);
        exec_path.arg("--exec-path");
        let daemon_program = PathBuf::from(run(exec_path)).join("git-daemon");
        assert!(
            daemon_program.is_file(),
            "{} is missing (is git installed?)",
            daemon_program.display()
        );
        let listener = crate::net::loopback_listener();
        let addr = listener.local_addr().expect("git daemon listener address");
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let children = Arc::new(Mutex::new(Vec::<Child>::new()));
        let root = root.to_owned();
        let accept = {
            let (stop, children) = (Arc::clone(&stop), Arc::clone(&children));
            let connections = Arc::clone(&connections);
            std::thread::Builder::new()
                .name(format!("git-daemon-{}", addr.port()))
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        connections.fetch_add(1, Ordering::SeqCst);
                        if let Some(child) = serve_connection(&daemon_program, &root, stream) {
                            let mut children = children.lock().expect("git daemon children");
                            children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
                            children.push(child);
                        }
                    }
                })
                .expect("spawning the git daemon accept thread")
        };
        GitDaemon {
            addr,
            stop,
            connections,
            children,
            accept: Some(accept),
        }
    }

    /// The `git://` URL of repository `name` (a path relative to the served root).
    pub fn url(&self, name: &str) -> String {
        format!("git://{}/{name}", self.addr)
    }

    /// The daemon's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections the daemon has accepted (each `ls-remote`, clone or fetch opens one).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Runs `git-daemon --inetd` on one accepted connection (its stdin and stdout).
fn serve_connection(program: &Path, root: &Path, stream: TcpStream) -> Option<Child> {
    let input = stream.try_clone().ok()?;
    let mut command = isolated_command(program, FIRST_COMMIT_TIME);
    command
        .args([
            "--inetd",
            "--export-all",
            "--informative-errors",
            "--enable=receive-pack",
        ])
        .arg(format!("--base-path={}", root.display()))
        .arg(root)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(input)))
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(stream)))
        .stderr(Stdio::null());
    command.spawn().ok()
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        if let Ok(mut children) = self.children.lock() {
            for child in children.iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
