//! ciux: `ignite` over 8 git dependencies behind a 40 ms round trip (cold: clones; warm: updates)
//! against the git CLI one dependency at a time, `ignite --frozen` against `ciux --version`, a
//! fink-broker-like stack on loopback against the Go original's reference time, the scaling curve
//! (4, 16, 64 dependencies) against the git CLI run 8 at a time, the image scan over 20 candidate
//! commits against one request at a time, and the peak memory of `ignite`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::git::{GitDaemon, GitRepo};
use harness::proxy::LatencyProxy;
use harness::registry::Registry;
use harness::release::ReleaseServer;
use harness::tools::Tools;

use super::{Limit, Row, figure_and_baseline, interleaved, median, scratch, time};
use crate::demo::on_path;

/// Number of git dependencies.
const DEPS: usize = 8;
/// Number of candidate commits of the image scan.
const CANDIDATES: usize = 20;
/// Delay each way of the latency proxies (40 ms round trip).
const DELAY: Duration = Duration::from_millis(20);

pub(super) fn run(tools: &Tools) -> Result<Vec<Row>> {
    let mut rows = ignite(tools)?;
    rows.push(fink_broker_like(tools)?);
    for deps in SCALES {
        rows.extend(scaling(tools, deps)?);
    }
    rows.push(image_scan(tools)?);
    rows.extend(decision_rows(tools)?);
    Ok(rows)
}

/// Remotes `dep-0.git` … `dep-7.git` served by `git daemon`, and a project depending on all of
/// them (`clone: true`) through a latency proxy. The registry is an empty HTTP server (every image
/// absent: the project's image check is the same small cost for every run).
struct IgniteWorld {
    root: tempfile::TempDir,
    daemon: GitDaemon,
    proxy: LatencyProxy,
    _registry: ReleaseServer,
    project: PathBuf,
}

impl IgniteWorld {
    fn new() -> Result<IgniteWorld> {
        let root = scratch("bench-ciux-")?;
        let remotes = root.path().join("remotes");
        for i in 0..DEPS {
            let dep = GitRepo::init(&remotes.join(format!("dep-{i}.git")));
            for c in 0..5 {
                dep.commit(&format!("c{c}"), &[("src/lib.txt", &format!("{i}-{c}\n"))]);
            }
            dep.annotated_tag("v1.0.0", "release");
        }
        let daemon = GitDaemon::serve(&remotes);
        let proxy = LatencyProxy::start(daemon.addr(), DELAY);
        let registry = ReleaseServer::start();
        let mut ciux_file = format!(
            "apiVersion: v1alpha1\nregistry: {}/bench\nsourcePathes: [src]\ndependencies:\n",
            registry.addr()
        );
        for i in 0..DEPS {
            ciux_file.push_str(&format!(
                "  - url: git://{}/dep-{i}.git\n    clone: true\n    labels: {{itest: \"true\"}}\n",
                proxy.addr()
            ));
        }
        let project = GitRepo::init(&root.path().join("work/project"));
        project.commit("c1", &[(".ciux", &ciux_file), ("src/a", "1\n")]);
        project.annotated_tag("v1.0.0", "release");
        Ok(IgniteWorld {
            project: project.path().to_owned(),
            root,
            daemon,
            proxy,
            _registry: registry,
        })
    }

    fn ignite(&self, tools: &Tools) -> Command {
        let mut command = Command::new(&tools.ciux);
        command
            .args(["ignite", "--selector", "itest"])
            .arg(&self.project)
            .env("HOME", self.root.path());
        command
    }

    fn remove_clones(&self) -> Result<()> {
        for i in 0..DEPS {
            let clone = self.root.path().join(format!("work/dep-{i}"));
            if clone.exists() {
                std::fs::remove_dir_all(&clone)
                    .with_context(|| format!("removing {}", clone.display()))?;
            }
        }
        Ok(())
    }

    fn url(&self, i: usize) -> String {
        format!("git://{}/dep-{i}.git", self.proxy.addr())
    }
}

fn git(args: &[&str], dir: Option<&Path>) -> Result<Duration> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    time(command.args(args))
}

