use super::*;
use serde_json::json;
use std::collections::BTreeMap;

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

/// A store holding events 1..=count (offsets 0..), none read yet.
fn store_with(capacity: usize, count: u64) -> Store {
    let store = Store::new(counted(capacity), run());
    for id in 1..=count {
        store.push(0, id as i64 - 1, json!({ "id": id }), 10);
    }
    store
}

/// A store that got events 1..=count with a reader keeping up (each event drained as it came).
fn store_read(capacity: usize, count: u64) -> Store {
    let store = Store::new(counted(capacity), run());
    for id in 1..=count {
        store.push(0, id as i64 - 1, json!({ "id": id }), 10);
        store.drain(Read::HandOut);
    }
    store
}

fn ids(events: &[EventJson]) -> Vec<u64> {
    events.iter().map(|e| parsed(e)["id"].as_u64().unwrap()).collect()
}

fn parsed(event: &EventJson) -> Value {
    serde_json::from_str(event.get()).unwrap()
}

fn seqs(page: &EventsPage) -> Vec<u64> {
    page.events.iter().map(|e| e.seq).collect()
}

#[test]
fn drain_returns_new_events_once() {
    let store = store_with(10, 3);
    assert_eq!(ids(&store.drain(Read::HandOut)), [1, 2, 3]);
    assert!(store.drain(Read::HandOut).is_empty());
    store.push(1, 7, json!({ "id": 4 }), 10);
    store.push(0, 3, json!({ "id": 5 }), 10);
    assert_eq!(ids(&store.drain(Read::HandOut)), [4, 5]);
    assert!(store.drain(Read::HandOut).is_empty());
}

#[test]
fn drain_of_an_empty_store_is_empty() {
    assert!(Store::new(counted(5), run()).drain(Read::HandOut).is_empty());
}

#[test]
fn drain_keeps_events_for_cursor_readers() {
    let store = store_with(10, 3);
    store.drain(Read::HandOut);
    assert_eq!(store.len(), 3);
    assert_eq!(seqs(&store.after(0, None, 100, Read::HandOut)), [1, 2, 3]);
}

#[test]
fn after_pages_through_events_without_consuming_them() {
    let store = store_with(10, 5);
    let first = store.after(0, None, 2, Read::HandOut);
    assert_eq!(seqs(&first), [1, 2]);
    assert_eq!((first.next, first.more, first.dropped), (2, true, 0));
    assert!(first.gap.is_none());
    let second = store.after(first.next, Some("test-run"), 2, Read::HandOut);
    assert_eq!(seqs(&second), [3, 4]);
    let third = store.after(second.next, None, 2, Read::HandOut);
    assert_eq!(seqs(&third), [5]);
    assert_eq!((third.next, third.more), (5, false));
    let empty = store.after(third.next, None, 2, Read::HandOut);
    assert!(empty.events.is_empty());
    assert_eq!(empty.next, 5, "an empty page keeps the cursor");
    // Another reader starting over sees everything again: nothing was consumed.
    assert_eq!(seqs(&store.after(0, None, 100, Read::HandOut)), [1, 2, 3, 4, 5]);
    assert_eq!(ids(&store.drain(Read::HandOut)), [1, 2, 3, 4, 5]);
}

#[test]
fn stored_events_carry_partition_and_offset() {
    let store = Store::new(counted(4), run());
    store.push(1, 42, json!({ "id": 1 }), 10);
    let page = store.after(0, None, 10, Read::HandOut);
    assert_eq!(page.events[0].partition, 1);
    assert_eq!(page.events[0].offset, 42);
    assert_eq!(parsed(&page.events[0].event), json!({ "id": 1 }));
    assert_eq!(page.run, "test-run");
}

#[test]
fn key_and_headers_are_shown_only_when_present() {
    let store = Store::new(counted(4), run());
    store.push(0, 1, json!({ "id": 1 }), 10);
    let headers = BTreeMap::from([("source".to_string(), b"java".to_vec())]);
    let meta = RecordMeta::of(Some(b"k2"), &headers);
    let event = crate::event::to_json(&json!({ "id": 2 }));
    store.push_events(
        0,
        vec![NewEvent {
            offset: 2,
            meta,
            event,
            bytes: 10,
        }],
    );
    let page = serde_json::to_value(store.after(0, None, 10, Read::HandOut)).unwrap();
    assert_eq!(page["events"][0].get("key"), None);
    assert_eq!(page["events"][0].get("headers"), None);
    assert_eq!(page["events"][1]["key"], "k2");
    assert_eq!(page["events"][1]["headers"], json!({ "source": "java" }));
    assert_eq!(page["events"][1]["event"], json!({ "id": 2 }));
}

