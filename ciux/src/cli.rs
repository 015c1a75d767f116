//! Command-line definition of `ciux` (clap derive), kept apart from the commands so that
//! `cargo xtask dist` can render man pages and completions from it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use common::cli::{CompletionArgs, Verbosity};

use crate::image_decision::RegistryUnreachable;
use crate::local_images::MaxAge;
use crate::selector::Selector;

/// Software stack versioning and release management for CI
#[derive(Debug, Parser)]
#[command(name = "ciux", version, about, propagate_version = true)]
pub struct Cli {
    /// Global flags.
    #[command(flatten)]
    pub(crate) verbosity: Verbosity,
    /// Print what would be changed (commands, env file) on stdout and change nothing
    #[arg(long, global = true)]
    pub(crate) dry_run: bool,
    /// The command to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands of `ciux`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prepare a build or test run: dependencies, tools, image decision and the env file
    #[command(
        visible_aliases = ["ig", "ign"],
        subcommand_negates_reqs = true,
        override_usage = "ciux ignite [OPTIONS] <REPOSITORY>\n       ciux ignite env [OPTIONS] <REPOSITORY>"
    )]
    Ignite(IgniteArgs),
    /// Read information about a project
    #[command(subcommand)]
    Get(GetCommand),
    /// Suggest the next release-candidate tag (prints the git commands to create it)
    #[command(visible_alias = "rel")]
    Tag(TagArgs),
    /// Manage container images in CI
    #[command(subcommand)]
    Image(ImageCommand),
    /// Generate the autocompletion script for the specified shell
    Completion(CompletionArgs),
    /// Compare lock files written by `ignite --lock`
    #[command(subcommand)]
    Lock(LockCommand),
}

/// Sub-commands of `lock`.
#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// The commits between two locks, per dependency (the cross-repository changelog)
    Diff(LockDiffArgs),
}

/// Arguments of `lock diff`.
#[derive(Debug, Args)]
pub struct LockDiffArgs {
    /// The older lock file
    pub(crate) old: PathBuf,
    /// The newer lock file
    pub(crate) new: PathBuf,
}

/// The value of a string flag, `None` when absent or given empty (`-t "$UNSET_VAR"` in CI scripts
/// means "not set", as in the original ciux).
pub(crate) fn given(flag: &Option<String>) -> Option<&str> {
    flag.as_deref().filter(|v| !v.is_empty())
}

/// The positional path of the commands that read a project.
#[derive(Debug, Args)]
pub struct RepositoryArg {
    /// Path to the root of the project's git repository
    pub(crate) repository: PathBuf,
}

/// Arguments of `ignite`.
#[derive(Debug, Args)]
pub struct IgniteArgs {
    /// Legacy sub-command.
    #[command(subcommand)]
    pub(crate) env: Option<IgniteCommand>,
    /// Path to the root of the project's git repository
    #[arg(required = true)]
    pub(crate) repository: Option<PathBuf>,
    /// Label selector filtering the dependencies of .ciux (k8s syntax, e.g. `itest` or `build=noscience`)
    #[arg(short = 'l', long, value_parser = Selector::parse)]
    pub(crate) selector: Option<Selector>,
    /// Work branch of the project (default: the current branch; needed on CI's detached checkouts)
    #[arg(short = 'b', long, global = true)]
    pub(crate) branch: Option<String>,
    /// Only the main project: no dependencies, --selector ignored
    #[arg(short = 'm', long)]
    pub(crate) main: bool,
    /// Suffix of the image name (`<name>-<suffix>`)
    #[arg(short = 'p', long)]
    pub(crate) suffix: Option<String>,
    /// Registry of the image to build when no existing image holds the current sources
    #[arg(short = 't', long)]
    pub(crate) tmp_registry: Option<String>,
    /// Also append the variables to $GITHUB_ENV and $GITHUB_OUTPUT when they are set
    #[arg(long)]
    pub(crate) github: bool,
    /// Print why the image is built or not (decision, tag, reason) on stderr
    #[arg(long)]
    pub(crate) explain: bool,
    /// Record what this run resolved (commits, versions, image digests) in `.ciux.lock`
    #[arg(long, conflicts_with = "frozen")]
    pub(crate) lock: bool,
    /// Replay `.ciux.lock`: the locked branches and commits, no branch listing, no fetch when the clones hold them
    #[arg(long)]
    pub(crate) frozen: bool,
    /// What an unreachable registry means.
    #[command(flatten)]
    pub(crate) lookup: LookupArgs,
}

