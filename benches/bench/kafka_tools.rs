//! Apache Kafka's own tools beside ours, in the same run (`BROKER=kafka` only): `EndToEndLatency` (the Java
//! producer and consumer in one process, one record at a time, acks=all) right after our click→consumed
//! scenario, `ProducerPerformance` (kafka-producer-perf-test) writes records of our events' size with the same
//! acks, `ConsumerPerformance` (kafka-consumer-perf-test) reads the backlog our consumer caught up, and the
//! Java client's `KafkaConsumer` (tests/interop/JavaMember.java, which parses every record as JSON and prints
//! it, as ours parses and stamps it) reads it too, for its rate and resident memory. Each row has the ratio
//! ours / theirs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::report::{grouped, Target};
use crate::support::kafka::run_tool;
use crate::Bench;
use kafka_lab::event::wall_clock;
use Target::{AtLeast, AtMost, Info};

/// Records ProducerPerformance writes.
const PERF_RECORDS: u64 = 200_000;
/// Records EndToEndLatency sends, one at a time.
const END_TO_END_RECORDS: u64 = 1_000;

/// What our side measured, for the ratios.
pub struct Ours {
    /// The best acknowledged POST/s of the throughput scenario.
    pub post_rate: f64,
    /// The big backlog: its topic, size, our consumer's catch-up rate and RSS once caught up.
    pub backlog: (&'static str, u64, Option<f64>, Option<f64>),
}

impl Bench {
    pub async fn kafka_tools(&mut self, ours: Ours) {
        self.producer_performance(ours.post_rate).await;
        let (topic, count, rate, rss) = ours.backlog;
        self.consumer_performance(topic, count, rate);
        self.java_consumer(topic, count, (rate, rss)).await;
    }

    /// EndToEndLatency on a one-partition topic of its own (the tool reads a single partition), records of our
    /// events' size, acks=all: the Java client's produce → consume time on this cluster, beside ours.
    /// Its rows go under `scenario`; `topic` is created with one partition and `replication` copies.
    pub async fn java_end_to_end(&mut self, scenario: &str, topic: (&str, i16), our_p50: Option<f64>) {
        let (topic, replication) = topic;
        self.broker.create_topic_replicated(topic, 1, replication).await;
        let (bootstrap, records, size) = (
            self.broker.bootstrap(),
            END_TO_END_RECORDS.to_string(),
            our_event_size().to_string(),
        );
        let args = [
            ["--bootstrap-server", &bootstrap],
            ["--topic", topic],
            ["--num-records", &records],
            ["--producer-acks", "all"],
            ["--record-size", &size],
        ]
        .concat();
        let output = run_tool("org.apache.kafka.tools.EndToEndLatency", &args);
        // "Percentiles: 50th = 2, 99th = 16, 99.9th = 30" (whole milliseconds).
        let line = output
            .lines()
            .find(|l| l.starts_with("Percentiles:"))
            .unwrap_or_default();
        let percentile = |name: &str| {
            let value = line.split(&format!("{name} = ")).nth(1)?;
            value.split(',').next()?.trim().parse::<f64>().ok()
        };
        let (p50, p99) = (percentile("50th"), percentile("99th"));
        self.report.add(
            scenario,
            &[
                ("Java client (EndToEndLatency), p50", p50, "ms", Info("report"), ""),
                ("Java client (EndToEndLatency), p99", p99, "ms", Info("report"), ""),
                (
                    "our click→consumed p50 ÷ the Java client's",
                    our_p50.zip(p50).map(|(ours, java)| ours / java.max(1.0)),
                    "×",
                    Info("report"),
                    "",
                ),
            ],
        );
        self.report.note(format!(
            "EndToEndLatency (kafka-clients 4.4.0) under \"{scenario}\": {END_TO_END_RECORDS} records of {size} \
             bytes on a topic with {replication} replica(s), each sent with acks=all and waited for by a \
             KafkaConsumer in the same process, right after our clicks; it reports whole milliseconds. Ours adds \
             an HTTP POST before and HTTP polling (1 ms apart) after."
        ));
    }

