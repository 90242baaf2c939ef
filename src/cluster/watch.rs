//! Watching the cluster for the page: `GET /cluster` answers from a view at most [`MAX_AGE`] old, and a
//! background poller takes a view every [`POLL_EVERY`] for the rebalance history.
//!
//! Ten open pages must not mean ten times the broker's load, so requests share views: a request takes the
//! latest view when it is fresh, else refreshes it, unless a refresh is already under way, in which case it
//! takes the latest view as it is (its age is in the answer). The poller runs only while someone asked
//! `/cluster` in the last [`WATCH_FOR`], so an unwatched producer sends Kafka nothing; it polls more often
//! than pages do, because the history's pauses are measured between views.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::admin::Admin;
use super::consumers::ConsumerUrl;
use super::history::{History, Rebalance};
use super::snapshot::{self, now_ms, Question};
use super::view::ClusterView;
use crate::security::Security;

/// A view younger than this is served as it is.
pub const MAX_AGE: Duration = Duration::from_secs(1);
/// How often the poller takes a view while someone watches.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// How long after the last `/cluster` request the poller keeps going.
pub const WATCH_FOR: Duration = Duration::from_secs(15);
/// An upper bound on one view, however many brokers are slow.
const VIEW_TIMEOUT: Duration = Duration::from_secs(5);
/// The most topics watched at once (each `?topic=` asked is one); the least recently asked goes first.
const MAX_TOPICS: usize = 4;

/// What `GET /cluster` answers: the view, its age, and the topic's rebalance history.
pub struct Answer {
    pub view: Arc<ClusterView>,
    /// How old the view is, in milliseconds.
    pub age_ms: u64,
    /// Whether the producer is polling (history being recorded).
    pub watching: bool,
    /// The producer's `KAFKA_BOOTSTRAP_SERVERS`, for the commands the page's guide shows.
    pub bootstrap_servers: String,
    pub history: Vec<Rebalance>,
}

/// [`Answer`] as JSON: the view's fields, then `age_ms`, `watching` and `history`.
#[derive(Serialize)]
struct AnswerJson<'a> {
    #[serde(flatten)]
    view: &'a ClusterView,
    age_ms: u64,
    watching: bool,
    bootstrap_servers: &'a str,
    history: &'a [Rebalance],
}

impl Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        AnswerJson {
            view: &self.view,
            age_ms: self.age_ms,
            watching: self.watching,
            bootstrap_servers: &self.bootstrap_servers,
            history: &self.history,
        }
        .serialize(serializer)
    }
}

/// One watched topic: its latest view, when it was taken, when it was last asked for, the kafka-lab
/// consumers the page showing it named, and its history.
struct Topic {
    view: Option<(Arc<ClusterView>, Instant)>,
    asked: Instant,
    kafka_lab: Vec<ConsumerUrl>,
    history: History,
}

/// The producer's view of the cluster, shared by every request and the poller.
pub struct ClusterWatch {
    bootstrap_servers: String,
    /// One view at a time: a refresh holds the admin connections from its first request to its last
    /// (a tokio lock, held across awaits), which also makes concurrent requests share one refresh.
    admin: tokio::sync::Mutex<Admin>,
    /// Views and histories: short critical sections, never held across an await (a std lock).
    topics: Mutex<BTreeMap<String, Topic>>,
    polling: AtomicBool,
}

