//! Kafka's `security.protocol`: how a client proves who the broker is (TLS) and who it is itself (TLS client
//! certificates, or SASL), on every connection it opens.
//!
//! A Kafka listener speaks one of four protocols, and a client must speak the same one:
//!
//! | protocol         | encrypted | the client authenticates with           |
//! |------------------|-----------|-----------------------------------------|
//! | `PLAINTEXT`      | no        | nothing (the workshop's compose cluster) |
//! | `SSL`            | TLS       | nothing, or a client certificate (mutual TLS) |
//! | `SASL_PLAINTEXT` | no        | SASL: a user name and password           |
//! | `SASL_SSL`       | TLS       | SASL, inside TLS (hosted clusters)       |
//!
//! TLS comes first, right after TCP connects; SASL is spoken in Kafka requests (SaslHandshake, then
//! SaslAuthenticate until the mechanism is done) before any other request but ApiVersions.
//!
//! kafka-lab opens connections in two places: rskafka's client (produce, fetch, metadata), and our own
//! [`Connection`](crate::group::connection::Connection) for the group and admin APIs. Both take their settings
//! from one [`Security`], read once from the environment by [`crate::config`]: rskafka gets the same rustls
//! configuration and the same credentials ([`Security::rskafka_sasl`]); our connection uses `tls` (with the
//! feature) and [`sasl`] (whose SCRAM is [`scram`]).
//!
//! TLS needs the `tls` cargo feature (rustls with the `ring` provider, which compiles C); without it, `SSL`
//! and `SASL_SSL` are refused at start-up with exit status 2. SASL needs nothing more.

pub mod sasl;
pub mod scram;
#[cfg(feature = "tls")]
pub mod tls;

use std::fmt;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::group::connection::ConnectionError;

/// The byte stream under a connection: TCP, or TLS over TCP.
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Transport for T {}

/// Kafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether connections start with a TLS handshake.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether the client authenticates with SASL after connecting.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    /// The name Kafka's configuration uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }
}

/// Kafka's `sasl.mechanism`: the SASL mechanisms kafka-lab speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// RFC 4616: the password travels as it is (so only ever inside TLS, outside a lab).
    Plain,
    /// RFC 7677: a salted challenge and response; the password never travels.
    ScramSha256,
    /// SCRAM with SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// The name both Kafka's configuration and the SaslHandshake request use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// A SASL user: mechanism, user name and password. `Debug` leaves the password out.
#[derive(Clone)]
pub struct SaslCredentials {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to verify the brokers, and the client certificate to show them: ready-made for rustls.
#[cfg(feature = "tls")]
#[derive(Clone)]
pub struct TlsSettings {
    pub config: std::sync::Arc<rustls::ClientConfig>,
    /// Where the CA roots came from, for the log: a file, or the roots built in.
    pub roots: String,
    /// Whether a client certificate is presented (mutual TLS).
    pub client_certificate: bool,
    /// `false` when SSL_ENDPOINT_IDENTIFICATION_ALGORITHM turned host-name verification off.
    pub verify_host_name: bool,
}

/// Without the `tls` feature there are no TLS settings: [`crate::config`] refuses `SSL` and `SASL_SSL`.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub enum TlsSettings {}

impl fmt::Debug for TlsSettings {
    #[cfg(feature = "tls")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("roots", &self.roots)
            .field("client_certificate", &self.client_certificate)
            .field("verify_host_name", &self.verify_host_name)
            .finish()
    }

    #[cfg(not(feature = "tls"))]
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// Everything a connection to the cluster needs beyond its address.
#[derive(Debug, Clone)]
pub struct Security {
    pub protocol: SecurityProtocol,
    /// Set exactly when `protocol` uses TLS.
    pub tls: Option<TlsSettings>,
    /// Set exactly when `protocol` uses SASL.
    pub sasl: Option<SaslCredentials>,
}

impl Security {
    /// `PLAINTEXT`: no TLS, no SASL (the default, and the workshop's).
    pub fn plaintext() -> Self {
        Self {
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            sasl: None,
        }
    }

    /// One line for the start-up log: the protocol, mechanism and user, never the password.
    pub fn describe(&self) -> String {
        let mut text = self.protocol.name().to_string();
        if let Some(sasl) = &self.sasl {
            text += &format!(" {} as {}", sasl.mechanism.name(), sasl.username);
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            text += &format!(", CA roots: {}", tls.roots);
            if tls.client_certificate {
                text += ", with a client certificate";
            }
        }
        text
    }

    /// Starts TLS on a new TCP connection to `address` (`host:port`) when the protocol uses it.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    pub async fn wrap(&self, tcp: TcpStream, address: &str) -> Result<Box<dyn Transport>, ConnectionError> {
        match &self.tls {
            None => Ok(Box::new(tcp)),
            #[cfg(feature = "tls")]
            Some(settings) => Ok(Box::new(tls::connect(settings, tcp, address).await?)),
            #[cfg(not(feature = "tls"))]
            Some(settings) => match *settings {},
        }
    }

    /// Says at start-up how the binary connects, and warns loudly when host names go unchecked.
    pub fn log_start(&self) {
        tracing::info!("connecting with {}", self.describe());
        #[cfg(feature = "tls")]
        if self.tls.as_ref().is_some_and(|tls| !tls.verify_host_name) {
            tracing::warn!(
                "INSECURE: SSL_ENDPOINT_IDENTIFICATION_ALGORITHM turns off host-name verification: any server \
                 holding a certificate from a trusted CA can pose as the brokers. Use it only to test."
            );
        }
    }

    /// The same credentials for rskafka's client.
    pub fn rskafka_sasl(&self) -> Option<rskafka::client::SaslConfig> {
        use rskafka::client::{Credentials, SaslConfig};
        let sasl = self.sasl.as_ref()?;
        let credentials = Credentials::new(sasl.username.clone(), sasl.password.clone());
        Some(match sasl.mechanism {
            SaslMechanism::Plain => SaslConfig::Plain(credentials),
            SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
            SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
        })
    }
}
