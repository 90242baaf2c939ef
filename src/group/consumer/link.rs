//! What a consumer-protocol member asks its coordinator: a trait, so that the member's unit tests can script
//! the answers (as the classic member's [`crate::group::link::Coordinator`] does), implemented over the
//! network by the same [`CoordinatorLink`] that finds the coordinator again when it moves.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use uuid::Uuid;

use super::request::{Answer, Beat};
use crate::group::client::{Identity, REQUEST_TIMEOUT};
use crate::group::error::GroupError;
use crate::group::link::CoordinatorLink;

/// How long a heartbeat's answer may take before the member tries again (it is normally immediate).
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);

/// The requests of a consumer-protocol member. Each finds the coordinator first if the link has no
/// connection.
pub trait Coordinator: Send + 'static {
    /// Another link to the same group's coordinator, with a connection of its own (the heartbeat's).
    fn another(&self) -> Self;

    /// ConsumerGroupHeartbeat: join, stay, acknowledge, or leave.
    fn heartbeat(&mut self, beat: &Beat) -> impl Future<Output = Result<Answer, GroupError>> + Send;

    /// OffsetCommit of `offsets` of `topic`, in member epoch `epoch` (v9 and later carry it).
    fn commit(
        &mut self,
        me: &Identity,
        epoch: i32,
        topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> impl Future<Output = Result<(), GroupError>> + Send;

    /// OffsetFetch: the group's committed offset of each partition (`None`: never committed).
    fn fetch_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> impl Future<Output = Result<BTreeMap<i32, Option<i64>>, GroupError>> + Send;

    /// The id of `topic` (`None`: no such topic).
    fn topic_id(&mut self, topic: &str) -> impl Future<Output = Result<Option<Uuid>, GroupError>> + Send;
}

impl Coordinator for CoordinatorLink {
    fn another(&self) -> Self {
        crate::group::link::Coordinator::another(self)
    }

    async fn heartbeat(&mut self, beat: &Beat) -> Result<Answer, GroupError> {
        let result = match self.client().await {
            Ok(client) => client.consumer_heartbeat(beat, HEARTBEAT_TIMEOUT).await,
            Err(e) => Err(e),
        };
        self.finish(result)
    }

    async fn commit(
        &mut self,
        me: &Identity,
        epoch: i32,
        topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), GroupError> {
        let result = match self.client().await {
            Ok(client) => client.commit(me, epoch, topic, offsets, REQUEST_TIMEOUT).await,
            Err(e) => Err(e),
        };
        self.finish(result)
    }

    async fn fetch_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, Option<i64>>, GroupError> {
        let result = match self.client().await {
            Ok(client) => client.fetch_offsets(topic, partitions, REQUEST_TIMEOUT).await,
            Err(e) => Err(e),
        };
        self.finish(result)
    }

    async fn topic_id(&mut self, topic: &str) -> Result<Option<Uuid>, GroupError> {
        let result = match self.client().await {
            Ok(client) => client.topic_id(topic, REQUEST_TIMEOUT).await,
            Err(e) => Err(e),
        };
        self.finish(result)
    }
}