#[test]
fn limit_zero_keeps_the_cursor() {
    let store = store_with(10, 3);
    let page = store.after(1, None, 0, Read::HandOut);
    assert!(page.events.is_empty());
    assert_eq!((page.next, page.more), (1, true));
}

#[test]
fn eviction_is_reported_as_a_gap() {
    let store = store_read(3, 5); // read as they came: seqs 1 and 2 are evicted; 3, 4, 5 remain
    assert_eq!(store.evicted(), 2);
    let page = store.after(0, None, 10, Read::HandOut);
    assert_eq!(seqs(&page), [3, 4, 5]);
    assert_eq!(page.dropped, 2);
    let gap = page.gap.unwrap();
    assert_eq!((gap.reason, gap.missed), ("evicted", Some(2)));
    let page = store.after(1, None, 10, Read::HandOut);
    assert_eq!(page.dropped, 1);
    let page = store.after(2, None, 10, Read::HandOut);
    assert_eq!(page.dropped, 0);
    assert!(page.gap.is_none());
    assert_eq!(seqs(&page), [3, 4, 5]);
}

#[test]
fn limit_zero_after_eviction_moves_past_the_dropped_events() {
    let store = store_read(3, 5);
    let page = store.after(0, None, 0, Read::HandOut);
    assert_eq!((page.dropped, page.next), (2, 2));
    assert_eq!(store.after(page.next, None, 0, Read::HandOut).dropped, 0);
}

#[test]
fn events_read_make_room_events_unread_are_kept() {
    let store = store_with(3, 2);
    assert_eq!(ids(&store.drain(Read::HandOut)), [1, 2]);
    for id in 3..=7 {
        store.push(0, 0, json!({ "id": id }), 10);
    }
    assert_eq!(store.evicted(), 2, "1 and 2 were read: dropped to make room");
    assert_eq!(
        ids(&store.drain(Read::HandOut)),
        [3, 4, 5, 6, 7],
        "unread events are never dropped"
    );
    assert!(store.drain(Read::HandOut).is_empty());
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
        let page = store.after(cursor, None, 10, Read::HandOut);
        assert_eq!(seqs(&page), [5001, 5002, 5003], "cursor {cursor}");
        let gap = page.gap.unwrap();
        assert_eq!((gap.reason, gap.missed), ("other_run", None));
        assert!(gap.message.contains("another run"), "{}", gap.message);
    }
    // By its run id, even when the number would fit.
    let page = store.after(5002, Some("before"), 10, Read::HandOut);
    assert_eq!(seqs(&page), [5001, 5002, 5003]);
    assert!(page.gap.unwrap().message.contains("run before"));
    // This run's own cursor is followed.
    let page = store.after(5002, Some("now"), 10, Read::HandOut);
    assert_eq!(seqs(&page), [5003]);
    assert!(page.gap.is_none());
    assert_eq!(
        store.after(0, None, 10, Read::HandOut).events.len(),
        3,
        "0 is the start of any run"
    );
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
        if offset % 1000 == 999 {
            store.drain(Read::HandOut);
        }
    }
    assert_eq!(store.len(), 10_000);
    assert_eq!(store.evicted(), 990_000);
    let page = store.after(0, None, 1, Read::HandOut);
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
        store.drain(Read::HandOut);
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
    let page = store.after(0, None, 100, Read::HandOut);
    assert_eq!((seqs(&page), page.more), (vec![1, 2, 3], true));
    assert_eq!(ids(&store.drain(Read::HandOut)), [1, 2, 3]);
    assert_eq!(ids(&store.drain(Read::HandOut)), [4, 5, 6]);
    assert_eq!(ids(&store.drain(Read::HandOut)), [7]);
    store.push(0, 7, json!({ "id": 8 }), 2 * ANSWER_MAX_BYTES);
    assert_eq!(
        ids(&store.drain(Read::HandOut)),
        [8],
        "an event larger than an answer still goes out, alone"
    );
}

