//! The lab page's cluster view and guide in a real browser (headless Chromium, see `support::browser`), on
//! Apache Kafka and on Tansu, with the real binaries. The section-3 lab is played step by step, and after each
//! step the test reads what the page shows: the diagram (from the SVG's data attributes), the lag table, the
//! rebalance timeline and the guide. Screenshots are saved under `target/page/` (`kafka-cluster-*.png`,
//! `tansu-cluster-*.png`).

mod support;

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::{json, Value};
use support::browser::{summary, Browser};
use support::process::consumer_binary;
use support::{Cluster, Flavor, Service};

/// first-group's colour (blue) and second-group's (orange), as the workshop has them.
const BLUE: &str = "#1d4ed8";
const ORANGE: &str = "#c2410c";

#[tokio::test]
async fn the_diagram_timeline_and_guide_follow_the_lab_on_kafka() {
    the_diagram_timeline_and_guide_follow_the_lab(Flavor::Kafka).await;
}

#[tokio::test]
async fn the_diagram_timeline_and_guide_follow_the_lab_on_tansu() {
    the_diagram_timeline_and_guide_follow_the_lab(Flavor::Tansu).await;
}

async fn the_diagram_timeline_and_guide_follow_the_lab(flavor: Flavor) {
    // One browser at a time: two Chromiums and a Kafka cluster would crowd a 2-core machine.
    let _turn = support::one_at_a_time().await;
    let started = Instant::now();
    let mut lab = ClusterLab::start(flavor).await;
    lab.the_guide_waits_for_a_second_consumer().await;
    lab.the_diagram_shows_the_split().await;
    lab.events_sent_are_split().await;
    lab.a_stopped_member_hands_over_in_the_diagram_and_the_timeline().await;
    lab.a_second_group_appears_with_its_own_colour_and_lag().await;
    if flavor == Flavor::Kafka {
        lab.a_stopped_broker_shows_its_partitions_leaders_move().await;
    }
    lab.nothing_foreign_was_asked_and_the_script_never_threw();
    drop(lab);
    eprintln!("{flavor:?}: cluster page scenario took {:?}", started.elapsed());
}

/// A cluster (Apache Kafka: one of the test's own, since a broker is stopped), `first-topic`, the producer,
/// one consumer of first-group, and the page open naming it and a second port where the lab starts the
/// second consumer. Fields drop in order: browser, services, cluster.
struct ClusterLab {
    browser: Browser,
    _producer: Service,
    first: Service,
    second: Option<Service>,
    second_port: u16,
    cluster: Cluster,
}

impl ClusterLab {
    async fn start(flavor: Flavor) -> Self {
        let cluster = Cluster::of(flavor, true).await;
        cluster.create_topic("first-topic", 2).await;
        let producer = Service::producer(&cluster.bootstrap(), &[]).await;
        let second_port = support::free_port();
        let first = consumer(&cluster, "first-group", support::free_port()).await;
        let mut browser = Browser::start();
        browser.screenshot_prefix = format!("{flavor:?}-").to_lowercase();
        let url = format!(
            "http://127.0.0.1:{}/?consumers={},{second_port}",
            producer.port, first.port
        );
        browser.open(&url, 1280, 800);
        Self {
            browser,
            _producer: producer,
            first,
            second: None,
            second_port,
            cluster,
        }
    }

    fn label(port: u16) -> String {
        format!("Consumer :{port}")
    }

    /// One consumer: the diagram shows it reading both partitions, and the guide's first step waits.
    async fn the_guide_waits_for_a_second_consumer(&mut self) {
        let me = Self::label(self.first.port);
        let state = self
            .browser
            .wait_until("one member of first-group reading both partitions", |s| {
                owners(s, "first-group") == BTreeSet::from([(0, me.clone()), (1, me.clone())])
            })
            .await;
        assert_eq!(step(&state, "second-consumer")["done"], false, "{}", guide(&state));
        let check = step(&state, "second-consumer")["check"].as_str().unwrap_or_default();
        assert!(check.contains("1 member in first-group"), "{check}");
        let cluster = &state["cluster"];
        assert!(
            cluster["brokers"].as_array().unwrap().iter().all(|b| b["up"] == true),
            "{cluster}"
        );
        for p in cluster["partitions"].as_array().unwrap() {
            assert!(
                p["leader"].is_i64() && p["end"].is_i64(),
                "each partition shows its leader and end: {p}"
            );
        }
        assert!(
            cluster["diagramLabel"].as_str().unwrap().contains("first-group"),
            "the diagram has a text alternative"
        );
    }

