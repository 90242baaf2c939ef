//! `make bench`: measures the release binaries against a real broker (Tansu; Apache Kafka with
//! `make bench BROKER=kafka`) and reports each figure beside its target. It measures and reports; it never
//! fails on slowness, only when it cannot measure at all (no broker, no binary). The report is printed as
//! markdown and written to `target/bench/report-<broker>.{md,json}`.
//!
//! Scenarios, in order: click→consumed latency (`latency.rs`), producer throughput at 1 to 256 clients (`throughput.rs`),
//! the same with two consumers reading (`sustained.rs`), consumer catch-up and a consumer reading a large
//! backlog (`backlog.rs`), on Apache Kafka its own tools and Java consumer on
//! the same topics (`kafka_tools.rs`), hand-over after SIGINT and SIGKILL (on Apache Kafka under both group
//! protocols, and the pause of a partition that did not move during a rebalance, `protocols.rs`), then
//! start-up times and binary sizes. `load.rs` makes the load, `probe.rs` reads the services, `report.rs`
//! writes the report.

#[path = "../../tests/support/mod.rs"]
mod support;

mod backlog;
mod kafka_tools;
mod latency;
mod load;
mod probe;
mod protocols;
mod report;
mod sustained;
mod throughput;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_lab::event::wall_clock;
use load::keep_posting;
use probe::*;
use report::{millis, Report, Target};
use serde_json::json;
use support::{http, Cluster, Flavor, Service};
use tokio::time::sleep;
use Target::{AtMost, Info};

const PRODUCER: &str = env!("CARGO_BIN_EXE_producer");
const CONSUMER: &str = env!("CARGO_BIN_EXE_consumer");

/// The run: one broker, one producer, consumers started per scenario.
struct Bench {
    broker: Cluster,
    /// The hand-over scenario's session timeout: the shortest the broker accepts comfortably.
    handover_session_ms: u64,
    producer: Service,
    report: Report,
    /// (binary, milliseconds from spawn to the first `/ping` 200) of every service started.
    startups: Vec<(&'static str, f64)>,
    idle_consumer_rss: Option<f64>,
    /// The best acknowledged POST/s of the throughput scenario.
    best_post_rate: f64,
    /// The POST/s of its 64 clients, with no consumer reading.
    post_rate_64: f64,
}

impl Bench {
    async fn start(&mut self, binary: &'static str, env: &[(&str, &str)]) -> Service {
        let start = Instant::now();
        let service = Service::start(binary, env).await;
        let name = if binary == PRODUCER { "producer" } else { "consumer" };
        self.startups.push((name, millis(start.elapsed())));
        service
    }

