//! Configuration from environment variables, shared by both binaries.
//!
//! The workshop configures its services only through the environment (`KAFKA_TOPIC`,
//! `KAFKA_BOOTSTRAP_SERVERS`, `CONSUMER_GROUP`, `PORT`), so kafka-lab does the same. `envy` reads the
//! variables into plain structs; this module then checks each value and, when one is missing or malformed,
//! produces a single line that names the variable and the form it expects. The binaries print that line and
//! exit with status 2.
//!
//! Every variable is described once, in [`PRODUCER_VARS`], [`CONSUMER_VARS`] or, for both, the security
//! variables of [`SECURITY_VARS`]; `--help` prints those tables.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::security::Security;

mod group;
mod security;
mod vars;

pub use group::{GroupProtocol, ProtocolSettings};
pub use security::SECURITY_VARS;
pub use vars::{help_text, EnvVar, CONSUMER_VARS, PRODUCER_VARS};
use vars::{BOOTSTRAP, HOST};

/// Default heartbeats per session timeout. Kafka's docs advise a heartbeat of at most a third of the session,
/// so a lost heartbeat or two does not expire the member; more heartbeats also make a member hear of a
/// rebalance sooner (it only learns of one from a heartbeat's answer), which is what the lab shows.
/// The Java client's defaults give 15 (3 s of 45 s).
const HEARTBEATS_PER_SESSION: u64 = 10;

/// `MAX_RETAINED_BYTES` by default: 64 MiB, a small share of a laptop's memory, yet 64 of the largest
/// events the producer takes (1 MiB) and hundreds of thousands of the page's small ones.
const DEFAULT_RETAINED_BYTES: u64 = 64 << 20;
/// `FETCH_MAX_BYTES` by default: 512 KiB. The fetch buffers are most of a catching-up consumer's memory, and
/// the allocator keeps what they took: reading 1,000,000 events with 1 MiB fetches left the consumer at 31 MiB
/// of RSS for 810k events/s, with 512 KiB at 26 MiB for 765k, with 256 KiB at 17 MiB for 705k (README).
const FETCH_MAX_BYTES: u64 = 512 << 10;

/// A configuration problem, already phrased for the user: one line naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Configuration of the producer binary.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub bootstrap_servers: Vec<String>,
    /// `SECURITY_PROTOCOL` and the TLS and SASL settings it needs.
    pub security: Arc<Security>,
    pub topic: String,
    pub host: IpAddr,
    pub port: u16,
    pub request_timeout: Duration,
}

/// Where a consumer group with no committed offset starts: Kafka's `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    Latest,
    Earliest,
}

/// Configuration of the consumer binary.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub bootstrap_servers: Vec<String>,
    /// `SECURITY_PROTOCOL` and the TLS and SASL settings it needs.
    pub security: Arc<Security>,
    pub topic: String,
    pub group: String,
    pub host: IpAddr,
    pub port: u16,
    pub offset_reset: OffsetReset,
    pub session_timeout: Duration,
    /// Java's `max.poll.interval.ms`, sent as the rebalance timeout.
    pub max_poll_interval: Duration,
    /// Java's `group.instance.id`: static membership.
    pub group_instance_id: Option<String>,
    pub heartbeat_interval: Duration,
    /// `GROUP_PROTOCOL`, `GROUP_REMOTE_ASSIGNOR`, and what the chosen protocol ignores.
    pub group_protocol: ProtocolSettings,
    pub auto_commit_interval: Duration,
    pub fetch_max_wait: Duration,
    pub fetch_min_bytes: i32,
    pub fetch_max_bytes: i32,
    pub max_retained_events: usize,
    pub max_retained_bytes: usize,
}

#[derive(Deserialize)]
struct RawProducer {
    kafka_bootstrap_servers: String,
    kafka_topic: Option<String>,
    host: Option<String>,
    port: Option<String>,
    request_timeout_ms: Option<String>,
}

