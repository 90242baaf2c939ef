//! The consumer protocol's one request, **ConsumerGroupHeartbeat** (API key 68), and the Metadata request
//! that turns the topic ids it speaks in into topic names.
//!
//! A heartbeat carries the member's whole state, but a field may be left out (null) when the coordinator
//! already heard it: the subscription, the rebalance timeout, the assignor, the instance id, and the
//! partitions the member owns. The answer carries the member's epoch, the heartbeat interval, and the
//! member's assignment whenever it changed (or the request was a full one). Assignments and owned partitions
//! name topics by **topic id** (a UUID the cluster gives a topic when it is created), not by name: a topic
//! deleted and created again under the same name is a different topic.
//!
//! Version 1 (KIP-1082, Apache Kafka 4.0) expects the member id from the client: a UUID it generates once
//! and keeps. Version 0 let the coordinator choose it in the answer to the first heartbeat; against such a
//! broker the member sends an empty id to join and takes the one it is given.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions as OwnedTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, MetadataRequest};
use uuid::Uuid;

use crate::group::client::{millis, str_bytes, topic_name, GroupClient};
use crate::group::error::GroupError;

/// Partitions by topic id, as assignments travel.
pub type ByTopicId = BTreeMap<Uuid, BTreeSet<i32>>;

/// One ConsumerGroupHeartbeat. `None` fields are left out: the coordinator heard them already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    pub member_id: String,
    /// 0 to join, the current epoch to stay, -1 to leave, -2 for a static member leaving for now.
    pub epoch: i32,
    pub instance_id: Option<String>,
    pub rebalance_timeout: Option<Duration>,
    pub subscription: Option<Vec<String>>,
    pub assignor: Option<String>,
    /// The partitions the member owns: the acknowledgement of its assignment.
    pub owned: Option<ByTopicId>,
}

/// The coordinator's answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub member_id: String,
    pub epoch: i32,
    pub interval: Duration,
    /// The member's assignment, when it changed (or was asked for with a full heartbeat).
    pub assignment: Option<ByTopicId>,
}

impl GroupClient {
    /// ConsumerGroupHeartbeat; a broker without it (Tansu, Kafka 3.x by default) is a clear, fatal error.
    pub async fn consumer_heartbeat(&mut self, beat: &Beat, timeout: Duration) -> Result<Answer, GroupError> {
        let group_id = self.group_id();
        let connection = self.connection();
        let version = connection
            .version::<ConsumerGroupHeartbeatRequest>()
            .map_err(|_| GroupError::Unsupported {
                context: "ConsumerGroupHeartbeat",
                reason: format!(
                    "the broker at {} does not support GROUP_PROTOCOL=consumer (KIP-848: its ApiVersions has no \
                     ConsumerGroupHeartbeat)",
                    connection.address()
                ),
            })?;
        // Version 0: the coordinator names a joining member.
        let member_id = if version == 0 && beat.epoch == 0 {
            ""
        } else {
            &beat.member_id
        };
        let request = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group_id)
            .with_member_id(str_bytes(member_id))
            .with_member_epoch(beat.epoch)
            .with_instance_id(beat.instance_id.as_deref().map(str_bytes))
            .with_rebalance_timeout_ms(beat.rebalance_timeout.map_or(-1, millis))
            .with_subscribed_topic_names(
                beat.subscription
                    .as_ref()
                    .map(|topics| topics.iter().map(|t| topic_name(t)).collect()),
            )
            .with_server_assignor(beat.assignor.as_deref().map(str_bytes))
            .with_topic_partitions(beat.owned.as_ref().map(owned_topics));
        let response = connection.send_at(request, version, timeout).await?;
        answer(response, &beat.member_id)
    }

    /// The id of `topic` (`None`: no such topic), from a Metadata request that never creates the topic.
    pub async fn topic_id(&mut self, topic: &str, timeout: Duration) -> Result<Option<Uuid>, GroupError> {
        let connection = self.connection();
        let version = connection.version::<MetadataRequest>()?;
        if version < 10 {
            return Err(GroupError::Unsupported {
                context: "Metadata",
                reason: format!(
                    "the broker at {} has no topic ids (Metadata v10, Apache Kafka 2.8)",
                    connection.address()
                ),
            });
        }
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(topic)))
            ]))
            .with_allow_auto_topic_creation(false);
        let response = connection.send_at(request, version, timeout).await?;
        let found = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|name| name.as_str() == topic));
        Ok(found
            .filter(|t| t.error_code == 0 && !t.topic_id.is_nil())
            .map(|t| t.topic_id))
    }
}

fn owned_topics(owned: &ByTopicId) -> Vec<OwnedTopic> {
    owned
        .iter()
        .map(|(&topic_id, partitions)| {
            OwnedTopic::default()
                .with_topic_id(topic_id)
                .with_partitions(partitions.iter().copied().collect())
        })
        .collect()
}

fn answer(response: ConsumerGroupHeartbeatResponse, sent_id: &str) -> Result<Answer, GroupError> {
    if let Some(error) = GroupError::from_code("ConsumerGroupHeartbeat", response.error_code) {
        if let (Some(message), GroupError::Fatal { .. }) = (&response.error_message, &error) {
            tracing::error!("the coordinator says: {}", message.as_str());
        }
        return Err(error);
    }
    let assignment = response.assignment.map(|assignment| {
        let mut by_id = ByTopicId::new();
        for topic in assignment.topic_partitions {
            by_id.entry(topic.topic_id).or_default().extend(topic.partitions);
        }
        by_id
    });
    Ok(Answer {
        member_id: response
            .member_id
            .map_or_else(|| sent_id.to_string(), |id| id.to_string()),
        epoch: response.member_epoch,
        interval: Duration::from_millis(u64::try_from(response.heartbeat_interval_ms).unwrap_or(0)),
        assignment,
    })
}
