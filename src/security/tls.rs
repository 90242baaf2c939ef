//! TLS to the brokers (`SSL`, `SASL_SSL`): which certificate authorities to trust, the client certificate of
//! mutual TLS, and host-name verification — one rustls configuration for rskafka and our own connections.
//!
//! A broker shows a certificate chain; the client accepts it if it leads to a trusted root
//! (`SSL_CA_LOCATION`, or Mozilla's roots built into the binary, so that a FROM scratch image works) and names
//! the host the client dialled (Java's `ssl.endpoint.identification.algorithm=https`). With mutual TLS the
//! client shows a certificate of its own (`SSL_CERTIFICATE_LOCATION`, `SSL_KEY_LOCATION`), and the broker
//! takes its subject as the client's principal (`User:CN=...`).
//!
//! The crypto is rustls' `ring` provider (see the README on why TLS is a cargo feature).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::TlsSettings;
use crate::group::connection::ConnectionError;

/// What the TLS variables name, read but not yet checked.
pub struct TlsFiles<'a> {
    pub ca_location: Option<&'a str>,
    pub certificate_location: Option<&'a str>,
    pub key_location: Option<&'a str>,
    pub verify_host_name: bool,
}

/// Reads the files and builds the rustls configuration; an error is one line naming the variable.
pub fn settings(files: &TlsFiles) -> Result<TlsSettings, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (roots, roots_name) = match files.ca_location {
        Some(path) => (read_roots(path)?, path.to_string()),
        None => (
            RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            "built-in (Mozilla's, from webpki-roots)".to_string(),
        ),
    };
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .build()
        .map_err(|e| format!("SSL_CA_LOCATION: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = if files.verify_host_name {
        verifier
    } else {
        Arc::new(AnyHostName(verifier))
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (files.certificate_location, files.key_location) {
        (Some(certificate), Some(key)) => builder
            .with_client_auth_cert(
                read_certificates("SSL_CERTIFICATE_LOCATION", certificate)?,
                read_key(key)?,
            )
            .map_err(|e| format!("SSL_KEY_LOCATION {key} does not fit SSL_CERTIFICATE_LOCATION {certificate}: {e}"))?,
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => return Err(both_or_neither("SSL_CERTIFICATE_LOCATION", "SSL_KEY_LOCATION")),
        (None, Some(_)) => return Err(both_or_neither("SSL_KEY_LOCATION", "SSL_CERTIFICATE_LOCATION")),
    };
    Ok(TlsSettings {
        config: Arc::new(config),
        roots: roots_name,
        client_certificate: files.certificate_location.is_some(),
        verify_host_name: files.verify_host_name,
    })
}

fn both_or_neither(given: &str, missing: &str) -> String {
    format!("{given} is set but {missing} is not; mutual TLS needs both (PEM files)")
}

fn read_roots(path: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates("SSL_CA_LOCATION", path)? {
        roots
            .add(certificate)
            .map_err(|e| format!("SSL_CA_LOCATION {path}: a certificate cannot be a root: {e}"))?;
    }
    Ok(roots)
}

/// Every certificate of a PEM file; at least one.
fn read_certificates(var: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = read_file(var, path)?;
    let certificates = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{var} {path} is not valid PEM: {e}"))?;
    if certificates.is_empty() {
        return Err(format!(
            "{var} {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certificates)
}

/// The private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), unencrypted.
fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let text = read_file("SSL_KEY_LOCATION", path)?;
    if text.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err(format!(
            "SSL_KEY_LOCATION {path} is encrypted; decrypt it first (openssl pkey -in {path} -out key.pem)"
        ));
    }
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| format!("SSL_KEY_LOCATION {path} holds no PEM private key: {e}"))
}

fn read_file(var: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(Path::new(path)).map_err(|e| format!("{var}: cannot read {path}: {e}"))
}

/// The TLS handshake with the broker at `address` over a new TCP connection.
pub async fn connect(
    settings: &TlsSettings,
    tcp: TcpStream,
    address: &str,
) -> Result<TlsStream<TcpStream>, ConnectionError> {
    let failed = |reason: String| ConnectionError::Tls {
        address: address.to_string(),
        reason,
    };
    let host = host_of(address);
    let name = ServerName::try_from(host.to_string()).map_err(|e| failed(format!("'{host}' is no host name: {e}")))?;
    TlsConnector::from(Arc::clone(&settings.config))
        .connect(name, tcp)
        .await
        .map_err(|e| failed(explain(&e)))
}

/// The host part of `host:port` (`[::1]:9093` → `::1`).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// rustls' reason, and what it most likely means for a Kafka user.
fn explain(error: &std::io::Error) -> String {
    let hint = match error.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
            " (the broker hung up: a PLAINTEXT or SASL_PLAINTEXT listener, or it requires a client certificate \
             it did not get or did not trust)"
        }
        _ => match error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                " (the broker's certificate is not signed by a trusted CA: set SSL_CA_LOCATION to its CA)"
            }
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => " (the broker's certificate is for another host name: use the name it names)",
            Some(rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            )) => " (the broker's certificate has expired)",
            _ => "",
        },
    };
    format!("{error}{hint}")
}

