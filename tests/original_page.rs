//! The original workshop page (a React app on localhost:3000) and its exact requests, against both real
//! binaries and a real broker (Tansu). Nothing is mocked: both binaries must still answer them as the Python
//! services did.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::http::{self, post_json};
use support::{eventually, Broker, Service};

/// How long to wait for the consumer: consumers on Tansu take a few seconds to join and rebalance.
const WAIT: Duration = Duration::from_secs(20);
/// The consumer notices a lost member within seconds.
const SESSION: (&str, &str) = ("SESSION_TIMEOUT_MS", "6000");

/// The original workshop page (a React app on localhost:3000) made exactly these requests; both binaries
/// must still answer them as the Python services did.
#[tokio::test]
async fn original_page_requests_still_work() {
    let broker = Broker::start().await;
    broker.create_topic("first-topic", 2);
    let producer = Service::producer(&broker.address(), &[]).await;
    let consumer = Service::consumer(&broker.address(), "first-group", &[SESSION]).await;
    let origin = ("Origin", "http://localhost:3000");

    // Producer: preflight, then the POST it allows, then /ping.
    http::assert_preflight_allows_json_post(producer.port).await;

    let ping = http::request(producer.port, "GET", "/ping", &[origin], b"")
        .await
        .unwrap();
    assert_eq!((ping.status, ping.body.as_str()), (200, "pong"));
    assert_eq!(ping.header("access-control-allow-origin"), Some("*"));

    // Consumer: /ping names the group after the first five characters, and GET / is a JSON array.
    let ping = http::request(consumer.port, "GET", "/ping", &[origin], b"")
        .await
        .unwrap();
    assert_eq!((ping.status, ping.body.as_str()), (200, "pong:first-group"));
    assert_eq!(&ping.body[5..], "first-group");
    assert_eq!(ping.header("access-control-allow-origin"), Some("*"));

    // The consumer joins the group at the latest offset: wait until it owns the partitions before sending.
    eventually(WAIT, "the consumer owning both partitions", || async {
        let status = http::get(consumer.port, "/status").await.ok()?.json();
        (status["state"] == "stable" && status["partitions"].as_array()?.len() == 2).then_some(())
    })
    .await;
    let first = http::request(consumer.port, "GET", "/", &[origin], b"").await.unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.json().is_array(), "{}", first.body);

    let post = http::request(
        producer.port,
        "POST",
        "/",
        &[origin, ("Content-Type", "application/json")],
        br#"{"id":1,"clicked":"10:11:12:13"}"#,
    )
    .await
    .unwrap();
    assert_eq!(post.status, 200, "{}", post.body);
    assert_eq!(post.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        post_json(producer.port, "/", r#"{"id":2,"clicked":"10:11:12:14"}"#)
            .await
            .unwrap()
            .status,
        200
    );

    // GET / drains: the two events come once, oldest first, each with produced and consumed added.
    let mut seen: Vec<Value> = Vec::new();
    let start = Instant::now();
    while seen.len() < 2 {
        assert!(start.elapsed() < WAIT, "GET / gave only {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let reply = http::request(consumer.port, "GET", "/", &[origin], b"").await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        seen.extend(reply.json().as_array().expect("a JSON array").iter().cloned());
    }
    let ids: Vec<&Value> = seen.iter().map(|e| &e["id"]).collect();
    assert_eq!(ids.len(), 2, "each event once: {seen:?}");
    let mut sorted = ids.clone();
    sorted.sort_by_key(|v| v.as_i64());
    assert_eq!(sorted, [&json!(1), &json!(2)], "{seen:?}");
    for event in &seen {
        for field in ["clicked", "produced", "consumed"] {
            assert!(event[field].is_string(), "{field} missing: {event}");
        }
        assert_eq!(
            event.as_object().unwrap().len(),
            4,
            "only id, clicked, produced, consumed: {event}"
        );
    }
    let again = http::get(consumer.port, "/").await.unwrap();
    assert_eq!(again.json(), json!([]), "a second GET / has nothing new");
}
