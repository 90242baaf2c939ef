//! The cases of `tests/security.rs` (compiled with the `tls` feature only).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::group::{ids, post_ids, status, wait_for_assignment, wait_for_ids};
use crate::support::http;
use crate::support::secure::{SecureKafka, DENIED_GROUP, DENIED_TOPIC, PLAIN_USER, REAUTH_MS, SCRAM_USERS};
use crate::support::{eventually, Service};
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(30);
/// Every password the tests use: none may appear in a log or an answer.
const PASSWORDS: [&str; 4] = ["alice-secret", "bob-secret", "mallory-secret", "carol-secret"];

async fn kafka() -> &'static SecureKafka {
    tokio::task::spawn_blocking(SecureKafka::shared)
        .await
        .expect("starting the secured Kafka cluster")
}

/// Creates a topic of 2 partitions through the PLAINTEXT listener (a super user).
async fn create_topic(kafka: &SecureKafka, name: &str) {
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
async fn records_in(kafka: &SecureKafka, topic: &str) -> i64 {
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

fn sasl<'a>(protocol: &'a str, mechanism: &'a str, user: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SECURITY_PROTOCOL", protocol),
        ("SASL_MECHANISM", mechanism),
        ("SASL_USERNAME", user),
        ("SASL_PASSWORD", password),
    ]
}

fn assert_no_password(what: &str, text: &str) {
    for password in PASSWORDS {
        assert!(!text.contains(password), "{what} shows a password: {text}");
    }
}

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

/// A producer over `listener` with `security` that cannot connect: POST answers 503 naming `expected`,
/// `/status` and the log say it too, and nothing reaches the topic.
async fn producer_refused(name: &str, listener: &str, security: &[(&str, &str)], expected: &str) -> Service {
    let kafka = kafka().await;
    let topic = format!("{name}-topic");
    create_topic(kafka, &topic).await;
    let mut env = security.to_vec();
    env.push(("KAFKA_TOPIC", &topic));
    let producer = Service::producer(&kafka.address(listener), &env).await;
    let reply = http::post_json(producer.port, "/", r#"{"id": 1}"#)
        .await
        .expect("POST /");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.body.contains(expected),
        "the answer does not say '{expected}': {}",
        reply.body
    );
    let status = http::get(producer.port, "/status").await.expect("GET /status").json();
    let last_error = status["last_error"].as_str().unwrap_or_default().to_string();
    assert!(
        last_error.contains(expected),
        "/status does not say '{expected}': {status}"
    );
    let logs = producer.plain_logs();
    assert!(logs.contains(expected), "the log does not say '{expected}': {logs}");
    assert_no_password("the answer", &reply.body);
    assert_no_password("the log", &logs);
    assert_eq!(records_in(kafka, &topic).await, 0, "nothing may be produced");
    println!("{name}: {}", reply.body);
    producer
}

#[tokio::test]
async fn a_wrong_password_is_refused() {
    let (mechanism, user, _) = SCRAM_USERS[0];
    let security = sasl("SASL_PLAINTEXT", mechanism, user, "not-the-password");
    producer_refused(
        "wrong-password",
        "SASL_PLAINTEXT",
        &security,
        "SASL SCRAM-SHA-256 authentication with 127.0.0.1",
    )
    .await;
    // The consumer says so in /status and keeps trying (the password may be fixed on the broker's side).
    let kafka = kafka().await;
    let consumer = Service::consumer(&kafka.address("SASL_PLAINTEXT"), "wrong-password-group", &security).await;
    eventually(SETTLE, "the consumer to report the failed login", || async {
        let status = status(&consumer).await;
        let error = status["last_error"].as_str()?;
        error.contains("SASL_AUTHENTICATION_FAILED").then_some(())
    })
    .await;
    assert_no_password("the consumer's log", &consumer.plain_logs());
}

#[tokio::test]
async fn an_unknown_user_is_refused() {
    let security = sasl("SASL_PLAINTEXT", "PLAIN", "nobody", "whatever");
    let producer = producer_refused(
        "unknown-user",
        "SASL_PLAINTEXT",
        &security,
        "SASL_AUTHENTICATION_FAILED",
    )
    .await;
    assert!(producer.plain_logs().contains("Invalid username or password"));
}

