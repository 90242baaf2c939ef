//! The lab page in a real browser, against a real broker (Apache Kafka and Tansu, one run each) and the real
//! binaries. Nothing is mocked.
//!
//! The browser is Debian's headless Chromium, driven by Playwright (`tests/browser/drive.js`, see
//! `support::browser`) one step at a time: the test sends a command, then reads what the page shows and
//! asserts on it here. `scripts/install-browser.sh` installs Chromium and playwright-core when they are
//! missing; if that fails, the test fails: it is never skipped. Screenshots are saved under `target/page/`.

mod support;

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::{json, Value};
use support::browser::{events, id_set, ids, is_online_in, owned, panel, panels, summary, Browser};
use support::process::consumer_binary;
use support::{Cluster, Flavor, Service};

/// Consumers in these tests notice a lost member within seconds.
const SESSION: (&str, &str) = ("SESSION_TIMEOUT_MS", "6000");
/// first-group's colour in the page (blue).
const BLUE: &str = "rgb(29, 78, 216)";
/// second-group's colour in the page (orange).
const ORANGE: &str = "rgb(194, 65, 12)";

#[tokio::test]
async fn lab_page_shows_the_split_the_fan_out_and_an_offline_consumer_on_kafka() {
    lab_page_shows_the_split_the_fan_out_and_an_offline_consumer(Flavor::Kafka).await;
}

#[tokio::test]
async fn lab_page_shows_the_split_the_fan_out_and_an_offline_consumer_on_tansu() {
    lab_page_shows_the_split_the_fan_out_and_an_offline_consumer(Flavor::Tansu).await;
}

async fn lab_page_shows_the_split_the_fan_out_and_an_offline_consumer(flavor: Flavor) {
    // One browser at a time: two Chromiums and a Kafka cluster would crowd a 2-core machine.
    let _turn = support::one_at_a_time().await;
    let started = Instant::now();
    let mut lab = Lab::start(flavor).await;
    lab.two_consumers_of_one_group_split_the_partitions().await;
    lab.each_event_reaches_one_consumer_of_the_group().await;
    lab.screenshots_at_desktop_and_phone_width();
    lab.second_group_gets_every_event_too().await;
    lab.a_second_tab_sees_everything_from_the_start().await;
    lab.a_stopped_consumer_shows_offline().await;
    lab.consumers_are_added_and_removed_in_the_page().await;
    if flavor == Flavor::Tansu {
        // The shared Kafka cluster of this binary must not be paused; Tansu is this test's own.
        lab.kafka_unreachable_shows_on_the_producer_online().await;
    }
    lab.the_producer_offline_disables_send_and_nothing_foreign_was_asked()
        .await;
    drop(lab);
    eprintln!("{flavor:?}: lab page scenario took {:?}", started.elapsed());
}

/// A cluster, the producer, two consumers of first-group, and the page open on all three. Fields drop in
/// order: the browser closes before the services stop, and the cluster stops last. The names are the
/// workshop's own (`first-topic`, `first-group`: the page colours first-group blue); no other test of this
/// binary uses its cluster.
struct Lab {
    browser: Browser,
    producer: Service,
    first: Service,
    second: Service,
    bootstrap: String,
    page_url: String,
    first_url: String,
    second_url: String,
    _cluster: Cluster,
}

impl Lab {
    async fn start(flavor: Flavor) -> Self {
        let cluster = Cluster::of(flavor, false).await;
        cluster.create_topic("first-topic", 2).await;
        let bootstrap = cluster.bootstrap();
        let producer = Service::producer(&bootstrap, &[]).await;
        let first = Service::consumer(&bootstrap, "first-group", &[SESSION]).await;
        let second = Service::consumer(&bootstrap, "first-group", &[SESSION]).await;

        // The page comes from the producer; the consumers are named in its address, as a shared link would.
        let mut browser = Browser::start();
        browser.screenshot_prefix = format!("{flavor:?}-").to_lowercase();
        let page_url = format!(
            "http://127.0.0.1:{}/?consumers={},{}",
            producer.port, first.port, second.port
        );
        browser.open(&page_url, 1280, 800);
        Self {
            browser,
            first_url: format!("http://127.0.0.1:{}", first.port),
            second_url: format!("http://127.0.0.1:{}", second.port),
            producer,
            first,
            second,
            bootstrap,
            page_url,
            _cluster: cluster,
        }
    }

