//! Conventions of finkctl's Kubernetes API calls: the field manager of server-side applies and the
//! short form of a client error.

/// Field manager of every server-side apply (the original's, so objects it created stay ours).
pub(crate) const FIELD_MANAGER: &str = "application/apply-patch";

/// A Kubernetes client error as a short message: for API errors, the server's message, reason and
/// HTTP code (instead of the whole `Status` structure); for others, the error and its causes.
pub(crate) fn api_error(err: kube::Error) -> anyhow::Error {
    match err {
        kube::Error::Api(status) => {
            anyhow::anyhow!(
                "{} ({}, HTTP {})",
                status.message,
                status.reason,
                status.code
            )
        }
        // The causes (refused connection, TLS failure) in one line, without repeats.
        other => anyhow::anyhow!(common::kube::retry::describe(&other)),
    }
}
