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

use std::sync::atomic::{AtomicU32, Ordering};
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

/// A loopback port that was free a moment ago, below the kernel's ephemeral range.
///
/// A port the kernel hands out for `127.0.0.1:0` comes from the ephemeral range, the same range from which it
/// picks the local port of every outgoing connection. A broker binds its port seconds after the pick (a JVM
/// starting), and in that window any connection on the machine may take it: a broker then fails with "Address
/// already in use" (seen once in CI). Below the ephemeral range no outgoing connection is given a port, so the
/// ports are handed out in turn from there, from a starting point that differs between processes, each checked
/// free by binding it.
pub fn free_port() -> u16 {
    static HANDED_OUT: AtomicU32 = AtomicU32::new(0);
    let (first, count) = ports_below_ephemeral();
    let start = std::process::id().wrapping_mul(97) % count;
    for _ in 0..count {
        let offset = (start + HANDED_OUT.fetch_add(1, Ordering::Relaxed)) % count;
        let port = (first + offset) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {first}..{}", first + count);
}

/// The first port and the number of ports `free_port` uses: from 20000 up to the start of the kernel's
/// ephemeral range (32768 by default on Linux; `/proc/sys/net/ipv4/ip_local_port_range`).
fn ports_below_ephemeral() -> (u32, u32) {
    const FIRST: u32 = 20_000;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let ephemeral_start = range
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(32_768);
    assert!(
        ephemeral_start > FIRST + 1_000,
        "the ephemeral port range starts at {ephemeral_start}: the tests need ports 20000..21000 outside it"
    );
    (FIRST, ephemeral_start - FIRST)
}
