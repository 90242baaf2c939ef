//! The lab page in a real browser, and the original workshop page's requests, against a real broker (Tansu)
//! and the real binaries. Nothing is mocked.
//!
//! The browser is Debian's headless Chromium, driven by Playwright (`tests/browser/drive.js`) one step at a
//! time: the test sends a command, then reads what the page shows and asserts on it here.
//! `scripts/install-browser.sh` installs Chromium and playwright-core when they are missing; if that fails,
//! the test fails: it is never skipped. Screenshots are saved under `target/page/`.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::http::{self, post_json};
use support::process::consumer_binary;
use support::{eventually, Broker, Service};

/// How long to wait for the page to show something: consumers on Tansu take a few seconds to rebalance.
const WAIT: Duration = Duration::from_secs(20);
/// Consumers in these tests notice a lost member within seconds.
const SESSION: (&str, &str) = ("SESSION_TIMEOUT_MS", "6000");

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Installs Chromium and playwright-core (once per test run), failing loudly when that is not possible.
fn install_browser() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let status = Command::new("bash")
            .arg(project_root().join("scripts/install-browser.sh"))
            .status()
            .expect("running scripts/install-browser.sh");
        assert!(
            status.success(),
            "installing the browser test's tools failed ({status}); see the output above"
        );
    });
}

