//! The seven requests of Kafka's classic group protocol, each built for the version the broker speaks.
//!
//! - **FindCoordinator**: which broker manages this group. Any broker can answer; the group's state lives
//!   on one (the leader of the group's partition of the internal `__consumer_offsets` topic).
//! - **JoinGroup**: "I am a member and I can use these assignors". The coordinator waits until the known
//!   members have (re)joined, then starts a new **generation**, picks one member as **leader** and sends it
//!   everyone's subscription.
//! - **SyncGroup**: the leader sends the assignment it computed; every member receives its own share.
//! - **Heartbeat**: "still alive" — and the coordinator's way to say "rebalance now".
//! - **OffsetCommit / OffsetFetch**: the group's bookmark per partition, stored by the coordinator, so the
//!   next owner of a partition continues where the last one stopped.
//! - **LeaveGroup**: "I am going", so the others need not wait for the session timeout.
//!
//! Fields changed shape across versions (FindCoordinator's `key` became a list at v4, LeaveGroup's
//! `member_id` became `members` at v3, OffsetFetch's `group_id` and `topics` moved into `groups` at v8), so
//! each request is built for the version [`Connection::version`] chose.
//!
//! **Static membership** (KIP-345) added a `group_instance_id` to JoinGroup (v5), SyncGroup (v3), Heartbeat
//! (v3), OffsetCommit (v7) and LeaveGroup (v3, per member). Each request carries it from those versions on;
//! a broker whose JoinGroup predates v5 cannot have static members, which is an error the user must see.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::connection::Connection;
use super::error::GroupError;
use super::protocol::PROTOCOL_TYPE;
use crate::security::Security;

/// How long an ordinary group request may take; JoinGroup and SyncGroup wait this long on top of the
/// rebalance timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The outcome of a JoinGroup.
pub enum Joined {
    /// The coordinator assigned a member id and wants us to join again with it (KIP-394).
    MemberIdRequired(String),
    /// We are in generation `generation`; the leader also gets every member's subscription.
    Member(Membership),
}

/// Who a member is: the id the coordinator gave it (empty before the first JoinGroup), and the id the user
/// gave it for **static membership** (KIP-345, `GROUP_INSTANCE_ID`), which outlives restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub member_id: String,
    pub instance_id: Option<String>,
}

/// One member of a generation, as the leader sees it in the JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    /// Its ConsumerProtocol subscription bytes.
    pub metadata: Bytes,
}

/// This member's place in one generation of the group.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub generation: i32,
    pub member_id: String,
    pub leader_id: String,
    /// The assignor every member agreed on.
    pub assignor: String,
    /// Every member with its subscription; only the leader receives them.
    pub members: Vec<JoinedMember>,
    /// KIP-814: a static leader that rejoined while the group was stable must not assign (the coordinator
    /// keeps the current assignment); it sends an empty SyncGroup.
    pub skip_assignment: bool,
}

impl Membership {
    pub fn is_leader(&self) -> bool {
        self.member_id == self.leader_id
    }
}

/// A connection to the group's coordinator, bound to one group id.
pub struct GroupClient {
    connection: Connection,
    group: String,
}

