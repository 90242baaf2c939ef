//! A member's link to its **group coordinator**: the one broker that keeps this group's state.
//!
//! Every group has exactly one coordinator, chosen by hashing the group id onto a partition of Kafka's
//! internal `__consumer_offsets` topic: the broker leading that partition coordinates the group. Any broker
//! answers FindCoordinator with its address. The coordinator can move (a broker stops, leadership changes):
//! the link then drops its connection and finds the coordinator again on the next request. Moving says
//! nothing about the member, so its generation goes on (see [`super::error`]).
//!
//! What a member asks its coordinator is the [`Coordinator`] trait: the group requests, nothing else.
//! [`CoordinatorLink`] does it over the network; the member's unit tests use a scripted coordinator instead,
//! the way Kafka's own client tests its coordinator against a mock network client. That is the only reason
//! for the trait.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::client::{find_coordinator, GroupClient, Identity, Joined, Membership, REQUEST_TIMEOUT};
use super::commits::OffsetRequests;
use super::error::GroupError;
use crate::security::Security;

/// The group requests a member makes, besides the offset requests both protocols share. Each finds the
/// coordinator first if the link has no connection.
pub trait Coordinator: OffsetRequests + 'static {
    /// Another link to the same group's coordinator, with a connection of its own (the heartbeat's).
    fn another(&self) -> Self;

    /// Drops the connection and forgets where the coordinator was: the next request finds it again (the
    /// heartbeat's remedy for a coordinator silent for a session timeout).
    fn forget(&mut self);

    /// JoinGroup, offering `assignors` (name, subscription bytes) in order of preference.
    fn join(
        &mut self,
        me: &Identity,
        assignors: &[(&'static str, Bytes)],
    ) -> impl Future<Output = Result<Joined, GroupError>> + Send;

    /// SyncGroup: the leader sends everyone's assignment (others send none); returns this member's.
    fn sync(
        &mut self,
        me: &Identity,
        membership: &Membership,
        assignments: Vec<(String, Bytes)>,
    ) -> impl Future<Output = Result<Bytes, GroupError>> + Send;

    /// Heartbeat in `generation`.
    fn heartbeat(&mut self, me: &Identity, generation: i32) -> impl Future<Output = Result<(), GroupError>> + Send;

    /// LeaveGroup.
    fn leave(&mut self, me: &Identity) -> impl Future<Output = Result<(), GroupError>> + Send;
}

/// How long the coordinator's answers may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Heartbeats.
    pub session: Duration,
    /// OffsetCommit: the session timeout for the classic member, [`REQUEST_TIMEOUT`] for the
    /// consumer-protocol member (its session timeout is the broker's).
    pub commit: Duration,
    /// JoinGroup and SyncGroup, plus [`REQUEST_TIMEOUT`]: the coordinator holds them until the group is
    /// complete, up to the rebalance timeout (`MAX_POLL_INTERVAL_MS`).
    pub rebalance: Duration,
}

/// The real coordinator: found with FindCoordinator, reached over one [`GroupClient`] connection.
pub struct CoordinatorLink {
    bootstrap_servers: Vec<String>,
    security: Arc<Security>,
    group: String,
    pub(super) timeouts: Timeouts,
    /// Where the coordinator was last found; `None` once it moved.
    address: Option<String>,
    connection: Option<GroupClient>,
    /// A request was started and has not finished: if the next request finds this still set, the last one
    /// was cut off mid-way (shutdown, a timeout around it) and the connection is no longer usable.
    in_flight: bool,
}

impl CoordinatorLink {
    pub fn new(bootstrap_servers: Vec<String>, security: Arc<Security>, group: String, timeouts: Timeouts) -> Self {
        Self {
            bootstrap_servers,
            security,
            group,
            timeouts,
            address: None,
            connection: None,
            in_flight: false,
        }
    }

    /// The connection to the coordinator, finding and connecting to it when there is none.
    pub(super) async fn client(&mut self) -> Result<&mut GroupClient, GroupError> {
        if std::mem::take(&mut self.in_flight) {
            self.connection = None;
        }
        if self.connection.is_none() {
            let address = match self.address.clone() {
                Some(address) => address,
                None => find_coordinator(&self.bootstrap_servers, &self.security, &self.group).await?,
            };
            let client = GroupClient::connect(&address, &self.security, &self.group)
                .await
                .inspect_err(|_| {
                    self.address = None;
                })?;
            if self.address.as_deref() != Some(address.as_str()) {
                tracing::info!(coordinator = %address, "found the group coordinator");
            }
            self.address = Some(address);
            self.connection = Some(client);
        }
        self.in_flight = true;
        self.connection.as_mut().ok_or_else(|| GroupError::Rediscover {
            context: "coordinator",
            reason: "not connected".into(),
        })
    }

    /// Ends a request: a coordinator that moved or a connection that failed is found again next time.
    pub(super) fn finish<T>(&mut self, result: Result<T, GroupError>) -> Result<T, GroupError> {
        self.in_flight = false;
        if let Err(GroupError::Rediscover { .. }) = &result {
            self.connection = None;
            self.address = None;
        }
        result
    }
}

impl OffsetRequests for CoordinatorLink {
    async fn commit(
        &mut self,
        me: &Identity,
        generation: i32,
        topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), GroupError> {
        let timeout = self.timeouts.commit;
        let result = async {
            self.client()
                .await?
                .commit(me, generation, topic, offsets, timeout)
                .await
        }
        .await;
        self.finish(result)
    }

    async fn fetch_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, Option<i64>>, GroupError> {
        let result = async {
            self.client()
                .await?
                .fetch_offsets(topic, partitions, REQUEST_TIMEOUT)
                .await
        }
        .await;
        self.finish(result)
    }
}

impl Coordinator for CoordinatorLink {
    fn another(&self) -> Self {
        Self {
            address: self.address.clone(),
            ..Self::new(
                self.bootstrap_servers.clone(),
                Arc::clone(&self.security),
                self.group.clone(),
                self.timeouts,
            )
        }
    }

    fn forget(&mut self) {
        self.connection = None;
        self.address = None;
        self.in_flight = false;
    }

    async fn join(&mut self, me: &Identity, assignors: &[(&'static str, Bytes)]) -> Result<Joined, GroupError> {
        let Timeouts { session, rebalance, .. } = self.timeouts;
        let result = async { self.client().await?.join(me, session, rebalance, assignors).await }.await;
        self.finish(result)
    }

    async fn sync(
        &mut self,
        me: &Identity,
        membership: &Membership,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Bytes, GroupError> {
        let rebalance = self.timeouts.rebalance;
        let result = async { self.client().await?.sync(me, membership, assignments, rebalance).await }.await;
        self.finish(result)
    }

    async fn heartbeat(&mut self, me: &Identity, generation: i32) -> Result<(), GroupError> {
        let session = self.timeouts.session;
        let result = async { self.client().await?.heartbeat(me, generation, session).await }.await;
        self.finish(result)
    }

    async fn leave(&mut self, me: &Identity) -> Result<(), GroupError> {
        let result = async { self.client().await?.leave(me, REQUEST_TIMEOUT).await }.await;
        self.finish(result)
    }
}
