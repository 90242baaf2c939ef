//! The consumer's memory of recent events: one bounded ring buffer, read through cursors.
//!
//! The fetch loops push every consumed event here; the HTTP side reads them back in two ways:
//!
//! - `GET /` is the workshop's *draining* read: it answers the events that arrived since the previous
//!   `GET /` and then forgets them, as far as `GET /` is concerned.
//! - `GET /events?after=N` is a *cursor* read: each reader remembers the last sequence number it saw and
//!   asks for what came after it. Nothing is consumed, so two browser tabs never steal each other's events.
//!
//! Both work on the same buffer. Every event gets a sequence number (1, 2, 3, ...) when it is pushed, and a
//! cursor is just "the last sequence number I have seen". The drain cursor of `GET /` lives in the store;
//! `/events` cursors live in the clients. Because the numbers have no gaps, the buffer can find where a
//! cursor points with a subtraction instead of a search.
//!
//! The buffer holds at most `capacity` events (`MAX_RETAINED_EVENTS`). When it is full the oldest event is
//! evicted, so memory stays bounded however long nobody polls. A reader whose cursor points before the
//! oldest retained event is told how many events it missed (`dropped`) instead of silently skipping them.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde_json::Value;

/// One consumed event as the API serves it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    /// Position in this consumer's stream of events, starting at 1 (not a Kafka offset).
    pub seq: u64,
    pub partition: i32,
    /// The event's offset in its Kafka partition.
    pub offset: i64,
    /// The event itself: a JSON object stamped with `consumed`.
    pub event: Value,
}

/// One answer to a cursor read: `GET /events?after=N`.
#[derive(Debug, Clone, Serialize)]
pub struct EventsPage {
    /// Events with a sequence number greater than the cursor, oldest first.
    pub events: Vec<StoredEvent>,
    /// The cursor to pass as `after=` next time.
    pub next: u64,
    /// Events after the cursor that were evicted before this reader saw them.
    pub dropped: u64,
}

/// A bounded buffer of consumed events, shared by the fetch loops (writers) and the HTTP API (readers).
pub struct Store {
    inner: Mutex<Inner>,
}

/// What the mutex protects. Invariant: `events` holds the sequence numbers `oldest()..next_seq` without gaps.
struct Inner {
    capacity: usize,
    events: VecDeque<StoredEvent>,
    /// The sequence number the next pushed event gets.
    next_seq: u64,
    /// The last sequence number `GET /` has handed out.
    drained: u64,
}