#[test]
fn zero_capacity_still_keeps_one_event() {
    let store = store_read(0, 2);
    assert_eq!(store.len(), 1);
    assert!(!store.is_empty());
    assert!(store.has_room(), "the event held was read: it makes room");
    store.push(0, 2, json!({ "id": 3 }), 10);
    assert!(!store.has_room());
    assert_eq!(ids(&store.drain(Read::HandOut)), [3]);
}

#[test]
fn unread_events_are_never_dropped_they_fill_the_store() {
    let store = store_with(3, 2);
    assert!(store.has_room());
    assert!(store.view().paused.is_none());
    store.push(0, 2, json!({ "id": 3 }), 10);
    assert!(!store.has_room(), "three unread events fill a store of three");
    // A fetch may bring one more batch than fits: nothing is dropped.
    store.push(0, 3, json!({ "id": 4 }), 10);
    assert_eq!((store.len(), store.evicted()), (4, 0));
    let view = store.view();
    assert_eq!((view.unread_events, view.held_events), (4, 4));
    assert!(view.paused.unwrap().contains("wait for a reader"));
    assert_eq!(ids(&store.drain(Read::HandOut)), [1, 2, 3, 4]);
    assert!(store.has_room(), "events read make room");
    assert!(store.view().paused.is_none());
}

#[tokio::test]
async fn a_reader_wakes_the_paused_fetch_loops() {
    let store = std::sync::Arc::new(store_with(2, 2));
    let waiting = tokio::spawn({
        let store = std::sync::Arc::clone(&store);
        async move { store.wait_for_room().await }
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    store.after(0, None, 1, Read::HandOut);
    tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("the fetch loop was not woken")
        .unwrap();
}

#[test]
fn the_first_unread_offset_per_partition_is_what_may_be_committed() {
    let store = Store::new(counted(100), run());
    for offset in 0..4 {
        store.push(0, offset, json!({ "p": 0, "offset": offset }), 10);
        store.push(1, offset + 10, json!({ "p": 1, "offset": offset + 10 }), 10);
    }
    assert_eq!(store.first_unread(), BTreeMap::from([(0, 0), (1, 10)]));
    // Seqs 1..=3: offsets 0 and 1 of partition 0, offset 10 of partition 1.
    store.after(0, None, 3, Read::HandOut);
    assert_eq!(store.first_unread(), BTreeMap::from([(0, 2), (1, 11)]));
    // Looking (HEAD) hands nothing out.
    store.drain(Read::Look);
    store.after(0, None, 100, Read::Look);
    assert_eq!(store.first_unread(), BTreeMap::from([(0, 2), (1, 11)]));
    assert_eq!(store.drain(Read::HandOut).len(), 8, "GET / drains from its own cursor");
    assert!(store.first_unread().is_empty(), "everything was handed out");
}

#[test]
fn released_partitions_take_their_unread_events_with_them() {
    let store = store_with(3, 3);
    store.after(0, None, 1, Read::HandOut); // id 1 (offset 0) was read
    store.push(0, 3, json!({ "id": 4 }), 10); // and makes room for id 4
    assert!(!store.has_room());
    assert_eq!(
        store.release(),
        BTreeMap::from([(0, 1)]),
        "commit offset 1: the next owner re-delivers 1.."
    );
    assert!(store.first_unread().is_empty());
    assert!(store.has_room(), "withdrawn events make room");
    assert_eq!(
        ids(&store.drain(Read::HandOut)),
        Vec::<u64>::new(),
        "withdrawn events are not shown"
    );
    // Owning the partition again, the member fetches them again: shown once, with new numbers.
    store.push(0, 1, json!({ "id": 2 }), 10);
    let page = store.after(1, None, 10, Read::HandOut);
    assert_eq!(seqs(&page), [5]);
    assert_eq!(page.gap.unwrap().missed, Some(1), "id 1 was dropped to make room");
    assert_eq!(parsed(&page.events[0].event), json!({ "id": 2 }));
}
