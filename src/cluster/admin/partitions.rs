//! A topic's partitions: who leads each one and where it ends.
//!
//! - **Metadata** names the live brokers and, per partition, its **leader** (the broker every read and
//!   write goes to), its **replicas** (the brokers holding a copy) and its **in-sync replicas** (the copies
//!   that are up to date: the ones that may become leader if the leader stops). It is asked with
//!   `allow_auto_topic_creation = false`: a page asking about a misspelt topic must not create it.
//! - The **end offset** (high watermark) of a partition is the offset the next event will get; a group's
//!   lag is the end offset minus its committed offset. Only the leader knows it. ListOffsets "latest" should
//!   give it, but some brokers get it wrong (Tansu answers the start of the last batch + 1), while the high
//!   watermark every Fetch response carries is right everywhere. So: ListOffsets for a starting point, then
//!   one Fetch from there that waits 1 ms and asks for 1 byte, for its high watermark.

use std::collections::BTreeMap;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{FetchRequest, ListOffsetsRequest, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{error_text, Admin, AdminError, BrokerAddress};

/// Fetch from version 13 names topics by id only; up to 12 by name, which every broker here speaks.
const FETCH_BY_NAME: i16 = 12;
/// ListOffsets' timestamp for "the latest offset".
const LATEST: i64 = -1;

/// One partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    /// `None` while the partition has no leader (every replica is down).
    pub leader: Option<i32>,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
    pub problem: Option<String>,
}

/// What Metadata said: the live brokers, and the topic's partitions (`None`: the topic does not exist).
#[derive(Debug, Clone)]
pub struct Metadata {
    pub brokers: Vec<BrokerAddress>,
    pub partitions: Option<Vec<PartitionInfo>>,
}

/// Asks the broker at `address` for the cluster's brokers and `topic`'s partitions.
pub async fn metadata(admin: &mut Admin, address: &str, topic: &str) -> Result<Metadata, AdminError> {
    let name = TopicName(StrBytes::from_string(topic.to_string()));
    let response = admin
        .send(address, i16::MAX, |version| {
            let topics = vec![MetadataRequestTopic::default().with_name(Some(name))];
            let request = MetadataRequest::default().with_topics(Some(topics));
            // Versions before 4 have no such flag (and always create).
            request.with_allow_auto_topic_creation(version < 4)
        })
        .await?;
    read_metadata(response, topic)
}