    /// The second consumer of first-group: an arrow from each partition to a different member, in blue.
    async fn the_diagram_shows_the_split(&mut self) {
        self.second = Some(consumer(&self.cluster, "first-group", self.second_port).await);
        let (a, b) = (Self::label(self.first.port), Self::label(self.second_port));
        let state = self
            .browser
            .wait_until(
                "each member of first-group reading one partition, and step 1 checked",
                |s| {
                    let readers: BTreeSet<String> = owners(s, "first-group").into_iter().map(|(_, m)| m).collect();
                    readers == BTreeSet::from([a.clone(), b.clone()]) && step(s, "second-consumer")["done"] == true
                },
            )
            .await;
        let group = group_in(&state, "first-group");
        assert_eq!(
            (group["colour"].as_str(), group["glyph"].as_str()),
            (Some(BLUE), Some("●"))
        );
        self.browser.screenshot("cluster-split", false);
    }

    /// Six clicks: both members read, and the guide's second step is checked.
    async fn events_sent_are_split(&mut self) {
        self.browser.click("#send", 6);
        let state = self
            .browser
            .wait_until("the split step checked", |s| step(s, "split")["done"] == true)
            .await;
        let lag = lag_cells(&state, "first-group");
        assert_eq!(lag.len(), 2, "a lag cell per partition: {lag:?}");
    }

