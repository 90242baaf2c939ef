//! # kafka-lab
//!
//! Two small programs that let you watch Kafka at work: a **producer** that turns HTTP posts into Kafka
//! events, and a **consumer** that joins a consumer group and shows what it received. A lab page, bundled
//! into the producer, shows events being split between the members of a group, copied to every group,
//! handed over when a member stops, and picked up again after downtime.
//!
//! Follow an event through the crate:
//!
//! ```text
//! browser ─POST /─▶ producer_api ─▶ event (stamp `produced`) ─▶ produce (+ partitioner) ─▶ Kafka
//! Kafka ─▶ consume (one fetch loop per owned partition) ◀── group (which partitions this member owns)
//!       ─▶ store (recent events) ─▶ consumer_api ─GET /, /events, /status─▶ browser
//! ```
//!
//! - [`config`]: environment variables, shared by both binaries.
//! - [`http`]: CORS, JSON errors, a gracefully stopping hyper server.
//! - [`event`]: the `HH:MM:SS:mmm` time stamps the workshop shows.
//! - [`kafka`]: connecting to the cluster with rskafka (partition-level produce, fetch, metadata).
//! - [`partitioner`], [`produce`], [`producer_api`], [`static_files`]: the producer and the lab page.
//! - [`cluster`]: the cluster as the lab page shows it (brokers, partitions, every group, rebalance history).
//! - [`group`]: consumer groups on the classic group protocol — the part to read to see how Kafka shares
//!   a topic between consumers.
//! - [`consume`]: one fetch loop per owned partition; [`store`]: the recent events; [`notices`]: what the
//!   data path reports (a topic gone); [`status`]: the snapshot `/status` serves; [`consumer_api`],
//!   [`consumer`]: the consumer service.
//! - [`security`]: TLS and SASL on every connection to the cluster (`SECURITY_PROTOCOL`).
//! - [`cli`]: what both binaries do around their service (help, config errors, signals).
//!
//! The binaries in `bin/` only call into this library.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod consume;
pub mod consumer;
pub mod consumer_api;
pub mod event;
pub mod group;
pub mod http;
pub mod kafka;
pub mod notices;
pub mod partitioner;
pub mod produce;
pub mod producer_api;
pub mod security;
pub mod static_files;
pub mod status;
pub mod store;
