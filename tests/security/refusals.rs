//! What a user gets wrong, or what the broker refuses: each a clear message in the producer's 503, in
//! `/status` and in the log, with nothing written; ACLs stop a consumer; contradicting settings exit 2.

use crate::common::{assert_no_password, create_topic, kafka, records_in, sasl, SETTLE};
use crate::support::group::{post_ids, status};
use crate::support::http;
use crate::support::secure::{DENIED_GROUP, DENIED_TOPIC, SCRAM_USERS};
use crate::support::{eventually, Service};

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

#[tokio::test]
async fn a_sasl_client_on_a_listener_without_sasl_is_told_so() {
    let kafka = kafka().await;
    let ca = kafka.file("ca.pem");
    let (mechanism, user, password) = SCRAM_USERS[0];
    let mut security = sasl("SASL_SSL", mechanism, user, password);
    security.push(("SSL_CA_LOCATION", &ca));
    producer_refused("sasl-on-ssl", "SSL", &security, "the listener does not take SASL").await;
}

#[tokio::test]
async fn a_client_without_sasl_on_a_sasl_listener_is_told_so() {
    let kafka = kafka().await;
    let ca = kafka.file("ca.pem");
    let security = [("SECURITY_PROTOCOL", "SSL"), ("SSL_CA_LOCATION", ca.as_str())];
    producer_refused("ssl-on-sasl-ssl", "SASL_SSL", &security, "a listener that expects SASL").await;
}

/// ACLs deny mallory the group and the topic: the producer answers 503 without writing, and a consumer
/// stops with the error named, under either group protocol.
#[tokio::test]
async fn acls_that_deny_the_group_or_the_topic_are_fatal_and_named() {
    let kafka = kafka().await;
    let (mechanism, user, password) = SCRAM_USERS[2];
    let address = kafka.address("SASL_PLAINTEXT");
    create_topic(kafka, DENIED_TOPIC).await;
    let allowed_topic = "mallory-topic";
    create_topic(kafka, allowed_topic).await;
    let security = sasl("SASL_PLAINTEXT", mechanism, user, password);

    let mut env = security.clone();
    env.push(("KAFKA_TOPIC", DENIED_TOPIC));
    let producer = Service::producer(&address, &env).await;
    let reply = http::post_json(producer.port, "/", r#"{"id": 1}"#)
        .await
        .expect("POST /");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body.contains("TOPIC_AUTHORIZATION_FAILED"), "{}", reply.body);
    assert_eq!(records_in(kafka, DENIED_TOPIC).await, 0, "nothing may be produced");

    for protocol in ["classic", "consumer"] {
        let with = |topic| [&security[..], &[("GROUP_PROTOCOL", protocol), ("KAFKA_TOPIC", topic)]].concat();
        consumer_stops(
            &address,
            DENIED_GROUP,
            &with(allowed_topic),
            "GROUP_AUTHORIZATION_FAILED",
        )
        .await;
        let group = format!("mallory-{protocol}-group");
        consumer_stops(&address, &group, &with(DENIED_TOPIC), "TOPIC_AUTHORIZATION_FAILED").await;
    }
}

/// Starts a consumer that must fail with `error`: named in `/status`, then in its log as it exits non-zero.
async fn consumer_stops(address: &str, group: &str, env: &[(&str, &str)], error: &str) {
    let mut consumer = Service::consumer(address, group, env).await;
    failed_with(&consumer, error).await;
    let exit = consumer
        .wait_exit(SETTLE)
        .unwrap_or_else(|| panic!("the consumer did not stop: {}", consumer.logs()));
    assert!(!exit.success());
    assert!(consumer.plain_logs().contains(error), "{}", consumer.logs());
}

/// Waits until the consumer's `/status` says it failed with `error` (it then exits 2 s later).
async fn failed_with(consumer: &Service, error: &str) {
    eventually(SETTLE, "the consumer to report its fatal error", || async {
        let status = status(consumer).await;
        (status["state"] == "failed" && status["last_error"].as_str()?.contains(error)).then_some(())
    })
    .await;
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