fn ignite(tools: &Tools) -> Result<Vec<Row>> {
    let world = IgniteWorld::new()?;
    let cold = median(3, || {
        world.remove_clones()?;
        time(&mut world.ignite(tools))
    });
    let warm = median(3, || time(&mut world.ignite(tools)));
    let baseline_dir = scratch("bench-ciux-git-")?;
    let cold_baseline = median(3, || {
        let start = Instant::now();
        for i in 0..DEPS {
            let dest = baseline_dir.path().join(format!("dep-{i}"));
            if dest.exists() {
                std::fs::remove_dir_all(&dest)?;
            }
            git(&["ls-remote", &world.url(i)], None)?;
            let dest = dest.display().to_string();
            git(&["clone", "-q", &world.url(i), &dest], None)?;
        }
        Ok(start.elapsed())
    });
    let warm_baseline = median(3, || {
        let start = Instant::now();
        for i in 0..DEPS {
            let dest = baseline_dir.path().join(format!("dep-{i}"));
            git(&["ls-remote", &world.url(i)], None)?;
            git(&["fetch", "-q", "--tags", "origin"], Some(&dest))?;
        }
        Ok(start.elapsed())
    });
    let mut rows = vec![
        Row::seconds(
            "ciux",
            "cold `ignite`, 8 git deps, 40 ms round trip",
            cold,
            Limit::Ratio(0.3),
        )
        .baseline("git CLI, one dep at a time", cold_baseline),
        Row::seconds(
            "ciux",
            "warm `ignite`, 8 git deps, 40 ms round trip",
            warm,
            Limit::Ratio(0.1),
        )
        .baseline("git CLI, one dep at a time", warm_baseline),
    ];
    rows.push(peak_rss(&world, tools));
    rows.push(frozen(&world, tools));
    Ok(rows)
}

/// Runs of each of `ignite --frozen`, `ciux --version` and the env-file write, interleaved so
/// that the machine's drift touches the three alike.
const FROZEN_RUNS: usize = 11;

/// `ignite --frozen` over the 8 dependencies already cloned at their locked commits: no connection
/// to the git server (checked), against `ciux --version` plus writing the env file.
fn frozen(world: &IgniteWorld, tools: &Tools) -> Row {
    let env = world.project.join(".ciux.d/ciux_itest.sh");
    let runs = (|| {
        time(world.ignite(tools).arg("--lock"))?;
        let before = world.daemon.connections();
        let content = std::fs::read(&env).context("reading the env file")?;
        let runs = interleaved(
            FROZEN_RUNS,
            [
                &mut || time(world.ignite(tools).arg("--frozen")),
                &mut || time(Command::new(&tools.ciux).arg("--version")),
                &mut || write_as_ciux(&env, &content),
            ],
        )?;
        let connections = world.daemon.connections() - before;
        if connections != 0 {
            bail!("{connections} connections to the git server during `--frozen`, want 0");
        }
        Ok([runs[0], runs[1] + runs[2]])
    })();
    let (figure, baseline) = figure_and_baseline(runs);
    Row::seconds(
        "ciux",
        "`ignite --frozen`, 8 git deps already local (0 fetches, 0 listings)",
        figure,
        Limit::Ratio(1.2),
    )
    .baseline("`ciux --version` + env-file write", baseline)
}

/// Writes a copy of the env file as ciux writes a changed one (temporary file, fsync, rename, fsync
/// of the directory); the time it took.
fn write_as_ciux(env: &Path, content: &[u8]) -> Result<Duration> {
    let (temp, copy) = (env.with_extension("bench-tmp"), env.with_extension("bench"));
    let start = Instant::now();
    let mut file = std::fs::File::create(&temp)?;
    std::io::Write::write_all(&mut file, content)?;
    file.sync_all()?;
    std::fs::rename(&temp, &copy)?;
    std::fs::File::open(env.parent().context("env file directory")?)?.sync_all()?;
    let write = start.elapsed();
    std::fs::remove_file(&copy)?;
    Ok(write)
}

/// The Go original's cold `ignite` of the fink-broker-like stack, measured on this machine class.
const GO_REFERENCE_MS: f64 = 150.0;

