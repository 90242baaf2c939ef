//! What a consumer-protocol member asks its coordinator: a trait, so that the member's unit tests can script
//! the answers (as the classic member's [`crate::group::link::Coordinator`] does), implemented over the
//! network by the same [`CoordinatorLink`] that finds the coordinator again when it moves.

use std::future::Future;
use std::time::Duration;

use uuid::Uuid;

use super::request::{Answer, Beat};
use crate::group::client::REQUEST_TIMEOUT;
use crate::group::commits::OffsetRequests;
use crate::group::error::GroupError;
use crate::group::link::CoordinatorLink;

/// How long a heartbeat's answer may take before the member tries again (it is normally immediate).
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);

/// The requests of a consumer-protocol member, besides the offset requests both protocols share. Each finds
/// the coordinator first if the link has no connection.
pub trait Coordinator: OffsetRequests + 'static {
    /// Another link to the same group's coordinator, with a connection of its own (the heartbeat's).
    fn another(&self) -> Self;

    /// ConsumerGroupHeartbeat: join, stay, acknowledge, or leave.
    fn heartbeat(&mut self, beat: &Beat) -> impl Future<Output = Result<Answer, GroupError>> + Send;

    /// The id of `topic` (`None`: no such topic).
    fn topic_id(&mut self, topic: &str) -> impl Future<Output = Result<Option<Uuid>, GroupError>> + Send;
}

impl Coordinator for CoordinatorLink {
    fn another(&self) -> Self {
        crate::group::link::Coordinator::another(self)
    }

    async fn heartbeat(&mut self, beat: &Beat) -> Result<Answer, GroupError> {
        let result = async { self.client().await?.consumer_heartbeat(beat, HEARTBEAT_TIMEOUT).await }.await;
        self.finish(result)
    }

    async fn topic_id(&mut self, topic: &str) -> Result<Option<Uuid>, GroupError> {
        let result = async { self.client().await?.topic_id(topic, REQUEST_TIMEOUT).await }.await;
        self.finish(result)
    }
}
