//! The consumer's memory of recent events: one bounded buffer, read through cursors.
//!
//! The fetch loops push every consumed event here; the HTTP side reads them back in two ways:
//!
//! - `GET /` is the workshop's *draining* read: it answers the events that arrived since the previous
//!   `GET /` and then forgets them, as far as `GET /` is concerned.
//! - `GET /events?after=N` is a *cursor* read: each reader remembers the last sequence number it saw and
//!   asks for what came after it. Nothing is consumed, so two browser tabs never steal each other's events.
//!
//! Both work on the same buffer. Every event gets a sequence number when it is pushed, and a cursor is just
//! "the last sequence number I have seen". The drain cursor of `GET /` lives in the store; `/events` cursors
//! live in the clients. Because the numbers have no gaps, the buffer finds where a cursor points with a
//! subtraction instead of a search.
//!
//! **Bounded by count and by bytes.** The buffer holds at most `MAX_RETAINED_EVENTS` events and about
//! `MAX_RETAINED_BYTES` bytes of them (an event's size is its message's size), and one answer carries at
//! most [`ANSWER_MAX_BYTES`] (and at least one event): the rest comes with the next read. So memory stays
//! bounded whatever the events weigh: a thousand 1 MB events are not a thousand megabytes.
//!
//! **Cursors that cannot lie.** Every run of the consumer (a process start) has an id, and its sequence
//! numbers start at a number of its own, taken from the clock ([`Run`]): a cursor from another run can never
//! pass for one of this run. A reader whose cursor comes from another run, or points before the oldest
//! event still held, is told so in the answer (`gap`), with how many events it missed when that is known,
//! instead of silently skipping them.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

/// The most bytes of events one answer to `GET /` or `GET /events` carries (at least one event, whatever
/// its size): a reader far behind gets the rest with its next reads instead of one huge answer.
pub const ANSWER_MAX_BYTES: usize = 4 * 1024 * 1024;

/// How much the buffer keeps: `MAX_RETAINED_EVENTS` and `MAX_RETAINED_BYTES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub events: usize,
    pub bytes: usize,
}

/// One run of the consumer: an id for the answers, and the sequence number its first event gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: String,
    pub first_seq: u64,
}

impl Run {
    /// A run starting now. Its sequence numbers start at the start time in milliseconds times 1000, so
    /// runs never share numbers unless one consumed over 1000 events per millisecond of its life; the
    /// numbers stay below 2^53, where JavaScript still counts exactly, until the year 2255.
    pub fn start() -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        Self {
            id: format!("{millis:x}-{:x}", std::process::id()),
            first_seq: millis * 1000 + 1,
        }
    }
}

/// One consumed event as the API serves it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    /// Position in this run's stream of events (not a Kafka offset).
    pub seq: u64,
    pub partition: i32,
    /// The event's offset in its Kafka partition.
    pub offset: i64,
    /// The event itself: a JSON object stamped with `consumed`.
    pub event: Value,
}

/// A cursor that could not be followed exactly: why, and what the reader missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// `other_run`: the cursor comes from another run of the consumer (the reader starts over from this
    /// run's first event held); `evicted`: events after the cursor were dropped before this reader saw them.
    pub reason: &'static str,
    /// How many events the reader may have missed, when that is known.
    pub missed: Option<u64>,
    pub message: String,
}

/// One answer to a cursor read: `GET /events?after=N`.
#[derive(Debug, Clone, Serialize)]
pub struct EventsPage {
    /// This run's id: pass it back as `run=` with the next cursor.
    pub run: String,
    /// Events with a sequence number greater than the cursor, oldest first.
    pub events: Vec<StoredEvent>,
    /// The cursor to pass as `after=` next time.
    pub next: u64,
    /// Whether more events wait after `next` (the answer was cut by `limit` or by size).
    pub more: bool,
    /// Events after the cursor dropped before this reader saw them (as in `gap.missed`).
    pub dropped: u64,
    /// Set when the cursor could not be followed exactly.
    pub gap: Option<Gap>,
}

/// A bounded buffer of consumed events, shared by the fetch loops (writers) and the HTTP API (readers).
pub struct Store {
    run: Run,
    limits: Limits,
    /// A std mutex: every operation is a short, non-blocking update, never held across an `.await`.
    inner: Mutex<Inner>,
}

/// What the mutex protects. Invariant: `events` holds the sequence numbers `oldest()..next_seq` without gaps.
struct Inner {
    events: VecDeque<Slot>,
    /// The sequence number the next pushed event gets.
    next_seq: u64,
    /// The last sequence number `GET /` has handed out.
    drained: u64,
    /// The bytes of every event held.
    bytes: usize,
}

/// An event and its size.
struct Slot {
    stored: StoredEvent,
    bytes: usize,
}

impl Store {
    /// A store for this `run` that keeps what `limits` allow (at least one event).
    pub fn new(limits: Limits, run: Run) -> Self {
        let inner = Inner {
            // Not `with_capacity`: the buffer grows only as far as events actually arrive.
            events: VecDeque::new(),
            next_seq: run.first_seq,
            drained: run.first_seq - 1,
            bytes: 0,
        };
        Self {
            run,
            limits,
            inner: Mutex::new(inner),
        }
    }

    /// This run's id.
    pub fn run_id(&self) -> &str {
        &self.run.id
    }

