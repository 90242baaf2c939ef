//! A fresh Tansu broker on a free loopback port, installed by `scripts/install-tansu.sh` when missing.
//! It starts in milliseconds, so every test gets its own. If it cannot be installed or started, the test
//! fails loudly: there is no skipping.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running Tansu broker; stopped when dropped.
pub struct Tansu {
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

impl Tansu {
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

    /// Stops the broker (SIGKILL; `memory://` storage forgets everything).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal: STOP freezes the broker (connections stay open but nothing is answered, as with a
    /// hung broker), CONT lets it go on.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the broker is running").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} tansu failed");
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}