/// A fink-broker-like stack on loopback (no added latency): fink-alert-simulator and finkctl
/// cloned with `pull: true` (their images in a real registry), fink-cd remote only, one image
/// dependency, and the project image found in the registry. Cold `ignite` (clones removed), as an
/// absolute time against 0.7 × the Go original's 150 ms reference (the original cannot run here).
fn fink_broker_like(tools: &Tools) -> Result<Row> {
    let root = scratch("bench-ciux-fb-")?;
    let registry = Registry::start();
    let remotes = root.path().join("remotes");
    for name in ["fink-alert-simulator", "finkctl", "fink-cd"] {
        let repo = GitRepo::init(&remotes.join(format!("{name}.git")));
        for c in 0..20 {
            repo.commit(&format!("c{c}"), &[("src/lib.txt", &format!("{c}\n"))]);
            if c == 15 {
                repo.annotated_tag("v3.1.0", "release");
            }
        }
        if name != "fink-cd" {
            let version = repo.git(["describe", "--tags"]);
            registry.push_image(&format!("fink/{name}"), &version);
        }
    }
    registry.push_image("fink/stackable-hadoop", "v24.11.0");
    let daemon = GitDaemon::serve(&remotes);
    let host = registry.host();
    let mut ciux_file = format!(
        "apiVersion: v1alpha1\nregistry: {host}/fink\nsourcePathes: [Dockerfile, fink_broker, bin]\ndependencies:\n"
    );
    for (name, clone) in [
        ("fink-alert-simulator", true),
        ("finkctl", true),
        ("fink-cd", false),
    ] {
        ciux_file.push_str(&format!(
            "  - url: {}\n    clone: {clone}\n    pull: {clone}\n    labels: {{itest: \"true\"}}\n",
            daemon.url(&format!("{name}.git"))
        ));
    }
    ciux_file.push_str(&format!(
        "  - image: {host}/fink/stackable-hadoop:v24.11.0\n    labels: {{itest: \"true\"}}\n"
    ));
    let project = GitRepo::init(&root.path().join("work/fink-broker"));
    project.commit(
        "c1",
        &[
            (".ciux", &ciux_file),
            ("fink_broker/a.py", "1\n"),
            ("Dockerfile", "FROM x\n"),
        ],
    );
    project.annotated_tag("v3.1.0", "release");
    registry.push_image("fink/fink-broker", "v3.1.0");
    let figure = median(5, || {
        for name in ["fink-alert-simulator", "finkctl"] {
            let clone = root.path().join("work").join(name);
            if clone.exists() {
                std::fs::remove_dir_all(&clone)?;
            }
        }
        time(
            Command::new(&tools.ciux)
                .args(["ignite", "--selector", "itest"])
                .arg(project.path())
                .env("HOME", root.path())
                .env("DOCKER_CONFIG", root.path().join("docker")),
        )
    });
    Ok(Row::seconds(
        "ciux",
        &format!(
            "cold `ignite`, fink-broker-like stack on loopback (2 cloned deps with pull, 1 remote-only, \
             1 image, project image in a real registry); the Go original's reference: {GO_REFERENCE_MS} ms"
        ),
        figure,
        Limit::Seconds(0.7 * GO_REFERENCE_MS / 1000.0),
    ))
}

/// Dependency counts of the scaling curve.
const SCALES: [usize; 3] = [4, 16, 64];

/// How many git CLI processes the scaling baseline runs at once.
const GIT_CLI_PARALLEL: usize = 8;

