//! What can go wrong in a consumer group, and what the member does about it.
//!
//! The coordinator answers group requests with Kafka error codes. A client does not need to understand
//! each one; it needs to know which of a handful of *reactions* applies. The Java consumer
//! (`AbstractCoordinator`, `ConsumerCoordinator`) boils the codes down like this, and so do we:
//!
//! | class | codes | what the member does |
//! |---|---|---|
//! | **rejoin** | REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, FENCED_MEMBER_EPOCH | the generation (or member epoch) is over: give back the partitions, join again with the **same** member id |
//! | **rejoin fresh** | UNKNOWN_MEMBER_ID, GROUP_ID_NOT_FOUND | the coordinator forgot this member: join again as a new member |
//! | **rediscover** | NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS, REQUEST_TIMED_OUT, a broken or silent connection | the coordinator moved or is not ready: find it again; **the generation goes on** |
//! | **retry** | STALE_MEMBER_EPOCH (a commit that crossed a new epoch), any other retriable code, an answer we could not read | a passing problem: try the same step again after a pause |
//! | **fatal** | INVALID_SESSION_TIMEOUT, INCONSISTENT_GROUP_PROTOCOL, authorization failures, GROUP_MAX_SIZE_REACHED, FENCED_INSTANCE_ID, UNRELEASED_INSTANCE_ID, UNSUPPORTED_ASSIGNOR, UNSUPPORTED_VERSION, INVALID_REQUEST, ... | will not change by itself: stop, and say what to change |
//!
//! FENCED_MEMBER_EPOCH, UNRELEASED_INSTANCE_ID, UNSUPPORTED_ASSIGNOR and STALE_MEMBER_EPOCH only come from the
//! consumer protocol (KIP-848, see [`super::consumer`]); the other codes mean the same under both protocols.
//!
//! Only the coordinator's own verdict on this member (rejoin, rejoin fresh, FENCED_INSTANCE_ID) ends a
//! generation. A coordinator that moved, was slow to answer, or left heartbeats unanswered for a whole
//! session timeout says nothing about the member: ending the generation then would only cause duplicates
//! and a rebalance of the whole group (see [`super::heartbeat`]).
//!
//! Codes this table does not name are retried with a pause (and shown in `/status`) rather than stopping
//! the process: a consumer that keeps trying is easier to reason about in a lab than one that vanishes.

use kafka_protocol::ResponseError;

use super::connection::ConnectionError;
use super::member::GroupSettings;
use crate::status::MemberState;