    /// Called by the fetch loops for each consumed message; `event` is already a JSON object stamped with
    /// `consumed`, `bytes` its size (about its message's). Evicts the oldest events beyond the limits.
    pub fn push(&self, partition: i32, offset: i64, event: Value, bytes: usize) {
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.bytes += bytes;
        let stored = StoredEvent {
            seq,
            partition,
            offset,
            event,
        };
        inner.events.push_back(Slot { stored, bytes });
        inner.evict(self.limits);
    }

    /// `GET /`: the events pushed since the previous drain, oldest first, at most [`ANSWER_MAX_BYTES`] of
    /// them; the drain cursor moves past them. Events evicted before anyone drained them are not returned.
    pub fn drain(&self) -> Vec<Value> {
        let mut inner = self.lock();
        let cursor = inner.drained.max(inner.oldest() - 1);
        let (events, next, _) = inner.page(cursor, usize::MAX);
        inner.drained = next;
        events.into_iter().map(|stored| stored.event).collect()
    }

    /// What the next [`drain`](Self::drain) would answer, without draining (`HEAD /`).
    pub fn peek(&self) -> Vec<Value> {
        let inner = self.lock();
        let cursor = inner.drained.max(inner.oldest() - 1);
        let (events, _, _) = inner.page(cursor, usize::MAX);
        events.into_iter().map(|stored| stored.event).collect()
    }

    /// `GET /events?after=N&run=R`: up to `limit` events with `seq > after`, oldest first, without consuming
    /// them. `after=0` means "from the start"; a cursor from another run (by `run`, or by its number) starts
    /// over from this run's first event held, and says so.
    pub fn after(&self, after: u64, run: Option<&str>, limit: usize) -> EventsPage {
        let inner = self.lock();
        let start = self.run.first_seq - 1;
        let mut gap = None;
        let foreign =
            run.is_some_and(|r| r != self.run.id) || (after != 0 && !(start..=inner.last_seq()).contains(&after));
        let cursor = if foreign || after == 0 { start } else { after };
        let evicted_through = inner.oldest() - 1;
        let dropped = evicted_through.saturating_sub(cursor);
        if foreign {
            gap = Some(self.other_run_gap(after, run, dropped));
        } else if dropped > 0 {
            gap = Some(Gap {
                reason: "evicted",
                missed: Some(dropped),
                message: format!("{dropped} events after your cursor were dropped before you read them"),
            });
        }
        let (events, next, more) = inner.page(cursor.max(evicted_through), limit);
        EventsPage {
            run: self.run.id.clone(),
            events,
            next,
            more,
            dropped,
            gap,
        }
    }

    fn other_run_gap(&self, after: u64, run: Option<&str>, dropped: u64) -> Gap {
        let theirs = run.map_or(format!("cursor {after}"), |r| format!("run {r}"));
        Gap {
            reason: "other_run",
            missed: None,
            message: format!(
                "your {theirs} is from another run of this consumer (this is run {}): start over from this \
                 run's first event held; events the other run handed out after your cursor are not here{}",
                self.run.id,
                if dropped > 0 {
                    format!(", and {dropped} of this run's were dropped")
                } else {
                    String::new()
                }
            ),
        }
    }

    /// How many events the buffer holds now.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// Whether the buffer holds no events.
    pub fn is_empty(&self) -> bool {
        self.lock().events.is_empty()
    }

    /// The bytes of the events held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// How many events have been evicted to keep the buffer within its limits.
    pub fn evicted(&self) -> u64 {
        self.lock().oldest() - self.run.first_seq
    }

    /// Locks the buffer. A writer that panicked while holding the lock cannot leave it half-updated (every
    /// update is a single push or pop), so a poisoned lock is simply taken over instead of failing every
    /// later request.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// The sequence number of the oldest retained event (or of the next one, when the buffer is empty).
    fn oldest(&self) -> u64 {
        self.next_seq - self.events.len() as u64
    }

    /// The sequence number of the newest event pushed (the run's first minus one before any).
    fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Drops the oldest events while the buffer holds more than `limits` allow (keeping at least one).
    fn evict(&mut self, limits: Limits) {
        while self.events.len() > 1 && (self.events.len() > limits.events || self.bytes > limits.bytes) {
            if let Some(slot) = self.events.pop_front() {
                self.bytes -= slot.bytes;
            }
        }
    }

    /// Up to `limit` events after `cursor` and at most [`ANSWER_MAX_BYTES`] of them (at least one): the
    /// events, the cursor past them, and whether more wait.
    fn page(&self, cursor: u64, limit: usize) -> (Vec<StoredEvent>, u64, bool) {
        let (mut events, mut bytes, mut next) = (Vec::new(), 0, cursor);
        let mut rest = self.slots_after(cursor).peekable();
        while let Some(slot) = rest.peek() {
            let full = events.len() == limit || (!events.is_empty() && bytes + slot.bytes > ANSWER_MAX_BYTES);
            if full {
                break;
            }
            bytes += slot.bytes;
            next = slot.stored.seq;
            events.push(slot.stored.clone());
            rest.next();
        }
        let more = rest.peek().is_some();
        (events, next, more)
    }

    /// The retained events with `seq > cursor`, oldest first. No gaps means the first one is found by
    /// subtraction: the event with sequence number `s` sits at index `s - oldest()`.
    fn slots_after(&self, cursor: u64) -> impl Iterator<Item = &Slot> {
        let skip = (cursor + 1).saturating_sub(self.oldest());
        let skip = usize::try_from(skip).unwrap_or(usize::MAX).min(self.events.len());
        self.events.range(skip..)
    }
}

#[cfg(test)]
mod tests;
