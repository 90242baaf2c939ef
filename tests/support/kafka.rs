//! An Apache Kafka cluster for the tests, shaped like the workshop's: one controller-only node and two
//! brokers, KRaft, every node a plain Java process started by `scripts/kafka-cluster.sh` (the broker's
//! jars come from Maven Central through `scripts/install-kafka.sh`). If Java, Maven or the broker is
//! missing, the test fails loudly: there is no skipping.
//!
//! A JVM takes seconds to start, so a test binary shares one cluster between its tests
//! ([`KafkaCluster::shared`]), each test with its own topics and groups. Tests that stop or pause brokers
//! start a cluster of their own ([`KafkaCluster::start`]). A small watchdog process ends every node of a
//! cluster when the test binary exits, since Rust tests have no "after all" hook to do it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The consumer protocol's session timeout and heartbeat interval are the broker's (KIP-848): the same as
/// the classic tests' `SESSION_TIMEOUT_MS=6000` and `HEARTBEAT_INTERVAL_MS=500`, instead of 45 s and 5 s,
/// so that hand-overs under both protocols take comparable times.
///
/// The log cleaner looks for work every half second instead of every 15 s, so a test of a compacted topic
/// sees it compacted soon.
const TEST_BROKER_SETTINGS: &str = "group.consumer.session.timeout.ms=6000 \
     group.consumer.min.session.timeout.ms=6000 group.consumer.heartbeat.interval.ms=500 \
     group.consumer.min.heartbeat.interval.ms=500 log.cleaner.backoff.ms=500";

/// How long the nodes of a new cluster may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// How to start a cluster: the brokers' (PLAINTEXT) ports, and more environment for
/// `kafka-cluster.sh prepare` (KAFKA_EXTRA_PROPERTIES_FILE, KAFKA_FORMAT_ARGS, ...).
pub struct Setup {
    pub broker_ports: Vec<u16>,
    pub env: Vec<(String, String)>,
}

/// A running cluster: node 1 is the controller, nodes 2 and 3 the brokers.
pub struct KafkaCluster {
    dir: PathBuf,
    pub broker_ports: Vec<u16>,
    /// The node processes, by index (0 = controller); `None` while a node is stopped.
    nodes: Mutex<Vec<Option<Child>>>,
}

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Installs the broker's jars once per test binary (a no-op when they are there).
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let status = Command::new("bash")
            .arg(project_root().join("scripts/install-kafka.sh"))
            .status()
            .expect("running install-kafka.sh");
        assert!(
            status.success(),
            "installing Apache Kafka failed ({status}); see the output above"
        );
    });
}

