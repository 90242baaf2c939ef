//! The cluster as the lab page sees it: the JSON `GET /cluster` answers.
//!
//! Plain data, computed by [`super::snapshot`] from the admin requests, then kept and compared by
//! [`super::history`]. Field names are what the page (`static/cluster-model.js`) reads.

use serde::Serialize;

/// One observation of the cluster, for one topic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterView {
    pub topic: String,
    /// When the brokers were asked, on the producer's clock (`HH:MM:SS:mmm`, as events are stamped).
    pub observed_at: String,
    /// The same instant in milliseconds since the Unix epoch, for arithmetic.
    pub observed_at_ms: u64,
    /// Why nothing could be read (no broker answered); the brokers seen before are then listed as down.
    pub error: Option<String>,
    /// Whether the topic exists (`None` when no broker answered).
    pub topic_exists: Option<bool>,
    pub brokers: Vec<Broker>,
    pub partitions: Vec<Partition>,
    pub groups: Vec<Group>,
    /// More consumer groups exist than one view describes; the rest are left out.
    pub groups_truncated: bool,
}

/// A broker: every one Metadata ever named, and whether it is up now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broker {
    pub id: i32,
    pub host: Option<String>,
    pub port: Option<i32>,
    pub rack: Option<String>,
    pub up: bool,
    /// Why it counts as down (not in the latest Metadata, or not answering).
    pub problem: Option<String>,
}

/// A partition of the topic: where it lives and where it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    pub partition: i32,
    /// The broker that serves reads and writes; `None` when no replica is available.
    pub leader: Option<i32>,
    pub replicas: Vec<i32>,
    /// In-sync replicas: the copies that are up to date.
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    /// The offset the next event will get (the high watermark).
    pub end_offset: Option<i64>,
    pub problem: Option<String>,
}

/// Which group protocol a group speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// JoinGroup/SyncGroup: the members' leader assigns, every member stops reading during a rebalance.
    Classic,
    /// KIP-848: the broker assigns, and partitions move one by one.
    Consumer,
}

/// A consumer group with offsets on the topic or members subscribed to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub group: String,
    pub protocol: Protocol,
    /// `consumer` for consumers; empty for a group that only commits offsets.
    pub protocol_type: String,
    /// As the coordinator says it: `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` (classic);
    /// `Stable`, `Assigning`, `Reconciling`, `Empty` (KIP-848).
    pub state: String,
    /// The assignor: chosen by the members (classic) or the broker's (KIP-848).
    pub assignor: Option<String>,
    /// The group epoch (KIP-848). DescribeGroups does not report a classic group's generation: it is the
    /// one its kafka-lab consumers report, if any.
    pub generation: Option<i32>,
    /// The epoch of the assignment the members are moving to (KIP-848).
    pub assignment_epoch: Option<i32>,
    /// The broker coordinating the group.
    pub coordinator: Option<i32>,
    pub members: Vec<Member>,
    /// Per partition of the topic: committed offset, lag and owner.
    pub partitions: Vec<GroupPartition>,
    pub problem: Option<String>,
}

/// One member of a group: any Kafka client, not only kafka-lab's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    /// The static member id (`group.instance.id`), if the member set one.
    pub instance_id: Option<String>,
    /// The member's epoch (KIP-848).
    pub member_epoch: Option<i32>,
    /// The topics it subscribed to (`None` while the coordinator does not say, e.g. mid-rebalance).
    pub subscribed: Option<Vec<String>>,
    /// Its partitions of the topic, decoded from its assignment.
    pub partitions: Vec<i32>,
    /// Who said which partitions it owns: `coordinator` (from the group's coordinator), `consumer` (from
    /// the kafka-lab consumer's `/status`, where the coordinator did not say), or `None`: nobody said.
    pub assignment_from: Option<String>,
    /// The partitions the broker wants it to have (KIP-848), when they differ from `partitions`.
    pub target_partitions: Option<Vec<i32>>,
    /// How many partitions of other topics it owns.
    pub other_partitions: usize,
    /// The address of the kafka-lab consumer this member is, when one of the page's consumers said so.
    pub kafka_lab: Option<String>,
    /// The generation that kafka-lab consumer reports being in.
    pub generation: Option<i32>,
    pub problem: Option<String>,
}

/// A group's progress on one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupPartition {
    pub partition: i32,
    /// The next offset the group will read (`None`: it never committed one).
    pub committed: Option<i64>,
    /// End offset − committed: events in Kafka the group has not yet marked as read.
    pub lag: Option<i64>,
    /// The member that owns it now.
    pub owner: Option<String>,
}

impl Group {
    /// Whether the group has settled: its members read what they own, and no rebalance is under way.
    pub fn is_settled(&self) -> bool {
        ["stable", "empty"].contains(&self.state.to_ascii_lowercase().as_str())
    }

    /// Whether every member's partitions are known (a settled classic group on a broker that does not
    /// report assignments, without kafka-lab consumers to ask, is not).
    pub fn assignments_known(&self) -> bool {
        !self.is_settled() || self.members.iter().all(|m| m.assignment_from.is_some())
    }

    /// Who is reading each partition now. During a classic rebalance nobody is: every member gave its
    /// partitions back to rejoin (eager rebalancing), and the coordinator shows no assignment. KIP-848
    /// members keep what they own until told to give it up.
    pub fn owners(&self) -> impl Iterator<Item = (i32, &str)> {
        let reading = self.protocol == Protocol::Consumer || self.is_settled();
        self.partitions
            .iter()
            .filter(move |_| reading)
            .filter_map(|p| Some((p.partition, p.owner.as_deref()?)))
    }
}
