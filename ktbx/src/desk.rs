//! `ktbx desk`: an interactive container with the k8s client tools, the user's home and kube
//! config mounted, run with the original's exact `docker run` flags and mounts.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use common::process::{Cmd, Runner};

use crate::cli::DeskArgs;

/// The desk image (the original's, unpinned as there).
pub const DEFAULT_IMAGE: &str = "docker.io/k8sschool/k8s-toolbox:latest";
/// Host binaries shared with the desk when present on PATH.
const SHARED_BINARIES: [&str; 5] = ["oc", "kind", "cosign", "trivy", "docker"];
const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// The `.bashrc` seeded into a new desk home (the original downloaded it at run time).
const BASHRC: &str = include_str!("desk.bashrc");

/// What the desk command line depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskHost {
    /// `$HOME`.
    pub home: PathBuf,
    /// Numeric user id.
    pub uid: u32,
    /// Numeric group id.
    pub gid: u32,
    /// Host paths of the shared binaries found on PATH, by name.
    pub binaries: Vec<(String, PathBuf)>,
    /// Group owning the docker socket, when the socket exists.
    pub docker_socket_gid: Option<u32>,
}

impl DeskHost {
    /// Inspects this machine.
    pub fn detect() -> anyhow::Result<Self> {
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
        })
    }

    /// The desk's home directory on the host.
    pub fn homefs(&self) -> PathBuf {
        self.home.join(".ktbx/homefs")
    }
}

fn volume(host: &Path, container: &Path, options: &str) -> String {
    format!("{}:{}{options}", host.display(), container.display())
}

/// The `docker run` command (without the final `bash` when `with_shell` is false, as the original's dry run).
pub fn docker_run(host: &DeskHost, image: &str, with_shell: bool) -> Cmd {
    let home = &host.home;
    let mut cmd = Cmd::new("docker").args(["run", "-it", "--net=host"]);
    let mut mounts = vec![
        (host.homefs(), home.clone(), ""),
        (home.join(".kube"), home.join(".kube"), ""),
        (PathBuf::from("/tmp"), PathBuf::from("/tmp"), ""),
        (
            PathBuf::from("/etc/group"),
            PathBuf::from("/etc/group"),
            ":ro",
        ),
        (
            PathBuf::from("/etc/passwd"),
            PathBuf::from("/etc/passwd"),
            ":ro",
        ),
        (
            PathBuf::from("/usr/local/share/ca-certificates"),
            PathBuf::from("/usr/local/share/ca-certificates"),
            "",
        ),
    ];
    for (name, path) in &host.binaries {
        mounts.push((path.clone(), Path::new("/usr/local/bin").join(name), ""));
    }
    if host.docker_socket_gid.is_some() {
        mounts.push((
            PathBuf::from(DOCKER_SOCKET),
            PathBuf::from(DOCKER_SOCKET),
            "",
        ));
    }
    for (h, c, opts) in mounts {
        cmd = cmd.args(["-v".to_string(), volume(&h, &c, opts)]);
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
pub fn run(args: &DeskArgs, out: &mut dyn Write) -> anyhow::Result<()> {
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
    let homefs = host.homefs();
    std::fs::create_dir_all(&homefs).with_context(|| format!("creating {}", homefs.display()))?;
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

    fn host(socket: Option<u32>) -> DeskHost {
        DeskHost {
            home: PathBuf::from("/home/ada"),
            uid: 1000,
            gid: 1001,
            binaries: vec![("kind".into(), PathBuf::from("/opt/bin/kind"))],
            docker_socket_gid: socket,
        }
    }

    #[test]
    fn argv_matches_the_original_script() {
        let line = docker_run(&host(Some(998)), DEFAULT_IMAGE, true).to_shell_line();
        assert_eq!(
            line,
            "docker run -it --net=host -v /home/ada/.ktbx/homefs:/home/ada -v /home/ada/.kube:/home/ada/.kube \
-v /tmp:/tmp -v /etc/group:/etc/group:ro -v /etc/passwd:/etc/passwd:ro \
-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates -v /opt/bin/kind:/usr/local/bin/kind \
-v /var/run/docker.sock:/var/run/docker.sock --group-add 998 --rm --user=1000:1001 -w /home/ada -- \
docker.io/k8sschool/k8s-toolbox:latest bash"
        );
    }

    #[test]
    fn dry_run_line_has_no_shell_and_no_socket_without_docker() {
        let line = docker_run(&host(None), "img:1", false).to_shell_line();
        assert!(line.ends_with("-w /home/ada -- img:1"), "{line}");
        assert!(
            !line.contains("docker.sock") && !line.contains("--group-add"),
            "{line}"
        );
    }

    #[test]
    fn odd_home_paths_stay_one_argument() {
        let mut h = host(None);
        h.home = PathBuf::from("/home/a b$(id)");
        let cmd = docker_run(&h, DEFAULT_IMAGE, true);
        assert!(
            cmd.get_args()
                .iter()
                .any(|a| a == "/home/a b$(id)/.ktbx/homefs:/home/a b$(id)")
        );
    }
}
