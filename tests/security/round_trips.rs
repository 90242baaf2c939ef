//! Each protocol and mechanism end to end: produce, a group of two, commits, a hand-over, the cluster view;
//! and SASL sessions renewed before the broker ends them (KIP-368).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::{assert_no_password, create_topic, kafka, sasl, SETTLE};
use crate::support::group::{ids, post_ids, status, wait_for_assignment, wait_for_ids};
use crate::support::http;
use crate::support::secure::{PLAIN_USER, REAUTH_MS, SCRAM_USERS};
use crate::support::{eventually, Service};
use serde_json::Value;

/// The workshop's round trip over `listener` with `security`: a producer and a group of two consumers; the
/// events are split, committed, and handed over when one consumer stops; the producer's cluster view (our
/// admin connections) sees the group.
async fn round_trip(name: &str, listener: &str, security: &[(&str, &str)]) {
    let kafka = kafka().await;
    let (topic, group) = (format!("{name}-topic"), format!("{name}-group"));
    create_topic(kafka, &topic).await;
    let address = kafka.address(listener);
    let mut env = security.to_vec();
    env.push(("KAFKA_TOPIC", &topic));
    let producer = Service::producer(&address, &env).await;
    env.extend([("SESSION_TIMEOUT_MS", "6000"), ("HEARTBEAT_INTERVAL_MS", "500")]);
    let mut first = Service::consumer(&address, &group, &env).await;
    let second = Service::consumer(&address, &group, &env).await;
    wait_for_assignment(&[&first, &second], &[1, 1], SETTLE).await;

    post_ids(&producer, 1..=10).await;
    let (read_by_first, read_by_second) = eventually(SETTLE, "the group to read events 1 to 10", || async {
        let (a, b) = (ids(&first).await, ids(&second).await);
        let union: BTreeSet<i64> = a.iter().chain(&b).copied().collect();
        (union == (1..=10).collect() && a.len() + b.len() == 10).then_some((a, b))
    })
    .await;
    assert!(
        !read_by_first.is_empty() && !read_by_second.is_empty(),
        "both members read"
    );

    let exit = first.signal("INT");
    assert_eq!(exit.code(), Some(0), "{}", first.logs());
    wait_for_assignment(&[&second], &[2], SETTLE).await;
    post_ids(&producer, 11..=20).await;
    wait_for_ids(&second, &(11..=20).collect(), "the survivor to read events 11 to 20").await;
    let again: Vec<i64> = ids(&second)
        .await
        .into_iter()
        .filter(|id| read_by_first.contains(id))
        .collect();
    assert!(
        again.is_empty(),
        "the survivor read {again:?} again: the first member's commits were lost"
    );

    let view = eventually(SETTLE, "the cluster view to show the group", || async {
        let reply = http::get(producer.port, "/cluster").await.ok()?;
        reply.body.contains(&group).then_some(reply.body)
    })
    .await;
    assert_no_password("/cluster", &view);
    for service in [&producer, &first, &second] {
        let logs = service.plain_logs();
        assert!(logs.contains("connecting with "), "{logs}");
        assert_no_password("the log", &logs);
    }
}

#[tokio::test]
async fn tls_round_trip() {
    let kafka = kafka().await;
    let ca = kafka.file("ca.pem");
    round_trip("tls", "SSL", &[("SECURITY_PROTOCOL", "SSL"), ("SSL_CA_LOCATION", &ca)]).await;
}

#[tokio::test]
async fn mutual_tls_round_trip() {
    let kafka = kafka().await;
    let (ca, certificate, key) = (kafka.file("ca.pem"), kafka.file("client.pem"), kafka.file("client.key"));
    let security = [
        ("SECURITY_PROTOCOL", "SSL"),
        ("SSL_CA_LOCATION", ca.as_str()),
        ("SSL_CERTIFICATE_LOCATION", certificate.as_str()),
        ("SSL_KEY_LOCATION", key.as_str()),
    ];
    round_trip("mtls", "MTLS", &security).await;
}

#[tokio::test]
async fn sasl_plaintext_scram_sha_256_round_trip() {
    let (mechanism, user, password) = SCRAM_USERS[0];
    round_trip(
        "scram256",
        "SASL_PLAINTEXT",
        &sasl("SASL_PLAINTEXT", mechanism, user, password),
    )
    .await;
}

#[tokio::test]
async fn sasl_ssl_scram_sha_512_round_trip() {
    let kafka = kafka().await;
    let ca = kafka.file("ca.pem");
    let (mechanism, user, password) = SCRAM_USERS[1];
    let mut security = sasl("SASL_SSL", mechanism, user, password);
    security.push(("SSL_CA_LOCATION", &ca));
    round_trip("scram512", "SASL_SSL", &security).await;
}

#[tokio::test]
async fn sasl_ssl_plain_round_trip() {
    let kafka = kafka().await;
    let ca = kafka.file("ca.pem");
    let (user, password) = PLAIN_USER;
    let mut security = sasl("SASL_SSL", "PLAIN", user, password);
    security.push(("SSL_CA_LOCATION", &ca));
    round_trip("plain", "SASL_SSL", &security).await;
}

/// KIP-368: on a listener whose SASL sessions last 3 s, the group's connections log in again before theirs
/// end, so the member stays in its generation; the producer and the fetch loops replace their rskafka
/// connections, which cannot, so that no request meets a connection the broker is closing: over three
/// lifetimes, every event is acknowledged and read, and no fetch fails.
#[tokio::test]
async fn sasl_sessions_are_renewed_before_the_broker_ends_them() {
    let kafka = kafka().await;
    let (mechanism, user, password) = SCRAM_USERS[0];
    let topic = "reauth-topic";
    create_topic(kafka, topic).await;
    let mut env = sasl("SASL_PLAINTEXT", mechanism, user, password);
    env.extend([
        ("KAFKA_TOPIC", topic),
        ("SESSION_TIMEOUT_MS", "6000"),
        ("HEARTBEAT_INTERVAL_MS", "500"),
    ]);
    let address = kafka.address("REAUTH");
    let producer = Service::producer(&address, &env).await;
    let consumer = Service::consumer(&address, "reauth-group", &env).await;
    wait_for_assignment(&[&consumer], &[2], SETTLE).await;
    let generation = status(&consumer).await["generation"].clone();

    let count = 3 * REAUTH_MS as i64 / 250;
    for id in 1..=count {
        post_ids(&producer, id..=id).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_for_ids(
        &consumer,
        &(1..=count).collect(),
        "every event of three session lifetimes",
    )
    .await;
    let now: Value = status(&consumer).await;
    assert_eq!(now["generation"], generation, "no rebalance: {now}");
    assert_eq!(now["state"], "stable", "{now}");
    let logs = consumer.plain_logs();
    assert!(logs.contains("authenticating again"), "{logs}");
    assert!(
        logs.contains("a new leader connection before the SASL session ends"),
        "{logs}"
    );
    assert!(
        !logs.contains("fetch failed"),
        "no fetch met a closed connection: {logs}"
    );
    assert!(
        producer.plain_logs().contains("replacing the connections"),
        "{}",
        producer.logs()
    );
}
