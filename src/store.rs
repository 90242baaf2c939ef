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
//! **Committed = processed.** An event counts as processed once it was *handed to a reader*: drained by
//! `GET /` or returned by `GET /events` (not by `HEAD`, which only looks). The store knows, per partition,
//! the oldest event no reader has had yet ([`Store::first_unread`]), and that is what the group member
//! commits: the offset of that event, the next one to process. A consumer that dies, stops or gives its
//! partitions back in a rebalance has committed exactly what its readers got; the next owner delivers the
//! rest again. Committing what was merely *fetched* would lose the events sitting here unread when the
//! process goes (the lesson of the workshop's "committed offsets": commit what you processed, not what you
//! received). At a rebalance the store gives up the unread events of the revoked partitions
//! ([`Store::release`]), since their next owner delivers them.
//!
//! **Bounded by count and by bytes, with backpressure.** The buffer holds at most `MAX_RETAINED_EVENTS`
//! events and about `MAX_RETAINED_BYTES` bytes of them (an event weighs about its message's size). Events a
//! reader already had make room for new ones; events no reader has had are never dropped: when they alone
//! fill the buffer, the fetch loops **pause** ([`Store::wait_for_room`]) until readers take some, as a Java
//! consumer's application stops polling when it cannot keep up. (A fetch may bring one more batch than fits:
//! the limits are exceeded by at most one fetch.) One answer carries at most [`ANSWER_MAX_BYTES`] (and at
//! least one event); the rest comes with the next read. So memory stays bounded whatever the events weigh.
//!
//! **Cursors that cannot lie.** Every run of the consumer (a process start) has an id, and its sequence
//! numbers start at a number of its own, taken from the clock ([`Run`]): a cursor from another run can never
//! pass for one of this run. A reader whose cursor comes from another run, or points before the oldest
//! event still held, is told so in the answer (`gap`), with how many events it missed when that is known,
//! instead of silently skipping them.
//!
//! `/events` also shows each message's **key** and **headers**, when it has any ([`RecordMeta`]): the key is
//! what chose the partition (the same key always lands on the same partition), and other clients (Java,
//! librdkafka) often add headers. `GET /` keeps the workshop's shape: the events alone.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::Notify;

use crate::event::{self, EventJson};
use buffer::{Inner, Slot, SlotState};
pub use record::RecordMeta;
pub use run::Run;

/// The most bytes of events one answer to `GET /` or `GET /events` carries (at least one event, whatever
/// its size): a reader far behind gets the rest with its next reads instead of one huge answer.
pub const ANSWER_MAX_BYTES: usize = 4 * 1024 * 1024;

/// How much the buffer keeps: `MAX_RETAINED_EVENTS` and `MAX_RETAINED_BYTES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub events: usize,
    pub bytes: usize,
}

/// One consumed event as the API serves it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    /// Position in this run's stream of events (not a Kafka offset).
    pub seq: u64,
    pub partition: i32,
    /// The event's offset in its Kafka partition.
    pub offset: i64,
    /// The message's key and headers, shown only when it has them.
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// The event itself: a JSON object stamped with `consumed`, as text.
    pub event: EventJson,
}

/// A consumed message on its way into the store: its offset, key and headers, the event, and its weight.
pub struct NewEvent {
    pub offset: i64,
    pub meta: RecordMeta,
    pub event: EventJson,
    /// About the message's size: what it counts for against `MAX_RETAINED_BYTES`.
    pub bytes: usize,
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

/// Whether a read hands the events out (they count as processed and get committed) or only looks (`HEAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    HandOut,
    Look,
}