/// The `--registry-unreachable` flag of the commands that look the project image up.
#[derive(Debug, Clone, Copy, Args)]
pub struct LookupArgs {
    /// If the project image's registry cannot be reached (network, timeout, HTTP 5xx): `fail`, or `build` (absent, with a warning)
    #[arg(
        long,
        value_enum,
        value_name = "fail|build",
        hide_possible_values = true,
        env = "CIUX_REGISTRY_UNREACHABLE",
        default_value_t = RegistryUnreachable::Fail
    )]
    pub(crate) registry_unreachable: RegistryUnreachable,
    /// Build the image without looking for an existing one (CIUX_BUILD=true, reason `forced`)
    #[arg(long, env = "CIUX_FORCE_BUILD")]
    pub(crate) force_build: bool,
}

/// Sub-commands of `ignite`.
#[derive(Debug, Subcommand)]
pub enum IgniteCommand {
    /// Rewrite the env file from what is on disk (local clones, no network, image not checked)
    Env(IgniteEnvArgs),
}

/// Arguments of `ignite env`.
#[derive(Debug, Args)]
pub struct IgniteEnvArgs {
    /// The project.
    #[command(flatten)]
    pub(crate) repo: RepositoryArg,
}

/// Output format of the `get` commands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The original text output
    #[default]
    Text,
    /// One JSON object
    Json,
}

/// The `-o/--output` flag of every `get` command.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) format: OutputFormat,
}

/// Sub-commands of `get`.
#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// Image name, tag and whether it must be built
    #[command(visible_alias = "img")]
    Image(GetImageArgs),
    /// Revision (describe-style version) of HEAD
    #[command(visible_alias = "rev")]
    Revision(GetRevisionArgs),
    /// List the dependencies selected by a label selector
    #[command(visible_alias = "deps")]
    Dependencies(SelectorRepoArgs),
    /// Kind cluster name from $USER, the branch and the commit
    #[command(visible_alias = "cn")]
    Clustername(SelectorRepoArgs),
    /// Path of the env file that `ignite` writes for a selector
    #[command(visible_alias = "cp")]
    Configpath(SelectorRepoArgs),
}

