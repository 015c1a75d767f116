//! Host checks before a kind cluster is created (`ktbx doctor`, and the cheap ones at the start of
//! `ktbx create`): inotify limits, cgroup controllers, free disk under the container runtime's
//! root, the runtime itself, the host ports the cluster needs, and the installed client tools
//! against their pins. Each check gives one [`Finding`]; a failing or doubtful one carries the
//! command that fixes it.
//!
//! The file checks read under roots that tests replace with fixture trees (see [`Host`]).

use std::fmt;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use common::process::{Cmd, Runner};

use crate::kind_config::PortMapping;

/// Test-only: the directory standing for `/proc/sys`.
pub(crate) const PROC_SYS_ENV: &str = "KTBX_DOCTOR_PROC_SYS";
/// Test-only: the directory standing for `/sys/fs/cgroup`.
pub(crate) const CGROUP_ENV: &str = "KTBX_DOCTOR_CGROUP";
/// Test-only: free bytes reported instead of `statvfs` of the runtime's root directory.
pub(crate) const DISK_FREE_ENV: &str = "KTBX_DOCTOR_DISK_FREE";

/// inotify limits kind recommends (kind's known issues; kind #2586): file under `/proc/sys`, minimum.
const INOTIFY_LIMITS: [(&str, u64); 2] = [
    ("fs/inotify/max_user_watches", 524_288),
    ("fs/inotify/max_user_instances", 512),
];
/// The cgroup v2 controllers the kubelet of a kind node needs.
const CGROUP_CONTROLLERS: [&str; 4] = ["cpu", "cpuset", "memory", "pids"];
/// Below this many free bytes under the runtime's root a node image and a few add-ons do not fit.
const DISK_FAIL: u64 = 4 << 30;
/// Below this many free bytes pulls of larger images start failing.
const DISK_WARN: u64 = 10 << 30;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Status {
    /// Fine.
    Ok,
    /// Works, but may fail later (multi-node clusters, big images).
    Warn,
    /// kind will not work: `doctor` exits 1 and `create` stops before kind runs.
    Fail,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The verdict.
    pub(crate) status: Status,
    /// What was checked (`inotify max_user_watches`).
    pub(crate) check: String,
    /// What was found.
    pub(crate) detail: String,
    /// The command that fixes a warning or a failure.
    pub(crate) fix: Option<String>,
}

impl Finding {
    fn new(status: Status, check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            check: check.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

impl fmt::Display for Finding {
    /// `ok   check: detail`, `warn check: detail; fix: command`, `FAIL check: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        write!(f, "{tag} {}: {}", self.check, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "; fix: {fix}")?;
        }
        Ok(())
    }
}

/// Where the file checks read: the real `/proc/sys` and `/sys/fs/cgroup`, or fixture trees.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// Stands for `/proc/sys`.
    pub(crate) proc_sys: PathBuf,
    /// Stands for `/sys/fs/cgroup`.
    pub(crate) cgroup: PathBuf,
    /// Free bytes to report instead of measuring (tests).
    pub(crate) disk_free: Option<u64>,
}

impl Host {
    /// The real host, unless the test-only variables name fixture trees.
    pub(crate) fn from_env() -> Self {
        let dir = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        Self {
            proc_sys: dir(PROC_SYS_ENV, "/proc/sys"),
            cgroup: dir(CGROUP_ENV, "/sys/fs/cgroup"),
            disk_free: std::env::var(DISK_FREE_ENV)
                .ok()
                .and_then(|v| v.trim().parse().ok()),
        }
    }
}

/// The host ports a cluster needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ports<'a> {
    /// `--port` mappings of the control plane.
    pub(crate) mappings: &'a [PortMapping],
    /// The local registry's port (`--registry`): in use is fine when it is ktbx's registry.
    pub(crate) registry: Option<u16>,
}

/// The inotify limits below kind's recommendation are warnings (they matter for multi-node
/// clusters and Falco).
pub(crate) fn inotify(host: &Host) -> Vec<Finding> {
    INOTIFY_LIMITS
        .iter()
        .map(|(file, min)| {
            let key = file.replace('/', ".");
            let check = format!("inotify {}", file.rsplit('/').next().unwrap_or(file));
            let path = host.proc_sys.join(file);
            let fix = format!("sudo sysctl {key}={min}");
            match std::fs::read_to_string(&path)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                None => Finding::new(
                    Status::Warn,
                    check,
                    format!("cannot read {}", path.display()),
                ),
                Some(value) if value < *min => Finding::new(
                    Status::Warn,
                    check,
                    format!(
                        "{value}, below the {min} kind recommends for multi-node clusters (kind #2586)"
                    ),
                )
                .fix(fix),
                Some(value) => Finding::new(Status::Ok, check, value.to_string()),
            }
        })
        .collect()
}