/// What the store holds, for `/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreView {
    pub held_events: usize,
    pub held_bytes: usize,
    /// Events no reader has had yet (not committed).
    pub unread_events: usize,
    pub unread_bytes: usize,
    /// Set while fetching is paused because unread events fill the store: why.
    pub paused: Option<String>,
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
    /// Wakes the paused fetch loops when readers made room (a `Notify`: the loops wait for a condition on
    /// the data behind the mutex, not for a message).
    room: Notify,
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
            unread: 0,
            unread_bytes: 0,
            read_through: run.first_seq,
            read_prefix_bytes: 0,
            paused: false,
        };
        Self {
            run,
            limits,
            inner: Mutex::new(inner),
            room: Notify::new(),
        }
    }

    /// This run's id.
    pub fn run_id(&self) -> &str {
        &self.run.id
    }

    /// Adds an event that came without key or headers (see [`push_events`](Self::push_events)).
    pub fn push(&self, partition: i32, offset: i64, event: Value, bytes: usize) {
        let event = event::to_json(&event);
        let meta = RecordMeta::default();
        self.push_events(
            partition,
            vec![NewEvent {
                offset,
                meta,
                event,
                bytes,
            }],
        );
    }

    /// Called by the fetch loops with the messages of one fetch, oldest first, each already a JSON object
    /// stamped with `consumed`. Makes room for each first by dropping the oldest events a reader already
    /// had; events no reader has had are never dropped (the fetch loops wait for room instead, see
    /// [`wait_for_room`](Self::wait_for_room)). One lock for the whole fetch.
    pub fn push_events(&self, partition: i32, events: Vec<NewEvent>) {
        let mut inner = self.lock();
        for NewEvent {
            offset,
            meta,
            event,
            bytes,
        } in events
        {
            inner.evict(self.limits);
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.bytes += bytes;
            inner.unread += 1;
            inner.unread_bytes += bytes;
            let stored = StoredEvent {
                seq,
                partition,
                offset,
                meta,
                event,
            };
            let state = SlotState::Unread;
            inner.events.push_back(Slot { stored, bytes, state });
        }
        inner.note_pause(self.limits);
    }

    /// Whether a fetch may bring more events: the events held, after dropping what readers already had,
    /// are within the limits.
    pub fn has_room(&self) -> bool {
        let limits = self.limits;
        self.lock().has_room(limits)
    }

    /// How many bytes a fetch may bring before the store is full (at least 1: a fetch always brings at least
    /// one batch, however large).
    pub fn room_bytes(&self) -> usize {
        let inner = self.lock();
        self.limits.bytes.saturating_sub(inner.bytes).max(1)
    }

    /// Waits until [`has_room`](Self::has_room): the fetch loops' backpressure.
    pub async fn wait_for_room(&self) {
        loop {
            // Registered before the check, so a reader making room in between still wakes this loop.
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_room() {
                return;
            }
            notified.await;
        }
    }

    /// `GET /`: the events pushed since the previous drain, oldest first, at most [`ANSWER_MAX_BYTES`] of
    /// them; the drain cursor moves past them, and they are handed out (see the module docs). With
    /// [`Read::Look`] (`HEAD /`) nothing moves.
    pub fn drain(&self, read: Read) -> Vec<EventJson> {
        let mut inner = self.lock();
        let cursor = inner.drained.max(inner.oldest() - 1);
        let (events, next, _) = inner.page(cursor, usize::MAX);
        if read == Read::HandOut {
            inner.drained = next;
            self.hand_out(&mut inner, &events);
        }
        events.into_iter().map(|stored| stored.event).collect()
    }

    /// `GET /events?after=N&run=R`: up to `limit` events with `seq > after`, oldest first. They are handed
    /// out (see the module docs) but stay for other readers. `after=0` means "from the start"; a cursor from
    /// another run (by `run`, or by its number) starts over from this run's first event held, and says so.
    pub fn after(&self, after: u64, run: Option<&str>, limit: usize, read: Read) -> EventsPage {
        let mut inner = self.lock();
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
        if read == Read::HandOut {
            self.hand_out(&mut inner, &events);
        }
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

    /// Marks `events` as handed to a reader, and wakes the fetch loops when that made room.
    fn hand_out(&self, inner: &mut Inner, events: &[StoredEvent]) {
        for event in events {
            inner.set_state(event.seq, SlotState::Handed);
        }
        inner.note_pause(self.limits);
        if inner.has_room(self.limits) {
            self.room.notify_waiters();
        }
    }

    /// The offset of the oldest event no reader has had, per partition: what the member may commit is
    /// everything before it.
    pub fn first_unread(&self) -> BTreeMap<i32, i64> {
        let mut inner = self.lock();
        inner.advance();
        let mut first = BTreeMap::new();
        let unread = inner
            .slots_after(inner.read_through - 1)
            .filter(|slot| slot.state == SlotState::Unread);
        for slot in unread {
            first.entry(slot.stored.partition).or_insert(slot.stored.offset);
        }
        first
    }

    /// The partitions are given back (a rebalance or shutdown, after the fetch loops stopped): withdraws every
    /// event no reader has had, since their next owner delivers them again, and returns
    /// [`first_unread`](Self::first_unread) as it was, for the final commit. One lock for both, so no reader
    /// is handed an event between the two.
    pub fn release(&self) -> BTreeMap<i32, i64> {
        let mut inner = self.lock();
        let mut first = BTreeMap::new();
        let mut withdrawn = 0;
        for slot in inner.events.iter_mut().filter(|slot| slot.state == SlotState::Unread) {
            first.entry(slot.stored.partition).or_insert(slot.stored.offset);
            slot.state = SlotState::Withdrawn;
            // The event itself is no longer needed: only its place in the sequence stays.
            slot.stored.event = RawValue::NULL.to_owned();
            withdrawn += slot.bytes;
        }
        inner.bytes -= withdrawn;
        inner.unread = 0;
        inner.unread_bytes = 0;
        for slot in inner
            .events
            .iter_mut()
            .filter(|slot| slot.state == SlotState::Withdrawn)
        {
            slot.bytes = 0;
        }
        inner.note_pause(self.limits);
        self.room.notify_waiters();
        first
    }

    /// What the store holds, for `/status`.
    pub fn view(&self) -> StoreView {
        let mut inner = self.lock();
        let paused = (!inner.has_room(self.limits)).then(|| {
            format!(
                "fetching is paused: {} events ({}) wait for a reader (GET / or GET /events); it goes on as they \
                 are read (MAX_RETAINED_EVENTS={}, MAX_RETAINED_BYTES={})",
                inner.unread,
                mib(inner.unread_bytes),
                self.limits.events,
                self.limits.bytes
            )
        });
        StoreView {
            held_events: inner.events.len(),
            held_bytes: inner.bytes,
            unread_events: inner.unread,
            unread_bytes: inner.unread_bytes,
            paused,
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

/// Bytes in MiB, for messages.
fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

mod buffer;
mod record;
mod run;
#[cfg(test)]
mod tests;
