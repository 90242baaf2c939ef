//! The original workshop page (a React app on localhost:3000) and its exact requests, against both real
//! binaries and real brokers (Apache Kafka and Tansu). Nothing is mocked: both binaries must still answer
//! them as the Python services did.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::http::{self, post_json};
use support::{eventually, Cluster, Flavor, Service};

/// How long to wait for the consumer: consumers on Tansu take a few seconds to join and rebalance.
const WAIT: Duration = Duration::from_secs(20);
/// The consumer notices a lost member within seconds.
const SESSION: (&str, &str) = ("SESSION_TIMEOUT_MS", "6000");

/// Where the original page was served from; it sends this origin with every request.
const ORIGIN: (&str, &str) = ("Origin", "http://localhost:3000");

/// The original workshop page (a React app on localhost:3000) made exactly these requests; both binaries
/// must still answer them as the Python services did.
#[tokio::test]
async fn original_page_requests_still_work_on_kafka() {
    original_page_requests_still_work(Flavor::Kafka).await;
}

#[tokio::test]
async fn original_page_requests_still_work_on_tansu() {
    original_page_requests_still_work(Flavor::Tansu).await;
}

/// The workshop's own names (`first-topic`, `first-group`); no other test of this binary uses its cluster.
async fn original_page_requests_still_work(flavor: Flavor) {
    let cluster = Cluster::of(flavor, false).await;
    cluster.create_topic("first-topic", 2).await;
    let producer = Service::producer(&cluster.bootstrap(), &[]).await;
    let consumer = Service::consumer(&cluster.bootstrap(), "first-group", &[SESSION]).await;

    producer_answers_preflight_and_ping(producer.port).await;
    consumer_answers_ping_and_get(consumer.port).await;
    // The consumer joins the group at the latest offset: wait until it owns the partitions before sending.
    eventually(WAIT, "the consumer owning both partitions", || async {
        let status = http::get(consumer.port, "/status").await.ok()?.json();
        (status["state"] == "stable" && status["partitions"].as_array()?.len() == 2).then_some(())
    })
    .await;
    send_two_events_as_the_page_did(producer.port).await;

    // GET / drains: each event comes once (from two partitions, in either order), with produced and consumed.
    let seen = drain_until(consumer.port, 2).await;
    assert_events_as_the_original_showed_them(&seen);
    let again = http::get(consumer.port, "/").await.unwrap();
    assert_eq!(again.json(), json!([]), "a second GET / has nothing new");
}

/// The producer: the preflight before a JSON POST, then `GET /ping` answering `pong`.
async fn producer_answers_preflight_and_ping(port: u16) {
    http::assert_preflight_allows_json_post(port).await;
    let ping = http::request(port, "GET", "/ping", &[ORIGIN], b"").await.unwrap();
    assert_eq!((ping.status, ping.body.as_str()), (200, "pong"));
    assert_eq!(ping.header("access-control-allow-origin"), Some("*"));
}

/// The consumer: `/ping` names the group after the first five characters, and `GET /` is a JSON array.
async fn consumer_answers_ping_and_get(port: u16) {
    let ping = http::request(port, "GET", "/ping", &[ORIGIN], b"").await.unwrap();
    assert_eq!((ping.status, ping.body.as_str()), (200, "pong:first-group"));
    assert_eq!(&ping.body[5..], "first-group");
    assert_eq!(ping.header("access-control-allow-origin"), Some("*"));
    let first = http::request(port, "GET", "/", &[ORIGIN], b"").await.unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.json().is_array(), "{}", first.body);
}

/// Two clicks: the page's POST with its origin and content type, and a plain JSON POST.
async fn send_two_events_as_the_page_did(port: u16) {
    let post = http::request(
        port,
        "POST",
        "/",
        &[ORIGIN, ("Content-Type", "application/json")],
        br#"{"id":1,"clicked":"10:11:12:13"}"#,
    )
    .await
    .unwrap();
    assert_eq!(post.status, 200, "{}", post.body);
    assert_eq!(post.header("access-control-allow-origin"), Some("*"));
    let second = post_json(port, "/", r#"{"id":2,"clicked":"10:11:12:14"}"#)
        .await
        .unwrap();
    assert_eq!(second.status, 200, "{}", second.body);
}

/// Polls the draining `GET /` as the page did until it has given `count` events.
async fn drain_until(port: u16, count: usize) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let start = Instant::now();
    while seen.len() < count {
        assert!(start.elapsed() < WAIT, "GET / gave only {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let reply = http::request(port, "GET", "/", &[ORIGIN], b"").await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        seen.extend(reply.json().as_array().expect("a JSON array").iter().cloned());
    }
    seen
}

/// Events 1 and 2, once each, with exactly the fields the original showed.
fn assert_events_as_the_original_showed_them(seen: &[Value]) {
    let ids: Vec<&Value> = seen.iter().map(|e| &e["id"]).collect();
    assert_eq!(ids.len(), 2, "each event once: {seen:?}");
    let mut sorted = ids.clone();
    sorted.sort_by_key(|v| v.as_i64());
    assert_eq!(sorted, [&json!(1), &json!(2)], "{seen:?}");
    for event in seen {
        for field in ["clicked", "produced", "consumed"] {
            assert!(event[field].is_string(), "{field} missing: {event}");
        }
        assert_eq!(
            event.as_object().unwrap().len(),
            4,
            "only id, clicked, produced, consumed: {event}"
        );
    }
}
