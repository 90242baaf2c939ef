//! What a consumer tells the outside world about itself: a snapshot of its group membership.
//!
//! The group member (in [`crate::group`]) owns the real state and publishes a fresh [`ConsumerStatus`]
//! through a `tokio::sync::watch` channel whenever something changes; the HTTP side (`GET /status`, the lab
//! page) only ever reads the latest snapshot, never the member's internals.

use serde::Serialize;

use crate::config::GroupProtocol;

/// Where the member is in the group protocol's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// Looking for the group coordinator or sending JoinGroup / SyncGroup.
    #[default]
    Joining,
    /// Holding an assignment for the current generation, heartbeating and fetching.
    Stable,
    /// The coordinator asked the group to rebalance: partitions are being given back before rejoining.
    Rebalancing,
    /// Consumer protocol (KIP-848): the coordinator's target assignment differs from what the member owns,
    /// and it is giving partitions up or taking new ones on; the partitions it keeps are fetched throughout.
    Reconciling,
    /// The broker (or the coordinator) cannot be reached; retrying. A member that owns partitions keeps
    /// fetching them meanwhile, in the same generation, until the coordinator answers or gives a verdict.
    BrokerUnavailable,
    /// Shutting down: committing and leaving the group.
    Stopping,
    /// Stopped for good by an error that will not go away by itself (`last_error` says which and what to
    /// change); the process exits shortly after.
    Failed,
}

/// One owned partition: how far the group has committed, how far this member has read, and what is left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionStatus {
    pub partition: i32,
    /// The group's committed offset (the next offset to read), if any.
    pub committed: Option<i64>,
    /// The next offset this member will fetch.
    pub position: Option<i64>,
    /// The partition's end offset, as of the last fetch.
    pub high_watermark: Option<i64>,
    /// `high_watermark - position`: events in Kafka this member has not read yet.
    pub lag: Option<i64>,
    /// Why this partition is not being read right now (a failed fetch, a record batch compressed with a
    /// codec this build cannot decompress); `null` while it is read.
    pub error: Option<String>,
}

/// A snapshot of the consumer, served as `GET /status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ConsumerStatus {
    pub topic: String,
    pub group: String,
    /// The group protocol this member speaks: `classic` or `consumer` (KIP-848).
    pub protocol: GroupProtocol,
    pub member_id: Option<String>,
    /// The static member's `GROUP_INSTANCE_ID` (KIP-345), if set.
    pub instance_id: Option<String>,
    /// Classic protocol: the group generation this member's assignment belongs to; every rebalance starts a
    /// new one.
    pub generation: Option<i32>,
    /// Consumer protocol: this member's epoch, which the coordinator raises each time it gives the member a
    /// new assignment (there are no generations).
    pub epoch: Option<i32>,
    /// Whether this member is the group leader (the one that computed the assignment).
    pub leader: bool,
    pub state: MemberState,
    /// The assignor the group agreed on (`roundrobin`, `range`, ...).
    pub assignor: Option<String>,
    /// How many members the group has, when this member knows (the leader does).
    pub members: Option<usize>,
    /// The topic's partition count, when known.
    pub topic_partitions: Option<usize>,
    /// The partitions this member owns in the current generation (or epoch).
    pub partitions: Vec<PartitionStatus>,
    /// Consumer protocol, while reconciling: the partitions the coordinator wants this member to own.
    pub target: Option<Vec<i32>>,
    /// Why this member owns no partitions, in words (the workshop's troubleshooting case).
    pub idle_reason: Option<String>,
    /// The last problem met (coordinator unreachable, a partition that cannot be read, ...), cleared once a
    /// new generation starts.
    pub last_error: Option<String>,
    /// How many assignments this member has received since it started.
    pub rebalances: u64,
    /// Messages that were not JSON objects (kept as raw text).
    pub invalid_events: u64,
}
