//! What the data path has to say beside the group membership, in the log and in `/status`: a topic that is
//! gone, and partitions where the reset policy replaced a committed offset.
//!
//! **No silent re-creation.** A Metadata request that *names* a topic lets the broker create it when it does
//! not exist: rskafka's request for one partition's leader always allows it, and Tansu then creates the topic
//! with 4 partitions (Apache Kafka does too when `auto.create.topics.enable` is true, its default; our
//! clusters set it false). A consumer whose topic was deleted would re-create it the next time it looked for
//! a leader, and go on reading an empty topic as if nothing had happened. So the data path only ever asks
//! for the list of *all* topics, which never creates one: [`watch_topic`] lists them every few seconds and
//! says so when the topic is gone, and a fetch loop looks for a partition's leader only right after a list
//! showed the partition (see [`crate::consume`]).
//!
//! **Visible resets.** When the reset policy (`AUTO_OFFSET_RESET`) is applied to a partition that had a
//! committed offset (the offset vanished from the coordinator, or the log no longer holds it), events may
//! be skipped or read again. That is never silent: it is logged as a warning and listed in `/status` with
//! where reading was and where it goes on, and how many events it skips when that is known.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rskafka::client::Client;
use serde::Serialize;

use crate::event;
use crate::kafka;

/// How often the topic list is read.
pub const TOPIC_CHECK: Duration = Duration::from_secs(2);
/// How many resets `/status` lists (the newest).
const RESETS_KEPT: usize = 20;

/// A partition where the reset policy replaced the offset the group had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResetReport {
    pub partition: i32,
    /// The offset the group had (committed, or reached by this member).
    pub from: i64,
    /// Where reading goes on.
    pub to: i64,
    /// The oldest offset the log held at the reset.
    pub log_start: i64,
    /// Events in the log before `to` that the group will not read (the reset jumps over them).
    pub skipped: i64,
    /// Events after `from` the log no longer held (deleted by retention or by hand), when known.
    pub gone: Option<i64>,
    pub reason: String,
    /// Wall-clock time, `HH:MM:SS:mmm`.
    pub at: String,
}

/// A reset about to be reported: the offsets involved, and whether `from` belongs to the log as it is now
/// (not to an earlier log of a topic deleted and created again).
#[derive(Debug, Clone, Copy)]
pub struct Reset<'a> {
    pub partition: i32,
    pub from: i64,
    pub to: i64,
    pub log_start: i64,
    pub same_log: bool,
    pub reason: &'a str,
}

/// What `/status` shows of the notices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NoticesView {
    /// Why the topic cannot be read, while it does not exist.
    pub topic_missing: Option<String>,
    pub resets: Vec<ResetReport>,
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
    /// How many times the topic came back after it was gone: offsets known before belong to an older log.
    topic_epoch: u32,
    resets: VecDeque<ResetReport>,
    /// The last offset known per partition (committed, or reached by this member) and the topic epoch it
    /// belongs to. A partition that had one and then gets the reset policy is a visible reset.
    known_offsets: BTreeMap<i32, (i64, u32)>,
}

