//! Connecting to the cluster with rskafka, shared by the producer and the consumer's fetchers.
//!
//! rskafka speaks Kafka's partition-level APIs (Metadata, Produce, Fetch, ListOffsets) in pure Rust. A
//! [`Client`] bootstraps from any one listed broker, learns the cluster's brokers from Metadata, and then
//! talks to each partition's leader directly. Retries are bounded by a deadline, so a broker that is down
//! surfaces as an error the HTTP side can report (503) instead of a request that hangs forever.
//!
//! rskafka gets the cluster's TLS configuration and SASL credentials from [`Security`]. When it cannot
//! connect, the same broker is tried once more with our own [`Connection`], whose errors say what went wrong
//! in the user's terms (which certificate check failed, what the broker said about the password, which
//! protocol the listener speaks) where rskafka's are terser.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;

use kafka_protocol::messages::MetadataRequest;

use crate::group::connection::{Connection, ConnectionError};
use crate::security::{sasl, Security};

/// Why the client could not connect.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

/// How long [`connect_with`] may spend asking our own connection why rskafka could not connect.
const DIAGNOSE_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long rskafka keeps retrying one operation before giving up.
pub const RETRY_DEADLINE: Duration = Duration::from_secs(3);

/// Connects to the cluster through the first reachable bootstrap broker.
pub async fn connect(bootstrap_servers: &[String], security: &Arc<Security>) -> Result<Client, ConnectError> {
    connect_with(bootstrap_servers, security, bounded_backoff()).await
}

/// [`connect`] with the given retry policy for every request the client makes.
pub async fn connect_with(
    bootstrap_servers: &[String],
    security: &Arc<Security>,
    backoff: BackoffConfig,
) -> Result<Client, ConnectError> {
    let mut builder = ClientBuilder::new(bootstrap_servers.to_vec())
        .client_id("kafka-lab")
        .backoff_config(backoff);
    #[cfg(feature = "tls")]
    if let Some(tls) = &security.tls {
        builder = builder.tls_config(Arc::clone(&tls.config));
    }
    if let Some(sasl) = security.rskafka_sasl() {
        builder = builder.sasl_config(sasl);
    }
    match builder.build().await {
        Ok(client) => Ok(client),
        Err(error) => Err(diagnose(bootstrap_servers, security, error).await),
    }
}

/// rskafka's error, or our connection's clearer one for the same bootstrap brokers (if it comes within
/// [`DIAGNOSE_TIMEOUT`]: a broker that does not answer at all has already cost rskafka its time).
async fn diagnose(
    bootstrap_servers: &[String],
    security: &Arc<Security>,
    error: rskafka::client::error::Error,
) -> ConnectError {
    let ours = tokio::time::timeout(DIAGNOSE_TIMEOUT, our_reason(bootstrap_servers, security)).await;
    ConnectError(ours.ok().flatten().unwrap_or_else(|| error.to_string()))
}

/// Why our own connection to the bootstrap brokers fails too, if it does.
async fn our_reason(bootstrap_servers: &[String], security: &Arc<Security>) -> Option<String> {
    let mut ours = None;
    for broker in bootstrap_servers {
        let served = match Connection::open(broker, security).await {
            Ok(mut connection) => served(&mut connection).await,
            Err(e) => Err(e),
        };
        match served {
            // A broker serves us: rskafka's error is about something else.
            Ok(()) => return None,
            // A broker that is down says less than one that refused us.
            Err(e @ ConnectionError::Connect { .. }) => {
                ours.get_or_insert(e);
            }
            Err(e) => return Some(e.to_string()),
        }
    }
    ours.map(|e| e.to_string())
}

/// Sends a Metadata request for no topic. A listener that expects SASL answers ApiVersions but closes the
/// connection at any other request before the client has logged in: that is said in the user's terms.
async fn served(connection: &mut Connection) -> Result<(), ConnectionError> {
    let version = connection.version::<MetadataRequest>()?;
    let request = MetadataRequest::default().with_topics(Some(Vec::new()));
    match connection.send_at(request, version, Duration::from_secs(2)).await {
        Ok(_) => Ok(()),
        Err(ConnectionError::Io { address, source, .. }) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(ConnectionError::ProtocolMismatch {
                address,
                protocol: connection.security().protocol.name(),
                reason: "it closed the connection at the first request after ApiVersions: a listener that expects \
                         SASL (SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL)"
                    .into(),
            })
        }
        Err(e) => Err(e),
    }
}

/// When an rskafka connection must be replaced: before the brokers end its SASL session (KIP-368).
///
/// A broker that limits SASL sessions (`connections.max.reauth.ms`) closes a connection at its first request
/// after the session ended. rskafka's connections do not log in again, so whoever keeps one replaces it
/// before 85 % of the session has passed, the margin our own connections re-authenticate at
/// ([`crate::security::sasl`]): the producer its partition connections and client, a fetch loop its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct Renewal {
    session_lifetime: Option<Duration>,
}

impl Renewal {
    /// For connections whose SASL session lasts `session_lifetime` (`None`: no limit, or no SASL).
    pub fn new(session_lifetime: Option<Duration>) -> Self {
        Self { session_lifetime }
    }

    /// Asks the brokers how long a SASL login lasts, with our own connection (no SASL: no limit).
    pub async fn learn(bootstrap_servers: &[String], security: &Arc<Security>) -> Self {
        if security.sasl.is_none() {
            return Self::default();
        }
        for broker in bootstrap_servers {
            if let Ok(connection) = Connection::open(broker, security).await {
                return Self::new(connection.session_lifetime());
            }
        }
        Self::default()
    }

    /// Whether a connection made at `since` must be replaced now.
    pub fn due(self, since: Instant) -> bool {
        self.session_lifetime
            .is_some_and(|lifetime| since.elapsed() >= sasl::reauthenticate_after(lifetime))
    }
}

/// No retries at all: each request is sent once, and its first error is returned (inside
/// `Error::RetryFailed` when rskafka would have retried it). Both binaries use it for their data path: a
/// retried Produce after a broken connection is how one event gets written twice, and a retry looks the
/// partition's leader up by a Metadata request naming the topic, which lets a broker create a topic that
/// was deleted. The callers retry by themselves, knowing what is safe.
pub fn no_retries() -> BackoffConfig {
    BackoffConfig {
        deadline: Some(Duration::ZERO),
        ..bounded_backoff()
    }
}

/// Backoff between retries: quick at first, never longer than a second, and bounded in total.
pub fn bounded_backoff() -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(RETRY_DEADLINE),
    }
}

/// The topics of the cluster and their partition counts, read with one Metadata request.
///
/// Listing every topic (rather than asking for one by name) never auto-creates a topic, so a misspelt
/// topic name is reported instead of silently becoming a new topic.
pub async fn partition_counts(client: &Client) -> Result<BTreeMap<String, usize>, rskafka::client::error::Error> {
    let topics = client.list_topics().await?;
    Ok(topics.into_iter().map(|t| (t.name, t.partitions.len())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_85_percent_of_the_session() {
        let session = Renewal::new(Some(Duration::from_secs(100)));
        assert!(!session.due(Instant::now()));
        assert!(session.due(Instant::now() - Duration::from_secs(86)));
        assert!(!Renewal::default().due(Instant::now() - Duration::from_secs(1_000_000)));
    }
}
