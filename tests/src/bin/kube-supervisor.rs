//! Owns the real API server of one test binary: `kube-supervisor <state dir>` starts etcd,
//! kube-apiserver and kube-controller-manager, prints `ready`, serves the test processes that
//! connect to `<state dir>/socket`, and stops everything once none has been connected for a few
//! seconds. Started by `harness::real_apiserver::RealApiServer::shared`, not by hand.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: kube-supervisor <state dir>");
        return ExitCode::from(2);
    };
    match harness::real_apiserver::supervise(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kube-supervisor: {err}");
            ExitCode::FAILURE
        }
    }
}
