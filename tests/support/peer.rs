//! Group members written with other Kafka clients, for the interoperability tests: **aiokafka** (Python),
//! the **Java KafkaConsumer** (`kafka-clients`) and **librdkafka** (through the `confluent-kafka` wheel).
//! Each is a small program under `tests/interop/` that joins a group and prints JSON lines: its assignment
//! whenever it changes (`{"assignment": [0, 1]}`) and every message (`{"partition", "offset", "value"}`).
//! Their tools are installed by `scripts/install-aiokafka.sh` and `scripts/build-java-peers.sh`; if that
//! fails, the test fails loudly.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The client a peer is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Aiokafka,
    Java,
    Librdkafka,
}

/// A running peer; killed when dropped.
pub struct Peer {
    child: Option<Child>,
    output: PathBuf,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs an install script once per test binary; fails loudly if it cannot.
fn install(script: &'static str, done: &'static OnceLock<()>) {
    done.get_or_init(|| {
        let status = Command::new("bash").arg(root().join(script)).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "{script} failed; see the output above"
        );
    });
}

/// `java` running one of the Java peers (compiled once per test binary) with a light JVM.
fn java(main_class: &str) -> Command {
    static JAVA: OnceLock<()> = OnceLock::new();
    install("scripts/build-java-peers.sh", &JAVA);
    let classpath = format!(
        "{}:{}/*",
        root().join("target/java-peers").display(),
        root().join(".tools/kafka/libs").display()
    );
    let mut command = Command::new("java");
    command.args([
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        "-cp",
        &classpath,
        main_class,
    ]);
    command
}

fn command(client: Client) -> Command {
    static PYTHON: OnceLock<()> = OnceLock::new();
    match client {
        Client::Aiokafka | Client::Librdkafka => {
            install("scripts/install-aiokafka.sh", &PYTHON);
            let program = match client {
                Client::Aiokafka => "tests/interop/aiokafka_member.py",
                _ => "tests/interop/librdkafka_member.py",
            };
            let mut command = Command::new("python3");
            command
                .arg(root().join(program))
                .env("PYTHONPATH", root().join(".tools/python"));
            command
        }
        Client::Java => java("JavaMember"),
    }
}

/// Runs `tests/interop/JavaProducer.java` once: writes `count` records `{"id": n}` (ids from `first_id`,
/// key `k<id>`, header `source: java`) to one partition, with `compression` (none, gzip, snappy, lz4, zstd)
/// and `mode` (plain, transactional-commit, transactional-abort). Returns its closing JSON line
/// (`{"written", "first_offset", "last_offset"}`).
pub fn java_producer(bootstrap: &str, topic: &str, first_id: i64, count: i64, compression: &str, mode: &str) -> Value {
    let (first_id, count) = (first_id.to_string(), count.to_string());
    let output = java("JavaProducer")
        .args([bootstrap, topic, "0", &count, &first_id, compression, mode])
        .output()
        .expect("running JavaProducer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "JavaProducer {compression} {mode} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().rfind(|l| l.starts_with('{')).unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("JavaProducer printed {stdout} ({e})"))
}

impl Peer {
    /// Starts a `client` member of `group` reading `topic` from `bootstrap`, from the earliest offset when
    /// the group has none, with the given session timeout.
    pub fn start(client: Client, bootstrap: &str, topic: &str, group: &str, session_timeout_ms: &str) -> Self {
        Self::start_with(client, bootstrap, topic, group, session_timeout_ms, &[])
    }

    /// [`start`](Self::start) with more environment variables (e.g. `GROUP_PROTOCOL=consumer` for the Java
    /// member).
    pub fn start_with(
        client: Client,
        bootstrap: &str,
        topic: &str,
        group: &str,
        session_timeout_ms: &str,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let output = root().join(format!(
            "target/test-logs/{client:?}-{group}-{}.jsonl",
            super::free_port()
        ));
        let file = std::fs::File::create(&output).expect("peer output file");
        let child = command(client)
            .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("KAFKA_TOPIC", topic)
            .env("CONSUMER_GROUP", group)
            .env("SESSION_TIMEOUT_MS", session_timeout_ms)
            .envs(extra_env.iter().copied())
            .stdout(Stdio::from(file))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {client:?} peer: {e}"));
        Self {
            child: Some(child),
            output,
        }
    }

    /// Every JSON line printed so far.
    pub fn lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.output).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The partitions it owns now (its last printed assignment).
    pub fn assignment(&self) -> Option<BTreeSet<i64>> {
        let last = self.lines().into_iter().rfind(|l| l["assignment"].is_array())?;
        Some(
            last["assignment"]
                .as_array()?
                .iter()
                .filter_map(Value::as_i64)
                .collect(),
        )
    }

    /// `(partition, id)` of every message received.
    pub fn received(&self) -> Vec<(i64, i64)> {
        let lines = self.lines().into_iter().filter(|l| l["partition"].is_i64());
        lines
            .map(|l| {
                (
                    l["partition"].as_i64().unwrap(),
                    l["value"]["id"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    }

    /// Stops it as Ctrl+C would (SIGTERM: it commits and leaves the group) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