/// Headless Chromium behind `tests/browser/drive.js`; closed when dropped.
struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Browser {
    fn start() -> Self {
        install_browser();
        let dir = project_root().join("tests/browser");
        let mut child = Command::new("node")
            .arg(dir.join("drive.js"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting node tests/browser/drive.js (is Node.js installed?)");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("drive.js stdout"));
        Self { child, stdin, stdout }
    }

    /// Runs one command in the browser and returns its result; panics with the browser's error.
    fn run(&mut self, command: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("browser closed");
        writeln!(stdin, "{command}").expect("writing to drive.js");
        stdin.flush().expect("writing to drive.js");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("reading from drive.js");
        assert!(!line.is_empty(), "drive.js exited while running {command}");
        let answer: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("drive.js said {line:?}: {e}"));
        assert!(
            answer["ok"] == true,
            "the browser failed to run {command}: {}",
            answer["error"]
        );
        answer["result"].clone()
    }

    fn open(&mut self, url: &str, width: u32, height: u32) {
        self.run(json!({"cmd": "open", "url": url, "width": width, "height": height}));
    }

    fn click(&mut self, selector: &str, times: u32) {
        self.run(json!({"cmd": "click", "selector": selector, "times": times}));
    }

    fn state(&mut self) -> Value {
        self.run(json!({"cmd": "state"}))
    }

    /// Saves a screenshot as `target/page/<name>.png` and returns its path.
    fn screenshot(&mut self, name: &str, full_page: bool) -> PathBuf {
        let dir = project_root().join("target/page");
        std::fs::create_dir_all(&dir).expect("creating target/page");
        let path = dir.join(format!("{name}.png"));
        self.run(json!({"cmd": "screenshot", "path": path, "fullPage": full_page}));
        path
    }

    /// Reads the page every 200 ms until `check` holds; on timeout, fails showing what the page showed.
    async fn wait_until(&mut self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let state = self.state();
            if check(&state) {
                return state;
            }
            assert!(
                start.elapsed() < WAIT,
                "timed out after {WAIT:?} waiting for the page to show {what}; it shows:\n{}",
                summary(&state)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        drop(self.stdin.take()); // drive.js closes the browser and exits at the end of its input
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The page's state, short enough to read in a failure message.
fn summary(state: &Value) -> String {
    let mut out = format!(
        "producer: {}, send disabled: {}, {}\n",
        state["producer"], state["sendDisabled"], state["sent"]
    );
    for panel in panels(state) {
        out += &format!(
            "  {} {} {} | {} | {} | ids {:?} | markers {}\n",
            panel["url"],
            panel["status"],
            panel["group"],
            panel["partitions"],
            panel["generation"],
            ids(panel),
            panel["markers"]
        );
    }
    out + &format!("  page errors: {}", state["pageErrors"])
}

fn panels(state: &Value) -> &[Value] {
    state["consumers"].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn panel<'a>(state: &'a Value, url: &str) -> &'a Value {
    panels(state)
        .iter()
        .find(|p| p["url"] == url)
        .unwrap_or_else(|| panic!("no panel for {url}:\n{}", summary(state)))
}

fn events(panel: &Value) -> &[Value] {
    panel["events"].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The event ids a panel shows, in the order shown (newest first).
fn ids(panel: &Value) -> Vec<i64> {
    events(panel).iter().filter_map(|e| e["id"].as_i64()).collect()
}

fn id_set(panel: &Value, range: std::ops::RangeInclusive<i64>) -> BTreeSet<i64> {
    ids(panel).into_iter().filter(|id| range.contains(id)).collect()
}

/// The partitions a panel says its consumer owns, read from its text ("owns P0 P1 of 2").
fn owned(panel: &Value) -> BTreeSet<i64> {
    panel["partitions"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|word| word.strip_prefix('P')?.parse().ok())
        .collect()
}

fn is_online_in(panel: &Value, group: &str) -> bool {
    panel["status"] == "Online" && panel["group"] == group
}

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

#[tokio::test]
async fn lab_page_shows_the_split_the_fan_out_and_an_offline_consumer() {
    let started = Instant::now();
    let broker = Broker::start().await;
    broker.create_topic("first-topic", 2);
    let bootstrap = broker.address();
    let mut producer = Service::producer(&bootstrap, &[]).await;
    let mut first = Service::consumer(&bootstrap, "first-group", &[SESSION]).await;
    let mut second = Service::consumer(&bootstrap, "first-group", &[SESSION]).await;
    let first_url = format!("http://127.0.0.1:{}", first.port);
    let second_url = format!("http://127.0.0.1:{}", second.port);

    // The page comes from the producer; the consumers are named in its address, as a shared link would.
    let mut browser = Browser::start();
    let page_url = format!(
        "http://127.0.0.1:{}/?consumers={},{}",
        producer.port, first.port, second.port
    );
    browser.open(&page_url, 1280, 800);

    // Both consumers online in first-group (blue), each owning one of the two partitions.
    let state = browser
        .wait_until("the producer online and each consumer owning one partition", |s| {
            s["producer"] == "Online"
                && s["sendDisabled"] == false
                && [&first_url, &second_url].iter().all(|url| {
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
    assert_eq!(
        panel(&state, &first_url)["groupColour"],
        "rgb(29, 78, 216)",
        "first-group is blue"
    );
    let split: BTreeSet<i64> = owned(panel(&state, &first_url))
        .union(&owned(panel(&state, &second_url)))
        .copied()
        .collect();
    assert_eq!(split, BTreeSet::from([0, 1]), "{}", summary(&state));
    assert!(state["url"].as_str().unwrap().contains("consumers="));

    // Ten clicks: every event reaches exactly one consumer of the group, and both consumers get some.
    browser.click("#send", 10);
    let state = browser
        .wait_until("events 1..10 split between the two consumers", |s| {
            let a = id_set(panel(s, &first_url), 1..=10);
            let b = id_set(panel(s, &second_url), 1..=10);
            s["sent"] == "Events sent: 10" && a.len() + b.len() == 10 && a.union(&b).count() == 10
        })
        .await;
    for url in [&first_url, &second_url] {
        let p = panel(&state, url);
        assert!(!ids(p).is_empty(), "{url} got none of the events:\n{}", summary(&state));
        // Newest first: within a partition that is Kafka's order, by offset (ten quick clicks may reach the
        // producer out of id order; across partitions the two fetch loops interleave).
        for partition in owned(p) {
            let offsets: Vec<i64> = events(p)
                .iter()
                .filter(|e| e["partition"] == partition)
                .filter_map(|e| e["offset"].as_i64())
                .collect();
            assert!(
                offsets.windows(2).all(|w| w[0] > w[1]),
                "newest first in partition {partition} of {url}: offsets {offsets:?}"
            );
        }
        for event in events(p) {
            let partition = event["partition"].as_i64().expect("every event shows its partition");
            assert!(
                event["offset"].as_i64().is_some(),
                "every event shows its offset: {event}"
            );
            assert!(
                owned(p).contains(&partition),
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
    }
    browser.screenshot("lab", false);
    browser.run(json!({"cmd": "resize", "width": 390, "height": 844}));
    browser.screenshot("lab-phone", true);
    browser.run(json!({"cmd": "resize", "width": 1280, "height": 800}));

    // Fan-out: the second consumer moves to second-group on the same port.
    second.signal("TERM");
    let second = consumer_on(&bootstrap, "second-group", second.port).await;
    let state = browser
        .wait_until(
            "second-group (orange) owning both partitions and first-group rebalanced onto the first consumer",
            |s| {
                let a = panel(s, &first_url);
                let b = panel(s, &second_url);
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
        panel(&state, &second_url)["groupColour"],
        "rgb(194, 65, 12)",
        "second-group is orange"
    );
    assert!(
        panel(&state, &first_url)["markers"].to_string().contains("partitions"),
        "the rebalance says which partitions moved:\n{}",
        summary(&state)
    );
    browser.click("#send", 10);
    browser
        .wait_until("events 11..20 in both panels", |s| {
            id_set(panel(s, &first_url), 11..=20).len() == 10 && id_set(panel(s, &second_url), 11..=20).len() == 10
        })
        .await;
    // A second tab sees everything too, from the start: /events does not drain.
    browser.open(&page_url, 1280, 800);
    let state = browser
        .wait_until("a second tab showing events 11..20 in both panels", |s| {
            id_set(panel(s, &first_url), 11..=20).len() == 10 && id_set(panel(s, &second_url), 11..=20).len() == 10
        })
        .await;
    assert!(
        !id_set(panel(&state, &first_url), 1..=10).is_empty(),
        "the second tab shows what the first consumer got before it opened:\n{}",
        summary(&state)
    );
    browser.run(json!({"cmd": "back"}));
    browser.screenshot("fan-out", false);

    // The first consumer stops: its panel says Offline, the other still gets every event.
    first.signal("TERM");
    browser
        .wait_until("the first consumer Offline", |s| {
            panel(s, &first_url)["status"] == "Offline"
        })
        .await;
    browser.click("#send", 5);
    let state = browser
        .wait_until("events 21..25 in the second-group panel", |s| {
            id_set(panel(s, &second_url), 21..=25).len() == 5
        })
        .await;
    assert!(id_set(panel(&state, &first_url), 21..=25).is_empty());
    assert_eq!(state["sent"], "Events sent: 25");
    browser.screenshot("offline", false);

    // Consumers can be added and removed in the page, and the address keeps the list.
    let dead_port = support::free_port();
    browser.run(json!({"cmd": "fill", "selector": "#new-consumer", "text": dead_port.to_string(), "press": "Enter"}));
    let dead_url = format!("http://127.0.0.1:{dead_port}");
    let state = browser
        .wait_until("an added consumer, Offline", |s| {
            panels(s).len() == 3 && panel(s, &dead_url)["status"] == "Offline"
        })
        .await;
    assert!(
        state["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("consumers={},{},{dead_port}", first.port, second.port)),
        "{}",
        state["url"]
    );
    browser.click(&format!("[aria-label='Remove Consumer :{dead_port}']"), 1);
    let state = browser.wait_until("two panels again", |s| panels(s).len() == 2).await;
    assert!(!state["url"].as_str().unwrap().contains(&dead_port.to_string()));

    // The producer stops: "Offline", and the Send Event button is disabled.
    producer.signal("TERM");
    let state = browser
        .wait_until("the producer Offline with Send Event disabled", |s| {
            s["producer"] == "Offline" && s["sendDisabled"] == true
        })
        .await;

    // Nothing but the producer and the consumers was asked, and the page's script never threw.
    assert_eq!(state["pageErrors"], json!([]), "{}", summary(&state));
    for request in state["requests"].as_array().unwrap() {
        assert!(
            request.as_str().unwrap().starts_with("http://127.0.0.1:"),
            "the page asked another host: {request}"
        );
    }
    drop(second);
    eprintln!("lab page scenario took {:?}", started.elapsed());
}

/// The original workshop page (a React app on localhost:3000) made exactly these requests; both binaries
/// must still answer them as the Python services did.
#[tokio::test]
async fn original_page_requests_still_work() {
    let broker = Broker::start().await;
    broker.create_topic("first-topic", 2);
    let producer = Service::producer(&broker.address(), &[]).await;
    let consumer = Service::consumer(&broker.address(), "first-group", &[SESSION]).await;
    let origin = ("Origin", "http://localhost:3000");

    // Producer: preflight, then the POST it allows, then /ping.
    let preflight = http::request(
        producer.port,
        "OPTIONS",
        "/",
        &[
            origin,
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    )
    .await
    .unwrap();
    assert!((200..300).contains(&preflight.status), "{preflight:?}");
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert!(preflight
        .header("access-control-allow-headers")
        .unwrap()
        .to_lowercase()
        .contains("content-type"));

    let ping = http::request(producer.port, "GET", "/ping", &[origin], b"")
        .await
        .unwrap();
    assert_eq!((ping.status, ping.body.as_str()), (200, "pong"));
    assert_eq!(ping.header("access-control-allow-origin"), Some("*"));

    // Consumer: /ping names the group after the first five characters, and GET / is a JSON array.
    let ping = http::request(consumer.port, "GET", "/ping", &[origin], b"")
        .await
        .unwrap();
    assert_eq!((ping.status, ping.body.as_str()), (200, "pong:first-group"));
    assert_eq!(&ping.body[5..], "first-group");
    assert_eq!(ping.header("access-control-allow-origin"), Some("*"));

    // The consumer joins the group at the latest offset: wait until it owns the partitions before sending.
    eventually(WAIT, "the consumer owning both partitions", || async {
        let status = http::get(consumer.port, "/status").await.ok()?.json();
        (status["state"] == "stable" && status["partitions"].as_array()?.len() == 2).then_some(())
    })
    .await;
    let first = http::request(consumer.port, "GET", "/", &[origin], b"").await.unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.json().is_array(), "{}", first.body);

    let post = http::request(
        producer.port,
        "POST",
        "/",
        &[origin, ("Content-Type", "application/json")],
        br#"{"id":1,"clicked":"10:11:12:13"}"#,
    )
    .await
    .unwrap();
    assert_eq!(post.status, 200, "{}", post.body);
    assert_eq!(post.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        post_json(producer.port, "/", r#"{"id":2,"clicked":"10:11:12:14"}"#)
            .await
            .unwrap()
            .status,
        200
    );

    // GET / drains: the two events come once, oldest first, each with produced and consumed added.
    let mut seen: Vec<Value> = Vec::new();
    let start = Instant::now();
    while seen.len() < 2 {
        assert!(start.elapsed() < WAIT, "GET / gave only {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let reply = http::request(consumer.port, "GET", "/", &[origin], b"").await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        seen.extend(reply.json().as_array().expect("a JSON array").iter().cloned());
    }
    let ids: Vec<&Value> = seen.iter().map(|e| &e["id"]).collect();
    assert_eq!(ids.len(), 2, "each event once: {seen:?}");
    let mut sorted = ids.clone();
    sorted.sort_by_key(|v| v.as_i64());
    assert_eq!(sorted, [&json!(1), &json!(2)], "{seen:?}");
    for event in &seen {
        for field in ["clicked", "produced", "consumed"] {
            assert!(event[field].is_string(), "{field} missing: {event}");
        }
        assert_eq!(
            event.as_object().unwrap().len(),
            4,
            "only id, clicked, produced, consumed: {event}"
        );
    }
    let again = http::get(consumer.port, "/").await.unwrap();
    assert_eq!(again.json(), json!([]), "a second GET / has nothing new");
}
