//! Test support: real brokers (Apache Kafka and Tansu, see [`cluster`]), the binaries as real processes, a
//! tiny HTTP client, and a headless browser for the lab page. Nothing here mocks Kafka.
#![allow(dead_code)]

pub mod browser;
pub mod cluster;
pub mod group;
pub mod http;
pub mod kafka;
pub mod lab;
pub mod peer;
pub mod process;
pub mod secure;
pub mod tansu;

pub use cluster::{Cluster, Flavor};
pub use process::Service;

use std::time::{Duration, Instant};

/// Polls `check` every 20 ms until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for this test's turn among the tests of its binary that call it, and holds it while the guard
/// lives: for tests too heavy to run side by side on a 2-core machine (a browser and a cluster each).
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("no free loopback port")
}