#[derive(Deserialize)]
struct RawConsumer {
    kafka_bootstrap_servers: String,
    kafka_topic: Option<String>,
    consumer_group: String,
    host: Option<String>,
    port: Option<String>,
    auto_offset_reset: Option<String>,
    session_timeout_ms: Option<String>,
    max_poll_interval_ms: Option<String>,
    group_instance_id: Option<String>,
    heartbeat_interval_ms: Option<String>,
    group_protocol: Option<String>,
    group_remote_assignor: Option<String>,
    auto_commit_interval_ms: Option<String>,
    fetch_max_wait_ms: Option<String>,
    fetch_min_bytes: Option<String>,
    fetch_max_bytes: Option<String>,
    max_retained_events: Option<String>,
    max_retained_bytes: Option<String>,
}

impl ProducerConfig {
    /// Reads the producer's configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the producer's configuration from `(name, value)` pairs (tests pass their own).
    pub fn from_vars(vars: impl Iterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = vars.collect();
        let raw: RawProducer = read(vars.clone().into_iter(), PRODUCER_VARS)?;
        Ok(Self {
            bootstrap_servers: parse_bootstrap(&raw.kafka_bootstrap_servers)?,
            security: parse_security(vars)?,
            topic: parse_name("KAFKA_TOPIC", raw.kafka_topic, "first-topic")?,
            host: parse_host(raw.host)?,
            port: parse_number("PORT", raw.port, 5000, 0..=u16::MAX as u64)? as u16,
            request_timeout: millis("REQUEST_TIMEOUT_MS", raw.request_timeout_ms, 5000, 100..=120_000)?,
        })
    }
}

impl ConsumerConfig {
    /// Reads the consumer's configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the consumer's configuration from `(name, value)` pairs (tests pass their own).
    pub fn from_vars(vars: impl Iterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = vars.collect();
        let raw: RawConsumer = read(vars.clone().into_iter(), CONSUMER_VARS)?;
        let group_protocol = group::parse_protocol(group::RawProtocol {
            group_protocol: raw.group_protocol.as_deref(),
            remote_assignor: raw.group_remote_assignor.as_deref(),
            session_timeout_ms: raw.session_timeout_ms.as_deref(),
            heartbeat_interval_ms: raw.heartbeat_interval_ms.as_deref(),
        })?;
        let session_ms = parse_number("SESSION_TIMEOUT_MS", raw.session_timeout_ms, 10_000, 1000..=3_600_000)?;
        let heartbeat_ms = parse_number(
            "HEARTBEAT_INTERVAL_MS",
            raw.heartbeat_interval_ms,
            session_ms / HEARTBEATS_PER_SESSION,
            1..=session_ms - 1,
        )?;
        Ok(Self {
            bootstrap_servers: parse_bootstrap(&raw.kafka_bootstrap_servers)?,
            security: parse_security(vars)?,
            topic: parse_name("KAFKA_TOPIC", raw.kafka_topic, "first-topic")?,
            group: parse_name("CONSUMER_GROUP", Some(raw.consumer_group), "")?,
            host: parse_host(raw.host)?,
            port: parse_number("PORT", raw.port, 8000, 0..=u16::MAX as u64)? as u16,
            offset_reset: parse_offset_reset(raw.auto_offset_reset)?,
            session_timeout: Duration::from_millis(session_ms),
            max_poll_interval: millis(
                "MAX_POLL_INTERVAL_MS",
                raw.max_poll_interval_ms,
                300_000,
                1000..=i32::MAX as u64,
            )?,
            group_instance_id: parse_instance_id(raw.group_instance_id)?,
            heartbeat_interval: Duration::from_millis(heartbeat_ms),
            group_protocol,
            auto_commit_interval: millis(
                "AUTO_COMMIT_INTERVAL_MS",
                raw.auto_commit_interval_ms,
                1000,
                1..=3_600_000,
            )?,
            fetch_max_wait: millis("FETCH_MAX_WAIT_MS", raw.fetch_max_wait_ms, 20, 1..=10_000)?,
            fetch_min_bytes: parse_number("FETCH_MIN_BYTES", raw.fetch_min_bytes, 1, 1..=1 << 20)? as i32,
            fetch_max_bytes: parse_number("FETCH_MAX_BYTES", raw.fetch_max_bytes, FETCH_MAX_BYTES, 1024..=64 << 20)?
                as i32,
            max_retained_events: parse_number("MAX_RETAINED_EVENTS", raw.max_retained_events, 10_000, 1..=10_000_000)?
                as usize,
            max_retained_bytes: parse_number(
                "MAX_RETAINED_BYTES",
                raw.max_retained_bytes,
                DEFAULT_RETAINED_BYTES,
                65_536..=16 << 30,
            )? as usize,
        })
    }
}

