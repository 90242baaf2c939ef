//! The admin side of Kafka's protocol: the requests a tool like `kafka-consumer-groups` sends to *look* at a
//! cluster without taking part in it.
//!
//! A Kafka cluster has no single place that knows everything. Any broker answers **Metadata** (the brokers,
//! and each partition's leader and replicas), but a partition's end offset is known to its **leader** only,
//! and a group's members and committed offsets to its **coordinator** only. So a view of the cluster is
//! assembled from several brokers: Metadata from any, ListOffsets and Fetch from each leader, ListGroups,
//! DescribeGroups (classic groups), ConsumerGroupDescribe (KIP-848 groups) and OffsetFetch from each
//! coordinator. [`partitions`] and [`groups`] build those requests ([`topics`] asks DescribeConfigs for the
//! consumer, see [`crate::consume::compaction`]); this module keeps one connection per
//! broker (the group layer's [`Connection`]: framing and ApiVersions) and remembers the brokers it has
//! seen, so that a broker that disappears from Metadata can be shown as down.
//!
//! Every request is built for the version the broker speaks, and is bounded by a timeout: the page must
//! not hang on a broker that is gone.

pub mod groups;
pub mod partitions;
pub mod topics;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;

use crate::group::connection::{Connection, ConnectionError, GroupRequest};
use crate::security::Security;

/// How long one admin request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting to a broker may take (a stopped broker on loopback refuses at once).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// A broker as Metadata names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerAddress {
    /// `host:port`, to connect to.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The broker could not be reached, or did not answer in time.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The broker answered with an error code.
    #[error("{request}: {reason}")]
    Refused { request: &'static str, reason: String },
}

impl AdminError {
    /// `Err(Refused)` for a non-zero Kafka error code.
    pub fn check(request: &'static str, code: i16, message: Option<&str>) -> Result<(), Self> {
        match error_text(code, message) {
            None => Ok(()),
            Some(reason) => Err(Self::Refused { request, reason }),
        }
    }
}

/// A Kafka error code in words (with the broker's message when it sent one), or `None` for 0.
pub fn error_text(code: i16, message: Option<&str>) -> Option<String> {
    let error = ResponseError::try_from_code(code)?;
    Some(match message.filter(|m| !m.is_empty()) {
        Some(message) => format!("{error} ({message})"),
        None => error.to_string(),
    })
}

/// Connections to the brokers, reused from one view to the next, and the brokers seen so far.
pub struct Admin {
    bootstrap: Vec<String>,
    security: Arc<Security>,
    connections: HashMap<String, Connection>,
    /// Every broker Metadata has named since start, by id: one missing from the latest Metadata is down.
    pub seen: BTreeMap<i32, BrokerAddress>,
}

impl Admin {
    pub fn new(bootstrap: Vec<String>, security: Arc<Security>) -> Self {
        Self {
            bootstrap,
            security,
            connections: HashMap::new(),
            seen: BTreeMap::new(),
        }
    }

    /// Where to ask for Metadata: the brokers seen so far, then the bootstrap list, each once.
    pub fn metadata_candidates(&self) -> Vec<String> {
        let mut candidates: Vec<String> = self.seen.values().map(BrokerAddress::address).collect();
        for address in &self.bootstrap {
            if !candidates.contains(address) {
                candidates.push(address.clone());
            }
        }
        candidates
    }

    /// Closes every connection (after a view that timed out mid-request, a connection may hold half an
    /// answer).
    pub fn reset(&mut self) {
        self.connections.clear();
    }

    /// Whether the broker at `address` speaks request `R` at all (ApiVersions), connecting if needed.
    pub async fn supports<R: GroupRequest>(&mut self, address: &str) -> Result<bool, AdminError> {
        let connection = self.connection(address).await?;
        Ok(connection.version::<R>().is_ok())
    }

    /// Sends the request `build` makes for the negotiated version (at most `max_version`) to `address`.
    /// A connection that failed is closed, so the next request opens a fresh one.
    pub async fn send<R: GroupRequest>(
        &mut self,
        address: &str,
        max_version: i16,
        build: impl FnOnce(i16) -> R,
    ) -> Result<R::Response, AdminError> {
        let connection = self.connection(address).await?;
        let version = connection.version::<R>()?.min(max_version);
        let answer = connection.send_at(build(version), version, REQUEST_TIMEOUT).await;
        if answer.is_err() {
            self.connections.remove(address);
        }
        Ok(answer?)
    }

    async fn connection(&mut self, address: &str) -> Result<&mut Connection, AdminError> {
        if !self.connections.contains_key(address) {
            let open = tokio::time::timeout(CONNECT_TIMEOUT, Connection::open(address, &self.security))
                .await
                .map_err(|_| ConnectionError::ConnectTimeout(address.to_string()))??;
            self.connections.insert(address.to_string(), open);
        }
        Ok(self.connections.get_mut(address).expect("inserted above"))
    }
}