/// Arguments of `get image`.
#[derive(Debug, Args)]
pub struct GetImageArgs {
    /// The project.
    #[command(flatten)]
    pub(crate) repo: RepositoryArg,
    /// Look for an existing image built from the current sources
    #[arg(short = 'c', long)]
    pub(crate) check: bool,
    /// Suffix of the image name
    #[arg(short = 'p', long)]
    pub(crate) suffix: Option<String>,
    /// Registry of the image to build when none exists
    #[arg(short = 't', long)]
    pub(crate) tmp_registry: Option<String>,
    /// Print `export CIUX_IMAGE_URL=…` and `export CIUX_BUILD=…` lines
    #[arg(short = 'e', long)]
    pub(crate) env: bool,
    /// Also print why the image is built or not (on stderr with --env)
    #[arg(long)]
    pub(crate) explain: bool,
    /// What an unreachable registry means (with --check).
    #[command(flatten)]
    pub(crate) lookup: LookupArgs,
    /// Output format.
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// Arguments of `get revision`.
#[derive(Debug, Args)]
pub struct GetRevisionArgs {
    /// The project.
    #[command(flatten)]
    pub(crate) repo: RepositoryArg,
    /// Print the tag only if HEAD is a release (on a tag, clean, on main or master), else nothing
    #[arg(short = 'r', long)]
    pub(crate) isrelease: bool,
    /// Output format.
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// A repository and a selector.
#[derive(Debug, Args)]
pub struct SelectorRepoArgs {
    /// The project.
    #[command(flatten)]
    pub(crate) repo: RepositoryArg,
    /// Label selector (k8s syntax)
    #[arg(short = 'l', long, value_parser = Selector::parse)]
    pub(crate) selector: Option<Selector>,
    /// Output format.
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// Arguments of `tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The project.
    #[command(flatten)]
    pub(crate) repo: RepositoryArg,
    /// Ignored (accepted for compatibility)
    #[arg(hide = true)]
    pub(crate) ignored: Vec<String>,
}

/// Sub-commands of `image`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Get a CI-built image into the local Docker daemon
    Load(ImageLoadArgs),
    /// Remove old local Docker images whose `repo:tag` contains a pattern
    Cleanup(ImageCleanupArgs),
    /// Tag an existing image through the registry API, in any repository or registry (no pull)
    ///
    /// Within the image's repository the manifest is copied; to another repository or registry the
    /// blobs the destination lacks are streamed over first.
    Promote(ImagePromoteArgs),
}

/// Arguments of `image load`.
#[derive(Debug, Args)]
pub struct ImageLoadArgs {
    /// Runner label string, e.g. `['self-hosted']`
    #[arg(short = 'r', long, required = true)]
    pub(crate) runner: String,
    /// Image reference
    #[arg(short = 'i', long, required = true)]
    pub(crate) image_url: String,
    /// `true` when the image was built in this CI run
    #[arg(short = 'b', long, required = true)]
    pub(crate) build_status: String,
    /// Tarball made by `docker save`
    #[arg(short = 'a', long, default_value = "artifacts/image.tar")]
    pub(crate) artifact_path: PathBuf,
}

/// Arguments of `image cleanup`.
#[derive(Debug, Args)]
pub struct ImageCleanupArgs {
    /// Substring matched against `repository:tag`
    #[arg(short = 'p', long, required = true)]
    pub(crate) pattern: String,
    /// Images older than this are removed: `<n><unit>`, unit d, h, w or m (minutes)
    #[arg(short = 'm', long, default_value = "5d", value_parser = MaxAge::parse)]
    pub(crate) max_age: MaxAge,
}

/// Arguments of `image promote`.
#[derive(Debug, Args)]
pub struct ImagePromoteArgs {
    /// Existing image (`registry/repo:tag`)
    pub(crate) image: String,
    /// New tag, or a full reference, in any repository or registry (e.g. $CIUX_PROMOTED_IMAGE_URL)
    pub(crate) target: String,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn a_bad_selector_is_a_usage_error_before_any_io() {
        let err = Cli::try_parse_from(["ciux", "get", "deps", "/nonexistent", "-l", "a in ("])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(
            err.to_string().contains("unable to parse label selector"),
            "{err}"
        );
    }

    #[test]
    fn selectors_are_parsed_at_argv_time() {
        let Cli {
            command: Command::Ignite(a),
            ..
        } = Cli::try_parse_from(["ciux", "ignite", ".", "-l", "itest,ci"]).unwrap()
        else {
            panic!("not ignite")
        };
        assert_eq!(a.selector.unwrap().to_string(), "ci,itest");
    }

    #[test]
    fn max_age_is_parsed_at_argv_time() {
        let err =
            Cli::try_parse_from(["ciux", "image", "cleanup", "-p", "x", "-m", "5y"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(
            err.to_string()
                .contains("unsupported unit 'y' (use d, h, w, m)"),
            "{err}"
        );
        let Cli {
            command: Command::Image(ImageCommand::Cleanup(a)),
            ..
        } = Cli::try_parse_from(["ciux", "image", "cleanup", "-p", "x"]).unwrap()
        else {
            panic!("not image cleanup")
        };
        assert_eq!(a.max_age.text, "5d");
        assert_eq!(a.max_age.age, std::time::Duration::from_secs(5 * 86_400));
    }

    #[test]
    fn an_empty_string_flag_is_unset() {
        assert_eq!(given(&None), None);
        assert_eq!(given(&Some(String::new())), None);
        assert_eq!(given(&Some("r.io".into())), Some("r.io"));
    }
}