#[tokio::test]
async fn a_broker_certificate_from_another_ca_is_refused() {
    let kafka = kafka().await;
    let other_ca = kafka.file("other-ca.pem");
    let security = [("SECURITY_PROTOCOL", "SSL"), ("SSL_CA_LOCATION", other_ca.as_str())];
    producer_refused("wrong-ca", "SSL", &security, "not signed by a trusted CA").await;
    // Mozilla's built-in roots do not know the test CA either.
    producer_refused(
        "built-in-roots",
        "SSL",
        &[("SECURITY_PROTOCOL", "SSL")],
        "not signed by a trusted CA",
    )
    .await;
}

#[tokio::test]
async fn an_expired_broker_certificate_is_refused() {
    let kafka = kafka().await;
    let ca = kafka.file("ca.pem");
    let security = [("SECURITY_PROTOCOL", "SSL"), ("SSL_CA_LOCATION", ca.as_str())];
    producer_refused("expired", "EXPIRED", &security, "certificate has expired").await;
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused_unless_verification_is_off() {
    let kafka = kafka().await;
    let ca = kafka.file("ca.pem");
    let mut security = vec![("SECURITY_PROTOCOL", "SSL"), ("SSL_CA_LOCATION", ca.as_str())];
    producer_refused(
        "wrong-name",
        "WRONG_NAME",
        &security,
        "certificate is for another host name",
    )
    .await;

    security.push(("SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", "none"));
    let topic = "no-host-check-topic";
    create_topic(kafka, topic).await;
    security.push(("KAFKA_TOPIC", topic));
    let producer = Service::producer(&kafka.address("WRONG_NAME"), &security).await;
    post_ids(&producer, 1..=1).await;
    assert!(producer
        .plain_logs()
        .contains("INSECURE: SSL_ENDPOINT_IDENTIFICATION_ALGORITHM"));
}

#[tokio::test]
async fn mutual_tls_without_a_client_certificate_is_refused() {
    let kafka = kafka().await;
    let ca = kafka.file("ca.pem");
    let security = [("SECURITY_PROTOCOL", "SSL"), ("SSL_CA_LOCATION", ca.as_str())];
    producer_refused(
        "no-client-certificate",
        "MTLS",
        &security,
        "the broker refused our client certificate, or wants one",
    )
    .await;
}

#[tokio::test]
async fn a_plaintext_client_on_a_tls_port_is_told_so() {
    producer_refused("plaintext-on-tls", "SSL", &[], "does not answer in PLAINTEXT").await;
}

#[tokio::test]
async fn a_tls_client_on_a_plaintext_port_is_told_so() {
    let kafka = kafka().await;
    let ca = kafka.file("ca.pem");
    let security = [("SECURITY_PROTOCOL", "SSL"), ("SSL_CA_LOCATION", ca.as_str())];
    producer_refused(
        "tls-on-plaintext",
        "PLAINTEXT",
        &security,
        "a PLAINTEXT or SASL_PLAINTEXT listener",
    )
    .await;
}

/// ACLs deny mallory the group and the topic: the consumer stops with the error named, and the producer
/// answers without writing.
#[tokio::test]
async fn acls_that_deny_the_group_or_the_topic_are_fatal_and_named() {
    let kafka = kafka().await;
    let (mechanism, user, password) = SCRAM_USERS[2];
    let address = kafka.address("SASL_PLAINTEXT");
    create_topic(kafka, DENIED_TOPIC).await;
    let allowed_topic = "mallory-topic";
    create_topic(kafka, allowed_topic).await;
    let mut security = sasl("SASL_PLAINTEXT", mechanism, user, password);

    let mut env = security.clone();
    env.push(("KAFKA_TOPIC", allowed_topic));
    let mut denied_group = Service::consumer(&address, DENIED_GROUP, &env).await;
    failed_with(&denied_group, "GROUP_AUTHORIZATION_FAILED").await;
    let exit = denied_group
        .wait_exit(SETTLE)
        .unwrap_or_else(|| panic!("the consumer did not stop: {}", denied_group.logs()));
    assert!(!exit.success());
    assert!(
        denied_group.plain_logs().contains("GROUP_AUTHORIZATION_FAILED"),
        "{}",
        denied_group.logs()
    );

    security.push(("KAFKA_TOPIC", DENIED_TOPIC));
    let producer = Service::producer(&address, &security).await;
    let reply = http::post_json(producer.port, "/", r#"{"id": 1}"#)
        .await
        .expect("POST /");
    assert!(
        reply.body.contains("TOPIC_AUTHORIZATION_FAILED"),
        "{} {}",
        reply.status,
        reply.body
    );
    assert!(reply.status >= 400, "{}", reply.status);
    assert_eq!(records_in(kafka, DENIED_TOPIC).await, 0, "nothing may be produced");

    let mut denied_topic = Service::consumer(&address, "mallory-group", &security).await;
    failed_with(&denied_topic, "TOPIC_AUTHORIZATION_FAILED").await;
    let exit = denied_topic
        .wait_exit(SETTLE)
        .unwrap_or_else(|| panic!("the consumer did not stop: {}", denied_topic.logs()));
    assert!(!exit.success());
    assert!(
        denied_topic.plain_logs().contains("TOPIC_AUTHORIZATION_FAILED"),
        "{}",
        denied_topic.logs()
    );
}

/// Waits until the consumer's `/status` says it failed with `error` (it then exits 2 s later).
async fn failed_with(consumer: &Service, error: &str) {
    eventually(SETTLE, "the consumer to report its fatal error", || async {
        let status = status(consumer).await;
        (status["state"] == "failed" && status["last_error"].as_str()?.contains(error)).then_some(())
    })
    .await;
}

/// KIP-368: on a listener whose SASL sessions last 3 s, the group's connections log in again before theirs
/// ends, so the member stays in its generation, and events keep flowing long after the first session.
/// (rskafka's fetch connections do not log in again: the broker closes them and the fetch loops open new
/// ones. The producer stays on a listener without a session limit: a Produce that met a connection the
/// broker is closing would be answered 504, "maybe written", which this test is not about.)
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
    let producer = Service::producer(&kafka.address("SASL_PLAINTEXT"), &env).await;
    let consumer = Service::consumer(&kafka.address("REAUTH"), "reauth-group", &env).await;
    wait_for_assignment(&[&consumer], &[2], SETTLE).await;
    let generation = status(&consumer).await["generation"].clone();

    tokio::time::sleep(Duration::from_millis(3 * REAUTH_MS)).await;
    post_ids(&producer, 1..=5).await;
    wait_for_ids(&consumer, &(1..=5).collect(), "events after three session lifetimes").await;
    let now: Value = status(&consumer).await;
    assert_eq!(now["generation"], generation, "no rebalance: {now}");
    assert_eq!(now["state"], "stable", "{now}");
    assert!(
        consumer.plain_logs().contains("authenticating again"),
        "{}",
        consumer.logs()
    );
}

/// Settings that contradict each other, or files that cannot be used, stop the binaries at start-up: one line
/// naming the variable, exit status 2, and never the password.
#[test]
fn inconsistent_settings_exit_2_naming_the_variable() {
    let dir = std::env::temp_dir().join(format!("kafka-lab-security-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "not a certificate").expect("writing not.pem");
    let not_pem = not_pem.display().to_string();
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("SASL_MECHANISM", "PLAIN"), ("SASL_PASSWORD", "alice-secret")],
            "SASL_MECHANISM is set, but",
        ),
        (
            &[
                ("SECURITY_PROTOCOL", "SASL_SSL"),
                ("SASL_MECHANISM", "PLAIN"),
                ("SASL_PASSWORD", "alice-secret"),
            ],
            "SASL_USERNAME is not set",
        ),
        (
            &[("SECURITY_PROTOCOL", "SSL"), ("SSL_CERTIFICATE_LOCATION", &not_pem)],
            "SSL_CERTIFICATE_LOCATION is set but SSL_KEY_LOCATION is not",
        ),
        (
            &[("SECURITY_PROTOCOL", "SSL"), ("SSL_CA_LOCATION", "/nonexistent/ca.pem")],
            "SSL_CA_LOCATION: cannot read /nonexistent/ca.pem",
        ),
        (
            &[("SECURITY_PROTOCOL", "SSL"), ("SSL_CA_LOCATION", &not_pem)],
            "holds no PEM certificate",
        ),
    ];
    for (settings, expected) in cases {
        for binary in [
            env!("CARGO_BIN_EXE_producer"),
            crate::support::process::consumer_binary(),
        ] {
            let mut env = vec![("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9"), ("CONSUMER_GROUP", "g")];
            env.extend_from_slice(settings);
            let (status, output) = crate::support::process::run_to_exit(binary, &[], &env);
            assert_eq!(status.code(), Some(2), "{binary} {settings:?}: {output}");
            assert_eq!(output.lines().count(), 1, "one line: {output}");
            assert!(
                output.contains(expected),
                "{binary} {settings:?} does not say '{expected}': {output}"
            );
            assert_no_password("the error", &output);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
