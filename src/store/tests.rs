use super::*;
use serde_json::json;

fn run() -> Run {
    Run {
        id: "test-run".into(),
        first_seq: 1,
    }
}

fn counted(events: usize) -> Limits {
    Limits {
        events,
        bytes: usize::MAX,
    }
}

fn store_with(capacity: usize, count: u64) -> Store {
    let store = Store::new(counted(capacity), run());
    for id in 1..=count {
        store.push(0, id as i64 - 1, json!({ "id": id }), 10);
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
    store.push(1, 7, json!({ "id": 4 }), 10);
    store.push(0, 3, json!({ "id": 5 }), 10);
    assert_eq!(ids(&store.drain()), [4, 5]);
    assert!(store.drain().is_empty());
}

#[test]
fn drain_of_an_empty_store_is_empty() {
    assert!(Store::new(counted(5), run()).drain().is_empty());
}

#[test]
fn drain_keeps_events_for_cursor_readers() {
    let store = store_with(10, 3);
    store.drain();
    assert_eq!(store.len(), 3);
    assert_eq!(seqs(&store.after(0, None, 100)), [1, 2, 3]);
}

#[test]
fn after_pages_through_events_without_consuming_them() {
    let store = store_with(10, 5);
    let first = store.after(0, None, 2);
    assert_eq!(seqs(&first), [1, 2]);
    assert_eq!((first.next, first.more, first.dropped), (2, true, 0));
    assert!(first.gap.is_none());
    let second = store.after(first.next, Some("test-run"), 2);
    assert_eq!(seqs(&second), [3, 4]);
    let third = store.after(second.next, None, 2);
    assert_eq!(seqs(&third), [5]);
    assert_eq!((third.next, third.more), (5, false));
    let empty = store.after(third.next, None, 2);
    assert!(empty.events.is_empty());
    assert_eq!(empty.next, 5, "an empty page keeps the cursor");
    // Another reader starting over sees everything again: nothing was consumed.
    assert_eq!(seqs(&store.after(0, None, 100)), [1, 2, 3, 4, 5]);
    assert_eq!(ids(&store.drain()), [1, 2, 3, 4, 5]);
}

#[test]
fn stored_events_carry_partition_and_offset() {
    let store = Store::new(counted(4), run());
    store.push(1, 42, json!({ "id": 1 }), 10);
    let page = store.after(0, None, 10);
    assert_eq!(page.events[0].partition, 1);
    assert_eq!(page.events[0].offset, 42);
    assert_eq!(page.events[0].event, json!({ "id": 1 }));
    assert_eq!(page.run, "test-run");
}

#[test]
fn limit_zero_keeps_the_cursor() {
    let store = store_with(10, 3);
    let page = store.after(1, None, 0);
    assert!(page.events.is_empty());
    assert_eq!((page.next, page.more), (1, true));
}

#[test]
fn eviction_is_reported_as_a_gap() {
    let store = store_with(3, 5); // seqs 1 and 2 are evicted; 3, 4, 5 remain
    assert_eq!(store.evicted(), 2);
    let page = store.after(0, None, 10);
    assert_eq!(seqs(&page), [3, 4, 5]);
    assert_eq!(page.dropped, 2);
    let gap = page.gap.unwrap();
    assert_eq!((gap.reason, gap.missed), ("evicted", Some(2)));
    let page = store.after(1, None, 10);
    assert_eq!(page.dropped, 1);
    let page = store.after(2, None, 10);
    assert_eq!(page.dropped, 0);
    assert!(page.gap.is_none());
    assert_eq!(seqs(&page), [3, 4, 5]);
}

#[test]
fn limit_zero_after_eviction_moves_past_the_dropped_events() {
    let store = store_with(3, 5);
    let page = store.after(0, None, 0);
    assert_eq!((page.dropped, page.next), (2, 2));
    assert_eq!(store.after(page.next, None, 0).dropped, 0);
}

#[test]
fn drain_after_eviction_skips_evicted_events() {
    let store = store_with(3, 2);
    assert_eq!(ids(&store.drain()), [1, 2]);
    for id in 3..=7 {
        store.push(0, 0, json!({ "id": id }), 10);
    }
    assert_eq!(ids(&store.drain()), [5, 6, 7]);
    assert!(store.drain().is_empty());
}

#[test]
fn a_cursor_from_another_run_starts_over_and_says_so() {
    let store = Store::new(
        counted(10),
        Run {
            id: "now".into(),
            first_seq: 5001,
        },
    );
    for id in 1..=3 {
        store.push(0, id, json!({ "id": id }), 10);
    }
    // By its number: an earlier run's cursor is below this run's first, a later one's above its last.
    for cursor in [3000, 9999] {
        let page = store.after(cursor, None, 10);
        assert_eq!(seqs(&page), [5001, 5002, 5003], "cursor {cursor}");
        let gap = page.gap.unwrap();
        assert_eq!((gap.reason, gap.missed), ("other_run", None));
        assert!(gap.message.contains("another run"), "{}", gap.message);
    }
    // By its run id, even when the number would fit.
    let page = store.after(5002, Some("before"), 10);
    assert_eq!(seqs(&page), [5001, 5002, 5003]);
    assert!(page.gap.unwrap().message.contains("run before"));
    // This run's own cursor is followed.
    let page = store.after(5002, Some("now"), 10);
    assert_eq!(seqs(&page), [5003]);
    assert!(page.gap.is_none());
    assert_eq!(store.after(0, None, 10).events.len(), 3, "0 is the start of any run");
}

#[test]
fn runs_number_their_events_apart() {
    let run = Run::start();
    assert!(run.first_seq > 1_000_000_000_000_000, "{}", run.first_seq);
    assert!(run.first_seq < (1 << 53), "JavaScript counts it exactly");
}

#[test]
fn length_stays_bounded() {
    let store = Store::new(counted(10_000), run());
    for offset in 0..1_000_000 {
        store.push(0, offset, Value::Null, 1);
    }
    assert_eq!(store.len(), 10_000);
    assert_eq!(store.evicted(), 990_000);
    let page = store.after(0, None, 1);
    assert_eq!(page.events[0].seq, 990_001);
    assert_eq!(page.events[0].offset, 990_000);
}

#[test]
fn bytes_stay_bounded_too() {
    let store = Store::new(
        Limits {
            events: 1000,
            bytes: 10_000_000,
        },
        run(),
    );
    for offset in 0..300 {
        store.push(0, offset, json!({ "id": offset }), 1_000_000);
    }
    assert_eq!(store.len(), 10);
    assert_eq!(store.bytes(), 10_000_000);
    assert_eq!(store.evicted(), 290);
}

#[test]
fn an_answer_carries_at_most_answer_max_bytes_but_at_least_one_event() {
    let store = store_with(100, 0);
    let big = ANSWER_MAX_BYTES / 3;
    for offset in 0..7 {
        store.push(0, offset, json!({ "id": offset + 1 }), big);
    }
    let page = store.after(0, None, 100);
    assert_eq!((seqs(&page), page.more), (vec![1, 2, 3], true));
    assert_eq!(ids(&store.drain()), [1, 2, 3]);
    assert_eq!(ids(&store.drain()), [4, 5, 6]);
    assert_eq!(ids(&store.drain()), [7]);
    store.push(0, 7, json!({ "id": 8 }), 2 * ANSWER_MAX_BYTES);
    assert_eq!(
        ids(&store.drain()),
        [8],
        "an event larger than an answer still goes out, alone"
    );
}

#[test]
fn zero_capacity_still_keeps_one_event() {
    let store = store_with(0, 2);
    assert_eq!(store.len(), 1);
    assert!(!store.is_empty());
    assert_eq!(ids(&store.drain()), [2]);
}