impl KafkaCluster {
    /// The cluster this test binary shares, started on first use.
    pub fn shared() -> &'static KafkaCluster {
        static SHARED: OnceLock<KafkaCluster> = OnceLock::new();
        SHARED.get_or_init(KafkaCluster::start)
    }

    /// Starts a new cluster of two brokers on free ports and waits until every broker listens.
    pub fn start() -> Self {
        Self::start_with(Setup {
            broker_ports: vec![super::free_port(), super::free_port()],
            env: Vec::new(),
        })
    }

    /// Starts a cluster as `setup` says and waits until every broker serves.
    pub fn start_with(setup: Setup) -> Self {
        install();
        let controller_port = super::free_port();
        let broker_ports = setup.broker_ports;
        let dir = project_root().join(format!("target/test-kafka/{}-{controller_port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the cluster's directory");
        let mut prepare = Command::new("bash");
        prepare
            .arg(project_root().join("scripts/kafka-cluster.sh"))
            .env("KAFKA_EXTRA_PROPERTIES", TEST_BROKER_SETTINGS)
            .envs(setup.env)
            .arg("prepare")
            .arg(&dir)
            .arg(controller_port.to_string());
        prepare.args(broker_ports.iter().map(u16::to_string));
        let status = prepare.status().expect("running kafka-cluster.sh prepare");
        assert!(status.success(), "kafka-cluster.sh prepare failed ({status})");

        let cluster = Self {
            dir,
            broker_ports,
            nodes: Mutex::new(Vec::new()),
        };
        let started = Instant::now();
        let nodes: Vec<Option<Child>> = (1..=1 + cluster.broker_ports.len())
            .map(|n| Some(cluster.spawn_node(n)))
            .collect();
        cluster.watch_for_exit(&nodes);
        *cluster.nodes.lock().unwrap() = nodes;
        for i in 0..cluster.broker_ports.len() {
            cluster.wait_until_serving(i);
        }
        eprintln!(
            "Apache Kafka cluster up in {:?}: brokers {} (logs in {})",
            started.elapsed(),
            cluster.bootstrap(),
            cluster.dir.display()
        );
        cluster
    }

    /// `127.0.0.1:P1,127.0.0.1:P2`, for KAFKA_BOOTSTRAP_SERVERS.
    pub fn bootstrap(&self) -> String {
        let addresses: Vec<String> = self.broker_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        addresses.join(",")
    }

    /// Starts node `n` (1 = controller, 2.. = brokers) as `kafka-cluster.sh node`, which execs the JVM.
    fn spawn_node(&self, n: usize) -> Child {
        let log = std::fs::File::create(self.dir.join(format!("node-{n}.out"))).expect("node output file");
        Command::new("bash")
            .arg(project_root().join("scripts/kafka-cluster.sh"))
            .arg("node")
            .arg(&self.dir)
            .arg(n.to_string())
            .stdout(Stdio::from(log.try_clone().expect("node output file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting a Kafka node")
    }

    /// A watchdog that kills the nodes once this test process is gone.
    fn watch_for_exit(&self, nodes: &[Option<Child>]) {
        let pids: Vec<String> = nodes.iter().flatten().map(|c| c.id().to_string()).collect();
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill -9 {pids} 2>/dev/null; rm -rf '{data}'",
            parent = std::process::id(),
            pids = pids.join(" "),
            data = self.dir.join("data").display(),
        );
        // Started in the background of a shell that exits at once: the watchdog outlives this process.
        let detached = format!("({script}) </dev/null >/dev/null 2>&1 &");
        let status = Command::new("sh").args(["-c", &detached]).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "starting the cluster's watchdog failed"
        );
    }

    /// Stops broker `i` (0 or 1) with SIGKILL; its data stays, so [`restart_broker`](Self::restart_broker)
    /// brings it back with its partitions.
    pub fn kill_broker(&self, i: usize) {
        if let Some(mut child) = self.nodes.lock().unwrap()[i + 1].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops broker `i` (0 or 1) as `docker stop` would: SIGTERM, so it shuts down in order (the controller
    /// moves its partitions' leadership first), and waits for it to exit (SIGKILL after 30 s).
    pub fn stop_broker(&self, i: usize) {
        let Some(mut child) = self.nodes.lock().unwrap()[i + 1].take() else {
            return;
        };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The node id of broker `i` (node 1 is the controller, so brokers are 2, 3, ...).
    pub fn broker_id(&self, i: usize) -> i32 {
        i as i32 + 2
    }

    /// Starts a stopped broker `i` again on its port and waits until it listens.
    pub fn restart_broker(&self, i: usize) {
        let log = self.server_log(i);
        let logged_before = std::fs::read_to_string(&log).map_or(0, |text| text.len());
        let child = self.spawn_node(i + 2);
        self.nodes.lock().unwrap()[i + 1] = Some(child);
        self.wait_for_started_after(i, logged_before);
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) broker `i`: a hung broker whose connections stay open.
    pub fn signal_broker(&self, i: usize, signal: &str) {
        let nodes = self.nodes.lock().unwrap();
        let pid = nodes[i + 1].as_ref().expect("the broker is running").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "kill -{signal} of a Kafka broker failed"
        );
    }
}

/// Runs one of Kafka's own tools (e.g. `org.apache.kafka.tools.consumer.group.ConsumerGroupCommand`) and
/// returns what it printed on stdout; panics with its output when it fails.
pub fn run_tool(class: &str, args: &[&str]) -> String {
    install();
    let output = Command::new("bash")
        .arg(project_root().join("scripts/kafka-cluster.sh"))
        .args(["tool", class])
        .args(args)
        .output()
        .expect("running kafka-cluster.sh tool");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{class} {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        for child in self.nodes.lock().unwrap().iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(self.dir.join("data"));
    }
}

impl KafkaCluster {
    /// Broker `i`'s log file (node `i + 2`).
    fn server_log(&self, i: usize) -> PathBuf {
        self.dir.join(format!("logs/node-{}/server.log", i + 2))
    }

    /// Waits until broker `i` listens and has logged "Kafka Server started" (its port accepts connections
    /// a few seconds before it has caught up with the cluster's metadata and serves requests).
    fn wait_until_serving(&self, i: usize) {
        self.wait_for_started_after(i, 0);
    }

    /// As [`wait_until_serving`](Self::wait_until_serving), for a "started" logged after the first
    /// `logged_before` bytes of the log (a restarted broker appends to its old log).
    fn wait_for_started_after(&self, i: usize, logged_before: usize) {
        wait_until_listening(self.broker_ports[i], START_TIMEOUT);
        let start = Instant::now();
        let log = self.server_log(i);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text
                .get(logged_before..)
                .is_some_and(|new| new.contains("Kafka Server started"))
            {
                return;
            }
            assert!(
                start.elapsed() < START_TIMEOUT,
                "broker {} did not start within {START_TIMEOUT:?}; see {}",
                i + 2,
                log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits until something accepts connections on `127.0.0.1:port`.
fn wait_until_listening(port: u16, timeout: Duration) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < timeout,
            "no Kafka broker listened on {port} within {timeout:?}; see target/test-kafka/"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
