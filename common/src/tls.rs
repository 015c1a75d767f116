//! The one rustls crypto provider of the workspace.
//!
//! kube, reqwest and git transports all build rustls configurations from the process-wide default
//! provider. The workspace links exactly one (`ring`); every binary installs it first thing in `main`.

/// Installs `ring` as the process-wide rustls provider. Calling it again is harmless.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is the state we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
