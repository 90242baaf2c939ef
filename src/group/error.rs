//! What can go wrong in a consumer group, and what the member does about it.
//!
//! The coordinator answers group requests with Kafka error codes. A client does not need to understand
//! each one; it needs to know which of a handful of *reactions* applies. Java's consumer, librdkafka and
//! aiokafka all boil the codes down the same way:
//! - **rejoin**: the group is rebalancing (a member came or went); give back partitions and JoinGroup again.
//! - **rejoin fresh**: the coordinator no longer knows this member or generation (e.g. the session timed
//!   out); forget the member id and join as a new member.
//! - **rediscover**: the coordinator moved to another broker or is not ready; FindCoordinator again.
//! - **retry**: a passing problem; wait a little and try the same step again.

use std::time::Duration;

use kafka_protocol::ResponseError;

use super::coordinator::ConnectionError;
use crate::status::MemberState;

/// A group operation that did not succeed, classified by what the member should do next.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// The group is rebalancing: rejoin, keeping the member id.
    #[error("{context}: the group is rebalancing")]
    Rejoin { context: &'static str },
    /// This member or generation is unknown to the coordinator: rejoin as a new member.
    #[error("{context}: {error} (rejoining as a new member)")]
    RejoinFresh {
        context: &'static str,
        error: ResponseError,
    },
    /// The coordinator is elsewhere or unreachable: find it again.
    #[error("{context}: {reason}")]
    Rediscover { context: &'static str, reason: String },
    /// A subscription or assignment that could not be encoded or decoded; retried after a pause.
    #[error("{context}: {reason}")]
    Protocol { context: &'static str, reason: String },
    /// Anything else the broker refused; retried after a pause, and shown in `/status`.
    #[error("{context}: {error}")]
    Refused {
        context: &'static str,
        error: ResponseError,
    },
}

impl GroupError {
    /// Classifies a Kafka error code from a group response; `None` for code 0 (no error).
    pub fn from_code(context: &'static str, code: i16) -> Option<Self> {
        let error = ResponseError::try_from_code(code)?;
        Some(match error {
            ResponseError::RebalanceInProgress => Self::Rejoin { context },
            ResponseError::UnknownMemberId | ResponseError::IllegalGeneration => Self::RejoinFresh { context, error },
            ResponseError::NotCoordinator
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::CoordinatorLoadInProgress => Self::Rediscover {
                context,
                reason: error.to_string(),
            },
            _ => Self::Refused { context, error },
        })
    }

    /// How long to wait before joining again: not at all for a rebalance, a moment for a coordinator that
    /// moved or is not ready yet, longer for what will not change by itself.
    pub fn pause(&self) -> Duration {
        match self {
            Self::Rejoin { .. } | Self::RejoinFresh { .. } => Duration::ZERO,
            Self::Rediscover { .. } => Duration::from_millis(500),
            Self::Protocol { .. } | Self::Refused { .. } => Duration::from_secs(1),
        }
    }

    /// What `/status` says while the member recovers from this error.
    pub fn member_state(&self) -> MemberState {
        match self {
            Self::Rediscover { .. } => MemberState::BrokerUnavailable,
            _ => MemberState::Joining,
        }
    }

    /// Turns a code into `Ok(())` or the classified error.
    pub fn check(context: &'static str, code: i16) -> Result<(), Self> {
        match Self::from_code(context, code) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl From<ConnectionError> for GroupError {
    fn from(error: ConnectionError) -> Self {
        Self::Rediscover {
            context: "connection",
            reason: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_reactions() {
        assert!(GroupError::from_code("x", 0).is_none());
        assert!(matches!(
            GroupError::from_code("x", 27),
            Some(GroupError::Rejoin { .. })
        ));
        assert!(matches!(
            GroupError::from_code("x", 25),
            Some(GroupError::RejoinFresh { .. })
        ));
        assert!(matches!(
            GroupError::from_code("x", 22),
            Some(GroupError::RejoinFresh { .. })
        ));
        assert!(matches!(
            GroupError::from_code("x", 16),
            Some(GroupError::Rediscover { .. })
        ));
        assert!(matches!(
            GroupError::from_code("x", 15),
            Some(GroupError::Rediscover { .. })
        ));
        assert!(matches!(
            GroupError::from_code("x", 23),
            Some(GroupError::Refused { .. })
        ));
    }
}