fn words(path: &Path) -> Option<Vec<String>> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.split_whitespace().map(str::to_string).collect())
}

/// cgroup v2 with the controllers the kubelet needs, delegated to child cgroups. cgroup v1 is a
/// warning (Kubernetes 1.35 kubelets refuse it unless told otherwise).
pub(crate) fn cgroup(host: &Host) -> Finding {
    const CHECK: &str = "cgroup";
    let root = &host.cgroup;
    let Some(available) = words(&root.join("cgroup.controllers")) else {
        if root.join("memory").is_dir() || root.join("cpu").is_dir() {
            return Finding::new(
                Status::Warn,
                CHECK,
                format!(
                    "cgroup v1 at {}: Kubernetes 1.35 and later nodes need cgroup v2",
                    root.display()
                ),
            )
            .fix("boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line");
        }
        return Finding::new(
            Status::Fail,
            CHECK,
            format!("no cgroup hierarchy at {}", root.display()),
        )
        .fix("sudo mount -t cgroup2 none /sys/fs/cgroup");
    };
    let missing: Vec<&str> = CGROUP_CONTROLLERS
        .into_iter()
        .filter(|c| !available.iter().any(|a| a == c))
        .collect();
    if !missing.is_empty() {
        return Finding::new(
            Status::Fail,
            CHECK,
            format!(
                "cgroup v2 without the {} controller(s): a nested container that was not given them (Docker-in-Docker, kind #3283)",
                missing.join(", ")
            ),
        )
        .fix("run the outer container with `--privileged --cgroupns=private`");
    }
    // In a container's own cgroup namespace the controllers must be enabled for children, which
    // needs the container's processes moved out of the root first (what docker:dind does).
    let delegated = words(&root.join("cgroup.subtree_control")).unwrap_or_default();
    let undelegated: Vec<&str> = CGROUP_CONTROLLERS
        .into_iter()
        .filter(|c| !delegated.iter().any(|a| a == c))
        .collect();
    if !undelegated.is_empty() {
        return Finding::new(
            Status::Warn,
            CHECK,
            format!(
                "cgroup v2, but {} not enabled for child cgroups (nested container, kind #3283)",
                undelegated.join(", ")
            ),
        )
        .fix(concat!(
            "mkdir -p /sys/fs/cgroup/init",
            " && xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs",
            " && sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers",
            " > /sys/fs/cgroup/cgroup.subtree_control"
        ));
    }
    Finding::new(
        Status::Ok,
        CHECK,
        format!("v2 with {}", CGROUP_CONTROLLERS.join(", ")),
    )
}

/// Whether `port` can be bound on `address` with `protocol` (tcp by default).
fn port_free(address: &str, port: u16, protocol: &str) -> bool {
    if protocol.eq_ignore_ascii_case("udp") {
        UdpSocket::bind((address, port)).is_ok()
    } else {
        TcpListener::bind((address, port)).is_ok()
    }
}

/// The host ports of the mappings and of the registry are free.
pub(crate) fn ports(ports: &Ports<'_>) -> Vec<Finding> {
    let mut found = Vec::new();
    for m in ports.mappings {
        let address = m.listen_address.as_deref().unwrap_or("0.0.0.0");
        let protocol = m.protocol.as_deref().unwrap_or("tcp");
        let check = format!("port {address}:{}/{protocol}", m.host_port);
        found.push(if port_free(address, m.host_port, protocol) {
            Finding::new(Status::Ok, check, "free")
        } else {
            Finding::new(Status::Fail, check, "in use or not bindable").fix(format!(
                "sudo ss -lntup 'sport = :{}' shows who holds it: stop it or map another host port",
                m.host_port
            ))
        });
    }
    if let Some(port) = ports.registry {
        let check = format!("registry port 127.0.0.1:{port}/tcp");
        found.push(if port_free("127.0.0.1", port, "tcp") {
            Finding::new(Status::Ok, check, "free")
        } else {
            Finding::new(
                Status::Warn,
                check,
                "in use: fine when it is the registry ktbx created",
            )
            .fix(format!(
                "sudo ss -lntp 'sport = :{port}' shows who holds it, else use another --registry PORT"
            ))
        });
    }
    found
}

