//! The `ciux` executable.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match common::cli::parse::<ciux::cli::Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    common::tls::install_crypto_provider();
    common::cli::exit_code(ciux::run(cli))
}
