//! The `ktbx` executable.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match ktbx::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // As the original: `ktbx` alone prints the help and succeeds; usage errors exit 1.
            let ok = !err.use_stderr()
                || err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
            if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                print!("{}", err.render());
            } else {
                let _ = err.print();
            }
            return if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    common::tls::install_crypto_provider();
    common::cli::exit_code(ktbx::run(cli))
}