/// The checks that only read files and bind sockets: run by `create` before anything else.
pub(crate) fn cheap_checks(host: &Host, needed: &Ports<'_>) -> Vec<Finding> {
    let mut found = inotify(host);
    found.push(cgroup(host));
    found.extend(ports(needed));
    found
}

/// The `version` and `info` commands of a runtime: (version, root directory of its storage).
fn runtime_probes(runtime: &str) -> (Cmd, Cmd) {
    let (version, root) = match runtime {
        "podman" => ("{{.Client.Version}}", "{{.Store.GraphRoot}}"),
        "nerdctl" => ("{{.Client.Version}}", "{{.DockerRootDir}}"),
        _ => ("{{.Server.Version}}", "{{.DockerRootDir}}"),
    };
    (
        Cmd::new(runtime).args(["version", "--format", version]),
        Cmd::new(runtime).args(["info", "--format", root]),
    )
}

/// What a probe printed when it succeeded.
fn probe_text(runner: &Runner, cmd: &Cmd) -> Result<String, String> {
    match runner.probe(cmd) {
        Ok(out) if out.status.success() => Ok(out.stdout_str().trim().to_string()),
        Ok(out) => {
            Err(first_line(&out.stderr_str())
                .unwrap_or_else(|| format!("exit status {}", out.status)))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn first_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// Free bytes for unprivileged users on the file system holding `path`.
fn free_bytes(path: &Path) -> Result<u64, String> {
    let st = rustix::fs::statvfs(path).map_err(|e| format!("statvfs {}: {e}", path.display()))?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// The runtime answers, and the disk under its root has room.
fn runtime_findings(
    host: &Host,
    runtime: &str,
    version: Result<String, String>,
    root: Result<String, String>,
) -> [Finding; 2] {
    let (start, prune) = match runtime {
        "podman" => (
            "systemctl --user start podman.socket",
            "podman system prune -a",
        ),
        "nerdctl" => ("sudo systemctl start containerd", "nerdctl system prune -a"),
        _ => ("sudo systemctl start docker", "docker system prune -a"),
    };
    let reach = match &version {
        Ok(v) => Finding::new(Status::Ok, runtime, format!("reachable, version {v}")),
        Err(e) => Finding::new(Status::Fail, runtime, format!("not reachable: {e}")).fix(start),
    };
    let disk = match (host.disk_free, root) {
        _ if version.is_err() => Finding::new(
            Status::Warn,
            "disk",
            format!("not checked: {runtime} is not reachable"),
        ),
        (_, Err(e)) => Finding::new(
            Status::Fail,
            "disk",
            format!("cannot find {runtime}'s root directory: {e}"),
        )
        .fix(start),
        (measured, Ok(dir)) => match measured.map_or_else(|| free_bytes(Path::new(&dir)), Ok) {
            Err(e) => Finding::new(Status::Warn, "disk", e),
            Ok(free) => {
                let detail = format!("{} free under {dir}", gib(free));
                if free < DISK_FAIL {
                    Finding::new(
                        Status::Fail,
                        "disk",
                        format!("{detail}, below {}", gib(DISK_FAIL)),
                    )
                    .fix(prune)
                } else if free < DISK_WARN {
                    Finding::new(
                        Status::Warn,
                        "disk",
                        format!("{detail}, below {}", gib(DISK_WARN)),
                    )
                    .fix(prune)
                } else {
                    Finding::new(Status::Ok, "disk", detail)
                }
            }
        },
    };
    [reach, disk]
}

/// A client tool on PATH reports its pinned version. A missing `kind` fails; a missing `kubectl`
/// or `helm` (only some add-ons need them) and any other version are warnings.
fn tool_finding(name: &str, pinned: &str, output: Result<String, String>) -> Finding {
    let check = name.to_string();
    let fix = format!("ktbx install {name}");
    let missing = if name == "kind" {
        Status::Fail
    } else {
        Status::Warn
    };
    match output {
        Err(e) => Finding::new(missing, check, format!("not usable: {e}")).fix(fix),
        Ok(text) if crate::tools::reports_version(&text, pinned) => {
            Finding::new(Status::Ok, check, format!("{pinned} (pinned)"))
        }
        Ok(text) => {
            let seen = first_line(&text).unwrap_or_default();
            Finding::new(
                Status::Warn,
                check,
                format!("{seen:?} installed, {pinned} pinned"),
            )
            .fix(fix)
        }
    }
}

/// The client tools `doctor` compares with their pins.
const TOOLS: [&str; 3] = ["kind", "kubectl", "helm"];

/// Every check: the cheap ones, then the runtime, its disk and the client tools, whose probes run
/// side by side. `pinned` gives the version a tool should have.
pub(crate) fn all_checks(
    host: &Host,
    needed: &Ports<'_>,
    runtime: Result<String, String>,
    pinned: &dyn Fn(&str) -> Option<String>,
) -> Vec<Finding> {
    let runner = Runner::new(false);
    let mut found = cheap_checks(host, needed);
    let tool_cmds: Vec<(&str, Option<Cmd>)> = TOOLS
        .iter()
        .map(|name| {
            let cmd = crate::tools::tool(name)
                .and_then(|t| t.binary.as_ref())
                .map(|b| Cmd::new(*name).args(b.version_args.iter().copied()));
            (*name, cmd)
        })
        .collect();
    std::thread::scope(|s| {
        let runner = &runner;
        let runtime_job = runtime.as_ref().map(|rt| {
            let (version, root) = runtime_probes(rt);
            let version = s.spawn(move || probe_text(runner, &version));
            let root = s.spawn(move || probe_text(runner, &root));
            (rt, version, root)
        });
        let tool_jobs: Vec<_> = tool_cmds
            .iter()
            .map(|(name, cmd)| {
                (
                    *name,
                    cmd.as_ref()
                        .map(|cmd| s.spawn(move || probe_text(runner, cmd))),
                )
            })
            .collect();
        let joined = |h: std::thread::ScopedJoinHandle<'_, Result<String, String>>| {
            h.join().unwrap_or_else(|_| Err("probe panicked".into()))
        };
        match runtime_job {
            Ok((rt, version, root)) => {
                found.extend(runtime_findings(host, rt, joined(version), joined(root)));
            }
            Err(e) => found.push(
                Finding::new(Status::Fail, "container runtime", e.clone())
                    .fix("install docker (or podman)"),
            ),
        }
        for (name, job) in tool_jobs {
            let Some(pinned) = pinned(name) else { continue };
            let output = job.map_or_else(|| Err("no version command".into()), joined);
            found.push(tool_finding(name, &pinned, output));
        }
    });
    found
}

/// The failing findings, as one error naming them (for `create`); warnings are logged.
pub(crate) fn fail_early(findings: &[Finding]) -> anyhow::Result<()> {
    for f in findings.iter().filter(|f| f.status == Status::Warn) {
        tracing::warn!("{f}");
    }
    let failed: Vec<String> = findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .map(ToString::to_string)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "preflight failed (see `ktbx doctor`):\n{}",
            failed.join("\n")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(dir: &Path) -> Host {
        Host {
            proc_sys: dir.join("proc-sys"),
            cgroup: dir.join("cgroup"),
            disk_free: None,
        }
    }

    fn write(dir: &Path, file: &str, text: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn inotify_below_the_recommendation_is_a_warning_with_its_sysctl() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "proc-sys/fs/inotify/max_user_watches", "8192\n");
        write(
            tmp.path(),
            "proc-sys/fs/inotify/max_user_instances",
            "1024\n",
        );
        let found: Vec<String> = inotify(&host(tmp.path()))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "warn inotify max_user_watches: 8192, below the 524288 kind recommends for multi-node clusters (kind #2586); fix: sudo sysctl fs.inotify.max_user_watches=524288",
                "ok   inotify max_user_instances: 1024",
            ]
        );
    }

    #[test]
    fn cgroup_versions_and_delegation() {
        let tmp = tempfile::tempdir().unwrap();
        let h = host(tmp.path());
        assert_eq!(cgroup(&h).status, Status::Fail);
        std::fs::create_dir_all(tmp.path().join("cgroup/memory")).unwrap();
        let v1 = cgroup(&h);
        assert_eq!(v1.status, Status::Warn);
        assert!(v1.detail.starts_with("cgroup v1"), "{v1}");
        write(tmp.path(), "cgroup/cgroup.controllers", "cpu io memory\n");
        let nested = cgroup(&h);
        assert_eq!(nested.status, Status::Fail);
        assert!(
            nested
                .detail
                .contains("without the cpuset, pids controller(s)"),
            "{nested}"
        );
        write(
            tmp.path(),
            "cgroup/cgroup.controllers",
            "cpuset cpu io memory pids\n",
        );
        write(tmp.path(), "cgroup/cgroup.subtree_control", "");
        let undelegated = cgroup(&h);
        assert_eq!(undelegated.status, Status::Warn, "{undelegated}");
        assert!(undelegated.fix.unwrap().contains("cgroup.subtree_control"));
        write(
            tmp.path(),
            "cgroup/cgroup.subtree_control",
            "cpuset cpu io memory pids\n",
        );
        assert_eq!(
            cgroup(&h).to_string(),
            "ok   cgroup: v2 with cpu, cpuset, memory, pids"
        );
    }

    #[test]
    fn a_held_port_fails_and_the_registry_port_only_warns() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let mapping = PortMapping::parse(&format!("127.0.0.1:{port}:80")).unwrap();
        let found = ports(&Ports {
            mappings: std::slice::from_ref(&mapping),
            registry: Some(port),
        });
        assert_eq!(found[0].status, Status::Fail);
        assert_eq!(found[0].check, format!("port 127.0.0.1:{port}/tcp"));
        assert_eq!(found[1].status, Status::Warn);
        drop(held);
        assert_eq!(
            ports(&Ports {
                mappings: &[mapping],
                registry: None
            })[0]
                .status,
            Status::Ok
        );
    }

    #[test]
    fn disk_thresholds_and_an_unreachable_runtime() {
        let tmp = tempfile::tempdir().unwrap();
        let mut h = host(tmp.path());
        h.disk_free = Some(1 << 30);
        let [reach, disk] = runtime_findings(
            &h,
            "docker",
            Ok("29.1.0".into()),
            Ok("/var/lib/docker".into()),
        );
        assert_eq!(reach.to_string(), "ok   docker: reachable, version 29.1.0");
        assert_eq!(
            disk.to_string(),
            "FAIL disk: 1.0 GiB free under /var/lib/docker, below 4.0 GiB; fix: docker system prune -a"
        );
        h.disk_free = Some(6 << 30);
        let [_, disk] = runtime_findings(&h, "docker", Ok("1".into()), Ok("/d".into()));
        assert_eq!(disk.status, Status::Warn);
        h.disk_free = None;
        let [reach, disk] = runtime_findings(
            &h,
            "podman",
            Err("cannot connect".into()),
            Err("cannot connect".into()),
        );
        assert_eq!(
            reach.to_string(),
            "FAIL podman: not reachable: cannot connect; fix: systemctl --user start podman.socket"
        );
        assert_eq!(
            disk.to_string(),
            "warn disk: not checked: podman is not reachable"
        );
        let [_, disk] = runtime_findings(&h, "docker", Ok("1".into()), Err("no info".into()));
        assert_eq!(disk.status, Status::Fail);
        // The real statvfs of an existing directory.
        let [_, disk] = runtime_findings(
            &h,
            "docker",
            Ok("1".into()),
            Ok(tmp.path().display().to_string()),
        );
        assert!(disk.detail.contains(" GiB free under "), "{disk}");
    }

    #[test]
    fn tools_against_their_pins() {
        assert_eq!(
            tool_finding("kind", "v0.31.0", Ok("0.31.0\n".into())).to_string(),
            "ok   kind: v0.31.0 (pinned)"
        );
        assert_eq!(
            tool_finding("helm", "v3.16.2", Ok("v3.12.0+gabc\n".into())).to_string(),
            "warn helm: \"v3.12.0+gabc\" installed, v3.16.2 pinned; fix: ktbx install helm"
        );
        assert_eq!(
            tool_finding("kind", "v0.31.0", Err("`kind` not found".into())).status,
            Status::Fail
        );
        assert_eq!(
            tool_finding("kubectl", "v1.35.0", Err("`kubectl` not found".into())).status,
            Status::Warn
        );
    }

    #[test]
    fn only_failures_stop_create() {
        let warn = Finding::new(Status::Warn, "a", "b");
        assert!(fail_early(std::slice::from_ref(&warn)).is_ok());
        let err = fail_early(&[warn, Finding::new(Status::Fail, "c", "d").fix("e")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "preflight failed (see `ktbx doctor`):\nFAIL c: d; fix: e"
        );
    }
}