/// A TLS alert right after the handshake: with TLS 1.3 the broker checks the client's certificate only after
/// the client has finished, so a missing or untrusted client certificate shows at the first request.
pub fn refused_after_handshake(error: &std::io::Error) -> Option<String> {
    let alert = match error.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => alert,
        _ => return None,
    };
    use rustls::AlertDescription::*;
    let hint = match alert {
        BadCertificate | CertificateRequired | UnknownCA | CertificateUnknown => {
            "the broker refused our client certificate, or wants one: set SSL_CERTIFICATE_LOCATION and \
             SSL_KEY_LOCATION to a certificate its truststore trusts"
        }
        CertificateExpired => "the broker says our client certificate has expired",
        _ => "the broker ended the TLS session",
    };
    Some(format!("received fatal alert {alert:?} ({hint})"))
}

/// Checks the broker's chain like rustls does, but accepts any host name in it:
/// `SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=none`. Anyone with a certificate from the same CA can then pose as
/// the broker, so the consumer and producer warn about it when they start.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_come_from_the_address() {
        assert_eq!(host_of("broker-1.example.com:9093"), "broker-1.example.com");
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9093"), "::1");
    }

    #[test]
    fn files_that_cannot_be_used_are_named() {
        let dir = std::env::temp_dir().join(format!("kafka-lab-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let encrypted = dir.join("encrypted.pem");
        std::fs::write(
            &encrypted,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let error = |files: TlsFiles| settings(&files).expect_err("an error");
        let files = |ca, certificate, key| TlsFiles {
            ca_location: ca,
            certificate_location: certificate,
            key_location: key,
            verify_host_name: true,
        };
        assert!(error(files(Some("/nonexistent/ca.pem"), None, None))
            .starts_with("SSL_CA_LOCATION: cannot read /nonexistent/ca.pem"));
        let not_pem = not_pem.to_str().unwrap();
        assert!(error(files(Some(not_pem), None, None)).contains("holds no PEM certificate"));
        assert!(error(files(None, Some(not_pem), None)).starts_with("SSL_CERTIFICATE_LOCATION is set but"));
        assert!(error(files(None, None, Some(not_pem))).starts_with("SSL_KEY_LOCATION is set but"));
        assert!(error(files(None, Some(not_pem), Some(encrypted.to_str().unwrap())))
            .starts_with("SSL_CERTIFICATE_LOCATION"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn built_in_roots_need_no_file() {
        let settings = settings(&TlsFiles {
            ca_location: None,
            certificate_location: None,
            key_location: None,
            verify_host_name: false,
        })
        .expect("the built-in roots");
        assert!(settings.roots.starts_with("built-in") && !settings.verify_host_name);
    }
}
