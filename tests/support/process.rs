//! The kafka-lab binaries as real processes, with their output kept under `target/test-logs/`.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::http;

/// A running producer or consumer; killed when dropped.
pub struct Service {
    pub port: u16,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Service {
    /// Starts the producer against `bootstrap` on a free port and waits for `/ping`.
    pub async fn producer(bootstrap: &str, extra_env: &[(&str, &str)]) -> Self {
        let mut env = vec![("KAFKA_BOOTSTRAP_SERVERS", bootstrap)];
        env.extend_from_slice(extra_env);
        Self::start(env!("CARGO_BIN_EXE_producer"), &env).await
    }

    /// Starts a consumer in `group` against `bootstrap` on a free port and waits for `/ping`.
    pub async fn consumer(bootstrap: &str, group: &str, extra_env: &[(&str, &str)]) -> Self {
        let mut env = vec![("KAFKA_BOOTSTRAP_SERVERS", bootstrap), ("CONSUMER_GROUP", group)];
        env.extend_from_slice(extra_env);
        Self::start(consumer_binary(), &env).await
    }

    /// Starts `binary` with `env` (plus a free `PORT` unless given) and waits until `/ping` answers.
    pub async fn start(binary: &str, env: &[(&str, &str)]) -> Self {
        let chosen_port = super::free_port().to_string();
        let port_value = env
            .iter()
            .find(|(k, _)| *k == "PORT")
            .map_or(chosen_port.as_str(), |(_, v)| v);
        let port: u16 = port_value.parse().expect("PORT");
        let name = PathBuf::from(binary)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let log = log_path(&format!("{name}-{port}"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info,kafka_lab=debug")
            .env("PORT", port_value)
            .envs(env.iter().copied())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        let service = Self {
            port,
            log,
            child: Some(child),
        };
        service.wait_for_ping().await;
        service
    }

    async fn wait_for_ping(&self) {
        let start = Instant::now();
        loop {
            if let Ok(reply) = http::get(self.port, "/ping").await {
                if reply.status == 200 {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no /ping on {}; log: {}",
                self.port,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The process id while the process runs (the benchmark reads `/proc/<pid>/status`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the process printed so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// [`logs`](Self::logs) without terminal colour codes (`ESC [ ... m`), which the fields of log lines carry.
    pub fn plain_logs(&self) -> String {
        let logs = self.logs();
        let mut plain = String::with_capacity(logs.len());
        let mut chars = logs.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|&c| c == 'm');
            } else {
                plain.push(c);
            }
        }
        plain
    }

    /// Sends a signal (e.g. "INT", "KILL") and waits for the process to exit.
    pub fn signal(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("process already stopped");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} failed");
        child.wait().expect("waiting for the process")
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a binary to completion with only `env` set; returns (status, stdout + stderr).
pub fn run_to_exit(binary: &str, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let output = Command::new(binary)
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {binary}: {e}"));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status, text)
}

fn log_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-logs");
    std::fs::create_dir_all(&dir).expect("creating target/test-logs");
    dir.join(format!("{name}.log"))
}

/// The consumer binary's path (next to the producer's; both are built for every integration test).
pub fn consumer_binary() -> &'static str {
    env!("CARGO_BIN_EXE_consumer")
}