    async fn consumer(&mut self, topic: &str, group: &str, extra: &[(&str, &str)]) -> Service {
        let bootstrap = self.broker.bootstrap();
        let mut env = vec![("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()), ("KAFKA_TOPIC", topic)];
        env.extend([("CONSUMER_GROUP", group), ("RUST_LOG", "info")]);
        env.extend_from_slice(extra);
        self.start(CONSUMER, &env).await
    }

    /// Scenario 5: two consumers of one group, the leader gets `signal`; how long until the survivor has new
    /// events of both partitions? Returns the survivor.
    async fn handover(&mut self, pair: [Service; 2], signal: &'static str) -> Service {
        self.handover_as("SIG{signal} of the leader", pair, signal).await
    }

    /// [`handover`](Self::handover), its row named `who` (`{signal}` is replaced by the signal's name).
    async fn handover_as(&mut self, who: &str, pair: [Service; 2], signal: &'static str) -> Service {
        let ports = [pair[0].port, pair[1].port];
        if !wait_assigned(&ports, 2, Duration::from_secs(30)).await {
            self.report.note(format!(
                "hand-over (SIG{signal}): the consumers did not own a partition each in 30 s"
            ));
        }
        let second_leads = get_json(ports[1], "/status").await.is_some_and(|s| s["leader"] == true);
        let [first, second] = pair;
        let (mut victim, survivor) = if second_leads { (second, first) } else { (first, second) };
        let mut cursor = 0;
        read_new(survivor.port, &mut cursor).await;
        // Ids unique to this round, so events redelivered from an earlier round never count.
        let first_id = if signal == "INT" { 1_000_000 } else { 2_000_000 };
        let (next_id, stop) = (Arc::new(AtomicU64::new(first_id)), Arc::new(AtomicBool::new(false)));
        let poster = tokio::spawn(keep_posting(self.producer.port, next_id.clone(), stop.clone()));
        sleep(Duration::from_millis(200)).await;

        let signalled_at = Instant::now();
        let first_after = next_id.load(Ordering::SeqCst);
        let exit = tokio::task::spawn_blocking(move || (victim.signal(signal), signalled_at.elapsed()));
        let mut partitions = BTreeSet::new();
        while partitions.len() < 2 && signalled_at.elapsed() < Duration::from_secs(20) {
            for event in read_new(survivor.port, &mut cursor).await {
                if event["event"]["id"].as_u64().is_some_and(|id| id >= first_after) {
                    partitions.insert(event["partition"].as_i64());
                }
            }
            sleep(Duration::from_millis(5)).await;
        }
        let handed_over = (partitions.len() == 2).then(|| signalled_at.elapsed().as_secs_f64());
        stop.store(true, Ordering::SeqCst);
        let _ = poster.await;

        let (status, exited) = exit.await.expect("signalling the consumer");
        let session_s = self.handover_session_ms as f64 / 1000.0;
        // After SIGKILL: the coordinator's wait (a session), up to a second for the survivor (its next
        // heartbeat, the rejoin, the first fetch), and what the broker adds by holding the rebalance open.
        let (bound, original) = if signal == "INT" {
            (1.5, "7 s")
        } else {
            (session_s + 1.0 + self.rebalance_hold_s(), "15.7 s")
        };
        let who = who.replace("{signal}", signal);
        let metric = format!("{who} → survivor has new events of both partitions");
        self.report
            .add("hand-over", &[(&metric, handed_over, "s", AtMost(bound), original)]);
        let exited = millis(exited);
        self.report.note(format!(
            "hand-over, {who}: the signalled consumer exited {exited:.1} ms later ({status})."
        ));
        survivor
    }

    /// How long the broker holds a rebalance open for members to rejoin: Tansu waits max(1 s, session / 2)
    /// whoever is left; Apache Kafka completes it as soon as every remaining member has rejoined.
    fn rebalance_hold_s(&self) -> f64 {
        match self.broker.flavor {
            Flavor::Tansu => (self.handover_session_ms as f64 / 2000.0).max(1.0),
            Flavor::Kafka => 0.0,
        }
    }

    fn startup_and_size_rows(&mut self) {
        for binary in ["producer", "consumer"] {
            let mut times: Vec<f64> = self.startups.iter().filter(|s| s.0 == binary).map(|s| s.1).collect();
            times.sort_by(f64::total_cmp);
            let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
            let metric = format!(
                "{binary}: start → /ping 200, worst of {} (median {median:.1} ms)",
                times.len()
            );
            self.report.add(
                "footprint",
                &[(&metric, times.last().copied(), "ms", AtMost(50.0), "5.6 s")],
            );
        }
        for (name, path) in [("producer", PRODUCER), ("consumer", CONSUMER)] {
            let size = std::fs::metadata(path).map(|m| m.len() as f64 / 1e6).ok();
            self.report.add("binary size", &[(name, size, "MB", AtMost(10.0), "")]);
        }
    }
}

/// The machine's 1-minute load average (other work on the machine skews every figure).
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split(' ').next().unwrap_or("?").to_string()
}

async fn run() -> Report {
    let load_before = load_average();
    let flavor = flavor_from_env();
    let broker = Cluster::of(flavor, true).await;
    for topic in ["first-topic", "backlog", "million", "handover"] {
        broker.create_topic(topic, 2).await;
    }
    let start = Instant::now();
    let address = broker.bootstrap();
    // The batcher logs each Produce request at debug level: the throughput scenario reads batch sizes from it.
    let log = ("RUST_LOG", "info,kafka_lab::produce::batch=debug");
    let producer = Service::start(PRODUCER, &[("KAFKA_BOOTSTRAP_SERVERS", &address), log]).await;
    let startups = vec![("producer", millis(start.elapsed()))];
    let mut report = Report::default();
    let idle = rss_mib(&producer);
    report.add(
        "footprint",
        &[("producer RSS, idle after start", idle, "MiB", AtMost(8.0), "50 MiB")],
    );
    // Apache Kafka refuses sessions under 6 s (group.min.session.timeout.ms).
    let handover_session_ms = match flavor {
        Flavor::Kafka => 6000,
        Flavor::Tansu => 2000,
    };
    let mut bench = Bench {
        broker,
        handover_session_ms,
        producer,
        report,
        startups,
        idle_consumer_rss: None,
        best_post_rate: 0.0,
        post_rate_64: 0.0,
    };

    bench.latency().await;
    bench.producer_throughput().await;
    bench.consumers_under_load(bench.post_rate_64).await;
    let (produce_50k, consume_50k) = bench.consumer_throughput().await;
    let backlog = bench.big_backlog(produce_50k + consume_50k).await;
    if flavor == Flavor::Kafka {
        let post_rate = bench.best_post_rate;
        bench.kafka_tools(kafka_tools::Ours { post_rate, backlog }).await;
    }

    let session = handover_session_ms.to_string();
    let env = [("SESSION_TIMEOUT_MS", session.as_str())];
    let first = bench.consumer("handover", "bench-handover", &env).await;
    let second = bench.consumer("handover", "bench-handover", &env).await;
    let survivor = bench.handover([first, second], "INT").await;
    let newcomer = bench.consumer("handover", "bench-handover", &env).await;
    bench.handover([survivor, newcomer], "KILL").await;
    bench.report.note(format!(
        "Hand-over consumers run with SESSION_TIMEOUT_MS={handover_session_ms} (heartbeat every {} ms, the \
         default tenth); the signalled member is the group leader; an event is posted every 20 ms, dealt \
         round-robin. The survivor hears of a rebalance at its next heartbeat; after SIGKILL the coordinator \
         first expires the member (a session timeout after its last heartbeat).",
        handover_session_ms / 10
    ));
    bench.report.note(match flavor {
        Flavor::Tansu => {
            "Tansu holds a rebalance's JoinGroup for max(1 s, session/2) = 1 s, so expect 1 s + \
            0..0.2 s after SIGINT and about 2.8..3.2 s after SIGKILL."
        }
        Flavor::Kafka => {
            "Apache Kafka completes a rebalance as soon as every member has rejoined, so expect \
            about a heartbeat interval after SIGINT and a session timeout plus a heartbeat after SIGKILL."
        }
    });
    if flavor == Flavor::Kafka {
        protocols::run(&mut bench).await;
    }
    bench.startup_and_size_rows();
    bench.report.note(match flavor {
        Flavor::Tansu => "Broker: Tansu (memory storage) on loopback; its fetch long-poll is coarse.",
        Flavor::Kafka => {
            "Broker: Apache Kafka 4.4.0 (kafka/pom.xml), a controller and two brokers on loopback, \
            topics with replication factor 2 (acks=all: every produce waits for both replicas), but for \
            the one-replica latency topic."
        }
    });
    bench.report.note(
        "Consumers use the default FETCH_MAX_WAIT_MS (20 ms). Start-up is timed around the test helper, which \
         polls /ping every 10 ms.",
    );
    let load = format!(
        "1-minute load average: {load_before} at the start, {} at the end",
        load_average()
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    bench.report.note(format!("{load} ({cores} cores)."));
    bench.report
}

/// `BROKER=kafka` measures on Apache Kafka, anything else (or nothing) on Tansu.
fn flavor_from_env() -> Flavor {
    match std::env::var("BROKER").as_deref() {
        Ok("kafka") => Flavor::Kafka,
        _ => Flavor::Tansu,
    }
}

fn main() {
    for path in [PRODUCER, CONSUMER] {
        let hint = "build it first with `cargo build --release --bins` (`make bench` does)";
        assert!(Path::new(path).exists(), "{path} is missing: {hint}");
    }
    let before = throughput::BEFORE_BATCHING;
    let hint = "build it first with `bash scripts/build-before-batching.sh` (`make bench` does)";
    assert!(Path::new(before).exists(), "{before} is missing: {hint}");
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = runtime.block_on(run());
    let runtime = started.elapsed();
    let markdown = report.markdown(runtime);
    println!("{markdown}");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).expect("creating target/bench");
    let broker = format!("{:?}", flavor_from_env()).to_lowercase();
    std::fs::write(dir.join(format!("report-{broker}.md")), &markdown).expect("writing the report");
    let json = json!({ "runtime_s": runtime.as_secs_f64(), "producer": PRODUCER, "consumer": CONSUMER,
        "rows": report.rows, "notes": report.notes });
    let json = serde_json::to_string_pretty(&json).expect("encoding the report");
    std::fs::write(dir.join(format!("report-{broker}.json")), json).expect("writing the report");
    println!("Written to {}", dir.display());
}