    /// Both consumers online in first-group (blue), each owning one of the two partitions.
    async fn two_consumers_of_one_group_split_the_partitions(&mut self) {
        let (first_url, second_url) = (&self.first_url, &self.second_url);
        let state = self
            .browser
            .wait_until("the producer online and each consumer owning one partition", |s| {
                s["producer"] == "Online"
                    && s["sendDisabled"] == false
                    && [first_url, second_url].iter().all(|url| {
                        let p = panel(s, url);
                        is_online_in(p, "first-group") && owned(p).len() == 1
                    })
            })
            .await;
        assert_eq!(state["title"], "kafka-lab: consumer groups");
        assert_eq!(state["sent"], "Events sent: 0");
        assert_eq!(state["sendLabel"], "Send Event");
        assert_eq!(state["unlabelledButtons"], 0, "every button needs an accessible name");
        assert!(state["liveRegions"].as_u64().unwrap() >= 4, "statuses are announced");
        assert_eq!(panel(&state, first_url)["groupColour"], BLUE, "first-group is blue");
        let split: BTreeSet<i64> = owned(panel(&state, first_url))
            .union(&owned(panel(&state, second_url)))
            .copied()
            .collect();
        assert_eq!(split, BTreeSet::from([0, 1]), "{}", summary(&state));
        assert!(state["url"].as_str().unwrap().contains("consumers="));
    }

    /// Ten clicks: every event reaches exactly one consumer of the group, and both consumers get some; each
    /// event shows its partition, offset, text and times.
    async fn each_event_reaches_one_consumer_of_the_group(&mut self) {
        self.browser.click("#send", 10);
        let (first_url, second_url) = (&self.first_url, &self.second_url);
        let state = self
            .browser
            .wait_until("events 1..10 split between the two consumers", |s| {
                let a = id_set(panel(s, first_url), 1..=10);
                let b = id_set(panel(s, second_url), 1..=10);
                s["sent"] == "Events sent: 10" && a.len() + b.len() == 10 && a.union(&b).count() == 10
            })
            .await;
        for url in [first_url, second_url] {
            let p = panel(&state, url);
            assert!(!ids(p).is_empty(), "{url} got none of the events:\n{}", summary(&state));
            assert_newest_first_in_each_partition(p, url);
            for event in events(p) {
                assert_event_shown_in_full(event, p, url);
            }
        }
    }

    fn screenshots_at_desktop_and_phone_width(&mut self) {
        self.browser.screenshot("lab", false);
        self.browser.run(json!({"cmd": "resize", "width": 390, "height": 844}));
        self.browser.screenshot("lab-phone", true);
        self.browser.run(json!({"cmd": "resize", "width": 1280, "height": 800}));
    }

    /// Fan-out: the second consumer moves to second-group (orange) on the same port; it then gets every event
    /// as well as first-group, rebalanced onto the first consumer.
    async fn second_group_gets_every_event_too(&mut self) {
        self.second.signal("TERM");
        self.second = consumer_on(&self.bootstrap, "second-group", self.second.port).await;
        let (first_url, second_url) = (&self.first_url, &self.second_url);
        let state = self
            .browser
            .wait_until(
                "second-group (orange) owning both partitions and first-group rebalanced onto the first consumer",
                |s| {
                    let a = panel(s, first_url);
                    let b = panel(s, second_url);
                    is_online_in(b, "second-group")
                        && b["markers"].to_string().contains("Now in group second-group")
                        && owned(b).len() == 2
                        && is_online_in(a, "first-group")
                        && owned(a).len() == 2
                        && a["markers"].to_string().contains("Rebalance")
                },
            )
            .await;
        assert_eq!(
            panel(&state, second_url)["groupColour"],
            ORANGE,
            "second-group is orange"
        );
        assert!(
            panel(&state, first_url)["markers"].to_string().contains("partitions"),
            "the rebalance says which partitions moved:\n{}",
            summary(&state)
        );
        self.browser.click("#send", 10);
        self.browser
            .wait_until("events 11..20 in both panels", |s| {
                id_set(panel(s, first_url), 11..=20).len() == 10 && id_set(panel(s, second_url), 11..=20).len() == 10
            })
            .await;
    }

    /// A second tab sees everything too, from the start: /events does not drain.
    async fn a_second_tab_sees_everything_from_the_start(&mut self) {
        self.browser.open(&self.page_url, 1280, 800);
        let (first_url, second_url) = (&self.first_url, &self.second_url);
        let state = self
            .browser
            .wait_until("a second tab showing events 11..20 in both panels", |s| {
                id_set(panel(s, first_url), 11..=20).len() == 10 && id_set(panel(s, second_url), 11..=20).len() == 10
            })
            .await;
        assert!(
            !id_set(panel(&state, first_url), 1..=10).is_empty(),
            "the second tab shows what the first consumer got before it opened:\n{}",
            summary(&state)
        );
        self.browser.run(json!({"cmd": "back"}));
        self.browser.screenshot("fan-out", false);
    }

    /// The first consumer stops: its panel says Offline, the other still gets every event.
    async fn a_stopped_consumer_shows_offline(&mut self) {
        self.first.signal("TERM");
        let (first_url, second_url) = (&self.first_url, &self.second_url);
        self.browser
            .wait_until("the first consumer Offline", |s| {
                panel(s, first_url)["status"] == "Offline"
            })
            .await;
        self.browser.click("#send", 5);
        let state = self
            .browser
            .wait_until("events 21..25 in the second-group panel", |s| {
                id_set(panel(s, second_url), 21..=25).len() == 5
            })
            .await;
        assert!(id_set(panel(&state, first_url), 21..=25).is_empty());
        assert_eq!(state["sent"], "Events sent: 25");
        self.browser.screenshot("offline", false);
    }

