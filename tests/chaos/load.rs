//! The load of a chaos scenario, as the workshop makes it: a client posting unique ids to the producer at a
//! steady pace, and one reader per consumer following `/events` at its own rate (the lab page's once a second,
//! or a fast 20 times a second), each also watching its consumer's `/status`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::support::group::Reader;
use crate::support::http;

/// What the producer answered to the posts of one scenario.
#[derive(Debug, Default, Clone)]
pub struct Posts {
    /// Answered 200: in Kafka, at the offset the answer named. None of these may be lost.
    pub acked: BTreeSet<i64>,
    /// Answered 504: sent, but not acknowledged (may have been written).
    pub maybe: BTreeSet<i64>,
    /// Every other answer, by HTTP status (or, when no answer came, the client's error).
    pub refused: BTreeMap<String, u64>,
}

/// A client posting `{"id": n}`, n = 1, 2, ..., at `per_second`, each post in a task of its own (so a slow
/// answer does not slow the pace, as with many browsers).
pub struct PacedPosts {
    next_id: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    posts: Arc<Mutex<Posts>>,
    pacer: tokio::task::JoinHandle<JoinSet<()>>,
}

impl PacedPosts {
    pub fn start(port: u16, per_second: u32) -> Self {
        let next_id = Arc::new(AtomicI64::new(1));
        let stop = Arc::new(AtomicBool::new(false));
        let posts = Arc::new(Mutex::new(Posts::default()));
        let pace = Duration::from_secs(1) / per_second;
        let (ids, stopped, record) = (Arc::clone(&next_id), Arc::clone(&stop), Arc::clone(&posts));
        // A task: the pace is kept on its own clock while the scenario waits for faults and readers.
        let pacer = tokio::spawn(async move {
            let mut in_flight = JoinSet::new();
            let mut ticks = tokio::time::interval(pace);
            while !stopped.load(Ordering::SeqCst) {
                ticks.tick().await;
                let id = ids.fetch_add(1, Ordering::SeqCst);
                in_flight.spawn(post_one(port, id, Arc::clone(&record)));
                while in_flight.try_join_next().is_some() {}
            }
            in_flight
        });
        Self {
            next_id,
            stop,
            posts,
            pacer,
        }
    }

    /// The id the next post will carry: every id from here on was posted after this moment.
    pub fn next_id(&self) -> i64 {
        self.next_id.load(Ordering::SeqCst)
    }

    /// Stops posting, waits for every post in flight to be answered, and returns the answers.
    pub async fn stop(self) -> Posts {
        self.stop.store(true, Ordering::SeqCst);
        let mut in_flight = self.pacer.await.expect("the posting task");
        while in_flight.join_next().await.is_some() {}
        let posts = self.posts.lock().unwrap().clone();
        posts
    }
}

async fn post_one(port: u16, id: i64, posts: Arc<Mutex<Posts>>) {
    let answer = http::post_json(port, "/", &format!(r#"{{"id": {id}}}"#)).await;
    let mut posts = posts.lock().unwrap();
    match answer.map(|reply| reply.status) {
        Ok(200) => posts.acked.insert(id),
        Ok(504) => posts.maybe.insert(id),
        Ok(status) => {
            *posts.refused.entry(status.to_string()).or_default() += 1;
            true
        }
        Err(error) => {
            *posts
                .refused
                .entry(format!("no answer ({:?})", error.kind()))
                .or_default() += 1;
            true
        }
    };
}

/// One event a reader was handed: its id, partition, and when the reader got it.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub id: i64,
    pub partition: i64,
    pub at: Instant,
}

/// What one reader saw of its consumer: the events, the gaps it was told of, and `/status` as it changed.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub events: Vec<Received>,
    pub gaps: usize,
    /// Each change of what `/status` says (see [`summary`]), in order.
    pub states: Vec<String>,
}

/// A reader following one consumer until stopped.
pub struct Follower {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// How often a follower looks at `/status` between reads.
const STATUS_EVERY: Duration = Duration::from_millis(100);

impl Follower {
    /// Reads `/events` every `pause` (following `next` and `run`, as the page does) and `/status` every 100 ms.
    pub fn start(port: u16, pause: Duration) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (record, stopped) = (Arc::clone(&seen), Arc::clone(&stop));
        // A task per reader: each reads at its own rate, as separate browsers would.
        let task = tokio::spawn(async move {
            let mut reader = Reader::new(port);
            let mut last_read: Option<Instant> = None;
            while !stopped.load(Ordering::SeqCst) {
                if last_read.is_none_or(|at| at.elapsed() >= pause) {
                    last_read = Some(Instant::now());
                    read_once(&mut reader, &record).await;
                }
                watch_status(port, &record).await;
                tokio::time::sleep(STATUS_EVERY.min(pause)).await;
            }
        });
        Self { seen, stop, task }
    }

    /// What it saw so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    pub async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let seen = self.seen.lock().unwrap().clone();
        seen
    }
}

async fn read_once(reader: &mut Reader, seen: &Mutex<Seen>) {
    let before = (reader.events.len(), reader.gaps.len());
    if reader.read().await.is_err() {
        return;
    }
    let at = Instant::now();
    let mut seen = seen.lock().unwrap();
    seen.gaps += reader.gaps.len() - before.1;
    for event in reader.events.drain(before.0..) {
        if let Some(id) = event["event"]["id"].as_i64() {
            let partition = event["partition"].as_i64().unwrap_or(-1);
            seen.events.push(Received { id, partition, at });
        }
    }
}

async fn watch_status(port: u16, seen: &Mutex<Seen>) {
    let now = match http::get(port, "/status").await {
        Ok(reply) if reply.status == 200 => summary(&reply.json()),
        _ => "no answer".to_string(),
    };
    let mut seen = seen.lock().unwrap();
    if seen.states.last() != Some(&now) {
        seen.states.push(now);
    }
}

/// `/status` in a few words: the member's state, and what the data path reports (the topic missing,
/// fetching paused for readers, resets).
fn summary(status: &serde_json::Value) -> String {
    let mut words = vec![status["state"].as_str().unwrap_or("?").to_string()];
    if status["topic_missing"].is_string() {
        words.push("topic missing".into());
    }
    if status["paused"].is_string() {
        words.push("paused for readers".into());
    }
    let resets = status["resets"].as_array().map_or(0, Vec::len);
    if resets > 0 {
        words.push(format!("{resets} reset(s)"));
    }
    words.join(", ")
}
