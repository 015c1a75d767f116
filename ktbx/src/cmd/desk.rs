//! `ktbx desk`: an interactive container with the k8s client tools, the user's home and kube
//! config mounted, run with the original's exact `docker run` flags and mounts.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use common::process::{Cmd, Runner};

use crate::cli::DeskArgs;
use crate::context::Context;

/// Host binaries shared with the desk when present on PATH.
const SHARED_BINARIES: [&str; 5] = ["oc", "kind", "cosign", "trivy", "docker"];
const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// The host's extra CA certificates, shared with the desk when the directory exists.
const CA_CERTIFICATES: &str = "/usr/local/share/ca-certificates";
/// The `.bashrc` seeded into a new desk home (the original downloaded it at run time).
const BASHRC: &str = include_str!("desk.bashrc");

/// What the desk command line depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeskHost {
    /// `$HOME`.
    pub(crate) home: PathBuf,
    /// Numeric user id.
    pub(crate) uid: u32,
    /// Numeric group id.
    pub(crate) gid: u32,
    /// Host paths of the shared binaries found on PATH, by name.
    pub(crate) binaries: Vec<(String, PathBuf)>,
    /// Group owning the docker socket, when the socket exists.
    pub(crate) docker_socket_gid: Option<u32>,
    /// Whether `/usr/local/share/ca-certificates` exists (a bind mount needs its source).
    pub(crate) ca_certificates: bool,
}

impl DeskHost {
    /// Inspects this machine.
    pub(crate) fn detect() -> anyhow::Result<Self> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .context("$HOME is not set")?;
        // /proc/self belongs to the process's user and group.
        let me = std::fs::metadata("/proc/self")
            .context("reading the user and group ids from /proc/self")?;
        let binaries = SHARED_BINARIES
            .iter()
            .filter_map(|b| common::process::which(b).map(|p| (b.to_string(), p)))
            .collect();
        let docker_socket_gid = std::fs::metadata(DOCKER_SOCKET)
            .ok()
            .filter(|m| m.file_type().is_socket())
            .map(|m| m.gid());
        Ok(Self {
            home,
            uid: me.uid(),
            gid: me.gid(),
            binaries,
            docker_socket_gid,
            ca_certificates: Path::new(CA_CERTIFICATES).is_dir(),
        })
    }

    /// The desk's home directory on the host.
    pub(crate) fn homefs(&self) -> PathBuf {
        self.home.join(".ktbx/homefs")
    }
}