fn read_metadata(response: MetadataResponse, topic: &str) -> Result<Metadata, AdminError> {
    AdminError::check("Metadata", response.error_code, None)?;
    let brokers = response
        .brokers
        .iter()
        .map(|b| BrokerAddress {
            id: b.node_id.0,
            host: b.host.to_string(),
            port: b.port,
            rack: b.rack.as_ref().map(|r| r.to_string()),
        })
        .collect();
    let Some(found) = response
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
    else {
        return Ok(Metadata {
            brokers,
            partitions: None,
        });
    };
    if ResponseError::try_from_code(found.error_code) == Some(ResponseError::UnknownTopicOrPartition) {
        return Ok(Metadata {
            brokers,
            partitions: None,
        });
    }
    AdminError::check("Metadata", found.error_code, None)?;
    let mut partitions: Vec<PartitionInfo> = found
        .partitions
        .iter()
        .map(|p| PartitionInfo {
            partition: p.partition_index,
            leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
            offline: p.offline_replicas.iter().map(|b| b.0).collect(),
            problem: error_text(p.error_code, None),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    Ok(Metadata {
        brokers,
        partitions: Some(partitions),
    })
}

/// The end offset of each of `partitions` of `topic`, asked of their leader at `address`: two requests
/// whatever the number of partitions.
pub async fn end_offsets(
    admin: &mut Admin,
    address: &str,
    topic: &str,
    partitions: &[i32],
) -> BTreeMap<i32, Result<i64, String>> {
    let starts = match latest_offsets(admin, address, topic, partitions).await {
        Ok(starts) => starts,
        Err(error) => return partitions.iter().map(|&p| (p, Err(error.to_string()))).collect(),
    };
    let from: BTreeMap<i32, i64> = starts
        .iter()
        .filter_map(|(&p, start)| Some((p, *start.as_ref().ok()?)))
        .collect();
    let mut ends = match high_watermarks(admin, address, topic, &from).await {
        Ok(ends) => ends,
        Err(error) => from.keys().map(|&p| (p, Err(error.to_string()))).collect(),
    };
    for (partition, start) in starts {
        if let Err(problem) = start {
            ends.insert(partition, Err(problem));
        }
    }
    ends
}

/// ListOffsets "latest": where to fetch from (the end itself on Apache Kafka, at or just before it on Tansu).
async fn latest_offsets(
    admin: &mut Admin,
    address: &str,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, Result<i64, String>>, AdminError> {
    let name = TopicName(StrBytes::from_string(topic.to_string()));
    let asked = partitions
        .iter()
        .map(|&p| {
            ListOffsetsPartition::default()
                .with_partition_index(p)
                .with_timestamp(LATEST)
        })
        .collect();
    let response = admin
        .send(address, i16::MAX, |version| {
            let topic = ListOffsetsTopic::default().with_name(name).with_partitions(asked);
            let request = ListOffsetsRequest::default()
                .with_replica_id((-1).into())
                .with_topics(vec![topic]);
            if version >= 10 {
                request.with_timeout_ms(REQUEST_TIMEOUT_MS)
            } else {
                request
            }
        })
        .await?;
    let answers = response.topics.iter().flat_map(|t| &t.partitions);
    Ok(answers
        .map(|p| {
            let offset = match error_text(p.error_code, None) {
                Some(problem) => Err(format!("ListOffsets: {problem}")),
                None => Ok(p.offset),
            };
            (p.partition_index, offset)
        })
        .collect())
}

/// How long the broker may take to look an offset up (ListOffsets v10 asks).
const REQUEST_TIMEOUT_MS: i32 = 1000;

/// One Fetch from `from` (partition → offset) for each partition's high watermark; its records are ignored.
async fn high_watermarks(
    admin: &mut Admin,
    address: &str,
    topic: &str,
    from: &BTreeMap<i32, i64>,
) -> Result<BTreeMap<i32, Result<i64, String>>, AdminError> {
    if from.is_empty() {
        return Ok(BTreeMap::new());
    }
    let name = TopicName(StrBytes::from_string(topic.to_string()));
    let asked = from
        .iter()
        .map(|(&partition, &offset)| {
            FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1)
        })
        .collect();
    let response = admin
        .send(address, FETCH_BY_NAME, |_| {
            // 1 ms, not 0: Tansu answers a 0 ms fetch without its topics.
            FetchRequest::default()
                .with_max_wait_ms(1)
                .with_min_bytes(0)
                .with_max_bytes(1)
                .with_topics(vec![FetchTopic::default().with_topic(name).with_partitions(asked)])
        })
        .await?;
    AdminError::check("Fetch", response.error_code, None)?;
    let answers = response.responses.iter().flat_map(|t| &t.partitions);
    Ok(answers
        .map(|p| {
            let end = match error_text(p.error_code, None) {
                Some(problem) => Err(format!("Fetch: {problem}")),
                None if p.high_watermark < 0 => Err("Fetch: no high watermark".to_string()),
                None => Ok(p.high_watermark.max(from.get(&p.partition_index).copied().unwrap_or(0))),
            };
            (p.partition_index, end)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    use super::*;

    fn response(topic_error: i16) -> MetadataResponse {
        let partition = |index, leader: i32| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(leader.into())
                .with_replica_nodes(vec![2.into(), 3.into()])
                .with_isr_nodes(vec![leader.into()])
        };
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(3.into())
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(9094)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_error_code(topic_error)
                .with_name(Some(TopicName(StrBytes::from_static_str("first-topic"))))
                .with_partitions(vec![partition(1, -1), partition(0, 3)])])
    }

    #[test]
    fn partitions_come_sorted_with_their_leader_or_none() {
        let metadata = read_metadata(response(0), "first-topic").unwrap();
        assert_eq!(metadata.brokers[0].address(), "127.0.0.1:9094");
        let partitions = metadata.partitions.unwrap();
        assert_eq!(partitions[0].partition, 0);
        assert_eq!(partitions[0].leader, Some(3));
        assert_eq!(partitions[1].leader, None, "leader -1 means none");
        assert_eq!(partitions[1].replicas, [2, 3]);
    }

    #[test]
    fn an_unknown_topic_has_no_partitions() {
        let metadata = read_metadata(response(3), "first-topic").unwrap();
        assert!(metadata.partitions.is_none());
        let metadata = read_metadata(response(0), "other-topic").unwrap();
        assert!(metadata.partitions.is_none());
    }
}
