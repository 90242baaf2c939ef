//! SASL in Kafka's protocol: how our own connections log in (`SASL_PLAINTEXT`, `SASL_SSL`).
//!
//! Right after ApiVersions, the client names its mechanism in a **SaslHandshake** request (v1: the SASL
//! messages then travel inside Kafka requests, KIP-152); the broker answers with the mechanisms it enables.
//! Then the client sends its SASL messages in **SaslAuthenticate** requests, one per step of the mechanism,
//! and reads the broker's in the answers: PLAIN takes one step (the password itself), SCRAM two
//! ([`super::scram`]). A failed login is an error code in the answer, with the broker's reason, after which the
//! broker closes the connection.
//!
//! **Re-authentication (KIP-368).** A broker with `connections.max.reauth.ms` set answers the last
//! SaslAuthenticate with the session's lifetime, and closes the connection at the first request after it
//! ends. A [`Connection`] therefore logs in again, on the same connection, before the first request after
//! 85 % of the lifetime (as the Java client does, at 85 to 95 %); rskafka's connections do not, and are
//! opened again when the broker closes them.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::scram::{ScramClient, ScramHash};
use super::{SaslCredentials, SaslMechanism};
use crate::group::connection::{Connection, ConnectionError, GroupRequest};

/// How long each SASL request may take (SCRAM's key derivation runs on the broker too).
const SASL_TIMEOUT: Duration = Duration::from_secs(5);

impl GroupRequest for SaslHandshakeRequest {
    const KEY: ApiKey = ApiKey::SaslHandshake;
    type Response = SaslHandshakeResponse;
}
impl GroupRequest for SaslAuthenticateRequest {
    const KEY: ApiKey = ApiKey::SaslAuthenticate;
    type Response = SaslAuthenticateResponse;
}

/// Logs `connection` in as `credentials`; returns the session's lifetime when the broker limits it.
pub async fn authenticate(
    connection: &mut Connection,
    credentials: &SaslCredentials,
) -> Result<Option<Duration>, ConnectionError> {
    let mechanism = credentials.mechanism.name();
    let failed = |connection: &Connection, reason: String| ConnectionError::Authentication {
        mechanism,
        address: connection.address().to_string(),
        reason,
    };
    handshake(connection, mechanism)
        .await?
        .map_err(|reason| failed(connection, reason))?;

    let version = connection.version::<SaslAuthenticateRequest>()?;
    let mut steps = Steps::new(credentials);
    let mut message = steps.first();
    loop {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message));
        let response = connection.send_unauthenticated(request, version, SASL_TIMEOUT).await?;
        if let Some(error) = ResponseError::try_from_code(response.error_code) {
            let reason = match response.error_message {
                Some(message) => format!("{}: {message}", crate::group::error::name(error)),
                None => crate::group::error::name(error),
            };
            return Err(failed(connection, reason));
        }
        match steps
            .next(&response.auth_bytes)
            .map_err(|reason| failed(connection, reason))?
        {
            Some(next) => message = next,
            None => {
                return Ok(u64::try_from(response.session_lifetime_ms)
                    .ok()
                    .filter(|&ms| ms > 0)
                    .map(Duration::from_millis))
            }
        }
    }
}

/// When to log in again: at 85 % of the session's lifetime.
pub fn reauthenticate_after(lifetime: Duration) -> Duration {
    lifetime.mul_f64(0.85)
}

/// SaslHandshake v1; the inner error is a reason the user can act on.
async fn handshake(connection: &mut Connection, mechanism: &str) -> Result<Result<(), String>, ConnectionError> {
    if connection.version::<SaslHandshakeRequest>()? < 1 {
        return Ok(Err("the broker is older than Kafka 1.0 (no SaslHandshake v1)".into()));
    }
    let request = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.to_string()));
    let response = connection.send_unauthenticated(request, 1, SASL_TIMEOUT).await?;
    let offered: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
    Ok(match ResponseError::try_from_code(response.error_code) {
        None => Ok(()),
        Some(ResponseError::UnsupportedSaslMechanism) => Err(format!(
            "the listener does not enable {mechanism}; it offers {}: change SASL_MECHANISM",
            offered.join(", ")
        )),
        Some(ResponseError::IllegalSaslState) => Err(
            "the listener does not take SASL (ILLEGAL_SASL_STATE): use SECURITY_PROTOCOL=PLAINTEXT or SSL, \
             or a SASL listener"
                .into(),
        ),
        Some(error) => Err(crate::group::error::name(error)),
    })
}

