//! The executables of the three tools (ktbx, ciux, finkctl) for the cross-tool scenario tests,
//! `cargo xtask demo` and `cargo xtask bench`.
//!
//! The `harness` package cannot use `CARGO_BIN_EXE_<name>` of other packages, so the binaries are
//! built on demand with `cargo build -p ktbx -p ciux -p finkctl --message-format=json` against this
//! workspace (`$CARGO` or `cargo`), and the paths cargo reports are used: that honours
//! `CARGO_TARGET_DIR`, never picks a stale binary, and costs one no-op cargo run when up to date.
//! `$FINK_TOOLS_BIN_DIR` names a directory that already holds the three executables and skips
//! the build (to run the demo or the benchmarks against installed or downloaded binaries).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The three tools, in build order.
pub const TOOL_NAMES: [&str; 3] = ["ktbx", "ciux", "finkctl"];

/// Which cargo profile to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `cargo build` (tests, demo).
    Debug,
    /// `cargo build --release` (benchmarks).
    Release,
}

/// Paths of the three executables.
#[derive(Clone, Debug)]
pub struct Tools {
    /// `ktbx`.
    pub ktbx: PathBuf,
    /// `ciux`.
    pub ciux: PathBuf,
    /// `finkctl`.
    pub finkctl: PathBuf,
    /// Where they come from: `debug build`, `release build` or `$FINK_TOOLS_BIN_DIR`.
    pub origin: String,
}

impl Tools {
    /// Builds the three tools with `profile` (or takes them from `$FINK_TOOLS_BIN_DIR`).
    pub fn build(profile: Profile) -> Result<Tools, String> {
        if let Some(dir) = std::env::var_os("FINK_TOOLS_BIN_DIR") {
            return Tools::in_dir(Path::new(&dir));
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("the tests package has no parent directory")?
            .join("Cargo.toml");
        let mut command = Command::new(&cargo);
        command.args(["build", "--quiet", "--message-format=json"]);
        if profile == Profile::Release {
            command.arg("--release");
        }
        for name in TOOL_NAMES {
            command.args(["-p", name]);
        }
        let output = command
            .arg("--bins")
            .arg("--manifest-path")
            .arg(&manifest)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|err| format!("running {}: {err}", cargo.to_string_lossy()))?;
        if !output.status.success() {
            return Err(format!(
                "`cargo build -p ktbx -p ciux -p finkctl` failed ({})",
                output.status
            ));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let executable = |name: &str| {
            stdout
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|message| message["target"]["name"] == name)
                .find_map(|message| message["executable"].as_str().map(PathBuf::from))
                .ok_or_else(|| format!("cargo did not report the {name} executable"))
        };
        Ok(Tools {
            ktbx: executable("ktbx")?,
            ciux: executable("ciux")?,
            finkctl: executable("finkctl")?,
            origin: match profile {
                Profile::Debug => "debug build".into(),
                Profile::Release => "release build".into(),
            },
        })
    }

    /// The three executables in `dir`.
    pub fn in_dir(dir: &Path) -> Result<Tools, String> {
        let find = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "$FINK_TOOLS_BIN_DIR={}: {name} not found there",
                    dir.display()
                ))
            }
        };
        Ok(Tools {
            ktbx: find("ktbx")?,
            ciux: find("ciux")?,
            finkctl: find("finkctl")?,
            origin: format!("$FINK_TOOLS_BIN_DIR={}", dir.display()),
        })
    }

    /// The debug executables, built once per process (for tests).
    ///
    /// # Panics
    /// If the build fails: the test cannot run.
    pub fn debug() -> &'static Tools {
        static TOOLS: OnceLock<Tools> = OnceLock::new();
        TOOLS.get_or_init(|| Tools::build(Profile::Debug).unwrap_or_else(|err| panic!("{err}")))
    }

    /// The directory holding `ciux` (to put the tools on `PATH`).
    pub fn dir(&self) -> &Path {
        self.ciux.parent().unwrap_or(Path::new("."))
    }
}
