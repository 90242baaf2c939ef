//! What the data path has to say beside the group membership, in the log and in `/status`: a topic that is
//! gone.
//!
//! **No silent re-creation.** A Metadata request that *names* a topic lets the broker create it when it does
//! not exist: rskafka's request for one partition's leader always allows it, and Tansu then creates the topic
//! with 4 partitions (Apache Kafka does too when `auto.create.topics.enable` is true, its default; our
//! clusters set it false). A consumer whose topic was deleted would re-create it the next time it looked for
//! a leader, and go on reading an empty topic as if nothing had happened. So the data path only ever asks
//! for the list of *all* topics, which never creates one: [`watch_topic`] lists them every few seconds and
//! says so when the topic is gone, and a fetch loop looks for a partition's leader only right after a list
//! showed the partition (see [`crate::consume`]).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rskafka::client::Client;
use serde::Serialize;

use crate::kafka;

/// How often the topic list is read.
pub const TOPIC_CHECK: Duration = Duration::from_secs(2);

/// What `/status` shows of the notices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NoticesView {
    /// Why the topic cannot be read, while it does not exist.
    pub topic_missing: Option<String>,
}

/// The data path's notices, shared by the fetch loops, the topic watch and the HTTP side. A std mutex: every
/// use is a short update or copy, never held across an `.await`.
#[derive(Default)]
pub struct Notices {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// `Some(seen_before)` while the topic is missing; `seen_before` tells "deleted" from "never there".
    missing: Option<bool>,
    /// Whether a list ever showed the topic.
    seen: bool,
}

impl Notices {
    /// What a topic list said: the topic's partition count, `None` (or 0) when it is not there.
    pub fn topic_listed(&self, topic: &str, partitions: Option<usize>) {
        let mut inner = self.lock();
        match partitions {
            Some(count) if count > 0 => {
                if inner.missing.take().is_some() {
                    tracing::info!(topic, partitions = count, "the topic exists (again); consuming it");
                }
                inner.seen = true;
            }
            _ if inner.missing.is_none() => {
                let seen = inner.seen;
                inner.missing = Some(seen);
                tracing::warn!("{}", missing_message(topic, seen));
            }
            _ => {}
        }
    }

    /// Whether the last list lacked the topic.
    pub fn topic_missing(&self) -> bool {
        self.lock().missing.is_some()
    }

    /// A copy for `/status`.
    pub fn view(&self, topic: &str) -> NoticesView {
        let inner = self.lock();
        NoticesView {
            topic_missing: inner.missing.map(|seen| missing_message(topic, seen)),
        }
    }

    /// Every update is a single field change, so a panic elsewhere cannot leave the notices half-done.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn missing_message(topic: &str, seen_before: bool) -> String {
    if seen_before {
        format!("topic {topic} no longer exists (deleted?); it is not re-created: consuming goes on when it is created again")
    } else {
        format!("topic {topic} does not exist; the consumer does not create it: consuming starts when it is created")
    }
}

/// Lists the topics every [`TOPIC_CHECK`] and tells `notices` whether `topic` is there. Runs until dropped.
pub async fn watch_topic(client: std::sync::Arc<Client>, topic: String, notices: std::sync::Arc<Notices>) {
    let mut ticker = tokio::time::interval(TOPIC_CHECK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match kafka::partition_counts(&client).await {
            Ok(counts) => notices.topic_listed(&topic, counts.get(&topic).copied()),
            Err(e) => tracing::debug!("listing topics failed (the fetch loops report what matters): {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_that_disappears_is_reported_as_deleted_until_it_is_back() {
        let notices = Notices::default();
        notices.topic_listed("t", None);
        let view = notices.view("t");
        assert!(view.topic_missing.unwrap().contains("does not exist"));
        notices.topic_listed("t", Some(2));
        assert!(notices.view("t").topic_missing.is_none());
        notices.topic_listed("t", Some(0));
        assert!(notices.topic_missing());
        assert!(notices.view("t").topic_missing.unwrap().contains("no longer exists"));
        notices.topic_listed("t", Some(4));
        assert!(!notices.topic_missing());
    }
}
