//! HTTPS: when a certificate and key are configured, the TLS stack follows the crypto backend
//! in use (rustls on aws-lc-rs with the `aws-lc` backend, OpenSSL with the `openssl` backend).

use std::path::Path;

use crate::error::ServerError;
use crate::settings::Settings;

/// A TLS acceptor ready for `HttpServer`.
pub enum Tls {
    /// rustls with the aws-lc-rs provider.
    #[cfg(feature = "aws-lc")]
    Rustls(Box<rustls::ServerConfig>),
    /// OpenSSL, Mozilla's intermediate profile (TLS 1.2 and 1.3).
    #[cfg(feature = "openssl")]
    OpenSsl(openssl::ssl::SslAcceptorBuilder),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The acceptors hold the private key: show only which stack.
        write!(f, "Tls({})", self.name())
    }
}

impl Tls {
    /// The stack's name, for the start-up line.
    pub fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "aws-lc")]
            Tls::Rustls(_) => "rustls (aws-lc-rs)",
            #[cfg(feature = "openssl")]
            Tls::OpenSsl(_) => "openssl",
        }
    }
}

fn failed(what: &str, path: &Path, cause: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(format!("{what} {}: {cause}", path.display()))
}

/// The TLS acceptor for the configured certificate and key, on the stack of `backend_name`;
/// `None` when neither is configured.
pub fn load(settings: &Settings, backend_name: &str) -> Result<Option<Tls>, ServerError> {
    let (certificate, key) = (&settings.tls_certificate, &settings.tls_private_key);
    match (
        certificate.as_os_str().is_empty(),
        key.as_os_str().is_empty(),
    ) {
        (true, true) => return Ok(None),
        (false, false) => {}
        _ => {
            return Err(ServerError::Tls(
                "tls_certificate and tls_private_key must be set together".into(),
            ));
        }
    }
    match backend_name {
        #[cfg(feature = "openssl")]
        "openssl" => openssl_acceptor(certificate, key).map(Some),
        #[cfg(feature = "aws-lc")]
        _ => rustls_config(certificate, key).map(Some),
        #[cfg(not(feature = "aws-lc"))]
        other => Err(ServerError::Tls(format!(
            "no TLS stack for backend {other}"
        ))),
    }
}

#[cfg(feature = "aws-lc")]
fn rustls_config(certificate: &Path, key: &Path) -> Result<Tls, ServerError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| failed("cannot read the TLS certificate chain", certificate, e))?;
    if chain.is_empty() {
        return Err(failed("no certificate in", certificate, "empty"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| failed("cannot read the TLS private key", key, e))?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            failed(
                "the TLS certificate and key do not make a pair",
                certificate,
                e,
            )
        })?;
    // The FIPS build serves TLS only from the FIPS module with approved settings, or not at all.
    if cfg!(feature = "fips") && !config.fips() {
        return Err(ServerError::Tls(
            "the fips build's TLS configuration is not FIPS-approved (rustls ServerConfig::fips)"
                .into(),
        ));
    }
    Ok(Tls::Rustls(Box::new(config)))
}

#[cfg(feature = "openssl")]
fn openssl_acceptor(certificate: &Path, key: &Path) -> Result<Tls, ServerError> {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| failed("cannot read the TLS private key", key, e))?;
    builder
        .set_certificate_chain_file(certificate)
        .map_err(|e| failed("cannot read the TLS certificate chain", certificate, e))?;
    builder.check_private_key().map_err(|e| {
        failed(
            "the TLS certificate and key do not make a pair",
            certificate,
            e,
        )
    })?;
    Ok(Tls::OpenSsl(builder))
}
