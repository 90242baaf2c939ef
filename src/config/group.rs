//! Which consumer group protocol the consumer speaks, and the settings that only one of them uses.
//!
//! Kafka has two group protocols. The **classic** one (every client, every broker) lets the members work out
//! the assignment among themselves: a leader assigns, the others follow, and each rebalance stops the whole
//! group. The **consumer** protocol (KIP-848, Apache Kafka 4.0 and later) moves that work to the broker: the
//! members only heartbeat, the broker assigns with its own assignors (`uniform`, `range`), and a rebalance
//! moves only the partitions that change hands. Java chooses with `group.protocol` (default `classic`); we
//! read `GROUP_PROTOCOL` the same way.
//!
//! Under the consumer protocol the session timeout and the heartbeat interval are the broker's
//! (`group.consumer.session.timeout.ms`, `group.consumer.heartbeat.interval.ms`), so `SESSION_TIMEOUT_MS`
//! and `HEARTBEAT_INTERVAL_MS` are ignored; the Java client refuses them, we say once at start that they
//! are ignored. `GROUP_REMOTE_ASSIGNOR` means nothing to the classic protocol, likewise.

use serde::Serialize;

use super::ConfigError;

/// Java's `group.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupProtocol {
    /// JoinGroup / SyncGroup / Heartbeat; the members' leader assigns.
    #[default]
    Classic,
    /// ConsumerGroupHeartbeat (KIP-848); the broker assigns, rebalances are incremental.
    Consumer,
}

/// The settings one protocol reads and the other ignores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtocolSettings {
    pub protocol: GroupProtocol,
    /// Java's `group.remote.assignor`: the broker-side assignor to ask for (`None`: the broker's default).
    pub remote_assignor: Option<String>,
    /// One line per variable that was set but means nothing to the chosen protocol.
    pub ignored: Vec<String>,
}

/// The raw values involved, as read from the environment (`None`: not set).
pub struct RawProtocol<'a> {
    pub group_protocol: Option<&'a str>,
    pub remote_assignor: Option<&'a str>,
    pub session_timeout_ms: Option<&'a str>,
    pub heartbeat_interval_ms: Option<&'a str>,
}

/// Reads `GROUP_PROTOCOL` and `GROUP_REMOTE_ASSIGNOR`, and lists the settings the protocol ignores.
pub fn parse_protocol(raw: RawProtocol<'_>) -> Result<ProtocolSettings, ConfigError> {
    let protocol = match raw.group_protocol.map(str::trim) {
        None | Some("classic") => GroupProtocol::Classic,
        Some("consumer") => GroupProtocol::Consumer,
        Some(other) => {
            return Err(ConfigError(format!(
                "GROUP_PROTOCOL is '{other}'; expected classic or consumer"
            )))
        }
    };
    let remote_assignor = match raw.remote_assignor.map(str::trim) {
        None => None,
        Some(name @ ("uniform" | "range")) => Some(name.to_string()),
        Some(other) => {
            return Err(ConfigError(format!(
                "GROUP_REMOTE_ASSIGNOR is '{other}'; expected uniform or range"
            )))
        }
    };
    let ignored = ignored_settings(protocol, &raw);
    Ok(ProtocolSettings {
        protocol,
        remote_assignor,
        ignored,
    })
}

fn ignored_settings(protocol: GroupProtocol, raw: &RawProtocol<'_>) -> Vec<String> {
    let set = |value: Option<&str>| value.is_some();
    let mut ignored = Vec::new();
    match protocol {
        GroupProtocol::Consumer => {
            if set(raw.session_timeout_ms) {
                ignored.push(
                    "SESSION_TIMEOUT_MS is ignored with GROUP_PROTOCOL=consumer: the broker's \
                     group.consumer.session.timeout.ms applies (45 s by default)"
                        .to_string(),
                );
            }
            if set(raw.heartbeat_interval_ms) {
                ignored.push(
                    "HEARTBEAT_INTERVAL_MS is ignored with GROUP_PROTOCOL=consumer: the member heartbeats at \
                     the interval the broker returns (group.consumer.heartbeat.interval.ms, 5 s by default)"
                        .to_string(),
                );
            }
        }
        GroupProtocol::Classic => {
            if set(raw.remote_assignor) {
                ignored.push(
                    "GROUP_REMOTE_ASSIGNOR is ignored with GROUP_PROTOCOL=classic: the members' leader assigns \
                     (roundrobin or range)"
                        .to_string(),
                );
            }
        }
    }
    ignored
}

impl GroupProtocol {
    /// The name `GROUP_PROTOCOL` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Consumer => "consumer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(protocol: Option<&'a str>, assignor: Option<&'a str>, session: Option<&'a str>) -> RawProtocol<'a> {
        RawProtocol {
            group_protocol: protocol,
            remote_assignor: assignor,
            session_timeout_ms: session,
            heartbeat_interval_ms: None,
        }
    }

    #[test]
    fn classic_by_default_and_consumer_when_asked() {
        let classic = parse_protocol(raw(None, None, None)).unwrap();
        assert_eq!(classic, ProtocolSettings::default());
        let consumer = parse_protocol(raw(Some("consumer"), Some("range"), None)).unwrap();
        assert_eq!(consumer.protocol, GroupProtocol::Consumer);
        assert_eq!(consumer.remote_assignor.as_deref(), Some("range"));
        assert!(consumer.ignored.is_empty());
    }

    #[test]
    fn unknown_values_name_the_variable() {
        let error = parse_protocol(raw(Some("eager"), None, None)).unwrap_err().to_string();
        assert_eq!(error, "GROUP_PROTOCOL is 'eager'; expected classic or consumer");
        let error = parse_protocol(raw(Some("consumer"), Some("sticky"), None))
            .unwrap_err()
            .to_string();
        assert_eq!(error, "GROUP_REMOTE_ASSIGNOR is 'sticky'; expected uniform or range");
    }

    #[test]
    fn settings_the_protocol_ignores_are_listed_once_each() {
        let consumer = parse_protocol(raw(Some("consumer"), None, Some("6000"))).unwrap();
        assert_eq!(consumer.ignored.len(), 1);
        assert!(consumer.ignored[0].starts_with("SESSION_TIMEOUT_MS is ignored"));
        let classic = parse_protocol(raw(Some("classic"), Some("uniform"), Some("6000"))).unwrap();
        assert_eq!(classic.ignored.len(), 1);
        assert!(classic.ignored[0].starts_with("GROUP_REMOTE_ASSIGNOR is ignored"));
    }
}
