//! What readers of a consumer get, against real brokers (Apache Kafka and Tansu, each scenario on both):
//! cursors that tell the truth across restarts, answers and memory bounded by bytes.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::group::{post_ids, wait_for_assignment, Reader};
use support::lab::Lab;
use support::Flavor;

const SETTLE: Duration = Duration::from_secs(30);
/// How often a reader asks, unless a test says otherwise.
const PAUSE: Duration = Duration::from_millis(100);

#[tokio::test]
async fn a_cursor_from_before_a_restart_is_told_to_start_over_on_kafka() {
    a_cursor_from_before_a_restart_is_told_to_start_over(Flavor::Kafka).await;
}

#[tokio::test]
async fn a_cursor_from_before_a_restart_is_told_to_start_over_on_tansu() {
    a_cursor_from_before_a_restart_is_told_to_start_over(Flavor::Tansu).await;
}

/// A reader follows `next` and `run` while the consumer restarts on the same port: the new run answers its
/// old cursor with a gap ("another run") and its own events from the start, instead of skipping them.
async fn a_cursor_from_before_a_restart_is_told_to_start_over(flavor: Flavor) {
    let lab = Lab::start(flavor).await;
    let group = lab.group("first-group");
    let port = support::free_port().to_string();
    let mut first_run = lab.consumer_with(&group, &[("PORT", &port)]).await;
    wait_for_assignment(&[&first_run], &[2], SETTLE).await;
    post_ids(&lab.producer, 1..=5).await;
    let mut reader = Reader::new(first_run.port);
    reader
        .read_until(SETTLE, PAUSE, "the reader to get events 1..5", |r| r.ids().len() >= 5)
        .await;
    let old_run = reader.run.clone().expect("a run id");
    assert!(reader.gaps.is_empty(), "{:?}", reader.gaps);
    first_run.signal("INT");

    post_ids(&lab.producer, 6..=10).await;
    let second_run = lab.consumer_with(&group, &[("PORT", &port)]).await;
    wait_for_assignment(&[&second_run], &[2], SETTLE).await;
    let what = "the reader to get events 6..10 from the new run";
    reader
        .read_until(SETTLE, PAUSE, what, |r| {
            let got: BTreeSet<i64> = r.ids().into_iter().collect();
            (6..=10).all(|id| got.contains(&id))
        })
        .await;
    assert_ne!(reader.run.as_deref(), Some(old_run.as_str()), "a new run has a new id");
    let gap = reader.gaps.first().expect("the old cursor was answered with a gap");
    assert_eq!(gap["reason"], "other_run", "{gap}");
    assert!(gap["message"].as_str().unwrap().contains("another run"), "{gap}");
}