    /// ProducerPerformance, acks=all, records as large as our POSTed events, on a topic of its own.
    async fn producer_performance(&mut self, our_rate: f64) {
        self.broker.create_topic("perf-producer", 2).await;
        let size = our_event_size().to_string();
        let (records, bootstrap) = (
            PERF_RECORDS.to_string(),
            format!("bootstrap.servers={}", self.broker.bootstrap()),
        );
        let args = [
            "--topic",
            "perf-producer",
            "--num-records",
            &records,
            "--record-size",
            &size,
        ];
        let args = [
            &args[..],
            &["--throughput", "-1", "--producer-props", &bootstrap, "acks=all"],
        ]
        .concat();
        let output = run_tool("org.apache.kafka.tools.ProducerPerformance", &args);
        // The last line: "N records sent, R records/sec (M MB/sec), A ms avg latency, ...".
        let summary = output
            .lines()
            .rev()
            .find(|l| l.contains("records sent"))
            .unwrap_or_default();
        let theirs = summary
            .split(", ")
            .nth(1)
            .and_then(|f| f.split(' ').next()?.parse::<f64>().ok());
        let ratio = theirs.map(|t| our_rate / t);
        self.report.add(
            "vs Kafka's tools",
            &[
                ("ProducerPerformance, acks=all", theirs, "records/s", Info("report"), ""),
                (
                    "our POST / (best of the throughput runs) ÷ that",
                    ratio,
                    "×",
                    Info("report"),
                    "",
                ),
            ],
        );
        self.report.note(format!(
            "ProducerPerformance: {PERF_RECORDS} records of {size} bytes (our POSTed events' size), acks=all, \
             unthrottled: \"{summary}\". Its records come from one client with linger and batching of its \
             own; ours arrive one per HTTP POST."
        ));
    }

    /// ConsumerPerformance reading the backlog our consumer caught up.
    fn consumer_performance(&mut self, topic: &str, count: u64, our_rate: Option<f64>) {
        let messages = count.to_string();
        let bootstrap = self.broker.bootstrap();
        let args = [
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            topic,
            "--messages",
            &messages,
        ];
        let output = run_tool("org.apache.kafka.tools.ConsumerPerformance", &args);
        let field = |name: &str| csv_field(&output, name);
        let (fetch_rate, overall) = (field("fetch.nMsg.sec"), field("nMsg.sec"));
        let ratio = our_rate.zip(fetch_rate).map(|(ours, theirs)| ours / theirs);
        self.report.add(
            "vs Kafka's tools",
            &[
                (
                    "ConsumerPerformance, fetch.nMsg.sec",
                    fetch_rate,
                    "events/s",
                    Info("report"),
                    "",
                ),
                (
                    "ConsumerPerformance, nMsg.sec (join included)",
                    overall,
                    "events/s",
                    Info("report"),
                    "",
                ),
                (
                    "our catch-up (first progress → caught up)",
                    our_rate,
                    "events/s",
                    Info("report"),
                    "",
                ),
                ("ours ÷ ConsumerPerformance (fetch)", ratio, "×", Info("report"), ""),
            ],
        );
        self.report.note(format!(
            "Catch-up of the {}-event backlog of {topic}: ours parses every record as JSON and stamps it \
             `consumed`; ConsumerPerformance only counts records and bytes.",
            grouped(count)
        ));
    }

