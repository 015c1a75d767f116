//! The `finkctl` executable.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    common::tls::install_crypto_provider();
    let cli = match finkctl::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Usage errors exit 1, as the original's; help and version exit 0.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    common::cli::exit_code(finkctl::run(cli))
}
