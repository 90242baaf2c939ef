//! The producer when Kafka stalls, against real brokers (Apache Kafka and Tansu, each on a cluster of the
//! test's own): every answer tells the truth about whether the event is in Kafka. 200: it is, once. 503: it
//! is not ("not sent"). 504: it may be ("sent, not acknowledged").

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::http::{self, post_json};
use support::lab::Lab;
use support::{Cluster, Flavor, Service};

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_is_honest_while_the_brokers_stall_on_kafka() {
    every_answer_is_honest_while_the_brokers_stall(Flavor::Kafka).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_is_honest_while_the_brokers_stall_on_tansu() {
    every_answer_is_honest_while_the_brokers_stall(Flavor::Tansu).await;
}

/// Three clients send numbered events without pause while every broker is frozen (SIGSTOP) for 3 s, with a
/// 1 s request timeout. Then each answer is checked against what the partitions hold.
async fn every_answer_is_honest_while_the_brokers_stall(flavor: Flavor) {
    let lab = Lab::start_on(Cluster::of(flavor, true).await).await;
    let env = [("KAFKA_TOPIC", lab.topic.as_str()), ("REQUEST_TIMEOUT_MS", "1000")];
    let producer = Service::producer(&lab.cluster.bootstrap(), &env).await;
    // The first write to a topic created a moment ago can take longer than the 1 s timeout on a busy machine
    // (its replicas are still catching up): a 504 there is honest, and not what this test is about.
    support::eventually(Duration::from_secs(30), "a first 200 before the stall", || async {
        let reply = post_json(producer.port, "/", r#"{"id": 0}"#).await.ok()?;
        (reply.status == 200).then_some(())
    })
    .await;

    let next_id = Arc::new(AtomicI64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..3)
        .map(|_| tokio::spawn(keep_sending(producer.port, Arc::clone(&next_id), Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    lab.cluster.pause_brokers();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let unreachable = http::get(producer.port, "/status").await.unwrap().json();
    lab.cluster.resume_brokers();
    support::eventually(Duration::from_secs(60), "a 200 after the brokers resumed", || async {
        let reply = post_json(producer.port, "/", r#"{"id": -1}"#).await.ok()?;
        (reply.status == 200).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answers = BTreeMap::new();
    for sender in senders {
        answers.extend(sender.await.unwrap());
    }

    let mut written: BTreeMap<i64, usize> = BTreeMap::new();
    for partition in 0..2 {
        for (_, _, event) in lab.cluster.read_all(&lab.topic, partition).await {
            *written.entry(event["id"].as_i64().unwrap()).or_default() += 1;
        }
    }
    let count = |status: u16| answers.values().filter(|s| **s == status).count();
    let unconfirmed_written = answers
        .iter()
        .filter(|(id, status)| **status == 504 && written.contains_key(id))
        .count();
    println!(
        "{flavor:?}: {} answers: {} × 200, {} × 503, {} × 504 ({unconfirmed_written} of those were written); \
         /status while frozen: {unreachable}",
        answers.len(),
        count(200),
        count(503),
        count(504),
    );
    assert_eq!(unreachable["kafka"], "unreachable", "{unreachable}");
    assert!(count(503) + count(504) > 0, "the stall was not noticed: {answers:?}");
    for (id, status) in &answers {
        let copies = written.get(id).copied().unwrap_or(0);
        match status {
            200 => assert_eq!(copies, 1, "event {id} was acknowledged but is in Kafka {copies} times"),
            503 => assert_eq!(copies, 0, "event {id} was answered 503 (not sent) but is in Kafka"),
            504 => assert!(copies <= 1, "event {id} is in Kafka {copies} times"),
            other => panic!("event {id} was answered {other}"),
        }
    }
}

/// Posts `{"id": n}` with fresh ids until `stop`; returns each id's answer status.
async fn keep_sending(port: u16, next_id: Arc<AtomicI64>, stop: Arc<AtomicBool>) -> BTreeMap<i64, u16> {
    let mut answers = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let reply = post_json(port, "/", &format!(r#"{{"id": {id}}}"#)).await.unwrap();
        if reply.status != 200 {
            let error = reply.json()["error"].as_str().unwrap_or_default().to_string();
            let honest = match reply.status {
                503 => error.contains("nothing was written"),
                504 => error.contains("may have been written"),
                _ => false,
            };
            assert!(honest, "{}: {error}", reply.status);
        }
        answers.insert(id, reply.status);
    }
    answers
}

/// Signals: the broker matters only in that it stalls, so Tansu alone.
#[tokio::test(flavor = "multi_thread")]
async fn sigint_answers_every_request_in_flight() {
    let lab = Lab::start_on(Cluster::of(Flavor::Tansu, true).await).await;
    let env = [("KAFKA_TOPIC", lab.topic.as_str()), ("REQUEST_TIMEOUT_MS", "30000")];
    let mut producer = Service::producer(&lab.cluster.bootstrap(), &env).await;
    // One event per partition, so that both leaders' connections are open (the requests below are sent).
    for id in [-1, 0] {
        let reply = post_json(producer.port, "/", &format!(r#"{{"id": {id}}}"#))
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    lab.cluster.pause_brokers();
    let port = producer.port;
    let in_flight: Vec<_> = (1..=5)
        .map(|id| tokio::spawn(async move { post_json(port, "/", &format!(r#"{{"id": {id}}}"#)).await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let exit = tokio::task::spawn_blocking(move || {
        let exit = producer.signal("INT");
        (exit, producer)
    });
    // Sent and waiting for the frozen broker: 504, "may have been written". (One still connecting would be
    // 503, "not sent": either way an answer that says so.)
    let mut statuses = Vec::new();
    for request in in_flight {
        let reply = request.await.unwrap().expect("a request in flight got no answer");
        assert!(matches!(reply.status, 503 | 504), "{}", reply.body);
        assert!(reply.body.contains("stopping"), "{}", reply.body);
        statuses.push(reply.status);
    }
    println!("answers to the requests in flight at SIGINT: {statuses:?}");
    let (exit, producer) = exit.await.unwrap();
    assert_eq!(exit.code(), Some(0), "{}", producer.logs());
    lab.cluster.resume_brokers();
}