impl ClusterWatch {
    pub fn new(bootstrap_servers: Vec<String>, security: Arc<Security>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.join(","),
            admin: tokio::sync::Mutex::new(Admin::new(bootstrap_servers, security)),
            topics: Mutex::new(BTreeMap::new()),
            polling: AtomicBool::new(false),
        }
    }

    /// The answer for `topic`: a fresh view when one can be had without waiting on another refresh.
    /// `kafka_lab`: the consumers the page shows, to ask for their `/status` (kept for the poller).
    pub async fn answer(self: &Arc<Self>, topic: &str, kafka_lab: Option<Vec<ConsumerUrl>>) -> Answer {
        self.asked(topic, kafka_lab);
        self.start_polling();
        let view = match self.fresh(topic, MAX_AGE) {
            Some(view) => view,
            None => self.refresh(topic, MAX_AGE, false).await,
        };
        self.answer_with(topic, view)
    }

    fn answer_with(&self, topic: &str, view: Arc<ClusterView>) -> Answer {
        let topics = self.topics.lock().expect("cluster views lock");
        let history = topics
            .get(topic)
            .map(|t| t.history.entries().cloned().collect())
            .unwrap_or_default();
        Answer {
            age_ms: now_ms().saturating_sub(view.observed_at_ms),
            watching: self.polling.load(Ordering::Relaxed),
            bootstrap_servers: self.bootstrap_servers.clone(),
            view,
            history,
        }
    }

    /// Notes that `topic` was asked for, forgetting the least recently asked topic beyond [`MAX_TOPICS`].
    fn asked(&self, topic: &str, kafka_lab: Option<Vec<ConsumerUrl>>) {
        let mut topics = self.topics.lock().expect("cluster views lock");
        let now = Instant::now();
        let entry = topics.entry(topic.to_string()).or_insert_with(|| Topic {
            view: None,
            asked: now,
            kafka_lab: Vec::new(),
            history: History::default(),
        });
        entry.asked = now;
        if let Some(kafka_lab) = kafka_lab {
            entry.kafka_lab = kafka_lab;
        }
        while topics.len() > MAX_TOPICS {
            let oldest = topics.iter().min_by_key(|(_, t)| t.asked).map(|(name, _)| name.clone());
            topics.remove(&oldest.expect("more than MAX_TOPICS topics"));
        }
    }

    /// The latest view of `topic` if younger than `max_age`.
    fn fresh(&self, topic: &str, max_age: Duration) -> Option<Arc<ClusterView>> {
        self.latest(topic)
            .filter(|(_, at)| at.elapsed() < max_age)
            .map(|(view, _)| view)
    }

    fn latest(&self, topic: &str) -> Option<(Arc<ClusterView>, Instant)> {
        let topics = self.topics.lock().expect("cluster views lock");
        topics.get(topic).and_then(|t| t.view.clone())
    }

    /// Takes a new view unless another refresh is running (then the latest view is good enough, if there
    /// is one) or one fresher than `max_age` arrived meanwhile. `wait`: the poller queues behind a refresh.
    async fn refresh(&self, topic: &str, max_age: Duration, wait: bool) -> Arc<ClusterView> {
        let mut admin = match self.admin.try_lock() {
            Ok(admin) => admin,
            Err(_) => match self.latest(topic) {
                Some((view, _)) if !wait => return view,
                _ => self.admin.lock().await,
            },
        };
        if let Some(view) = self.fresh(topic, max_age) {
            return view;
        }
        let (keep, kafka_lab) = self.question(topic);
        let question = Question {
            topic,
            keep: &keep,
            kafka_lab: &kafka_lab,
        };
        let observe = snapshot::observe(&mut admin, question);
        let view = match tokio::time::timeout(VIEW_TIMEOUT, observe).await {
            Ok(view) => view,
            Err(_) => {
                admin.reset();
                let error = format!("the brokers did not answer within {VIEW_TIMEOUT:?}");
                snapshot::unreachable(&admin, topic, error)
            }
        };
        drop(admin);
        self.store(topic, view)
    }

    /// The groups the history follows and the consumers to ask, for the next view of `topic`.
    fn question(&self, topic: &str) -> (BTreeSet<String>, Vec<ConsumerUrl>) {
        let topics = self.topics.lock().expect("cluster views lock");
        topics
            .get(topic)
            .map(|t| (t.history.groups(), t.kafka_lab.clone()))
            .unwrap_or_default()
    }

    /// Keeps a new view and lets the history compare it with the previous ones.
    fn store(&self, topic: &str, view: ClusterView) -> Arc<ClusterView> {
        let view = Arc::new(view);
        let mut topics = self.topics.lock().expect("cluster views lock");
        if let Some(entry) = topics.get_mut(topic) {
            entry.history.observe(&view);
            entry.view = Some((Arc::clone(&view), Instant::now()));
        }
        view
    }

    /// Starts the poller unless it runs.
    fn start_polling(self: &Arc<Self>) {
        if self.polling.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::info!("cluster view: polling every {POLL_EVERY:?} while the page watches");
        // A task of its own, so the history goes on between page requests; it ends when nobody watches.
        tokio::spawn(Arc::clone(self).poll());
    }

    async fn poll(self: Arc<Self>) {
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            let watched = self.watched();
            if watched.is_empty() {
                self.polling.store(false, Ordering::Release);
                // A request may have come in between: it saw the poller running and did not start one.
                if self.watched().is_empty() || self.polling.swap(true, Ordering::AcqRel) {
                    tracing::info!("cluster view: nobody watches, polling stops");
                    return;
                }
                continue;
            }
            for topic in watched {
                self.refresh(&topic, POLL_EVERY / 2, true).await;
            }
        }
    }

    /// The topics asked for within [`WATCH_FOR`].
    fn watched(&self) -> Vec<String> {
        let topics = self.topics.lock().expect("cluster views lock");
        topics
            .iter()
            .filter(|(_, t)| t.asked.elapsed() < WATCH_FOR)
            .map(|(name, _)| name.clone())
            .collect()
    }
}