impl Notices {
    /// What a topic list said: the topic's partition count, `None` (or 0) when it is not there.
    pub fn topic_listed(&self, topic: &str, partitions: Option<usize>) {
        let mut inner = self.lock();
        match partitions {
            Some(count) if count > 0 => {
                if inner.missing.take().is_some() {
                    tracing::info!(topic, partitions = count, "the topic exists (again); consuming it");
                    inner.topic_epoch += inner.seen as u32;
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

    /// Which log of the topic is current: counts the times the topic came back after it was gone.
    pub fn topic_epoch(&self) -> u32 {
        self.lock().topic_epoch
    }

    /// Whether the log that was current at `epoch` is gone: the topic is missing now, or came back since
    /// (deleted and created again). Offsets read in a log that is gone mean nothing in the next one.
    pub fn log_gone_since(&self, epoch: u32) -> bool {
        let inner = self.lock();
        inner.missing.is_some() || inner.topic_epoch != epoch
    }

    /// Remembers the offsets the group has for these partitions (committed, or read up to).
    pub fn offsets_known(&self, offsets: impl IntoIterator<Item = (i32, i64)>) {
        let mut inner = self.lock();
        let epoch = inner.topic_epoch;
        inner
            .known_offsets
            .extend(offsets.into_iter().map(|(p, offset)| (p, (offset, epoch))));
    }

    /// The offset last known for `partition`, if any, and whether it belongs to the topic's current log.
    pub fn known_offset(&self, partition: i32) -> Option<(i64, bool)> {
        let inner = self.lock();
        let known = inner.known_offsets.get(&partition).copied();
        known.map(|(offset, epoch)| (offset, epoch == inner.topic_epoch))
    }

    /// Records a visible reset: a warning in the log and an entry in `/status`.
    pub fn reset(&self, reset: Reset<'_>) {
        let (skipped, gone) = reset_counts(reset);
        let Reset {
            partition,
            from,
            to,
            log_start,
            reason,
            ..
        } = reset;
        let gone_text = gone.map_or("an unknown number".to_string(), |n| n.to_string());
        tracing::warn!(
            partition,
            from,
            to,
            "{reason}: the reset policy moves partition {partition} from offset {from} to {to}; it skips \
             {skipped} events still in the log, and {gone_text} after {from} were no longer in it"
        );
        let mut inner = self.lock();
        if inner.resets.len() == RESETS_KEPT {
            inner.resets.pop_front();
        }
        inner.resets.push_back(ResetReport {
            partition,
            from,
            to,
            log_start,
            skipped,
            gone,
            reason: reason.to_string(),
            at: event::wall_clock(),
        });
        let epoch = inner.topic_epoch;
        inner.known_offsets.insert(partition, (to, epoch));
    }

    /// A copy for `/status`.
    pub fn view(&self, topic: &str) -> NoticesView {
        let inner = self.lock();
        NoticesView {
            topic_missing: inner.missing.map(|seen| missing_message(topic, seen)),
            resets: inner.resets.iter().cloned().collect(),
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

/// What a reset costs: the events in the log before `to` that will not be read (`skipped`), and the events
/// after `from` that the log no longer held (`gone`, when known). In the same log, reading goes on from
/// `from` or the log's start, whichever is later; a log that is not the one `from` belongs to (the topic was
/// created again: it went missing, or its end is now below `from`) counts from its start, and what the old
/// log still had is unknown.
fn reset_counts(reset: Reset<'_>) -> (i64, Option<i64>) {
    let Reset {
        from, to, log_start, ..
    } = reset;
    if !reset.same_log || from > to {
        ((to - log_start).max(0), None)
    } else if from < log_start {
        ((to - log_start).max(0), Some(log_start - from))
    } else {
        (to - from, Some(0))
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

    fn reset(from: i64, to: i64, log_start: i64, same_log: bool) -> Reset<'static> {
        Reset {
            partition: 0,
            from,
            to,
            log_start,
            same_log,
            reason: "test",
        }
    }

    #[test]
    fn resets_are_listed_newest_last_and_bounded() {
        let notices = Notices::default();
        for partition in 0..25 {
            notices.reset(Reset {
                partition,
                ..reset(10, 20, 0, true)
            });
        }
        let resets = notices.view("t").resets;
        assert_eq!(resets.len(), RESETS_KEPT);
        assert_eq!(resets.last().unwrap().partition, 24);
        assert_eq!(notices.known_offset(24), Some((20, true)));
    }

    #[test]
    fn a_reset_counts_what_it_skips_and_what_was_gone() {
        assert_eq!(
            reset_counts(reset(917, 1834, 0, true)),
            (917, Some(0)),
            "latest, over events in the log"
        );
        assert_eq!(
            reset_counts(reset(100, 250, 250, true)),
            (0, Some(150)),
            "earliest, after deletions"
        );
        assert_eq!(
            reset_counts(reset(100, 300, 250, true)),
            (50, Some(150)),
            "latest, after deletions"
        );
        assert_eq!(
            reset_counts(reset(100, 50, 0, true)),
            (50, None),
            "a log that restarted below"
        );
        assert_eq!(reset_counts(reset(3, 8, 0, false)), (8, None), "a topic created again");
        assert_eq!(reset_counts(reset(100, 100, 0, true)), (0, Some(0)));
    }

    #[test]
    fn offsets_known_before_a_topic_came_back_belong_to_its_old_log() {
        let notices = Notices::default();
        notices.topic_listed("t", Some(2));
        notices.offsets_known([(0, 3)]);
        assert_eq!(notices.known_offset(0), Some((3, true)));
        let epoch = notices.topic_epoch();
        notices.topic_listed("t", None);
        assert!(notices.log_gone_since(epoch), "missing");
        notices.topic_listed("t", Some(2));
        assert_eq!(notices.known_offset(0), Some((3, false)));
        assert!(notices.log_gone_since(epoch), "back, with a new log");
        assert!(!notices.log_gone_since(notices.topic_epoch()));
    }
}
