//! What every test module shares: `ktbx` in a clean environment.

use std::path::Path;

use assert_cmd::Command;

/// `ktbx` with an empty environment except `HOME` (and the download cache) in `home`, run from `home`.
pub(crate) fn ktbx(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("ktbx").unwrap();
    cmd.env_clear()
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .current_dir(home);
    cmd
}

/// The argv of every call of a fake, joined by spaces.
pub(crate) fn argv(calls: Vec<harness::fakebin::Call>) -> Vec<String> {
    calls.into_iter().map(|c| c.argv.join(" ")).collect()
}
