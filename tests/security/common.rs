//! What the cases of `tests/security.rs` share: the cluster, topics, and the checks on secrets.

use std::time::Duration;

use crate::support::secure::SecureKafka;
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::ClientBuilder;

pub const SETTLE: Duration = Duration::from_secs(30);
/// Every password the tests use: none may appear in a log or an answer.
const PASSWORDS: [&str; 4] = ["alice-secret", "bob-secret", "mallory-secret", "carol-secret"];

pub async fn kafka() -> &'static SecureKafka {
    tokio::task::spawn_blocking(SecureKafka::shared)
        .await
        .expect("starting the secured Kafka cluster")
}

/// Creates a topic of 2 partitions through the PLAINTEXT listener (a super user).
pub async fn create_topic(kafka: &SecureKafka, name: &str) {
    let client = ClientBuilder::new(vec![kafka.address("PLAINTEXT")])
        .build()
        .await
        .expect("connecting to the PLAINTEXT listener");
    let controller = client.controller_client().expect("a controller client");
    controller
        .create_topic(name, 2, 1, 5_000)
        .await
        .unwrap_or_else(|e| panic!("creating topic {name}: {e}"));
}

/// How many records the topic holds (end offsets summed), read through the PLAINTEXT listener.
pub async fn records_in(kafka: &SecureKafka, topic: &str) -> i64 {
    let client = ClientBuilder::new(vec![kafka.address("PLAINTEXT")])
        .build()
        .await
        .expect("connecting to the PLAINTEXT listener");
    let mut total = 0;
    for partition in 0..2 {
        let partition = client
            .partition_client(topic, partition, UnknownTopicHandling::Retry)
            .await
            .expect("a partition client");
        total += partition.get_offset(OffsetAt::Latest).await.expect("the end offset");
    }
    total
}

pub fn sasl<'a>(protocol: &'a str, mechanism: &'a str, user: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SECURITY_PROTOCOL", protocol),
        ("SASL_MECHANISM", mechanism),
        ("SASL_USERNAME", user),
        ("SASL_PASSWORD", password),
    ]
}

pub fn assert_no_password(what: &str, text: &str) {
    for password in PASSWORDS {
        assert!(!text.contains(password), "{what} shows a password: {text}");
    }
}
