//! A connection to one broker for the group APIs: framing, correlation ids, version negotiation.
//!
//! Every Kafka request travels as `[length: i32][header][body]` and is answered by
//! `[length: i32][header with the same correlation id][body]`. Brokers support a *range* of versions per API
//! and fields come and go between versions, so the first request on a connection is `ApiVersions`; after
//! that each request is encoded at the highest version both sides know ([`Connection::version`]).
//!
//! The group APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch, and the consumer protocol's ConsumerGroupHeartbeat) are not in rskafka, so the group layer
//! uses this connection, with messages encoded by the `kafka-protocol` crate (so is a Metadata request that
//! returns topic ids, which rskafka's does not). One connection serves one request at a time and is owned by
//! one task (the member loop, or its heartbeat task, which has a connection of its own), so no locking is
//! needed. The producer's view of the cluster ([`crate::cluster`]) uses it too, for the admin requests
//! (Metadata, ListGroups, DescribeGroups, ConsumerGroupDescribe, ListOffsets, Fetch).
//!
//! A connection speaks the cluster's `SECURITY_PROTOCOL` ([`crate::security`]): TLS right after TCP connects,
//! and SASL right after ApiVersions, again before the broker's session ends when it sets one (KIP-368).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::security::{sasl, Security, Transport};
pub use requests::GroupRequest;

mod requests;

/// The largest response accepted (a JoinGroup response lists every member's subscription).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How long connecting to a broker may take, TLS handshake included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A failure to talk to the broker. (A Kafka *error code* in a response is not a `ConnectionError`; the
/// member decides what each code means.)
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: std::io::Error },
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    #[error("TLS with {address} failed: {reason}")]
    Tls { address: String, reason: String },
    #[error("SASL {mechanism} authentication with {address} failed: {reason}")]
    Authentication {
        mechanism: &'static str,
        address: String,
        reason: String,
    },
    /// The first request found the broker speaking another protocol than `SECURITY_PROTOCOL`.
    #[error("{address} does not answer in {protocol}: {reason}")]
    ProtocolMismatch {
        address: String,
        protocol: &'static str,
        reason: String,
    },
    #[error("{api:?} to {address} failed: {source}")]
    Io {
        api: ApiKey,
        address: String,
        source: std::io::Error,
    },
    #[error("{api:?} to {address}: no answer within {timeout:?}")]
    Timeout {
        api: ApiKey,
        address: String,
        timeout: Duration,
    },
    #[error("{api:?}: the broker at {address} does not support it")]
    Unsupported { api: ApiKey, address: String },
    #[error("{api:?}: could not encode the request: {reason}")]
    Encode { api: ApiKey, reason: String },
    #[error("{api:?}: could not decode the response from {address}: {reason}")]
    Decode {
        api: ApiKey,
        address: String,
        reason: String,
    },
}

/// An open connection to one broker, with the API versions it supports.
pub struct Connection {
    address: String,
    stream: Box<dyn Transport>,
    security: Arc<Security>,
    next_correlation_id: i32,
    /// api key → (min, max) version supported by the broker.
    broker_versions: BTreeMap<i16, (i16, i16)>,
    /// How long the broker lets a SASL login last (KIP-368), and when to authenticate again.
    session_lifetime: Option<Duration>,
    reauthenticate_at: Option<Instant>,
}

impl Connection {
    /// Connects to `address` (`host:port`), starts TLS and asks which API versions the broker supports, then
    /// authenticates with SASL, as `security` says.
    pub async fn open(address: &str, security: &Arc<Security>) -> Result<Self, ConnectionError> {
        let connect = async {
            let tcp = TcpStream::connect(address)
                .await
                .map_err(|source| ConnectionError::Connect {
                    address: address.to_string(),
                    source,
                })?;
            tcp.set_nodelay(true).ok();
            security.wrap(tcp, address).await
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| ConnectionError::ConnectTimeout(address.to_string()))??;
        let mut connection = Self {
            address: address.to_string(),
            stream,
            security: Arc::clone(security),
            next_correlation_id: 1,
            broker_versions: BTreeMap::new(),
            session_lifetime: None,
            reauthenticate_at: None,
        };
        connection.negotiate_versions().await?;
        connection.authenticate().await?;
        Ok(connection)
    }

    /// SASL, when the protocol asks for it; remembers when the broker wants it done again.
    async fn authenticate(&mut self) -> Result<(), ConnectionError> {
        let Some(credentials) = self.security.sasl.clone() else {
            return Ok(());
        };
        self.session_lifetime = sasl::authenticate(self, &credentials).await?;
        self.reauthenticate_at = self
            .session_lifetime
            .map(|lifetime| Instant::now() + sasl::reauthenticate_after(lifetime));
        Ok(())
    }

    /// How long the broker lets a SASL login last, if it limits it (`connections.max.reauth.ms`).
    pub fn session_lifetime(&self) -> Option<Duration> {
        self.session_lifetime
    }

    /// The broker's address, `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The security settings it was opened with.
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// `ApiVersions` v0: every broker answers it, whatever else it supports.
    async fn negotiate_versions(&mut self) -> Result<(), ConnectionError> {
        let response = self
            .send_unauthenticated(ApiVersionsRequest::default(), 0, Duration::from_secs(5))
            .await
            .map_err(|e| self.explain_first_failure(e))?;
        self.broker_versions = response
            .api_keys
            .iter()
            .map(|api| (api.api_key, (api.min_version, api.max_version)))
            .collect();
        Ok(())
    }

