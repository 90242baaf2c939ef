//! Consumer groups: Kafka's classic group protocol, and the consumer protocol of KIP-848.
//!
//! A **consumer group** is a set of consumers that share the work of reading a topic: each partition is
//! read by exactly one member at a time, and the members' committed offsets remember how far the group got.
//! Kafka brokers store the group's state (members, generation, offsets) in a **group coordinator**. Under
//! the classic protocol the clients do the rest: they join, one of them (the **leader**) decides who reads
//! what, and each member heartbeats to stay in the group; under the consumer protocol the coordinator
//! decides too. rskafka reads partitions but has no groups, so this module adds them:
//!
//! - [`member`]: one member's life as a single loop (join → sync → fetch, commit → rejoin/leave), under the
//!   **classic** protocol (`GROUP_PROTOCOL=classic`, the default).
//! - [`consumer`]: its sibling under the **consumer** protocol (KIP-848, `GROUP_PROTOCOL=consumer`): the
//!   broker assigns, members heartbeat and reconcile, and a rebalance pauses only the partitions that move.
//! - [`heartbeat`]: the heartbeat task that keeps the member in its group, whatever the loop is doing.
//! - [`leader`]: what the leader does between JoinGroup and SyncGroup.
//! - [`assign`]: the assignors (`roundrobin`, `range`) as pure functions.
//! - [`protocol`]: the ConsumerProtocol subscription/assignment bytes every Kafka client understands.
//! - [`link`]: what a member asks its coordinator (a trait), and the link that finds it again when it moves.
//! - [`client`]: the seven group requests, built for the version the broker speaks; [`commits`]: which
//!   offsets a commit sends.
//! - [`connection`]: a connection to a broker: framing, correlation ids, ApiVersions.
//! - [`error`]: Kafka error codes boiled down to what the member does next; [`backoff`]: how long it waits.
//! - [`report`]: the `/status` snapshot the member publishes.
//!
//! The two members share the connection and its link to the coordinator, the error classes, the backoff,
//! the commit and offset requests, the fetch loops ([`crate::consume`]) and the report; the heartbeat,
//! leader, assignors and ConsumerProtocol bytes are the classic member's alone.

pub mod assign;
pub mod backoff;
pub mod client;
pub mod commits;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod heartbeat;
pub mod leader;
pub mod link;
pub mod member;
pub mod protocol;
pub mod report;
