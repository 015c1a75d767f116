//! Command-line pieces shared by the three tools: the `-v N` flag, the `completion` command and
//! the top-level error handling that turns a failure into `error: …` on stderr and exit code 1.

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Command, Parser, ValueEnum};
use clap_complete::Shell;

/// The global `-v N` / `--verbosity N` flag (0 error, 1 info, 2+ debug; negative is debug).
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Verbosity {
    /// Log level: 0 errors and warnings, 1 info, 2 or more debug (logs go to stderr; RUST_LOG overrides)
    #[arg(
        short = 'v',
        long = "verbosity",
        global = true,
        default_value_t = 0,
        allow_negative_numbers = true,
        value_name = "N"
    )]
    pub level: i64,
}

/// Shells that `completion` can generate a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// Bash (`source <(tool completion bash)`)
    Bash,
    /// Zsh
    Zsh,
    /// Fish
    Fish,
    /// PowerShell
    Powershell,
    /// Elvish
    Elvish,
}

impl From<CompletionShell> for Shell {
    fn from(shell: CompletionShell) -> Self {
        match shell {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
            CompletionShell::Powershell => Shell::PowerShell,
            CompletionShell::Elvish => Shell::Elvish,
        }
    }
}

/// Arguments of the `completion` command.
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// Shell to generate the completion script for
    #[arg(value_enum)]
    pub shell: CompletionShell,
    /// Leave the descriptions of commands and flags out of the script
    #[arg(long)]
    pub no_descriptions: bool,
}

/// Writes the completion script for `command` to `out`.
///
/// The script is rendered in memory first: clap_complete panics on a failed write, and a closed
/// pipe (`tool completion bash | head`) must be an ordinary I/O error.
pub fn write_completions(
    mut command: Command,
    args: &CompletionArgs,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if args.no_descriptions {
        command = strip_descriptions(command);
    }
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(Shell::from(args.shell), &mut command, name, &mut script);
    out.write_all(&script)?;
    out.flush()
}

fn strip_descriptions(command: Command) -> Command {
    command
        .about(None::<&str>)
        .long_about(None::<&str>)
        .mut_args(|arg| arg.help(None::<&str>).long_help(None::<&str>))
        .mut_subcommands(strip_descriptions)
}

/// Parses the process arguments into `C` with the originals' exit codes.
///
/// `--help` and `--version` print on stdout and succeed; the tool run with no arguments at all
/// prints its help on stdout and succeeds (cobra's root behaviour, which scripts and users rely on);
/// every other usage error, a subcommand missing below the root included, prints on stderr and
/// exits 1 (clap's own code would be 2).
pub fn parse<C: Parser>() -> Result<C, ExitCode> {
    parse_from(std::env::args_os())
}

/// [`parse`] over explicit arguments (the first one is the program name).
pub fn parse_from<C, I, T>(args: I) -> Result<C, ExitCode>
where
    C: Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let bare = args.len() <= 1;
    C::try_parse_from(args).map_err(|err| {
        let succeeds = !err.use_stderr()
            || (bare && err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand);
        if succeeds {
            let _ = write!(std::io::stdout(), "{}", err.render());
            ExitCode::SUCCESS
        } else {
            let _ = err.print();
            ExitCode::FAILURE
        }
    })
}