/// `deps` remotes served by the harness's `git daemon` (inetd behind a listener that does not drop
/// connections), no added latency: cold and warm `ignite` against the git CLI run 8 at a time
/// (`git clone --bare`; `git ls-remote`).
fn scaling(tools: &Tools, deps: usize) -> Result<Vec<Row>> {
    let root = scratch("bench-ciux-scale-")?;
    let remotes = root.path().join("remotes");
    for i in 0..deps {
        let dep = GitRepo::init(&remotes.join(format!("dep-{i}.git")));
        for c in 0..3 {
            dep.commit(&format!("c{c}"), &[("src/lib.txt", &format!("{i}-{c}\n"))]);
        }
        dep.annotated_tag("v1.0.0", "release");
    }
    let daemon = GitDaemon::serve(&remotes);
    let registry = ReleaseServer::start();
    let mut ciux_file = format!(
        "apiVersion: v1alpha1\nregistry: {}/bench\nsourcePathes: [src]\ndependencies:\n",
        registry.addr()
    );
    let urls: Vec<String> = (0..deps)
        .map(|i| daemon.url(&format!("dep-{i}.git")))
        .collect();
    for url in &urls {
        ciux_file.push_str(&format!(
            "  - url: {url}\n    clone: true\n    labels: {{itest: \"true\"}}\n"
        ));
    }
    let project = GitRepo::init(&root.path().join("work/project"));
    project.commit("c1", &[(".ciux", &ciux_file), ("src/a", "1\n")]);
    let ignite = || {
        let mut command = Command::new(&tools.ciux);
        command
            .args(["ignite", "--selector", "itest"])
            .arg(project.path())
            .env("HOME", root.path());
        command
    };
    let remove = |dir: &Path| -> Result<()> {
        for i in 0..deps {
            let clone = dir.join(format!("dep-{i}"));
            if clone.exists() {
                std::fs::remove_dir_all(&clone)?;
            }
        }
        Ok(())
    };
    let work = root.path().join("work");
    let cli = root.path().join("cli");
    let mut cold = || {
        remove(&work)?;
        time(&mut ignite())
    };
    let mut cold_baseline = || {
        remove(&cli)?;
        let commands = urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let mut git = Command::new("git");
                git.args(["clone", "-q", "--bare", url])
                    .arg(cli.join(format!("dep-{i}")));
                git
            })
            .collect();
        run_parallel(commands)
    };
    let mut warm = || time(&mut ignite());
    let mut warm_baseline = || {
        let commands = urls
            .iter()
            .map(|url| {
                let mut git = Command::new("git");
                git.args(["ls-remote", url]);
                git
            })
            .collect();
        run_parallel(commands)
    };
    // Each figure alternates with its baseline; the cold runs leave the clones the warm ones update.
    let (cold, cold_baseline) =
        figure_and_baseline(interleaved(3, [&mut cold, &mut cold_baseline]));
    let (warm, warm_baseline) =
        figure_and_baseline(interleaved(3, [&mut warm, &mut warm_baseline]));
    let (cold_target, warm_target) = if deps == 64 { (0.5, 0.35) } else { (1.0, 1.0) };
    Ok(vec![
        Row::seconds(
            "ciux",
            &format!("cold `ignite`, {deps} git deps, loopback git daemon"),
            cold,
            Limit::Ratio(cold_target),
        )
        .baseline("`git clone --bare`, 8 at a time", cold_baseline),
        Row::seconds(
            "ciux",
            &format!("warm `ignite`, {deps} git deps, loopback git daemon"),
            warm,
            Limit::Ratio(warm_target),
        )
        .baseline("`git ls-remote`, 8 at a time", warm_baseline),
    ])
}

/// Runs the commands, [`GIT_CLI_PARALLEL`] at a time; the wall time of all of them.
fn run_parallel(commands: Vec<Command>) -> Result<Duration> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let commands: Vec<std::sync::Mutex<Command>> =
        commands.into_iter().map(std::sync::Mutex::new).collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..GIT_CLI_PARALLEL)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(command) = commands.get(i) else {
                            return Ok(());
                        };
                        let mut command = command
                            .lock()
                            .map_err(|_| anyhow::anyhow!("a git command panicked"))?;
                        time(&mut command)?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| anyhow::anyhow!("a worker panicked"))?)
    })?;
    Ok(start.elapsed())
}

/// Peak resident memory of a warm `ignite`, from GNU time's maximum RSS.
fn peak_rss(world: &IgniteWorld, tools: &Tools) -> Row {
    let figure = (|| {
        if !Path::new("/usr/bin/time").is_file() {
            bail!("/usr/bin/time is not installed (Debian package `time`)");
        }
        let ignite = world.ignite(tools);
        let output = Command::new("/usr/bin/time")
            .args(["-f", "maxrss_kib=%M"])
            .arg(ignite.get_program())
            .args(ignite.get_args())
            .env("HOME", world.root.path())
            .output()
            .context("running /usr/bin/time")?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!("ciux ignite failed: {stderr}");
        }
        let kib: f64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("maxrss_kib="))
            .context("no maxrss_kib line from /usr/bin/time")?
            .trim()
            .parse()?;
        Ok(kib / 1024.0)
    })();
    Row::mib(
        "ciux",
        "peak RSS of a warm `ignite` (8 deps)",
        figure,
        Limit::Mib(60.0),
    )
}