/// The security variables, read on their own (both binaries have them).
fn parse_security(vars: Vec<(String, String)>) -> Result<Arc<Security>, ConfigError> {
    let raw: security::RawSecurity = read(vars.into_iter(), &SECURITY_VARS)?;
    security::parse(raw).map(Arc::new)
}

/// Lets envy read the variables, turning its errors into a line that names the variable.
fn read<T: serde::de::DeserializeOwned>(
    vars: impl Iterator<Item = (String, String)>,
    table: &[EnvVar],
) -> Result<T, ConfigError> {
    envy::from_iter(vars).map_err(|error| match error {
        envy::Error::MissingValue(field) => {
            let name = field.to_ascii_uppercase();
            let expects = table.iter().find(|v| v.name == name).map_or("a value", |v| v.expects);
            ConfigError(format!("{name} is not set; expected {expects}"))
        }
        envy::Error::Custom(message) => ConfigError(message),
    })
}

/// Parses `host:port,host:port`, tolerating spaces, rejecting empty entries and entries without a port.
pub fn parse_bootstrap(value: &str) -> Result<Vec<String>, ConfigError> {
    let invalid = |why: String| ConfigError(format!("KAFKA_BOOTSTRAP_SERVERS {why}; expected {}", BOOTSTRAP.expects));
    let mut servers = Vec::new();
    for entry in value.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(invalid(format!("has an empty entry in '{value}'")));
        }
        let Some((host, port)) = entry.rsplit_once(':') else {
            return Err(invalid(format!("entry '{entry}' has no port")));
        };
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(invalid(format!("entry '{entry}' is not host:port")));
        }
        servers.push(entry.to_string());
    }
    Ok(servers)
}

fn parse_name(var: &str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_string());
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ConfigError(format!("{var} is empty; expected a name")));
    }
    Ok(trimmed.to_string())
}

fn parse_host(value: Option<String>) -> Result<IpAddr, ConfigError> {
    let value = value.unwrap_or_else(|| "127.0.0.1".to_string());
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError(format!("HOST is '{value}'; expected {}", HOST.expects)))
}

fn parse_number(
    var: &str,
    value: Option<String>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(value) = value else { return Ok(default) };
    match value.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError(format!(
            "{var} is '{value}'; expected a whole number from {} to {}",
            range.start(),
            range.end()
        ))),
    }
}

fn millis(
    var: &str,
    value: Option<String>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    parse_number(var, value, default, range).map(Duration::from_millis)
}

/// `GROUP_INSTANCE_ID`: Kafka accepts what it accepts for topic names (legal characters, at most 249).
fn parse_instance_id(value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    let id = value.trim();
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > 249 || !id.chars().all(legal) {
        return Err(ConfigError(format!(
            "GROUP_INSTANCE_ID is '{value}'; expected up to 249 letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(Some(id.to_string()))
}

fn parse_offset_reset(value: Option<String>) -> Result<OffsetReset, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("latest") => Ok(OffsetReset::Latest),
        Some("earliest") => Ok(OffsetReset::Earliest),
        Some(other) => Err(ConfigError(format!(
            "AUTO_OFFSET_RESET is '{other}'; expected latest or earliest"
        ))),
    }
}

#[cfg(test)]
mod tests;
