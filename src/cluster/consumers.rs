//! What kafka-lab's own consumers add to Kafka's view: their `/status`.
//!
//! A classic group's coordinator knows each member's assignment only as the bytes the leader sent, and not
//! every broker reports them: Tansu's DescribeGroups names the members but leaves their assignment,
//! client id and host empty. Nor does DescribeGroups report a classic group's **generation**. Our
//! consumers know both (`GET /status`: member id, generation, owned partitions). The page passes the
//! consumers it shows (`/cluster?consumers=…`), and each view asks them, so that on any broker the
//! diagram and the rebalance history know who reads what.
//!
//! Bounded: at most [`MAX_CONSUMERS`] addresses, `http://` only, the fixed path `/status`, a short
//! timeout, a small body, and only fields that match a member the coordinator listed are used.

use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::view::{Group, Protocol};

/// The most consumers asked per view.
pub const MAX_CONSUMERS: usize = 8;
/// How long one consumer may take to answer.
const TIMEOUT: Duration = Duration::from_millis(500);
/// The largest `/status` answer read.
const MAX_BODY: u64 = 256 * 1024;

/// A consumer's address as the page passed it: `http://host:port`, optionally with a path prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConsumerUrl {
    pub url: String,
    authority: String,
    path: String,
}

/// Parses the page's comma-separated list (`http://127.0.0.1:8000,http://127.0.0.1:8001`); entries that
/// are not plain `http://host:port[/path]` addresses are skipped.
pub fn parse_list(list: &str) -> Vec<ConsumerUrl> {
    let mut urls: Vec<ConsumerUrl> = list.split(',').filter_map(parse_one).collect();
    urls.sort();
    urls.dedup();
    urls.truncate(MAX_CONSUMERS);
    urls
}

fn parse_one(text: &str) -> Option<ConsumerUrl> {
    let text = text
        .trim()
        .replace("%3A", ":")
        .replace("%3a", ":")
        .replace("%2F", "/")
        .replace("%2f", "/");
    let rest = text.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let (host, port) = authority.rsplit_once(':')?;
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if host.is_empty() || !plain(host) || port.parse::<u16>().is_err() || !path.split('/').all(plain) {
        return None;
    }
    let path = path.trim_end_matches('/');
    Some(ConsumerUrl {
        url: format!(
            "http://{authority}{}",
            if path.is_empty() {
                String::new()
            } else {
                format!("/{path}")
            }
        ),
        authority: authority.to_string(),
        path: format!(
            "{}/status",
            if path.is_empty() {
                String::new()
            } else {
                format!("/{path}")
            }
        ),
    })
}

/// The part of a consumer's `/status` the view uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Reported {
    pub topic: String,
    pub group: String,
    pub member_id: Option<String>,
    pub generation: Option<i32>,
    pub state: String,
    pub partitions: Vec<ReportedPartition>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReportedPartition {
    pub partition: i32,
}

/// Asks every consumer for its `/status`, all at once; those that do not answer in time are left out.
pub async fn ask_all(consumers: Vec<ConsumerUrl>) -> Vec<(String, Reported)> {
    // One task per consumer: independent HTTP requests, so the slowest bounds the wait, not their sum.
    let mut asking = JoinSet::new();
    for consumer in consumers {
        asking.spawn(async move {
            let answer = tokio::time::timeout(TIMEOUT, get_status(&consumer)).await;
            (consumer.url, answer)
        });
    }
    let mut reported = Vec::new();
    while let Some(joined) = asking.join_next().await {
        match joined {
            Ok((url, Ok(Ok(status)))) => reported.push((url, status)),
            Ok((url, Ok(Err(error)))) => tracing::debug!(consumer = %url, "/status: {error}"),
            Ok((url, Err(_))) => tracing::debug!(consumer = %url, "/status: no answer within {TIMEOUT:?}"),
            Err(error) => tracing::debug!("/status task: {error}"),
        }
    }
    reported.sort_by(|a, b| a.0.cmp(&b.0));
    reported
}

/// One `GET /status`, HTTP/1.1 with `Connection: close`, read to the end (at most [`MAX_BODY`]).
async fn get_status(consumer: &ConsumerUrl) -> Result<Reported, String> {
    let mut stream = TcpStream::connect(&consumer.authority)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        consumer.path, consumer.authority
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream
        .take(MAX_BODY)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") || head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return Err(format!(
            "unexpected answer: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    serde_json::from_str(body).map_err(|e| format!("not a kafka-lab /status: {e}"))
}

/// Adds what the consumers reported to the members the coordinator listed: which kafka-lab consumer each
/// one is, its generation, and its partitions where the coordinator did not say.
pub fn merge(groups: &mut [Group], topic: &str, reported: &[(String, Reported)]) {
    for (url, status) in reported {
        let Some(member_id) = &status.member_id else { continue };
        let Some(group) = groups.iter_mut().find(|g| g.group == status.group) else {
            continue;
        };
        let Some(member) = group.members.iter_mut().find(|m| &m.member_id == member_id) else {
            continue;
        };
        member.kafka_lab = Some(url.clone());
        member.generation = status.generation;
        if member.assignment_from.is_none() && status.topic == topic && status.state == "stable" {
            member.partitions = status.partitions.iter().map(|p| p.partition).collect();
            member.partitions.sort_unstable();
            member.assignment_from = Some("consumer".into());
        }
    }
    for group in groups.iter_mut() {
        if group.protocol == Protocol::Classic && group.generation.is_none() {
            group.generation = group.members.iter().filter_map(|m| m.generation).max();
        }
        let owners: Vec<(i32, String)> = group
            .members
            .iter()
            .flat_map(|m| m.partitions.iter().map(|&p| (p, m.member_id.clone())))
            .collect();
        for partition in &mut group.partitions {
            partition.owner = owners
                .iter()
                .find(|(p, _)| *p == partition.partition)
                .map(|(_, m)| m.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_addresses_are_asked() {
        let urls = parse_list("http://127.0.0.1:8001,http://localhost:8000/,ftp://x:1,http://a b:1,http://h:99999");
        let named: Vec<&str> = urls.iter().map(|u| u.url.as_str()).collect();
        assert_eq!(named, ["http://127.0.0.1:8001", "http://localhost:8000"]);
        assert_eq!(urls[1].path, "/status");
        let prefixed = parse_list("http%3A%2F%2Fhost%3A9000%2Flab");
        assert_eq!(
            (prefixed[0].url.as_str(), prefixed[0].path.as_str()),
            ("http://host:9000/lab", "/lab/status")
        );
        let many: Vec<String> = (0..20).map(|i| format!("http://h:{}", 8000 + i)).collect();
        assert_eq!(parse_list(&many.join(",")).len(), MAX_CONSUMERS);
    }
}
