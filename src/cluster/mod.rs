//! The cluster as the lab page shows it: brokers, a topic's partitions, every consumer group reading it,
//! and the history of their rebalances. Served by the producer as `GET /cluster?topic=first-topic`.
//!
//! The consumers' own `/status` says what *one member* thinks. This is what *Kafka* knows, read with the
//! admin requests a tool like `kafka-consumer-groups` sends, so it shows every member of every group,
//! whatever client it runs (the workshop's Python consumer, a Java or librdkafka consumer), and who leads
//! each partition when a broker stops.
//!
//! - [`admin`]: the requests (Metadata, ListOffsets, Fetch, ListGroups, DescribeGroups,
//!   ConsumerGroupDescribe, OffsetFetch) on the group layer's own connection.
//! - [`snapshot`]: one view, assembled from the brokers that hold each fact.
//! - [`consumers`]: what kafka-lab's consumers add (their `/status`), where a broker does not say.
//! - [`view`]: the view's JSON.
//! - [`history`]: rebalances found by comparing views, with how long each partition went unread.
//! - [`watch`]: views shared between requests, and the poller that feeds the history while a page watches.

pub mod admin;
pub mod consumers;
pub mod history;
pub mod snapshot;
pub mod view;
pub mod watch;

use std::sync::Arc;

use hyper::StatusCode;

use crate::http::{self, Response};
pub use watch::ClusterWatch;

/// `GET /cluster?topic=NAME&consumers=URL,URL` (the producer's default topic when none is given; the
/// kafka-lab consumers whose `/status` completes the view, see [`consumers`]).
pub async fn serve(watch: &Arc<ClusterWatch>, query: Option<&str>, default_topic: &str) -> Response {
    let topic = http::query_param(query, "topic").unwrap_or(default_topic);
    if !is_topic_name(topic) {
        let message = format!("\"{topic}\" is not a topic name: 1 to 249 of a-z, A-Z, 0-9, '.', '_', '-'");
        return http::error(StatusCode::BAD_REQUEST, &message);
    }
    let kafka_lab = http::query_param(query, "consumers").map(consumers::parse_list);
    http::json(StatusCode::OK, &watch.answer(topic, kafka_lab).await)
}

/// Kafka's rule for topic names (which also keeps odd strings out of the cache).
fn is_topic_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::is_topic_name;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(is_topic_name("first-topic"));
        assert!(is_topic_name("__consumer_offsets"));
        for bad in ["", ".", "..", "a b", "a/b", "%2F", &"x".repeat(250)] {
            assert!(!is_topic_name(bad), "{bad:?}");
        }
    }
}