    /// The version to use for `R`: the highest that both the broker and kafka-protocol support.
    pub fn version<R: GroupRequest>(&self) -> Result<i16, ConnectionError> {
        let unsupported = || ConnectionError::Unsupported {
            api: R::KEY,
            address: self.address.clone(),
        };
        let (broker_min, broker_max) = *self.broker_versions.get(&(R::KEY as i16)).ok_or_else(unsupported)?;
        let ours = R::VERSIONS;
        let version = broker_max.min(ours.max);
        if version < broker_min.max(ours.min) {
            return Err(unsupported());
        }
        Ok(version)
    }

    /// Sends `request` at `version` (from [`Connection::version`]) and waits up to `timeout` for the answer.
    /// Authenticates again first when the broker's SASL session is about to end.
    pub async fn send_at<R: GroupRequest>(
        &mut self,
        request: R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ConnectionError> {
        if self.reauthenticate_at.is_some_and(|at| Instant::now() >= at) {
            tracing::debug!(broker = %self.address, "authenticating again before the SASL session ends (KIP-368)");
            self.authenticate().await?;
        }
        self.send_unauthenticated(request, version, timeout).await
    }

    /// [`send_at`](Self::send_at) without the re-authentication check: for ApiVersions and SASL itself.
    pub(crate) async fn send_unauthenticated<R: GroupRequest>(
        &mut self,
        request: R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ConnectionError> {
        let exchange = self.exchange(&request, version);
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ConnectionError::Timeout {
                api: R::KEY,
                address: self.address.clone(),
                timeout,
            }),
        }
    }

    async fn exchange<R: GroupRequest>(&mut self, request: &R, version: i16) -> Result<R::Response, ConnectionError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let frame = encode_frame(request, version, correlation_id)?;
        let address = self.address.clone();
        let io_error = |source| ConnectionError::Io {
            api: R::KEY,
            address,
            source,
        };
        let written = self.stream.write_all(&frame).await;
        let mut body = match written {
            Ok(()) => self.read_frame().await.map_err(io_error)?,
            Err(e) => return Err(io_error(e)),
        };
        self.decode_response::<R>(&mut body, version, correlation_id)
    }

    /// The first request failed: a broker that closes the connection at once, or answers with a TLS record,
    /// most likely listens with another security protocol than ours.
    fn explain_first_failure(&self, error: ConnectionError) -> ConnectionError {
        let ConnectionError::Io { source, .. } = &error else {
            return error;
        };
        #[cfg(feature = "tls")]
        if let Some(reason) = crate::security::tls::refused_after_handshake(source) {
            return ConnectionError::Tls {
                address: self.address.clone(),
                reason,
            };
        }
        let hint = if source.get_ref().is_some_and(|e| e.is::<TlsRecord>()) {
            "it answered with a TLS record: the listener uses TLS (SECURITY_PROTOCOL=SSL or SASL_SSL)"
        } else if source.kind() == std::io::ErrorKind::UnexpectedEof {
            "it closed the connection at the first request: a broker stopping, or a listener that expects TLS or \
             SASL (check SECURITY_PROTOCOL)"
        } else {
            return error;
        };
        ConnectionError::ProtocolMismatch {
            address: self.address.clone(),
            protocol: self.security.protocol.name(),
            reason: hint.to_string(),
        }
    }

    async fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let length = self.stream.read_i32().await?;
        let length = usize::try_from(length)
            .ok()
            .filter(|&len| len <= MAX_RESPONSE_BYTES)
            .ok_or_else(|| {
                // A TLS alert record starts 0x15 0x03: a TLS listener refusing what it cannot read.
                if (length as u32) >> 16 == 0x1503 {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, TlsRecord)
                } else {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad frame length {length}"))
                }
            })?;
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(Bytes::from(body))
    }

    fn decode_response<R: GroupRequest>(
        &self,
        body: &mut Bytes,
        version: i16,
        correlation_id: i32,
    ) -> Result<R::Response, ConnectionError> {
        let decode_error = |reason: String| ConnectionError::Decode {
            api: R::KEY,
            address: self.address.clone(),
            reason,
        };
        let header_version = R::KEY.response_header_version(version);
        let header = ResponseHeader::decode(body, header_version).map_err(|e| decode_error(e.to_string()))?;
        if header.correlation_id != correlation_id {
            return Err(decode_error(format!(
                "correlation id {} answers a different request than {correlation_id}",
                header.correlation_id
            )));
        }
        let response = R::Response::decode(body, version).map_err(|e| decode_error(e.to_string()))?;
        if body.has_remaining() {
            tracing::debug!(api = ?R::KEY, extra = body.remaining(), "response had trailing bytes");
        }
        Ok(response)
    }
}

/// An answer that is a TLS record, not a Kafka frame: a TLS listener refusing a plaintext client.
#[derive(Debug, thiserror::Error)]
#[error("the answer is a TLS record, not a Kafka frame")]
struct TlsRecord;

/// `[length][request header][request body]` for one request.
fn encode_frame<R: GroupRequest>(request: &R, version: i16, correlation_id: i32) -> Result<BytesMut, ConnectionError> {
    let encode_error = |reason: String| ConnectionError::Encode { api: R::KEY, reason };
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("kafka-lab")));
    let mut payload = BytesMut::new();
    header
        .encode(&mut payload, R::KEY.request_header_version(version))
        .map_err(|e| encode_error(e.to_string()))?;
    request
        .encode(&mut payload, version)
        .map_err(|e| encode_error(e.to_string()))?;
    let mut frame = BytesMut::with_capacity(payload.len() + 4);
    frame.put_i32(payload.len() as i32);
    frame.extend_from_slice(&payload);
    Ok(frame)
}
