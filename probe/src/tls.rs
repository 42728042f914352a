//! TLS for the `quic` probe: trust roots, SPKI pins, and the certificate verifiers.
//!
//! Everything uses the aws-lc-rs provider explicitly (the one the AWS SDK uses), so nothing
//! depends on the process-wide default provider.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use super::{Key, ProbeConfigError};

/// The crypto provider of every TLS config wavelb builds.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// How the server's certificate is checked.
pub(crate) enum Trust {
    /// Chain to one of these roots, valid for the SNI name.
    Verify(RootCertStore),
    /// The leaf's SubjectPublicKeyInfo hashes (SHA-256) to this pin.
    Pin([u8; 32]),
    /// Any certificate.
    Insecure,
}

impl Trust {
    /// A short description for logs.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Trust::Verify(_) => "cert verified",
            Trust::Pin(_) => "cert pinned",
            Trust::Insecure => "cert not checked (insecure)",
        }
    }
}

/// The system's trust roots (rustls-native-certs); when the system has none, Mozilla's roots
/// as bundled by webpki-roots.
pub(crate) fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::debug!(error = %err, "while loading the system's trust roots");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::debug!(ignored, "system trust roots that could not be parsed");
    }
    if added == 0 {
        tracing::info!("no system trust roots found; using the bundled Mozilla roots");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// Loads the PEM certificates of `path` as the only trust roots.
pub(crate) fn load_ca(path: &Path) -> Result<RootCertStore, ProbeConfigError> {
    let shown = path.display();
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| ProbeConfigError::new(Key::Ca, format!("cannot read {shown}: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in iter {
        let cert = cert.map_err(|e| {
            ProbeConfigError::new(
                Key::Ca,
                format!("{shown} is not a PEM certificate file: {e}"),
            )
        })?;
        roots.add(cert).map_err(|e| {
            ProbeConfigError::new(
                Key::Ca,
                format!("{shown} holds a certificate that cannot be a trust root: {e}"),
            )
        })?;
    }
    if roots.is_empty() {
        return Err(ProbeConfigError::new(
            Key::Ca,
            format!("{shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        ));
    }
    Ok(roots)
}

/// Parses a pin: 64 hex digits, or base64 of 32 bytes, optionally prefixed with `sha256/`.
pub(crate) fn parse_pin(text: &str) -> Result<[u8; 32], ProbeConfigError> {
    let body = text.trim();
    let body = body.strip_prefix("sha256/").unwrap_or(body);
    let bytes = if body.len() == 64 && body.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(body).ok()
    } else {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        engine.decode(body).ok()
    };
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            ProbeConfigError::new(
                Key::Pin,
                format!(
                    "{text:?} is not a SHA-256 pin; give the SHA-256 of the certificate's \
                     SubjectPublicKeyInfo as 64 hex digits or as base64 of 32 bytes"
                ),
            )
        })
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo, the value a pin is compared with.
pub(crate) fn spki_sha256(cert: &CertificateDer<'_>) -> Result<[u8; 32], rustls::Error> {
    let parsed = ParsedCertificate::try_from(cert)?;
    Ok(Sha256::digest(parsed.subject_public_key_info().as_ref()).into())
}

/// A rustls client config for QUIC (TLS 1.3 only) with `trust` and the ALPN list.
pub(crate) fn client_config(
    trust: &Trust,
    alpn: &[String],
) -> Result<rustls::ClientConfig, ProbeConfigError> {
    let provider = provider();
    let algs = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::Verify(roots) => rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots.clone()),
            provider.clone(),
        )
        .build()
        .map_err(|e| ProbeConfigError::new(Key::Ca, format!("unusable trust roots: {e}")))?,
        Trust::Pin(pin) => Arc::new(LaxVerifier {
            pin: Some(*pin),
            algs,
        }),
        Trust::Insecure => Arc::new(LaxVerifier { pin: None, algs }),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ProbeConfigError::new(Key::Kind, format!("no TLS 1.3 support: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(config)
}

/// A TLS client config (TLS 1.2 and 1.3, no ALPN) that accepts any certificate, as Route 53's
/// HTTPS health checks do (they do not validate certificates); the handshake signature is still
/// verified against the certificate's key. Used by the lab resolver's health checks.
///
/// # Errors
///
/// When the provider supports neither protocol version (aws-lc-rs supports both).
pub fn unverified_client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = provider();
    let algs = provider.signature_verification_algorithms;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(LaxVerifier { pin: None, algs }))
        .with_no_client_auth())
}

/// Accepts a certificate without a chain or name check: any (`insecure`), or one whose SPKI
/// matches a pin. The handshake signature is always verified against the certificate's key, so
/// the server must hold the private key of the certificate it shows.
struct LaxVerifier {
    pin: Option<[u8; 32]>,
    algs: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for LaxVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaxVerifier")
            .field("pinned", &self.pin.is_some())
            .finish()
    }
}

/// The server's key does not match the pin.
#[derive(thiserror::Error)]
#[error("certificate public key sha256 {got} does not match the pin {want}")]
struct PinMismatch {
    got: String,
    want: String,
}

/// rustls shows the cause of a certificate error with `Debug`: make that the readable message.
impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl ServerCertVerifier for LaxVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = spki_sha256(end_entity)?;
        if let Some(want) = self.pin
            && got != want
        {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch {
                    got: hex::encode(got),
                    want: hex::encode(want),
                })),
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_in_hex_or_base64() {
        let hex_pin = "00".repeat(31) + "ff";
        assert_eq!(parse_pin(&hex_pin).unwrap()[31], 0xff);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(parse_pin(&b64).unwrap(), [7u8; 32]);
        assert_eq!(parse_pin(&format!("sha256/{b64}")).unwrap(), [7u8; 32]);
        assert_eq!(parse_pin("abcd").unwrap_err().key, Key::Pin);
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
        assert!(parse_pin(&short).is_err());
        assert!(parse_pin(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn ca_file_errors_name_the_key() {
        let err = load_ca(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert_eq!(err.key, Key::Ca);
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(load_ca(&empty).unwrap_err().to_string().contains("no PEM"));
    }

    #[test]
    fn system_roots_are_never_empty() {
        assert!(!system_roots().is_empty());
    }
}
