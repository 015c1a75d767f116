//! TLS for loopback test servers: a self-signed certificate for `127.0.0.1` made by `openssl`, and
//! a TLS front that terminates TLS and relays each connection to a plain server. Clients trust the
//! certificate through `SSL_CERT_FILE` (its PEM file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A certificate for `127.0.0.1` and its key.
pub struct TlsIdentity {
    /// The certificate (PEM), also the trust anchor clients need.
    pub certificate: PathBuf,
    key: PathBuf,
}

impl TlsIdentity {
    /// Makes a self-signed P-256 certificate for the IP address `127.0.0.1` in `dir`.
    pub fn self_signed(dir: &Path) -> TlsIdentity {
        let certificate = dir.join("tls-cert.pem");
        let key = dir.join("tls-key.pem");
        self_signed_certificate(
            &key,
            &certificate,
            &[
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                // An end-entity certificate that is its own trust anchor (webpki refuses a CA as a
                // leaf).
                "-addext",
                "basicConstraints=critical,CA:FALSE",
            ],
        );
        TlsIdentity { certificate, key }
    }

    /// A TLS acceptor serving this identity (rustls with `ring`, the workspace's one provider).
    pub fn acceptor(&self) -> TlsAcceptor {
        let chain = CertificateDer::pem_file_iter(&self.certificate)
            .expect("reading the test certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("parsing the test certificate");
        let key = PrivateKeyDer::from_pem_file(&self.key).expect("reading the test key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("TLS server configuration");
        TlsAcceptor::from(Arc::new(config))
    }
}

/// `openssl req -x509 -nodes -days 2 <args>`: a key and a self-signed certificate valid for two days.
pub(crate) fn self_signed_certificate(key: &Path, certificate: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "2"])
        .args(args)
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(certificate)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|err| {
            panic!("running openssl: {err} (install the Debian package openssl)")
        });
    assert!(
        status.success(),
        "openssl could not make a certificate ({status})"
    );
}

/// Accepts TLS connections on `listener` and relays each, decrypted, to `target`. Runs until its
/// future is dropped; a failed handshake only ends that connection.
pub async fn relay(listener: std::net::TcpListener, acceptor: TlsAcceptor, target: SocketAddr) {
    listener
        .set_nonblocking(true)
        .expect("TLS front: non-blocking listener");
    let listener = tokio::net::TcpListener::from_std(listener).expect("TLS front: listener");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(stream).await else {
                return;
            };
            if let Ok(mut plain) = tokio::net::TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            }
        });
    }
}
