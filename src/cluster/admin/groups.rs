//! Consumer groups as their coordinators see them.
//!
//! - **ListGroups**: the groups a broker coordinates (each broker lists only its own, so every broker is
//!   asked). From version 5 it also says each group's *type*: `classic` (JoinGroup/SyncGroup, the members'
//!   leader assigns) or `consumer` (KIP-848: the broker assigns, members heartbeat).
//! - **DescribeGroups** (classic groups): state, assignor, and per member its client id, host, static
//!   instance id, and the standard ConsumerProtocol bytes of its subscription and assignment.
//! - **ConsumerGroupDescribe** (KIP-848 groups, on brokers that have it: ApiVersions says): state, group
//!   epoch, assignor, and per member its epoch and assignment, already decoded by the broker.
//! - **OffsetFetch**: the group's committed offsets; from version 8, for many groups in one request.

use std::collections::BTreeMap;

use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup as ConsumerDescribed;
use kafka_protocol::messages::describe_groups_response::DescribedGroup as ClassicDescribed;
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{error_text, Admin, AdminError};

/// The first OffsetFetch version that takes many groups at once.
const OFFSET_FETCH_GROUPS: i16 = 8;

/// A group as ListGroups names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub group: String,
    /// `consumer` for consumer groups (of either protocol); empty for groups that only commit offsets.
    pub protocol_type: String,
    /// `classic` or `consumer` (ListGroups v5+), else `None`.
    pub group_type: Option<String>,
}

/// Committed offsets per partition (`None`: never committed), or why they could not be read.
pub type Committed = Result<BTreeMap<i32, Option<i64>>, String>;

/// The groups the broker at `address` coordinates.
pub async fn list_groups(admin: &mut Admin, address: &str) -> Result<Vec<Listed>, AdminError> {
    let response = admin.send(address, i16::MAX, |_| ListGroupsRequest::default()).await?;
    AdminError::check("ListGroups", response.error_code, None)?;
    Ok(response
        .groups
        .iter()
        .map(|g| Listed {
            group: g.group_id.0.to_string(),
            protocol_type: g.protocol_type.to_string(),
            group_type: Some(g.group_type.to_string()).filter(|t| !t.is_empty()),
        })
        .collect())
}

/// DescribeGroups for classic groups coordinated at `address`.
pub async fn describe_classic(
    admin: &mut Admin,
    address: &str,
    groups: &[String],
) -> Result<Vec<ClassicDescribed>, AdminError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let ids = groups.iter().map(|g| group_id(g)).collect();
    let response = admin
        .send(address, i16::MAX, |_| DescribeGroupsRequest::default().with_groups(ids))
        .await?;
    Ok(response.groups)
}

/// ConsumerGroupDescribe for KIP-848 groups coordinated at `address` (the caller checked it is supported).
pub async fn describe_consumer(
    admin: &mut Admin,
    address: &str,
    groups: &[String],
) -> Result<Vec<ConsumerDescribed>, AdminError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let ids = groups.iter().map(|g| group_id(g)).collect();
    let response = admin
        .send(address, i16::MAX, |_| {
            ConsumerGroupDescribeRequest::default().with_group_ids(ids)
        })
        .await?;
    Ok(response.groups)
}

/// The committed offsets of `groups` on `partitions` of `topic`: one request from OffsetFetch v8 on, one
/// per group before.
pub async fn committed_offsets(
    admin: &mut Admin,
    address: &str,
    groups: &[String],
    topic: &str,
    partitions: &[i32],
) -> BTreeMap<String, Committed> {
    if groups.is_empty() || partitions.is_empty() {
        return groups.iter().map(|g| (g.clone(), Ok(BTreeMap::new()))).collect();
    }
    let batched = offset_fetch(admin, address, groups, topic, partitions).await;
    match batched {
        Ok(Some(answers)) => answers,
        Ok(None) => {
            let mut answers = BTreeMap::new();
            for group in groups {
                let one = offset_fetch(admin, address, std::slice::from_ref(group), topic, partitions).await;
                let answer = match one {
                    Ok(Some(mut map)) => map.remove(group).unwrap_or_else(|| Err("no answer".into())),
                    Ok(None) => Err("OffsetFetch: no answer".into()),
                    Err(error) => Err(error.to_string()),
                };
                answers.insert(group.clone(), answer);
            }
            answers
        }
        Err(error) => groups.iter().map(|g| (g.clone(), Err(error.to_string()))).collect(),
    }
}

/// One OffsetFetch. `Ok(None)`: the broker speaks only versions before 8 and `groups` holds more than one.
async fn offset_fetch(
    admin: &mut Admin,
    address: &str,
    groups: &[String],
    topic: &str,
    partitions: &[i32],
) -> Result<Option<BTreeMap<String, Committed>>, AdminError> {
    let name = TopicName(StrBytes::from_string(topic.to_string()));
    let mut single = false;
    let response = admin
        .send(address, i16::MAX, |version| {
            single = version < OFFSET_FETCH_GROUPS;
            offset_fetch_request(version, groups, name, partitions)
        })
        .await?;
    if single && groups.len() > 1 {
        return Ok(None);
    }
    Ok(Some(read_offsets(response, single, groups)))
}

fn offset_fetch_request(version: i16, groups: &[String], name: TopicName, partitions: &[i32]) -> OffsetFetchRequest {
    if version < OFFSET_FETCH_GROUPS {
        let topic = OffsetFetchRequestTopic::default()
            .with_name(name)
            .with_partition_indexes(partitions.to_vec());
        return OffsetFetchRequest::default()
            .with_group_id(group_id(&groups[0]))
            .with_topics(Some(vec![topic]));
    }
    let asked = groups
        .iter()
        .map(|group| {
            let topic = OffsetFetchRequestTopics::default()
                .with_name(name.clone())
                .with_partition_indexes(partitions.to_vec());
            OffsetFetchRequestGroup::default()
                .with_group_id(group_id(group))
                .with_topics(Some(vec![topic]))
        })
        .collect();
    OffsetFetchRequest::default().with_groups(asked)
}

/// Reads either shape of OffsetFetch response into group → partition → committed offset.
fn read_offsets(response: OffsetFetchResponse, single: bool, groups: &[String]) -> BTreeMap<String, Committed> {
    let committed = |offset: i64| (offset >= 0).then_some(offset);
    if single {
        let answer = match error_text(response.error_code, None) {
            Some(problem) => Err(format!("OffsetFetch: {problem}")),
            None => Ok(response
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| (p.partition_index, committed(p.committed_offset)))
                .collect()),
        };
        return groups.iter().take(1).map(|g| (g.clone(), answer.clone())).collect();
    }
    response
        .groups
        .iter()
        .map(|g| {
            let answer = match error_text(g.error_code, None) {
                Some(problem) => Err(format!("OffsetFetch: {problem}")),
                None => Ok(g
                    .topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .map(|p| (p.partition_index, committed(p.committed_offset)))
                    .collect()),
            };
            (g.group_id.0.to_string(), answer)
        })
        .collect()
}

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_string()))
}
