//! The `finkctl` executable.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    common::tls::install_crypto_provider();
    common::cli::exit_code(finkctl::run(finkctl::cli::Cli::parse()))
}