/// A project whose last source change is followed by 19 other commits: 20 commits hold the
/// current sources, so `get image --check` looks up 20 tags (all absent) in a registry behind the
/// latency proxy.
fn image_scan(tools: &Tools) -> Result<Row> {
    let root = scratch("bench-ciux-scan-")?;
    let registry = ReleaseServer::start();
    let proxy = LatencyProxy::start(registry.addr(), DELAY);
    let project = GitRepo::init(&root.path().join("project"));
    let ciux_file = format!(
        "apiVersion: v1alpha1\nregistry: {}/bench\nsourcePathes: [src]\n",
        proxy.addr()
    );
    project.commit("c0", &[(".ciux", &ciux_file), ("src/a", "0\n")]);
    project.annotated_tag("v1.0.0", "release");
    project.commit("source change", &[("src/a", "1\n")]);
    for i in 1..CANDIDATES {
        project.commit(&format!("doc {i}"), &[("README.md", &format!("{i}\n"))]);
    }
    let before = registry.requests().len();
    let figure = median(3, || {
        time(
            Command::new(&tools.ciux)
                .args(["get", "image", "--check"])
                .arg(project.path())
                .env("HOME", root.path()),
        )
    });
    let lookups = (registry.requests().len() - before) / 3;
    let urls: Vec<String> = (0..CANDIDATES)
        .map(|i| format!("http://{}/v2/bench/project/manifests/c{i}", proxy.addr()))
        .collect();
    let baseline = if on_path("curl") {
        median(3, || {
            let mut curl = Command::new("curl");
            curl.args(["-sS", "-o", "/dev/null", "-I"]);
            for url in &urls {
                curl.arg(url);
            }
            // curl's exit status is 0 for a 404 without -f.
            time(&mut curl)
        })
    } else {
        Err(anyhow::anyhow!("curl is not installed"))
    };
    Ok(Row::seconds(
        "ciux",
        &format!("image scan over {CANDIDATES} commits ({lookups} lookups), 40 ms round trip"),
        figure,
        Limit::Ratio(0.2),
    )
    .baseline("curl, one request at a time", baseline))
}

/// Commits of the history of the tree-tag row.
const HISTORY: usize = 200;

/// The image decision on a warm clone against a real registry (`docker-registry` on loopback): with
/// its explanation (the image found, its declared base checked) against `ciux --version`; and tree
/// tags on a 200-commit history, whose one registry request is counted in the registry's access log,
/// against describe tags looking up the 200 commits since the last source change.
fn decision_rows(tools: &Tools) -> Result<Vec<Row>> {
    const NAME: &str = "org.opencontainers.image.base.name";
    const DIGEST: &str = "org.opencontainers.image.base.digest";
    let root = scratch("bench-ciux-decision-")?;
    let registry = Registry::start();
    let host = registry.host();
    let base = format!("{host}/bench/deps:v1");
    let base_digest = registry.push_image("bench/deps", "v1");
    let project = GitRepo::init(&root.path().join("project"));
    let ciux_file = |scheme: &str| {
        format!(
            "registry: {host}/bench\nsourcePathes: [src]\nimageTag: {scheme}\n\
             dependencies:\n  - image: {base}\n    base: true\n"
        )
    };
    project.commit("c0", &[(".ciux", &ciux_file("describe")), ("src/a", "0\n")]);
    project.annotated_tag("v1.0.0", "release");
    registry.push_annotated(
        "bench/project",
        "v1.0.0",
        &[(NAME, &base), (DIGEST, &base_digest)],
        &[],
    );
    let get_image = |extra: &[&str]| {
        let mut command = Command::new(&tools.ciux);
        command
            .args(["get", "image", "--check"])
            .args(extra)
            .arg(project.path())
            .env("HOME", root.path());
        command
    };
    let explain = median(5, || time(&mut get_image(&["--explain"])));
    let version = median(5, || time(Command::new(&tools.ciux).arg("--version")));
    let mut rows = vec![
        Row::seconds(
            "ciux",
            "decision + explanation on a warm clone (image found, base checked)",
            explain,
            Limit::Seconds(0.05),
        )
        .baseline("`ciux --version`", version),
    ];

    // 200 commits after the last source change, no image of that name (`--suffix`): describe tags
    // look up 201 tags, a tree tag one.
    project.commit_many(HISTORY, "README.md");
    let requests = || registry.requests().len();
    let before = requests();
    let describe = time(&mut get_image(&["--suffix", "variant"]));
    let describe_requests = requests() - before;
    std::fs::write(project.path().join(".ciux"), ciux_file("tree"))?;
    project.commit("tree tags", &[]);
    let before = requests();
    let tree = median(3, || time(&mut get_image(&["--suffix", "variant"])));
    let tree_requests = (requests() - before) / 3;
    let tree = tree.and_then(|d| {
        if tree_requests == 1 {
            Ok(d)
        } else {
            bail!("{tree_requests} registry requests per decision, not 1")
        }
    });
    rows.push(
        Row::seconds(
            "ciux",
            &format!(
                "tree-tag decision, {HISTORY}-commit history ({tree_requests} registry request)"
            ),
            tree,
            Limit::Ratio(0.5),
        )
        .baseline(
            &format!("describe tags, {describe_requests} requests"),
            describe,
        ),
    );
    Ok(rows)
}
