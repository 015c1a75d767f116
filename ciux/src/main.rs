//! The `ciux` executable.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    common::tls::install_crypto_provider();
    common::cli::exit_code(ciux::run(ciux::cli::Cli::parse()))
}