impl Store {
    /// A store that keeps at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        let inner = Inner {
            capacity: capacity.max(1),
            // Not `with_capacity`: the buffer grows only as far as events actually arrive.
            events: VecDeque::new(),
            next_seq: 1,
            drained: 0,
        };
        Self {
            inner: Mutex::new(inner),
        }
    }

    /// Called by the fetch loops for each consumed message; `event` is already a JSON object stamped with
    /// `consumed`. Evicts the oldest event when the buffer is full.
    pub fn push(&self, partition: i32, offset: i64, event: Value) {
        let mut inner = self.lock();
        if inner.events.len() == inner.capacity {
            inner.events.pop_front();
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.events.push_back(StoredEvent {
            seq,
            partition,
            offset,
            event,
        });
    }

    /// `GET /`: the events pushed since the previous drain, oldest first; the drain cursor moves past them.
    /// Events evicted before anyone drained them are gone: they are not returned.
    pub fn drain(&self) -> Vec<Value> {
        let mut inner = self.lock();
        let events = inner
            .events_after(inner.drained)
            .map(|stored| stored.event.clone())
            .collect();
        inner.drained = inner.last_seq();
        events
    }

    /// What the next [`drain`](Self::drain) would answer, without draining (`HEAD /`).
    pub fn peek(&self) -> Vec<Value> {
        let inner = self.lock();
        inner
            .events_after(inner.drained)
            .map(|stored| stored.event.clone())
            .collect()
    }

    /// `GET /events?after=N`: up to `limit` events with `seq > after`, oldest first, without consuming them.
    ///
    /// A cursor beyond the newest event can only come from an earlier run of the consumer (sequence numbers
    /// start again at 1 on every start), so it is read as `after=0`: the reader starts over, and sees `next`
    /// go down.
    pub fn after(&self, after: u64, limit: usize) -> EventsPage {
        let inner = self.lock();
        let after = if after > inner.last_seq() { 0 } else { after };
        let evicted_through = inner.oldest() - 1;
        let dropped = evicted_through.saturating_sub(after);
        let cursor = after.max(evicted_through);
        let events: Vec<StoredEvent> = inner.events_after(cursor).take(limit).cloned().collect();
        let next = events.last().map_or(cursor, |last| last.seq);
        EventsPage { events, next, dropped }
    }

    /// How many events the buffer holds now.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// Whether the buffer holds no events.
    pub fn is_empty(&self) -> bool {
        self.lock().events.is_empty()
    }

    /// How many events have been evicted to keep the buffer within its capacity.
    pub fn evicted(&self) -> u64 {
        self.lock().oldest() - 1
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

    /// The sequence number of the newest event ever pushed; 0 before the first push.
    fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The retained events with `seq > cursor`, oldest first. No gaps means the first one is found by
    /// subtraction: the event with sequence number `s` sits at index `s - oldest()`.
    fn events_after(&self, cursor: u64) -> impl Iterator<Item = &StoredEvent> {
        let skip = (cursor + 1).saturating_sub(self.oldest());
        let skip = usize::try_from(skip).unwrap_or(usize::MAX).min(self.events.len());
        self.events.range(skip..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store_with(capacity: usize, count: u64) -> Store {
        let store = Store::new(capacity);
        for id in 1..=count {
            store.push(0, id as i64 - 1, json!({ "id": id }));
        }
        store
    }

    fn ids(events: &[Value]) -> Vec<u64> {
        events.iter().map(|e| e["id"].as_u64().unwrap()).collect()
    }

    fn seqs(page: &EventsPage) -> Vec<u64> {
        page.events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn drain_returns_new_events_once() {
        let store = store_with(10, 3);
        assert_eq!(ids(&store.drain()), [1, 2, 3]);
        assert!(store.drain().is_empty());
        store.push(1, 7, json!({ "id": 4 }));
        store.push(0, 3, json!({ "id": 5 }));
        assert_eq!(ids(&store.drain()), [4, 5]);
        assert!(store.drain().is_empty());
    }

    #[test]
    fn drain_of_an_empty_store_is_empty() {
        assert!(Store::new(5).drain().is_empty());
    }

    #[test]
    fn drain_keeps_events_for_cursor_readers() {
        let store = store_with(10, 3);
        store.drain();
        assert_eq!(store.len(), 3);
        assert_eq!(seqs(&store.after(0, 100)), [1, 2, 3]);
    }

    #[test]
    fn after_pages_through_events_without_consuming_them() {
        let store = store_with(10, 5);
        let first = store.after(0, 2);
        assert_eq!(seqs(&first), [1, 2]);
        assert_eq!(first.next, 2);
        assert_eq!(first.dropped, 0);
        let second = store.after(first.next, 2);
        assert_eq!(seqs(&second), [3, 4]);
        let third = store.after(second.next, 2);
        assert_eq!(seqs(&third), [5]);
        assert_eq!(third.next, 5);
        let empty = store.after(third.next, 2);
        assert!(empty.events.is_empty());
        assert_eq!(empty.next, 5, "an empty page keeps the cursor");
        // Another reader starting over sees everything again: nothing was consumed.
        assert_eq!(seqs(&store.after(0, 100)), [1, 2, 3, 4, 5]);
        assert_eq!(ids(&store.drain()), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn stored_events_carry_partition_and_offset() {
        let store = Store::new(4);
        store.push(1, 42, json!({ "id": 1 }));
        let page = store.after(0, 10);
        assert_eq!(page.events[0].partition, 1);
        assert_eq!(page.events[0].offset, 42);
        assert_eq!(page.events[0].event, json!({ "id": 1 }));
    }

    #[test]
    fn limit_zero_keeps_the_cursor() {
        let store = store_with(10, 3);
        let page = store.after(1, 0);
        assert!(page.events.is_empty());
        assert_eq!(page.next, 1);
    }

    #[test]
    fn eviction_is_reported_as_dropped() {
        let store = store_with(3, 5); // seqs 1 and 2 are evicted; 3, 4, 5 remain
        assert_eq!(store.evicted(), 2);
        let page = store.after(0, 10);
        assert_eq!(seqs(&page), [3, 4, 5]);
        assert_eq!(page.dropped, 2);
        let page = store.after(1, 10);
        assert_eq!(page.dropped, 1);
        let page = store.after(2, 10);
        assert_eq!(page.dropped, 0);
        assert_eq!(seqs(&page), [3, 4, 5]);
    }

    #[test]
    fn limit_zero_after_eviction_moves_past_the_dropped_events() {
        let store = store_with(3, 5);
        let page = store.after(0, 0);
        assert_eq!((page.dropped, page.next), (2, 2));
        assert_eq!(store.after(page.next, 0).dropped, 0);
    }

    #[test]
    fn drain_after_eviction_skips_evicted_events() {
        let store = store_with(3, 2);
        assert_eq!(ids(&store.drain()), [1, 2]);
        for id in 3..=7 {
            store.push(0, 0, json!({ "id": id }));
        }
        assert_eq!(ids(&store.drain()), [5, 6, 7]);
        assert!(store.drain().is_empty());
    }

    #[test]
    fn a_cursor_from_a_previous_run_starts_over() {
        let store = store_with(10, 3);
        let page = store.after(1000, 10);
        assert_eq!(seqs(&page), [1, 2, 3]);
        assert_eq!(page.next, 3);
    }

    #[test]
    fn length_stays_bounded() {
        let store = Store::new(10_000);
        for offset in 0..1_000_000 {
            store.push(0, offset, Value::Null);
        }
        assert_eq!(store.len(), 10_000);
        assert_eq!(store.evicted(), 990_000);
        let page = store.after(0, 1);
        assert_eq!(page.events[0].seq, 990_001);
        assert_eq!(page.events[0].offset, 990_000);
    }

    #[test]
    fn zero_capacity_still_keeps_one_event() {
        let store = store_with(0, 2);
        assert_eq!(store.len(), 1);
        assert!(!store.is_empty());
        assert_eq!(ids(&store.drain()), [2]);
    }
}
