//! Reading the running services: `/status`, `/events`, `/proc/<pid>/status`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::time::sleep;

use crate::support::{http, Service};

/// Resident memory of a running service, from `/proc/<pid>/status`.
pub fn rss_mib(service: &Service) -> Option<f64> {
    proc_status_mib(service, "VmRSS:")
}

/// A memory field of `/proc/<pid>/status` (`VmRSS:` now, `VmHWM:` the peak), in MiB.
pub fn proc_status_mib(service: &Service, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", service.pid()?)).ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix(field))?;
    Some(kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok()? / 1024.0)
}

/// `HH:MM:SS:mmm` (the events' stamps) as milliseconds since midnight.
pub fn stamp_ms(stamp: &str) -> Option<f64> {
    let parts: Vec<f64> = stamp.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s, ms] = parts[..] else { return None };
    Some(((h * 60.0 + m) * 60.0 + s) * 1000.0 + ms)
}

pub async fn get_json(port: u16, path: &str) -> Option<Value> {
    let reply = http::get(port, path).await.ok().filter(|r| r.status == 200)?;
    serde_json::from_str(&reply.body).ok()
}

/// The events a consumer received after `cursor` (non-destructive `/events`), moving the cursor past them.
pub async fn read_new(port: u16, cursor: &mut u64) -> Vec<Value> {
    let mut events = Vec::new();
    while let Some(page) = get_json(port, &format!("/events?after={cursor}&limit=5000")).await {
        let batch = page["events"].as_array().cloned().unwrap_or_default();
        *cursor = page["next"].as_u64().unwrap_or(*cursor);
        let full = batch.len() == 5000;
        events.extend(batch);
        if !full {
            break;
        }
    }
    events
}

/// `(partitions owned, sum of positions, every owned partition has lag 0)` from `/status`.
pub fn progress(status: &Value) -> (usize, u64, bool) {
    let partitions = status["partitions"].as_array().cloned().unwrap_or_default();
    let consumed = partitions.iter().filter_map(|p| p["position"].as_u64()).sum();
    let caught_up = partitions.iter().all(|p| p["lag"].as_i64() == Some(0));
    (partitions.len(), consumed, caught_up)
}

/// Waits until the consumers are stable, each owns a partition, all `partitions` are owned, and every
/// position is known (so "latest" is resolved before anything is posted).
pub async fn wait_assigned(ports: &[u16], partitions: usize, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let (mut owned, mut ready) = (0, true);
        for &port in ports {
            let status = get_json(port, "/status").await.unwrap_or_default();
            let (count, _, _) = progress(&status);
            let owns = status["partitions"].as_array().cloned().unwrap_or_default();
            ready &= status["state"] == "stable" && count > 0 && owns.iter().all(|p| p["position"].is_i64());
            owned += count;
        }
        if ready && owned == partitions {
            return true;
        }
        sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Polls `/status` until both partitions are read to the end and `count` events were consumed.
pub async fn wait_caught_up(port: u16, count: u64, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let (owned, consumed, caught_up) = progress(&get_json(port, "/status").await.unwrap_or_default());
        if owned == 2 && caught_up && consumed >= count {
            return true;
        }
        sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Polls every millisecond until one of the consumers shows event `id` (only the one at index `owner`, when
/// known), and returns the event as consumed (with its `produced` and `consumed` stamps); gives up after 5 s.
pub async fn wait_seen(
    ports: &[u16; 2],
    owner: Option<usize>,
    cursors: &mut [u64; 2],
    id: u64,
    start: Instant,
) -> Option<Value> {
    let polled: Vec<usize> = owner.map_or(vec![0, 1], |index| vec![index]);
    while start.elapsed() < Duration::from_secs(5) {
        for &index in &polled {
            let events = read_new(ports[index], &mut cursors[index]).await;
            if let Some(seen) = events.into_iter().find(|e| e["event"]["id"] == id) {
                return Some(seen["event"].clone());
            }
        }
        sleep(Duration::from_millis(1)).await;
    }
    None
}

/// Which consumer (index into `ports`) owns each partition, from their `/status`.
pub async fn partition_owners(ports: &[u16]) -> BTreeMap<i64, usize> {
    let mut owners = BTreeMap::new();
    for (index, &port) in ports.iter().enumerate() {
        let status = get_json(port, "/status").await.unwrap_or_default();
        for partition in status["partitions"].as_array().into_iter().flatten() {
            if let Some(number) = partition["partition"].as_i64() {
                owners.insert(number, index);
            }
        }
    }
    owners
}

/// The partition a producer's answer to `POST /` names.
pub fn partition_of(answer: &str) -> Option<i64> {
    serde_json::from_str::<Value>(answer).ok()?["partition"].as_i64()
}

/// `consumed` minus `produced`, from an event's own stamps (millisecond resolution): the time Kafka and the
/// consumer took, without the HTTP POST before it and the polling after it.
pub fn produced_to_consumed(event: &Value) -> Option<Duration> {
    let produced = stamp_ms(event["produced"].as_str()?)?;
    let consumed = stamp_ms(event["consumed"].as_str()?)?;
    let ms = (consumed - produced).rem_euclid(86_400_000.0);
    Some(Duration::from_secs_f64(ms / 1000.0))
}

/// The `consumed` stamp (ms since midnight) of the consumer's `index`-th event (from 0). Sequence numbers
/// start where the consumer's run starts them, so the first event's `seq` is read first.
pub async fn read_stamp(port: u16, index: u64) -> Option<f64> {
    let first = get_json(port, "/events?after=0&limit=1").await?;
    let first_seq = first["events"][0]["seq"].as_u64()?;
    let run = first["run"].as_str()?;
    let after = first_seq - 1 + index;
    let page = get_json(port, &format!("/events?after={after}&run={run}&limit=1")).await?;
    stamp_ms(page["events"][0]["event"]["consumed"].as_str()?)
}

/// The `count` of every "producing a batch" debug line (one per Produce request) in a producer's log.
pub fn batch_sizes(log: &str) -> Vec<u64> {
    let lines = log.lines().filter(|line| line.contains("producing a batch"));
    let count = |line: &str| line.split("count=").nth(1)?.split(' ').next()?.parse().ok();
    lines.filter_map(count).collect()
}

/// Polls `/status` until the consumer read `count` events of both partitions; returns its rate in events/s
/// from the first progress seen to caught up (so start-up and group join are left out), or `None` on timeout.
pub async fn catch_up_rate(port: u16, count: u64, timeout: Duration) -> Option<f64> {
    let start = Instant::now();
    let mut first: Option<(Instant, u64)> = None;
    while start.elapsed() < timeout {
        let (owned, consumed, caught_up) = progress(&get_json(port, "/status").await.unwrap_or_default());
        if first.is_none() && consumed > 0 {
            first = Some((Instant::now(), consumed));
        }
        if owned == 2 && caught_up && consumed >= count {
            let (at, from) = first?;
            return Some((consumed - from) as f64 / at.elapsed().as_secs_f64().max(0.001));
        }
        sleep(Duration::from_millis(20)).await;
    }
    None
}