/// The client's side of a mechanism, one message at a time.
enum Steps {
    Plain {
        message: Vec<u8>,
    },
    /// SCRAM before the broker's first message, then before its last.
    ScramFirst(ScramClient),
    ScramFinal(ScramClient),
    Done,
}

impl Steps {
    fn new(credentials: &SaslCredentials) -> Self {
        let SaslCredentials {
            mechanism,
            username,
            password,
        } = credentials;
        match mechanism {
            // RFC 4616: authorization id (empty: the same as the user), user name, password, NUL-separated.
            SaslMechanism::Plain => Self::Plain {
                message: format!("\0{username}\0{password}").into_bytes(),
            },
            SaslMechanism::ScramSha256 => Self::ScramFirst(ScramClient::new(ScramHash::Sha256, username, password)),
            SaslMechanism::ScramSha512 => Self::ScramFirst(ScramClient::new(ScramHash::Sha512, username, password)),
        }
    }

    /// The client's first message.
    fn first(&mut self) -> Vec<u8> {
        match self {
            Self::Plain { message } => std::mem::take(message),
            Self::ScramFirst(client) => client.client_first().into_bytes(),
            Self::ScramFinal(_) | Self::Done => Vec::new(),
        }
    }

    /// Takes the broker's message: the client's next one, or `None` when the login is complete.
    fn next(&mut self, from_broker: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let text = std::str::from_utf8(from_broker).map_err(|_| "the broker's SCRAM message is not UTF-8".to_string());
        match std::mem::replace(self, Self::Done) {
            Self::Plain { .. } | Self::Done => Ok(None),
            Self::ScramFirst(mut client) => {
                let client_final = client.client_final(text?).map_err(|e| e.to_string())?;
                *self = Self::ScramFinal(client);
                Ok(Some(client_final.into_bytes()))
            }
            Self::ScramFinal(client) => client
                .verify_server_final(text?)
                .map(|()| None)
                .map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(mechanism: SaslMechanism) -> SaslCredentials {
        SaslCredentials {
            mechanism,
            username: "alice".into(),
            password: "alice-secret".into(),
        }
    }

    #[test]
    fn plain_is_one_message() {
        let mut steps = Steps::new(&credentials(SaslMechanism::Plain));
        assert_eq!(steps.first(), b"\0alice\0alice-secret");
        assert_eq!(steps.next(b""), Ok(None));
    }

    #[test]
    fn scram_is_two_messages_and_checks_the_broker() {
        let mut steps = Steps::new(&credentials(SaslMechanism::ScramSha256));
        let first = String::from_utf8(steps.first()).unwrap();
        assert!(first.starts_with("n,,n=alice,r="), "{first}");
        let nonce = first.rsplit_once("r=").unwrap().1;
        let server_first = format!("r={nonce}broker,s=c2FsdA==,i=4096");
        let last = String::from_utf8(steps.next(server_first.as_bytes()).unwrap().unwrap()).unwrap();
        assert!(last.starts_with(&format!("c=biws,r={nonce}broker,p=")), "{last}");
        assert!(steps
            .next(b"v=bm90IHRoZSBzaWduYXR1cmU=")
            .unwrap_err()
            .contains("signature is wrong"));
    }

    #[test]
    fn the_session_is_renewed_before_it_ends() {
        assert_eq!(reauthenticate_after(Duration::from_secs(100)), Duration::from_secs(85));
    }
}