/// A group operation that did not succeed, classified by what the member should do next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GroupError {
    /// This generation is over, but the coordinator still knows the member: rejoin with the same id.
    #[error("{context}: {} (rejoining)", name(*error))]
    Rejoin {
        context: &'static str,
        error: ResponseError,
    },
    /// The coordinator does not know this member (any more): rejoin as a new member.
    #[error("{context}: {} (rejoining as a new member)", name(*error))]
    RejoinFresh {
        context: &'static str,
        error: ResponseError,
    },
    /// The coordinator moved, is not ready, or did not answer: find it again.
    #[error("{context}: {reason}")]
    Rediscover { context: &'static str, reason: String },
    /// A passing problem: try the same step again after a pause.
    #[error("{context}: {reason}")]
    Retry { context: &'static str, reason: String },
    /// The coordinator refused something that will not change by itself.
    #[error("{context}: {}", name(*error))]
    Fatal {
        context: &'static str,
        error: ResponseError,
    },
    /// The broker lacks a protocol version this member needs.
    #[error("{context}: {reason}")]
    Unsupported { context: &'static str, reason: String },
}

impl GroupError {
    /// Classifies a Kafka error code from a group response; `None` for code 0 (no error).
    pub fn from_code(context: &'static str, code: i16) -> Option<Self> {
        use ResponseError::*;
        let error = ResponseError::try_from_code(code)?;
        Some(match error {
            RebalanceInProgress | IllegalGeneration | FencedMemberEpoch => Self::Rejoin { context, error },
            UnknownMemberId | GroupIdNotFound => Self::RejoinFresh { context, error },
            NotCoordinator | CoordinatorNotAvailable | CoordinatorLoadInProgress | RequestTimedOut => {
                Self::Rediscover {
                    context,
                    reason: name(error),
                }
            }
            InvalidSessionTimeout
            | InconsistentGroupProtocol
            | InvalidGroupId
            | GroupAuthorizationFailed
            | TopicAuthorizationFailed
            | GroupMaxSizeReached
            | FencedInstanceId
            | UnreleasedInstanceId
            | UnsupportedAssignor
            | InvalidRequest
            | UnsupportedVersion => Self::Fatal { context, error },
            _ => Self::Retry {
                context,
                reason: name(error),
            },
        })
    }

    /// Turns a code into `Ok(())` or the classified error.
    pub fn check(context: &'static str, code: i16) -> Result<(), Self> {
        match Self::from_code(context, code) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Whether this error is the coordinator's verdict that this member's generation is over.
    pub fn ends_generation(&self) -> bool {
        matches!(self, Self::Rejoin { .. } | Self::RejoinFresh { .. }) || self.is_fatal()
    }

    /// Whether the member must stop.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Fatal { .. } | Self::Unsupported { .. })
    }

    /// Whether the coordinator still holds this member's id after this error (so leaving must say so).
    pub fn member_still_known(&self) -> bool {
        !matches!(
            self,
            Self::RejoinFresh { .. }
                | Self::Fatal {
                    error: ResponseError::FencedInstanceId | ResponseError::UnreleasedInstanceId,
                    ..
                }
        )
    }

    /// What `/status` says while the member recovers from this error.
    pub fn member_state(&self) -> MemberState {
        match self {
            Self::Rediscover { .. } => MemberState::BrokerUnavailable,
            Self::Fatal { .. } | Self::Unsupported { .. } => MemberState::Failed,
            _ => MemberState::Joining,
        }
    }

    /// A fatal error as one line for the user: the cause, then what to change.
    pub fn explain(&self, settings: &GroupSettings) -> String {
        let advice = match self {
            Self::Fatal { error, .. } => advice(*error, settings),
            Self::Unsupported {
                context: "ConsumerGroupHeartbeat",
                ..
            } => "use GROUP_PROTOCOL=classic, or Apache Kafka 4.0 or newer".to_string(),
            Self::Unsupported { .. } => "use a newer broker, or leave out the setting that needs it".to_string(),
            _ => return self.to_string(),
        };
        format!("{self}: {advice}")
    }
}

/// What to change for each fatal code.
fn advice(error: ResponseError, settings: &GroupSettings) -> String {
    let group = &settings.group;
    match error {
        ResponseError::InvalidSessionTimeout => format!(
            "the broker refused SESSION_TIMEOUT_MS={}: it must lie within the broker's group.min.session.timeout.ms \
             and group.max.session.timeout.ms (6000..1800000 by default on Apache Kafka); change SESSION_TIMEOUT_MS",
            settings.session_timeout.as_millis()
        ),
        ResponseError::InconsistentGroupProtocol => format!(
            "the members of {group} offer no common assignor (we offer roundrobin and range) or are not all \
             consumers; use another CONSUMER_GROUP or give the other members a common assignor"
        ),
        ResponseError::InvalidGroupId => format!("the broker refuses the group id '{group}'; change CONSUMER_GROUP"),
        ResponseError::GroupAuthorizationFailed => {
            format!("this client may not use group {group}; grant it READ on the group, or change CONSUMER_GROUP")
        }
        ResponseError::TopicAuthorizationFailed => {
            "this client may not read the topic; grant it READ on the topic, or change KAFKA_TOPIC".to_string()
        }
        ResponseError::GroupMaxSizeReached => {
            format!("{group} already has the broker's group.max.size members; stop one or use another CONSUMER_GROUP")
        }
        ResponseError::FencedInstanceId => format!(
            "another consumer runs with GROUP_INSTANCE_ID={}; give each consumer its own GROUP_INSTANCE_ID",
            settings.instance_id.as_deref().unwrap_or("?")
        ),
        ResponseError::UnreleasedInstanceId => format!(
            "the group still holds GROUP_INSTANCE_ID={} for another consumer: one runs with it, or one that was \
             killed has not timed out yet (the broker's group.consumer.session.timeout.ms, 45 s by default); \
             give each consumer its own GROUP_INSTANCE_ID, or start this one again after that",
            settings.instance_id.as_deref().unwrap_or("?")
        ),
        ResponseError::UnsupportedAssignor => "the broker has no assignor named by GROUP_REMOTE_ASSIGNOR (its \
             group.consumer.assignors: uniform and range by default); change GROUP_REMOTE_ASSIGNOR, or unset it"
            .to_string(),
        ResponseError::InvalidRequest => {
            "the broker refused a request of ours as malformed; see the broker's log (and report it)".to_string()
        }
        ResponseError::UnsupportedVersion => "the broker does not support a request version we sent".to_string(),
        _ => "see the broker's log".to_string(),
    }
}

/// Kafka's name for an error code, as its docs and logs write it: `INVALID_SESSION_TIMEOUT`.
pub fn name(error: ResponseError) -> String {
    if let ResponseError::Unknown(code) = error {
        return format!("error code {code}");
    }
    let mut name = String::new();
    for (i, c) in error.to_string().chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

impl From<ConnectionError> for GroupError {
    fn from(error: ConnectionError) -> Self {
        match error {
            ConnectionError::Unsupported { .. } => Self::Unsupported {
                context: "ApiVersions",
                reason: error.to_string(),
            },
            // A request we could not encode is a bug of ours, not the broker's: retrying will not help.
            ConnectionError::Encode { .. } => Self::Unsupported {
                context: "encode",
                reason: error.to_string(),
            },
            _ => Self::Rediscover {
                context: "connection",
                reason: error.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(code: i16) -> GroupError {
        GroupError::from_code("x", code).expect("an error")
    }

    #[test]
    fn codes_map_to_reactions() {
        assert!(GroupError::from_code("x", 0).is_none());
        for code in [27, 22, 110] {
            assert!(matches!(class(code), GroupError::Rejoin { .. }), "{code}");
        }
        for code in [25, 69] {
            assert!(matches!(class(code), GroupError::RejoinFresh { .. }), "{code}");
        }
        for code in [16, 15, 14, 7] {
            assert!(matches!(class(code), GroupError::Rediscover { .. }), "{code}");
        }
        for code in [26, 23, 24, 30, 29, 81, 82, 111, 112, 42, 35] {
            assert!(class(code).is_fatal(), "{code}");
        }
        assert!(matches!(class(88), GroupError::Retry { .. }));
        assert!(matches!(class(113), GroupError::Retry { .. }), "STALE_MEMBER_EPOCH");
        assert!(matches!(class(-1), GroupError::Retry { .. }));
    }

    #[test]
    fn only_the_coordinators_verdict_ends_a_generation() {
        assert!(class(27).ends_generation() && class(22).ends_generation() && class(25).ends_generation());
        assert!(class(82).ends_generation());
        assert!(!class(16).ends_generation() && !class(7).ends_generation() && !class(88).ends_generation());
    }

    #[test]
    fn names_are_kafkas() {
        assert_eq!(name(ResponseError::InvalidSessionTimeout), "INVALID_SESSION_TIMEOUT");
        assert_eq!(name(ResponseError::Unknown(999)), "error code 999");
        assert_eq!(
            class(25).to_string(),
            "x: UNKNOWN_MEMBER_ID (rejoining as a new member)"
        );
    }
}
