//! What every test module shares: `ktbx` in a clean environment.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// `ktbx` with an empty environment except `HOME` (and the download cache) in `home`, run from `home`,
/// on a healthy host: the doctor's `/proc/sys` and `/sys/fs/cgroup` are the `host/ok` fixture trees.
pub(crate) fn ktbx(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("ktbx").unwrap();
    cmd.env_clear()
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .current_dir(home);
    host(&mut cmd, "ok");
    cmd
}

/// Points the doctor's file checks at the fixture trees `tests/fixtures/host/<name>`.
pub(crate) fn host(cmd: &mut Command, name: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/host")
        .join(name);
    cmd.env("KTBX_DOCTOR_PROC_SYS", root.join("proc-sys"))
        .env("KTBX_DOCTOR_CGROUP", root.join("cgroup"));
}

/// Writes at `path` a kubeconfig whose current context `kind-<cluster>` reaches `server`.
pub(crate) fn write_kind_kubeconfig(path: &Path, server: &str, cluster: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\ncontexts:\n- name: kind-{cluster}\n  context:\n    cluster: c\n    user: u\ncurrent-context: kind-{cluster}\nusers:\n- name: u\n  user: {{}}\n"
    );
    std::fs::write(path, text).unwrap();
}

/// The stdout of a finished command, as text.
pub(crate) fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

/// The argv of every call of a fake, joined by spaces.
pub(crate) fn argv(calls: Vec<harness::fakebin::Call>) -> Vec<String> {
    calls.into_iter().map(|c| c.argv.join(" ")).collect()
}