/// One field of a `--mount` value, quoted as docker's CSV reader needs when it holds a comma, a
/// quote or a line break (`"source=/a,b"`, inner quotes doubled).
fn mount_field(key: &str, value: &Path) -> String {
    let field = format!("{key}={}", value.to_string_lossy());
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

/// A `--mount` bind value: unambiguous whatever the paths hold, unlike `-v host:container` when
/// `$HOME` contains `:`.
fn bind_mount(host: &Path, container: &Path, read_only: bool) -> String {
    let mut fields = vec![
        "type=bind".to_string(),
        mount_field("source", host),
        mount_field("target", container),
    ];
    if read_only {
        fields.push("readonly".to_string());
    }
    fields.join(",")
}

/// The `docker run` command (without the final `bash` when `with_shell` is false, as the original's dry run).
pub(crate) fn docker_run(host: &DeskHost, image: &str, with_shell: bool) -> Cmd {
    let home = &host.home;
    let mut cmd = Cmd::new("docker").args(["run", "-it", "--net=host"]);
    let same = |p: &str| (PathBuf::from(p), PathBuf::from(p));
    let mut mounts = vec![
        (host.homefs(), home.clone(), false),
        (home.join(".kube"), home.join(".kube"), false),
    ];
    for (path, read_only) in [("/tmp", false), ("/etc/group", true), ("/etc/passwd", true)] {
        let (h, c) = same(path);
        mounts.push((h, c, read_only));
    }
    if host.ca_certificates {
        let (h, c) = same(CA_CERTIFICATES);
        mounts.push((h, c, false));
    }
    for (name, path) in &host.binaries {
        mounts.push((path.clone(), Path::new("/usr/local/bin").join(name), false));
    }
    if host.docker_socket_gid.is_some() {
        let (h, c) = same(DOCKER_SOCKET);
        mounts.push((h, c, false));
    }
    for (h, c, read_only) in mounts {
        cmd = cmd.args(["--mount".to_string(), bind_mount(&h, &c, read_only)]);
    }
    if let Some(gid) = host.docker_socket_gid {
        cmd = cmd.args(["--group-add".to_string(), gid.to_string()]);
    }
    cmd = cmd.args([
        "--rm".to_string(),
        format!("--user={}:{}", host.uid, host.gid),
        "-w".to_string(),
        home.display().to_string(),
        "--".to_string(),
        image.to_string(),
    ]);
    if with_shell { cmd.arg("bash") } else { cmd }
}

/// Runs `ktbx desk`.
pub(crate) fn run(_ctx: &Context, args: &DeskArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    args.extra.ignore();
    let host = DeskHost::detect()?;
    if args.dry_run {
        writeln!(
            out,
            "{}",
            docker_run(&host, &args.image, false).to_shell_line()
        )?;
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "ktbx desk needs a terminal (it runs `docker run -it`); use --dry-run to print the command"
        );
    }
    writeln!(out, "Launch interactive desk")?;
    // A bind mount needs its source: create the directories `-v` used to create (as root).
    let homefs = host.homefs();
    for dir in [&homefs, &host.home.join(".kube")] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let bashrc = homefs.join(".bashrc");
    if !bashrc.exists() {
        common::fs::atomic_write(&bashrc, BASHRC.as_bytes(), 0o644)?;
    }
    writeln!(
        out,
        "Using image {}\nWelcome in k8s toolbox desk",
        args.image
    )?;
    out.flush()?;
    let status = Runner::new(false)
        .interactive(&docker_run(&host, &args.image, true).hint("install docker"))?;
    if !status.success() {
        bail!("the desk container exited with {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::DEFAULT_IMAGE;

    fn host(socket: Option<u32>) -> DeskHost {
        DeskHost {
            home: PathBuf::from("/home/ada"),
            uid: 1000,
            gid: 1001,
            binaries: vec![("kind".into(), PathBuf::from("/opt/bin/kind"))],
            docker_socket_gid: socket,
            ca_certificates: true,
        }
    }

    #[test]
    fn argv_has_the_original_mounts_as_bind_mounts() {
        let line = docker_run(&host(Some(998)), DEFAULT_IMAGE, true).to_shell_line();
        assert_eq!(
            line,
            "docker run -it --net=host --mount type=bind,source=/home/ada/.ktbx/homefs,target=/home/ada \
--mount type=bind,source=/home/ada/.kube,target=/home/ada/.kube --mount type=bind,source=/tmp,target=/tmp \
--mount type=bind,source=/etc/group,target=/etc/group,readonly \
--mount type=bind,source=/etc/passwd,target=/etc/passwd,readonly \
--mount type=bind,source=/usr/local/share/ca-certificates,target=/usr/local/share/ca-certificates \
--mount type=bind,source=/opt/bin/kind,target=/usr/local/bin/kind \
--mount type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock --group-add 998 --rm --user=1000:1001 \
-w /home/ada -- docker.io/k8sschool/k8s-toolbox:latest bash"
        );
    }

    #[test]
    fn dry_run_line_has_no_shell_and_no_socket_without_docker() {
        let mut h = host(None);
        h.ca_certificates = false;
        let line = docker_run(&h, "img:1", false).to_shell_line();
        assert!(line.ends_with("-w /home/ada -- img:1"), "{line}");
        assert!(
            !line.contains("docker.sock")
                && !line.contains("--group-add")
                && !line.contains("ca-certificates"),
            "{line}"
        );
    }

    #[test]
    fn odd_home_paths_stay_one_unambiguous_mount() {
        let mut h = host(None);
        h.home = PathBuf::from("/home/a b$(id):x");
        let cmd = docker_run(&h, DEFAULT_IMAGE, true);
        assert!(
            cmd.get_args()
                .iter()
                .any(|a| a
                    == "type=bind,source=/home/a b$(id):x/.ktbx/homefs,target=/home/a b$(id):x")
        );
        h.home = PathBuf::from("/home/a,\"b");
        let cmd = docker_run(&h, DEFAULT_IMAGE, true);
        assert!(cmd.get_args().iter().any(
            |a| a == "type=bind,\"source=/home/a,\"\"b/.ktbx/homefs\",\"target=/home/a,\"\"b\""
        ));
    }
}