    /// The Java KafkaConsumer (JavaMember) reading the same backlog in a group of its own: its rate and RSS
    /// vs ours.
    async fn java_consumer(&mut self, topic: &str, count: u64, ours: (Option<f64>, Option<f64>)) {
        let (our_rate, our_rss) = ours;
        let JavaRun { rss, rate, elapsed } = run_java_member(&self.broker.bootstrap(), topic, count).await;
        let ratio = our_rss.zip(rss).map(|(ours, java)| ours / java);
        self.report.add(
            "vs Kafka's tools",
            &[
                (
                    "Java KafkaConsumer (JavaMember), first → last record",
                    rate,
                    "events/s",
                    Info("report"),
                    "",
                ),
                (
                    "our catch-up ÷ the Java consumer's",
                    our_rate.zip(rate).map(|(ours, java)| ours / java),
                    "×",
                    AtLeast(1.0),
                    "",
                ),
                ("Java KafkaConsumer RSS, caught up", rss, "MiB", Info("report"), ""),
                ("our consumer RSS ÷ Java's", ratio, "×", AtMost(0.1), ""),
            ],
        );
        let elapsed = elapsed.map_or("did not finish".into(), |d| format!("{:.1} s", d.as_secs_f64()));
        self.report.note(format!(
            "Java consumer: JavaMember (kafka-clients 4.4.0, the JVM's default flags) read {} \
             events of {topic} from start to end in {elapsed} (JVM start and join included).",
            grouped(count)
        ));
    }
}

/// The size of the events the bench POSTs, as the producer writes them: the Java tools' record size.
fn our_event_size() -> usize {
    let topic = crate::throughput::load_topic("now", 64);
    let event = json!({ "topic": topic, "id": 123_456, "client": 12, "clicked": wall_clock(),
        "produced": wall_clock() });
    event.to_string().len()
}

/// A value of ConsumerPerformance's CSV output, by header name.
fn csv_field(output: &str, name: &str) -> Option<f64> {
    let mut lines = output.lines().filter(|l| l.contains(','));
    let header: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let values: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    values.get(header.iter().position(|h| *h == name)?)?.parse().ok()
}

/// What a JavaMember run showed: its RSS once caught up (MiB), its rate from its first record to its last
/// (events/s, to the 200 ms its output is checked at), and how long it ran from its start.
struct JavaRun {
    rss: Option<f64>,
    rate: Option<f64>,
    elapsed: Option<Duration>,
}

/// Runs JavaMember until it printed `count` records (or two minutes passed).
async fn run_java_member(bootstrap: &str, topic: &str, count: u64) -> JavaRun {
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new("bash")
        .arg(format!("{root}/scripts/build-java-peers.sh"))
        .status();
    assert!(status.is_ok_and(|s| s.success()), "scripts/build-java-peers.sh failed");
    std::fs::create_dir_all(format!("{root}/target/bench")).expect("creating target/bench");
    let out = format!("{root}/target/bench/java-member.out");
    let file = std::fs::File::create(&out).expect("JavaMember's output file");
    let mut child = Command::new("java")
        .args([
            "-cp",
            &format!("{root}/target/java-peers:{root}/.tools/kafka/libs/*"),
            "JavaMember",
        ])
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("KAFKA_TOPIC", topic)
        .env("CONSUMER_GROUP", "bench-java")
        .stdout(Stdio::from(file))
        .stderr(Stdio::null())
        .spawn()
        .expect("starting JavaMember");
    let start = Instant::now();
    let (mut rss, mut done, mut lines) = (None, None, LineCount::default());
    // One line per record, plus its assignments ([] then [0, 1]).
    let (assignments, mut first_records) = (2, None);
    while start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        rss = vm_rss_mib(child.id()).or(rss);
        let printed = lines.update(&out);
        if first_records.is_none() && printed > assignments {
            first_records = Some((Instant::now(), printed));
        }
        if printed >= count + assignments {
            done = Some(start.elapsed());
            break;
        }
    }
    let rate = first_records.filter(|_| done.is_some()).map(|(at, printed)| {
        let read = (count + assignments).saturating_sub(printed) as f64;
        read / at.elapsed().as_secs_f64().max(0.001)
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&out);
    JavaRun {
        rss,
        rate,
        elapsed: done,
    }
}

/// Counts the lines of a growing file, reading only what was added since the last call.
#[derive(Default)]
struct LineCount {
    read: u64,
    lines: u64,
}

impl LineCount {
    fn update(&mut self, path: &str) -> u64 {
        use std::io::{Read, Seek, SeekFrom};
        let mut added = Vec::new();
        if let Ok(mut file) = std::fs::File::open(path) {
            let _ = file.seek(SeekFrom::Start(self.read));
            let _ = file.read_to_end(&mut added);
        }
        self.read += added.len() as u64;
        self.lines += added.iter().filter(|&&c| c == b'\n').count() as u64;
        self.lines
    }
}

fn vm_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    Some(kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok()? / 1024.0)
}