    /// Consumers can be added and removed in the page, and the address keeps the list.
    async fn consumers_are_added_and_removed_in_the_page(&mut self) {
        let dead_port = support::free_port();
        self.browser
            .run(json!({"cmd": "fill", "selector": "#new-consumer", "text": dead_port.to_string(), "press": "Enter"}));
        let dead_url = format!("http://127.0.0.1:{dead_port}");
        let state = self
            .browser
            .wait_until("an added consumer, Offline", |s| {
                panels(s).len() == 3 && panel(s, &dead_url)["status"] == "Offline"
            })
            .await;
        let listed = format!("consumers={},{},{dead_port}", self.first.port, self.second.port);
        assert!(state["url"].as_str().unwrap().ends_with(&listed), "{}", state["url"]);
        self.browser
            .click(&format!("[aria-label='Remove Consumer :{dead_port}']"), 1);
        let state = self
            .browser
            .wait_until("two panels again", |s| panels(s).len() == 2)
            .await;
        assert!(!state["url"].as_str().unwrap().contains(&dead_port.to_string()));
    }

    /// The broker freezes: the producer still answers `/ping` (the workshop's contract), and the page says
    /// "Online, Kafka unreachable" from the producer's `/status`; a click is answered "not sent". Then back.
    async fn kafka_unreachable_shows_on_the_producer_online(&mut self) {
        self._cluster.pause_brokers();
        self.browser
            .wait_until("the producer Online, Kafka unreachable", |s| {
                s["producer"] == "Online, Kafka unreachable" && s["sendDisabled"] == false
            })
            .await;
        self.browser.click("#send", 1);
        let state = self
            .browser
            .wait_until("the click answered 'not sent'", |s| {
                s["lastSent"]
                    .as_str()
                    .is_some_and(|t| t.contains("not sent, nothing was written"))
            })
            .await;
        println!("a click while the broker is frozen: {}", state["lastSent"]);
        self._cluster.resume_brokers();
        self.browser
            .wait_until("the producer Online again", |s| s["producer"] == "Online")
            .await;
    }

    /// The producer stops: "Offline", and the Send Event button is disabled. Nothing but the producer and the
    /// consumers was asked, and the page's script never threw.
    async fn the_producer_offline_disables_send_and_nothing_foreign_was_asked(&mut self) {
        self.producer.signal("TERM");
        let state = self
            .browser
            .wait_until("the producer Offline with Send Event disabled", |s| {
                s["producer"] == "Offline" && s["sendDisabled"] == true
            })
            .await;
        assert_eq!(state["pageErrors"], json!([]), "{}", summary(&state));
        for request in state["requests"].as_array().unwrap() {
            assert!(
                request.as_str().unwrap().starts_with("http://127.0.0.1:"),
                "the page asked another host: {request}"
            );
        }
    }
}

/// Newest first: within a partition that is Kafka's order, by offset (ten quick clicks may reach the producer
/// out of id order; across partitions the two fetch loops interleave).
fn assert_newest_first_in_each_partition(panel: &Value, url: &str) {
    for partition in owned(panel) {
        let offsets: Vec<i64> = events(panel)
            .iter()
            .filter(|e| e["partition"] == partition)
            .filter_map(|e| e["offset"].as_i64())
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[0] > w[1]),
            "newest first in partition {partition} of {url}: offsets {offsets:?}"
        );
    }
}

/// An event shows its partition (one its consumer owns), its offset, its text as the original page renders it,
/// and how long each step took.
fn assert_event_shown_in_full(event: &Value, panel: &Value, url: &str) {
    let partition = event["partition"].as_i64().expect("every event shows its partition");
    assert!(
        event["offset"].as_i64().is_some(),
        "every event shows its offset: {event}"
    );
    assert!(
        owned(panel).contains(&partition),
        "{url} shows partition {partition}: {event}"
    );
    // Rendered as the original page does, "key: value; key: value; ..." (in the order the JSON has).
    let text = event["text"].as_str().unwrap();
    let mut keys: Vec<&str> = text
        .split("; ")
        .filter_map(|pair| pair.split_once(": "))
        .map(|(k, _)| k)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["clicked", "consumed", "id", "produced"], "{text}");
    assert!(text.contains(&format!("id: {}", event["id"])), "{text}");
    let times = event["times"].as_str().unwrap_or_default();
    assert!(
        times.contains("click→produced") && times.contains("produced→consumed") && times.contains("total"),
        "each event shows how long each step took: {times}"
    );
}

/// Starts a consumer in `group` on a given `port` (where a stopped consumer was, so the page's panel for that
/// address finds it again).
async fn consumer_on(bootstrap: &str, group: &str, port: u16) -> Service {
    let port = port.to_string();
    Service::start(
        consumer_binary(),
        &[
            ("KAFKA_BOOTSTRAP_SERVERS", bootstrap),
            ("CONSUMER_GROUP", group),
            ("PORT", &port),
            SESSION,
        ],
    )
    .await
}
