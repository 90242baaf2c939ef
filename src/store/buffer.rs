//! The buffer behind [`Store`](super::Store)'s mutex: events numbered without gaps, the unread counts, and
//! the droppable prefix (events a reader had, oldest first), which is all eviction may take.

use std::collections::VecDeque;

use super::{Limits, StoredEvent, ANSWER_MAX_BYTES};

/// What the mutex protects. Invariant: `events` holds the sequence numbers `oldest()..next_seq` without gaps.
pub(super) struct Inner {
    pub(super) events: VecDeque<Slot>,
    /// The sequence number the next pushed event gets.
    pub(super) next_seq: u64,
    /// The last sequence number `GET /` has handed out.
    pub(super) drained: u64,
    /// The bytes of every event held.
    pub(super) bytes: usize,
    /// How many events held no reader has had yet, and their bytes.
    pub(super) unread: usize,
    pub(super) unread_bytes: usize,
    /// Every event numbered below this is no longer unread (handed or withdrawn): the droppable prefix.
    /// It only moves forward, since an event never becomes unread again.
    pub(super) read_through: u64,
    /// The bytes of the held events numbered below `read_through`.
    pub(super) read_prefix_bytes: usize,
    /// Whether fetching was paused at the last check (to log the changes only).
    pub(super) paused: bool,
}

/// An event, its size, and whether a reader had it.
pub(super) struct Slot {
    pub(super) stored: StoredEvent,
    pub(super) bytes: usize,
    pub(super) state: SlotState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlotState {
    /// No reader has had it: it is not committed and must not be dropped.
    Unread,
    /// A reader had it: it may be committed and dropped.
    Handed,
    /// Its partition was given back before a reader had it: the next owner delivers it; hidden and droppable.
    Withdrawn,
}

impl Inner {
    /// The sequence number of the oldest retained event (or of the next one, when the buffer is empty).
    pub(super) fn oldest(&self) -> u64 {
        self.next_seq - self.events.len() as u64
    }

    /// The sequence number of the newest event pushed (the run's first minus one before any).
    pub(super) fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Makes room for one more event: drops the oldest events while the buffer is at its limits, as long as
    /// they are events a reader already had (or withdrawn ones). An unread event stops it.
    pub(super) fn evict(&mut self, limits: Limits) {
        self.advance();
        while !self.within(limits) && self.oldest() < self.read_through {
            if let Some(slot) = self.events.pop_front() {
                self.bytes -= slot.bytes;
                self.read_prefix_bytes -= slot.bytes;
            }
        }
    }

    /// Moves `read_through` past the events no longer unread (amortized: each event is passed once).
    pub(super) fn advance(&mut self) {
        let oldest = self.oldest();
        while let Some(slot) = self.events.get((self.read_through - oldest) as usize) {
            if slot.state == SlotState::Unread {
                return;
            }
            self.read_prefix_bytes += slot.bytes;
            self.read_through += 1;
        }
    }

    /// Whether one more event fits as things are.
    pub(super) fn within(&self, limits: Limits) -> bool {
        self.events.len() < limits.events.max(1) && self.bytes < limits.bytes
    }

    /// Whether one more event fits once the oldest events a reader had are dropped ([`evict`](Self::evict)
    /// drops them only when it must, so that readers keep as many as the limits allow).
    pub(super) fn has_room(&mut self, limits: Limits) -> bool {
        self.advance();
        let droppable = (self.read_through - self.oldest()) as usize;
        self.events.len() - droppable < limits.events.max(1) && self.bytes - self.read_prefix_bytes < limits.bytes
    }

    /// Logs when fetching pauses for readers, and when it goes on.
    pub(super) fn note_pause(&mut self, limits: Limits) {
        let paused = !self.has_room(limits);
        if paused != self.paused {
            self.paused = paused;
            if paused {
                tracing::warn!(
                    unread = self.unread,
                    "the store is full of events no reader has had: fetching pauses until readers take some"
                );
            } else {
                tracing::info!("readers made room: fetching goes on");
            }
        }
    }

    /// Changes the state of the event numbered `seq`, keeping the unread counts.
    pub(super) fn set_state(&mut self, seq: u64, state: SlotState) {
        let Some(index) = seq.checked_sub(self.oldest()).and_then(|i| usize::try_from(i).ok()) else {
            return;
        };
        let Some(slot) = self.events.get_mut(index) else {
            return;
        };
        if slot.state == SlotState::Unread && state != SlotState::Unread {
            let bytes = slot.bytes;
            slot.state = state;
            self.unread -= 1;
            self.unread_bytes -= bytes;
        }
    }

    /// Up to `limit` events after `cursor` and at most [`ANSWER_MAX_BYTES`] of them (at least one): the
    /// events, the cursor past them, and whether more wait.
    pub(super) fn page(&self, cursor: u64, limit: usize) -> (Vec<StoredEvent>, u64, bool) {
        let (mut events, mut bytes, mut next) = (Vec::new(), 0, cursor);
        let mut rest = self
            .slots_after(cursor)
            .filter(|slot| slot.state != SlotState::Withdrawn)
            .peekable();
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
    pub(super) fn slots_after(&self, cursor: u64) -> impl Iterator<Item = &Slot> {
        let skip = (cursor + 1).saturating_sub(self.oldest());
        let skip = usize::try_from(skip).unwrap_or(usize::MAX).min(self.events.len());
        self.events.range(skip..)
    }
}
