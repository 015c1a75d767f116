//! The `ktbx` executable.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match common::cli::parse::<ktbx::cli::Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    common::tls::install_crypto_provider();
    common::cli::exit_code(ktbx::run(cli))
}