    /// Ctrl+C on the second member: its partition moves to the first in the diagram, and the timeline shows
    /// the rebalance with how long the partition went unread.
    async fn a_stopped_member_hands_over_in_the_diagram_and_the_timeline(&mut self) {
        self.second.take().expect("the second consumer").signal("INT");
        let (a, b) = (Self::label(self.first.port), Self::label(self.second_port));
        let state = self
            .browser
            .wait_until(
                "both partitions on the first member and the hand-over in the timeline",
                |s| {
                    owners(s, "first-group") == BTreeSet::from([(0, a.clone()), (1, a.clone())])
                        && timeline(s, "first-group")
                            .iter()
                            .any(|r| r.contains(&format!("{b} left")))
                        && step(s, "hand-over")["done"] == true
                },
            )
            .await;
        let entry = state["cluster"]["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["text"].as_str().unwrap().contains(&format!("{b} left")))
            .unwrap();
        let text = entry["text"].as_str().unwrap();
        assert!(
            text.contains(&format!("{b} → {a}")) && text.contains("unread"),
            "{text}"
        );
        assert!(entry["pause"].as_u64().unwrap() > 0, "the pause is drawn: {entry}");
        assert!(state["cluster"]["timelineBars"].as_u64().unwrap() >= 1);
        let check = step(&state, "hand-over")["check"].as_str().unwrap().to_string();
        assert!(check.contains(&format!("from {b} to {a}")), "{check}");
        self.browser.screenshot("cluster-hand-over", false);
    }

    /// The second consumer again, in second-group: its own colour, glyph and line, reading both partitions,
    /// with its lag; events sent then reach both groups and the last step is checked.
    async fn a_second_group_appears_with_its_own_colour_and_lag(&mut self) {
        self.second = Some(consumer(&self.cluster, "second-group", self.second_port).await);
        let b = Self::label(self.second_port);
        let state = self
            .browser
            .wait_until("second-group reading both partitions, with a lag column", |s| {
                owners(s, "second-group") == BTreeSet::from([(0, b.clone()), (1, b.clone())])
                    && lag_cells(s, "second-group").len() == 2
            })
            .await;
        let (first, second) = (group_in(&state, "first-group"), group_in(&state, "second-group"));
        assert_eq!(second["colour"], ORANGE);
        assert_ne!(first["glyph"], second["glyph"], "not colour alone: a glyph per group");
        let dash = |group: &str| arrows(&state, group).first().map(|a| a["dash"].clone());
        assert_ne!(
            dash("first-group"),
            dash("second-group"),
            "not colour alone: a line pattern per group"
        );
        self.browser.click("#send", 4);
        let state = self
            .browser
            .wait_until("the fan-out step checked", |s| step(s, "fan-out")["done"] == true)
            .await;
        assert!(
            lag_cells(&state, "second-group").iter().all(|c| c["lag"].is_i64()),
            "{}",
            state["cluster"]["lag"]
        );
        self.browser.screenshot("cluster-fan-out", false);
        self.browser.run(json!({"cmd": "resize", "width": 390, "height": 844}));
        self.browser
            .wait_until("the narrow diagram", |s| !arrows(s, "second-group").is_empty())
            .await;
        self.browser.screenshot("cluster-phone", true);
        self.browser.run(json!({"cmd": "resize", "width": 1280, "height": 800}));
    }

    /// Apache Kafka: a broker stops; the page shows it down, every partition led by the other broker, and
    /// the leader changes said in words.
    async fn a_stopped_broker_shows_its_partitions_leaders_move(&mut self) {
        let before = self.browser.state();
        let stopped = self.cluster.stop_one_broker(0) as i64;
        let led_before: Vec<i64> = partitions(&before)
            .iter()
            .filter(|p| p["leader"] == stopped)
            .map(|p| p["partition"].as_i64().unwrap())
            .collect();
        let state = self
            .browser
            .wait_until("the stopped broker down and every partition led by the other", |s| {
                let down = s["cluster"]["brokers"]
                    .as_array()
                    .is_some_and(|b| b.iter().any(|b| b["id"] == stopped && b["up"] == false));
                let moved = partitions(s)
                    .iter()
                    .all(|p| p["leader"].is_i64() && p["leader"] != stopped);
                down && moved && !partitions(s).is_empty()
            })
            .await;
        for partition in led_before {
            let said = state["cluster"]["notes"].to_string();
            assert!(
                said.contains(&format!("P{partition}: leader broker {stopped} →")),
                "{said}"
            );
        }
        let brokers = state["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "brokers")
            .unwrap();
        assert_eq!(
            brokers["state"], "bad",
            "troubleshooting says a broker is down: {brokers}"
        );
        self.browser.screenshot("cluster-broker-down", false);
    }

    fn nothing_foreign_was_asked_and_the_script_never_threw(&mut self) {
        let state = self.browser.state();
        assert_eq!(state["pageErrors"], json!([]), "{}", summary(&state));
        for request in state["requests"].as_array().unwrap() {
            assert!(
                request.as_str().unwrap().starts_with("http://127.0.0.1:"),
                "the page asked another host: {request}"
            );
        }
        assert_eq!(state["unlabelledButtons"], 0, "every button needs an accessible name");
    }
}

/// A consumer of `first-topic` in `group` on `port`, with the cluster's quick rebalance settings.
async fn consumer(cluster: &Cluster, group: &str, port: u16) -> Service {
    let port = port.to_string();
    let bootstrap = cluster.bootstrap();
    let mut env = vec![
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
        ("CONSUMER_GROUP", group),
        ("PORT", &port),
    ];
    env.extend_from_slice(cluster.fast_group());
    Service::start(consumer_binary(), &env).await
}

fn arrows<'a>(state: &'a Value, group: &str) -> Vec<&'a Value> {
    let all = state["cluster"]["arrows"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    all.iter().filter(|a| a["group"] == group).collect()
}

/// (partition, member label) for every arrow of `group` in the diagram.
fn owners(state: &Value, group: &str) -> BTreeSet<(i64, String)> {
    arrows(state, group)
        .iter()
        .map(|a| {
            (
                a["partition"].as_i64().unwrap(),
                a["member"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn group_in<'a>(state: &'a Value, group: &str) -> &'a Value {
    let groups = state["cluster"]["groups"].as_array().unwrap();
    groups
        .iter()
        .find(|g| g["group"] == group)
        .unwrap_or_else(|| panic!("no {group} in {}", state["cluster"]))
}

fn partitions(state: &Value) -> &[Value] {
    state["cluster"]["partitions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn lag_cells<'a>(state: &'a Value, group: &str) -> Vec<&'a Value> {
    let cells = state["cluster"]["lag"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    cells.iter().filter(|c| c["group"] == group).collect()
}

fn timeline(state: &Value, group: &str) -> Vec<String> {
    let entries = state["cluster"]["timeline"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    entries
        .iter()
        .filter(|r| r["group"] == group)
        .filter_map(|r| r["text"].as_str().map(str::to_string))
        .collect()
}

fn step<'a>(state: &'a Value, id: &str) -> &'a Value {
    let steps = state["guide"].as_array().unwrap();
    steps
        .iter()
        .find(|s| s["step"] == id)
        .unwrap_or_else(|| panic!("no guide step {id}: {}", state["guide"]))
}

fn guide(state: &Value) -> String {
    state["guide"].to_string()
}
