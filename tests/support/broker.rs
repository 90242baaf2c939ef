//! A fresh Tansu broker on a free loopback port, installed by `scripts/install-tansu.sh` when missing.
//! If the broker cannot be installed or started, the test fails loudly: there is no skipping.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};

/// A running test broker; stopped when dropped.
pub struct Broker {
    pub port: u16,
    child: Option<Child>,
}

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path of the `tansu` binary, installing it on first use.
pub fn tansu() -> PathBuf {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let script = project_root().join("scripts/install-tansu.sh");
            let status = Command::new("bash")
                .arg(&script)
                .status()
                .expect("running install-tansu.sh");
            assert!(
                status.success(),
                "installing the test broker failed ({status}); see the output above"
            );
            project_root().join(".tools/bin/tansu")
        })
        .clone()
}

impl Broker {
    /// Starts a broker on a free port and waits until it accepts connections.
    pub async fn start() -> Self {
        Self::start_on(super::free_port()).await
    }

    /// Starts a broker on `port` (used to bring a stopped broker back on the same address).
    pub async fn start_on(port: u16) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let log_dir = project_root().join("target/test-logs");
        std::fs::create_dir_all(&log_dir).expect("creating target/test-logs");
        let log = std::fs::File::create(log_dir.join(format!("tansu-{port}.log"))).expect("broker log file");
        let child = Command::new(tansu())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting tansu");
        let broker = Self {
            port,
            child: Some(child),
        };
        broker.wait_until_listening().await;
        broker
    }

    async fn wait_until_listening(&self) {
        let start = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "tansu did not listen on {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `127.0.0.1:PORT`, for KAFKA_BOOTSTRAP_SERVERS.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a topic with the given number of partitions.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let output = Command::new(tansu())
            .args(["topic", "create", name, "--partitions", &partitions.to_string()])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .expect("running tansu topic create");
        assert!(
            output.status.success(),
            "tansu topic create {name} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Stops the broker (SIGKILL; `memory://` storage forgets everything).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the broker (SIGSTOP): connections stay open but nothing is answered, as with a hung or
    /// unreachable broker. [`resume`](Self::resume) lets it go on.
    pub fn pause(&self) {
        self.send_signal("STOP");
    }

    /// Lets a paused broker go on (SIGCONT).
    pub fn resume(&self) {
        self.send_signal("CONT");
    }

    fn send_signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the broker is running").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} tansu failed");
    }

    /// An rskafka client, for reading back what the binaries wrote.
    pub async fn client(&self) -> Client {
        ClientBuilder::new(vec![self.address()])
            .build()
            .await
            .expect("rskafka client")
    }

    /// The end offset (high watermark) of one partition, read from a fetch (Tansu's ListOffsets "latest" is off).
    pub async fn end_offset(&self, topic: &str, partition: i32) -> i64 {
        let client = self.client().await;
        let partition = client
            .partition_client(topic, partition, UnknownTopicHandling::Error)
            .await
            .expect("partition client");
        let start = partition.get_offset(OffsetAt::Earliest).await.expect("earliest offset");
        let (_, high_watermark) = partition.fetch_records(start, 1..1_000_000, 1).await.expect("fetch");
        high_watermark
    }

    /// Every record value of one partition, from the start, as JSON.
    pub async fn read_all(&self, topic: &str, partition: i32) -> Vec<(i64, Option<String>, serde_json::Value)> {
        let client = self.client().await;
        let partition_client = client
            .partition_client(topic, partition, UnknownTopicHandling::Error)
            .await
            .expect("partition client");
        let end = self.end_offset(topic, partition).await;
        let mut offset = partition_client.get_offset(OffsetAt::Earliest).await.expect("earliest");
        let mut out = Vec::new();
        while offset < end {
            let (records, _) = partition_client
                .fetch_records(offset, 1..10_000_000, 100)
                .await
                .expect("fetch");
            for record in records {
                offset = record.offset + 1;
                let key = record.record.key.map(|k| String::from_utf8_lossy(&k).into_owned());
                let value = record.record.value.unwrap_or_default();
                let json = serde_json::from_slice(&value).unwrap_or(serde_json::Value::Null);
                out.push((record.offset, key, json));
            }
        }
        out
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