/// Asks any of `brokers` which broker coordinates `group`, and returns its `host:port`.
pub async fn find_coordinator(brokers: &[String], security: &Arc<Security>, group: &str) -> Result<String, GroupError> {
    let mut last_error = None;
    for broker in brokers {
        match ask_for_coordinator(broker, security, group).await {
            Ok(address) => return Ok(address),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or(GroupError::Rediscover {
        context: "FindCoordinator",
        reason: "no brokers".into(),
    }))
}

async fn ask_for_coordinator(broker: &str, security: &Arc<Security>, group: &str) -> Result<String, GroupError> {
    let mut connection = Connection::open(broker, security).await?;
    let version = connection.version::<FindCoordinatorRequest>()?;
    let mut request = FindCoordinatorRequest::default().with_key_type(0);
    if version >= 4 {
        request.coordinator_keys = vec![str_bytes(group)];
    } else {
        request.key = str_bytes(group);
    }
    let response = connection.send_at(request, version, REQUEST_TIMEOUT).await?;
    let (code, host, port) = match response.coordinators.first() {
        Some(c) if version >= 4 => (c.error_code, c.host.to_string(), c.port),
        _ => (response.error_code, response.host.to_string(), response.port),
    };
    GroupError::check("FindCoordinator", code)?;
    Ok(format!("{host}:{port}"))
}

impl GroupClient {
    /// Opens a connection to the coordinator at `address` for `group`.
    pub async fn connect(address: &str, security: &Arc<Security>, group: &str) -> Result<Self, GroupError> {
        let connection = Connection::open(address, security).await?;
        Ok(Self {
            connection,
            group: group.to_string(),
        })
    }

    pub fn address(&self) -> &str {
        self.connection.address()
    }

    /// JoinGroup, offering `assignors` (name, subscription bytes) in order of preference. The answer may take
    /// up to the rebalance timeout: the coordinator holds it until the other members have rejoined.
    pub async fn join(
        &mut self,
        me: &Identity,
        session_timeout: Duration,
        rebalance_timeout: Duration,
        assignors: &[(&str, Bytes)],
    ) -> Result<Joined, GroupError> {
        let version = self.connection.version::<JoinGroupRequest>()?;
        if me.instance_id.is_some() && version < 5 {
            return Err(GroupError::Unsupported {
                context: "JoinGroup",
                reason: format!(
                    "the broker at {} speaks JoinGroup up to v{version}, without static membership (v5, Apache \
                     Kafka 2.3); unset GROUP_INSTANCE_ID",
                    self.address()
                ),
            });
        }
        let protocols = assignors
            .iter()
            .map(|(name, metadata)| {
                JoinGroupRequestProtocol::default()
                    .with_name(str_bytes(name))
                    .with_metadata(metadata.clone())
            })
            .collect();
        let mut request = JoinGroupRequest::default()
            .with_group_id(self.group_id())
            .with_session_timeout_ms(millis(session_timeout))
            .with_rebalance_timeout_ms(millis(rebalance_timeout))
            .with_member_id(str_bytes(&me.member_id))
            .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
            .with_protocols(protocols);
        if version >= 5 {
            request.group_instance_id = me.instance_id.as_deref().map(str_bytes);
        }
        let wait = rebalance_timeout + REQUEST_TIMEOUT;
        let response = self.connection.send_at(request, version, wait).await?;
        if ResponseError::try_from_code(response.error_code) == Some(ResponseError::MemberIdRequired) {
            return Ok(Joined::MemberIdRequired(response.member_id.to_string()));
        }
        GroupError::check("JoinGroup", response.error_code)?;
        Ok(Joined::Member(Membership {
            generation: response.generation_id,
            member_id: response.member_id.to_string(),
            leader_id: response.leader.to_string(),
            assignor: response.protocol_name.map(|p| p.to_string()).unwrap_or_default(),
            members: response
                .members
                .into_iter()
                .map(|m| JoinedMember {
                    member_id: m.member_id.to_string(),
                    instance_id: m.group_instance_id.map(|id| id.to_string()),
                    metadata: m.metadata,
                })
                .collect(),
            skip_assignment: response.skip_assignment,
        }))
    }

    /// SyncGroup: the leader sends `assignments` (member id, assignment bytes); everyone gets their own.
    pub async fn sync(
        &mut self,
        me: &Identity,
        membership: &Membership,
        assignments: Vec<(String, Bytes)>,
        rebalance_timeout: Duration,
    ) -> Result<Bytes, GroupError> {
        let version = self.connection.version::<SyncGroupRequest>()?;
        let assignments = assignments
            .into_iter()
            .map(|(member, bytes)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(str_bytes(&member))
                    .with_assignment(bytes)
            })
            .collect();
        let mut request = SyncGroupRequest::default()
            .with_group_id(self.group_id())
            .with_generation_id(membership.generation)
            .with_member_id(str_bytes(&membership.member_id))
            .with_assignments(assignments);
        if version >= 3 {
            request.group_instance_id = me.instance_id.as_deref().map(str_bytes);
        }
        if version >= 5 {
            request.protocol_type = Some(StrBytes::from_static_str(PROTOCOL_TYPE));
            request.protocol_name = Some(str_bytes(&membership.assignor));
        }
        let wait = rebalance_timeout + REQUEST_TIMEOUT;
        let response = self.connection.send_at(request, version, wait).await?;
        GroupError::check("SyncGroup", response.error_code)?;
        Ok(response.assignment)
    }

    /// Heartbeat: keeps the session alive; answers "rebalance" when the group needs one.
    pub async fn heartbeat(&mut self, me: &Identity, generation: i32, timeout: Duration) -> Result<(), GroupError> {
        let version = self.connection.version::<HeartbeatRequest>()?;
        let mut request = HeartbeatRequest::default()
            .with_group_id(self.group_id())
            .with_generation_id(generation)
            .with_member_id(str_bytes(&me.member_id));
        if version >= 3 {
            request.group_instance_id = me.instance_id.as_deref().map(str_bytes);
        }
        let response = self.connection.send_at(request, version, timeout).await?;
        GroupError::check("Heartbeat", response.error_code)
    }

    /// LeaveGroup: tells the coordinator this member is going, so the group rebalances at once.
    pub async fn leave(&mut self, me: &Identity, timeout: Duration) -> Result<(), GroupError> {
        let version = self.connection.version::<LeaveGroupRequest>()?;
        let mut request = LeaveGroupRequest::default().with_group_id(self.group_id());
        if version >= 3 {
            request.members = vec![MemberIdentity::default()
                .with_member_id(str_bytes(&me.member_id))
                .with_group_instance_id(me.instance_id.as_deref().map(str_bytes))];
        } else {
            request.member_id = str_bytes(&me.member_id);
        }
        let response = self.connection.send_at(request, version, timeout).await?;
        GroupError::check("LeaveGroup", response.error_code)?;
        for member in &response.members {
            GroupError::check("LeaveGroup", member.error_code)?;
        }
        Ok(())
    }

    /// OffsetCommit: stores `offsets` (partition → next offset to read) for `topic`, in `generation`.
    /// The coordinator refuses commits from a member that is not in the current generation.
    pub async fn commit(
        &mut self,
        me: &Identity,
        generation: i32,
        topic: &str,
        offsets: &BTreeMap<i32, i64>,
        timeout: Duration,
    ) -> Result<(), GroupError> {
        let version = self.connection.version::<OffsetCommitRequest>()?;
        let partitions = offsets
            .iter()
            .map(|(&partition, &offset)| {
                OffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(offset)
            })
            .collect();
        let mut request = OffsetCommitRequest::default()
            .with_group_id(self.group_id())
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(str_bytes(&me.member_id))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(partitions)]);
        if version >= 7 {
            request.group_instance_id = me.instance_id.as_deref().map(str_bytes);
        }
        let response = self.connection.send_at(request, version, timeout).await?;
        for partition in response.topics.iter().flat_map(|t| &t.partitions) {
            GroupError::check("OffsetCommit", partition.error_code)?;
        }
        Ok(())
    }

    /// OffsetFetch: the group's committed offset for each of `partitions` (`None`: never committed).
    pub async fn fetch_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
        timeout: Duration,
    ) -> Result<BTreeMap<i32, Option<i64>>, GroupError> {
        let version = self.connection.version::<OffsetFetchRequest>()?;
        let mut request = OffsetFetchRequest::default();
        if version >= 8 {
            let topics = OffsetFetchRequestTopics::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(partitions.to_vec());
            request.groups = vec![OffsetFetchRequestGroup::default()
                .with_group_id(self.group_id())
                .with_topics(Some(vec![topics]))];
        } else {
            request.group_id = self.group_id();
            request.topics = Some(vec![OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(partitions.to_vec())]);
        }
        let response = self.connection.send_at(request, version, timeout).await?;
        committed_offsets(response, version)
    }

    pub(super) fn group_id(&self) -> GroupId {
        GroupId(str_bytes(&self.group))
    }

    /// The connection, for the consumer protocol's requests (see [`super::consumer::request`]).
    pub(super) fn connection(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

/// Reads an OffsetFetch response of either shape into partition → committed offset.
fn committed_offsets(response: OffsetFetchResponse, version: i16) -> Result<BTreeMap<i32, Option<i64>>, GroupError> {
    let mut offsets = BTreeMap::new();
    let mut record = |partition: i32, offset: i64, code: i16| {
        GroupError::check("OffsetFetch", code)?;
        offsets.insert(partition, (offset >= 0).then_some(offset));
        Ok::<(), GroupError>(())
    };
    if version >= 8 {
        for group in &response.groups {
            GroupError::check("OffsetFetch", group.error_code)?;
            for p in group.topics.iter().flat_map(|t| &t.partitions) {
                record(p.partition_index, p.committed_offset, p.error_code)?;
            }
        }
    } else {
        GroupError::check("OffsetFetch", response.error_code)?;
        for p in response.topics.iter().flat_map(|t| &t.partitions) {
            record(p.partition_index, p.committed_offset, p.error_code)?;
        }
    }
    Ok(offsets)
}

pub(super) fn str_bytes(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

pub(super) fn topic_name(topic: &str) -> TopicName {
    TopicName(str_bytes(topic))
}

pub(super) fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}