/// Turns a tool's top-level result into its exit code: on error prints `error: <cause chain>` to
/// stderr and returns 1. A closed stdout (`tool get x | head -1`) is not an error.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    #[command(name = "demo", about = "A demo tool")]
    struct Demo {
        #[command(flatten)]
        verbosity: Verbosity,
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(clap::Subcommand)]
    enum Sub {
        /// Says hello
        Hello,
        /// Prints completions
        Completion(CompletionArgs),
    }

    fn parse(args: &[&str]) -> Demo {
        <Demo as clap::Parser>::try_parse_from(args).expect("parses")
    }

    #[test]
    fn verbosity_takes_a_value_in_every_form() {
        assert_eq!(parse(&["demo", "-v2", "hello"]).verbosity.level, 2);
        assert_eq!(parse(&["demo", "-v", "1", "hello"]).verbosity.level, 1);
        assert_eq!(
            parse(&["demo", "hello", "--verbosity=3"]).verbosity.level,
            3
        );
        assert_eq!(parse(&["demo", "-v", "-1", "hello"]).verbosity.level, -1);
        assert_eq!(parse(&["demo", "hello"]).verbosity.level, 0);
        assert!(<Demo as clap::Parser>::try_parse_from(["demo", "hello", "-v"]).is_err());
    }

    #[test]
    fn completion_scripts_name_the_commands() {
        let mut out = Vec::new();
        let args = CompletionArgs {
            shell: CompletionShell::Bash,
            no_descriptions: false,
        };
        write_completions(<Demo as clap::CommandFactory>::command(), &args, &mut out).unwrap();
        let script = String::from_utf8(out).unwrap();
        assert!(script.contains("hello"), "{script}");
    }

    /// A writer whose reader went away, as stdout piped into `head`.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_an_error_not_a_panic() {
        let args = CompletionArgs {
            shell: CompletionShell::Zsh,
            no_descriptions: false,
        };
        let err = write_completions(
            <Demo as clap::CommandFactory>::command(),
            &args,
            &mut ClosedPipe,
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn no_descriptions_removes_help_texts() {
        let render = |no_descriptions| {
            let mut out = Vec::new();
            let args = CompletionArgs {
                shell: CompletionShell::Fish,
                no_descriptions,
            };
            write_completions(<Demo as clap::CommandFactory>::command(), &args, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(render(false).contains("Says hello"));
        assert!(!render(true).contains("Says hello"));
    }

    #[derive(clap::Parser, Debug)]
    #[command(name = "tool", version, arg_required_else_help = true)]
    struct Tool {
        #[command(subcommand)]
        command: ToolCommand,
    }

    #[derive(clap::Subcommand, Debug)]
    enum ToolCommand {
        /// Gets things
        #[command(arg_required_else_help = true)]
        Get {
            #[command(subcommand)]
            what: GetWhat,
        },
    }

    #[derive(clap::Subcommand, Debug)]
    enum GetWhat {
        /// One thing
        Thing,
    }

    #[test]
    fn usage_errors_exit_one_and_help_zero() {
        assert!(parse_from::<Tool, _, _>(["tool", "get", "thing"]).is_ok());
        assert_eq!(
            parse_from::<Tool, _, _>(["tool"]).unwrap_err(),
            ExitCode::SUCCESS
        );
        assert_eq!(
            parse_from::<Tool, _, _>(["tool", "--help"]).unwrap_err(),
            ExitCode::SUCCESS
        );
        assert_eq!(
            parse_from::<Tool, _, _>(["tool", "--version"]).unwrap_err(),
            ExitCode::SUCCESS
        );
        assert_eq!(
            parse_from::<Tool, _, _>(["tool", "get"]).unwrap_err(),
            ExitCode::FAILURE
        );
        assert_eq!(
            parse_from::<Tool, _, _>(["tool", "nope"]).unwrap_err(),
            ExitCode::FAILURE
        );
        assert_eq!(
            parse_from::<Tool, _, _>(["tool", "get", "thing", "--bad"]).unwrap_err(),
            ExitCode::FAILURE
        );
    }

    #[test]
    fn errors_exit_with_one_and_broken_pipes_with_zero() {
        assert_eq!(exit_code(Err(anyhow::anyhow!("boom"))), ExitCode::FAILURE);
        let pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed");
        let wrapped = anyhow::Error::new(pipe).context("writing the env file");
        assert_eq!(exit_code(Err(wrapped)), ExitCode::SUCCESS);
        assert_eq!(exit_code(Ok(())), ExitCode::SUCCESS);
    }
}
