//! Helpers for consumer-group tests: reading a consumer's events and status, waiting for a settled group.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::http;
use super::Service;

/// Every event the consumer still holds, via the non-destructive `/events` read.
pub async fn events(consumer: &Service) -> Vec<Value> {
    let reply = http::get(consumer.port, "/events?after=0&limit=5000")
        .await
        .expect("GET /events");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["events"].as_array().cloned().unwrap_or_default()
}

/// The `id` field of each event the consumer holds.
pub async fn ids(consumer: &Service) -> Vec<i64> {
    events(consumer)
        .await
        .iter()
        .filter_map(|e| e["event"]["id"].as_i64())
        .collect()
}

/// `GET /status` as JSON (`Null` if the consumer does not answer).
pub async fn status(consumer: &Service) -> Value {
    match http::get(consumer.port, "/status").await {
        Ok(reply) if reply.status == 200 => reply.json(),
        _ => Value::Null,
    }
}

/// The partitions a consumer owns, from `/status`, once it is stable.
pub async fn owned(consumer: &Service) -> Option<BTreeSet<i64>> {
    let status = status(consumer).await;
    (status["state"] == "stable").then(|| {
        status["partitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["partition"].as_i64())
            .collect()
    })
}

/// Waits until the consumers are stable in one generation and own exactly `expected` partitions each.
pub async fn wait_for_assignment(consumers: &[&Service], expected: &[usize], timeout: Duration) -> Vec<BTreeSet<i64>> {
    super::eventually(timeout, "the group to settle", || async {
        let mut owned_sets = Vec::new();
        let mut generations = BTreeSet::new();
        for consumer in consumers {
            owned_sets.push(owned(consumer).await?);
            generations.insert(status(consumer).await["generation"].as_i64()?);
        }
        let sizes: Vec<usize> = owned_sets.iter().map(|s| s.len()).collect();
        (sizes == expected && generations.len() == 1).then_some(owned_sets)
    })
    .await
}

/// Waits until every consumer is stable owning `sizes[i]` partitions, no partition twice; returns them. (Unlike
/// [`wait_for_assignment`], it does not ask for one generation: consumer-protocol members have epochs of
/// their own.)
pub async fn wait_for_owned(consumers: &[&Service], sizes: &[usize], timeout: Duration) -> Vec<BTreeSet<i64>> {
    super::eventually(timeout, &format!("the group to settle at {sizes:?}"), || async {
        let mut all = Vec::new();
        for consumer in consumers {
            all.push(owned(consumer).await?);
        }
        let counts: Vec<usize> = all.iter().map(BTreeSet::len).collect();
        let distinct: BTreeSet<i64> = all.iter().flatten().copied().collect();
        let total: usize = counts.iter().sum();
        (counts == sizes && distinct.len() == total).then_some(all)
    })
    .await
}

/// Waits until `consumer` holds events with all of `wanted` ids (30 s at most).
pub async fn wait_for_ids(consumer: &Service, wanted: &BTreeSet<i64>, what: &str) {
    super::eventually(Duration::from_secs(30), what, || async {
        let got: BTreeSet<i64> = ids(consumer).await.into_iter().collect();
        wanted.is_subset(&got).then_some(())
    })
    .await
}

/// Posts events `{"id": n}` for each n in `ids` through the producer, as a careful client does: a 503 ("not
/// sent, nothing was written", e.g. for a moment after the brokers came back) is sent again, for up to 30 s;
/// panics on any other non-200.
pub async fn post_ids(producer: &Service, ids: impl IntoIterator<Item = i64>) {
    for id in ids {
        let body = format!(r#"{{"id": {id}}}"#);
        let reply = super::eventually(Duration::from_secs(30), "a POST other than 503", || async {
            let reply = http::post_json(producer.port, "/", &body).await.expect("POST /");
            (reply.status != 503).then_some(reply)
        })
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

/// A producer posting `{"id": n}` for n = 1, 2, ... every 10 ms until stopped; it keeps the ids the producer
/// acknowledged (200). A POST that failed while the broker stalled is not counted: it was not acknowledged.
pub struct PacedProducer {
    acked: Arc<Mutex<Vec<i64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PacedProducer {
    pub fn start(producer: &Service) -> Self {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (port, record) = (producer.port, Arc::clone(&acked));
        let task = tokio::spawn(async move {
            for id in 1.. {
                let body = format!(r#"{{"id": {id}}}"#);
                if let Ok(reply) = http::post_json(port, "/", &body).await {
                    if reply.status == 200 {
                        record.lock().unwrap().push(id);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Self { acked, task }
    }

    /// Stops posting; returns the acknowledged ids.
    pub fn stop(self) -> BTreeSet<i64> {
        self.task.abort();
        self.acked.lock().unwrap().iter().copied().collect()
    }
}

/// A reader that follows a consumer's `/events` as the lab page does: passes back `next` and `run`, keeps
/// every event it was handed, and the gaps it was told about.
pub struct Reader {
    pub port: u16,
    pub after: u64,
    pub run: Option<String>,
    pub events: Vec<Value>,
    pub gaps: Vec<Value>,
}

impl Reader {
    pub fn new(port: u16) -> Self {
        Self {
            port,
            after: 0,
            run: None,
            events: Vec::new(),
            gaps: Vec::new(),
        }
    }

    /// One read (one page); `Err` when the consumer does not answer.
    pub async fn read(&mut self) -> Result<usize, String> {
        let run = self.run.as_deref().map_or(String::new(), |r| format!("&run={r}"));
        let path = format!("/events?after={}{run}&limit=1000", self.after);
        let reply = http::get(self.port, &path).await.map_err(|e| e.to_string())?;
        if reply.status != 200 {
            return Err(format!("{}: {}", reply.status, reply.body));
        }
        let page = reply.json();
        if !page["gap"].is_null() {
            self.gaps.push(page["gap"].clone());
        }
        self.after = page["next"].as_u64().expect("next");
        self.run = page["run"].as_str().map(str::to_string);
        let events = page["events"].as_array().cloned().unwrap_or_default();
        let count = events.len();
        self.events.extend(events);
        Ok(count)
    }

    /// Reads every `pause` until `done` holds (panics with `what` after `timeout`).
    pub async fn read_until(&mut self, timeout: Duration, pause: Duration, what: &str, done: impl Fn(&Self) -> bool) {
        let start = std::time::Instant::now();
        loop {
            let _ = self.read().await;
            if done(self) {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}"
            );
            tokio::time::sleep(pause).await;
        }
    }

    /// The `id` of every event read so far, in order.
    pub fn ids(&self) -> Vec<i64> {
        self.events.iter().filter_map(|e| e["event"]["id"].as_i64()).collect()
    }
}
