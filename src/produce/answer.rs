//! What the producer answers when an event was not acknowledged, and how an rskafka error is read to tell.
//!
//! A client that gets an error wants to know one thing: **may it send the event again?** That depends on
//! whether the Produce request reached a broker:
//! - it was never sent (no connection could be made, the leader could not be found), or a broker refused it
//!   with an error code (it then wrote nothing): **not sent**, sending again is safe;
//! - it was sent and no answer came (a timeout, a connection that broke while waiting, an answer that could
//!   not be read), or the broker said it appended the batch but could not replicate it in time: **sent, not
//!   acknowledged**, the event may be in Kafka, and sending it again may write it twice.

use rskafka::client::error::{Error as KafkaError, ProtocolError, RequestError};

use super::batch::BatchError;

/// Why an event was not acknowledged, as the HTTP answer says it.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("topic '{0}' does not exist; create it first (the workshop's topics have 2 partitions)")]
    UnknownTopic(String),
    #[error(
        "topic '{0}' no longer exists: it was deleted while the producer ran. The producer does not create \
         topics: create it again"
    )]
    DeletedTopic(String),
    #[error("not sent, nothing was written: {0}")]
    NotSent(String),
    #[error("sent, but not acknowledged: {0}. The event may have been written: sending it again may write it twice")]
    Unconfirmed(String),
    #[error("the broker refused the event as too large: {0}")]
    TooLarge(String),
}

/// How one attempt failed, before it becomes an answer: the send loop retries what wrote nothing and may
/// work on a second try, and treats Kafka as unreachable after a connection failure.
#[derive(Debug)]
pub(super) enum Failure {
    /// A broker refused the request with an error code that may pass (a leader moving): nothing written.
    Refused(String),
    /// No connection could be made, or a connection failed before the request went out: nothing written.
    Unreachable(String),
    /// The request went out on a connection that then broke or went silent: maybe written.
    Lost(String),
    /// The broker does not know the topic (it may have been deleted): nothing written.
    UnknownTopic,
    /// An answer as it is.
    Final(SendError),
}

impl Failure {
    /// The failure in words, for the log.
    pub(super) fn reason(&self) -> String {
        match self {
            Self::Refused(reason) | Self::Unreachable(reason) | Self::Lost(reason) => reason.clone(),
            Self::UnknownTopic => "the broker does not know the topic".into(),
            Self::Final(error) => error.to_string(),
        }
    }
}

/// Reads an error from the steps before the Produce request (connecting, finding the partition leader,
/// checking an idle connection): nothing was sent, whatever it was.
pub(super) fn before_sending(error: KafkaError) -> Failure {
    match unwrap_retry(&error) {
        Some(KafkaError::ServerError {
            protocol_error: ProtocolError::UnknownTopicOrPartition,
            ..
        }) => Failure::UnknownTopic,
        Some(KafkaError::ServerError { .. } | KafkaError::InvalidResponse(_)) => Failure::Refused(error.to_string()),
        _ => Failure::Unreachable(error.to_string()),
    }
}

/// Reads the failure of the batch an event travelled in (every event of the batch gets the same answer).
pub(super) fn from_batch(error: BatchError) -> Failure {
    match error {
        BatchError::Kafka(error) => after_sending(&error),
        BatchError::NoAnswer(timeout) => Failure::Lost(format!("no acknowledgement within {timeout:?}")),
        BatchError::BadAnswer(reason) => Failure::Final(SendError::Unconfirmed(reason)),
        BatchError::Stopped => Failure::Refused("the partition's sender had stopped".into()),
        BatchError::Abandoned => Failure::Lost("the partition's sender stopped before the answer came".into()),
    }
}

/// Reads the error of a Produce request (sent exactly once: the producer's client does not retry).
pub(super) fn after_sending(error: &KafkaError) -> Failure {
    let reason = error.to_string();
    let Some(inner) = unwrap_retry(error) else {
        return Failure::Lost(reason);
    };
    match inner {
        KafkaError::ServerError { protocol_error, .. } => from_code(protocol_error, reason),
        // Connecting again (the cached connection had been dropped) failed: the request never went out.
        KafkaError::Connection(_) | KafkaError::RetryFailed(_) => Failure::Unreachable(reason),
        // Writing the request failed: nothing went out whole.
        KafkaError::Request(RequestError::Poisoned(_)) if written_nothing(inner) => Failure::Unreachable(reason),
        KafkaError::Request(_) | KafkaError::Timeout => Failure::Lost(reason),
        KafkaError::InvalidResponse(_) => Failure::Final(SendError::Unconfirmed(format!(
            "the broker's answer could not be read ({reason})"
        ))),
        _ => Failure::Lost(reason),
    }
}

/// A broker's error code for a Produce: every code means the batch was not appended, except the two that
/// say it was appended but not replicated in time.
fn from_code(code: &ProtocolError, reason: String) -> Failure {
    match code {
        ProtocolError::UnknownTopicOrPartition => Failure::UnknownTopic,
        ProtocolError::RequestTimedOut | ProtocolError::NotEnoughReplicasAfterAppend => Failure::Final(
            SendError::Unconfirmed(format!("the leader could not replicate it in time ({reason})")),
        ),
        ProtocolError::MessageTooLarge | ProtocolError::RecordListTooLarge => {
            Failure::Final(SendError::TooLarge(reason))
        }
        ProtocolError::NotLeaderOrFollower
        | ProtocolError::LeaderNotAvailable
        | ProtocolError::NotEnoughReplicas
        | ProtocolError::KafkaStorageError
        | ProtocolError::CorruptMessage => Failure::Refused(reason),
        // An ACL: it will not change by itself, and the user needs Kafka's name for it.
        ProtocolError::TopicAuthorizationFailed => Failure::Final(SendError::NotSent(format!(
            "TOPIC_AUTHORIZATION_FAILED: this client may not write to the topic; grant its user WRITE on it ({reason})"
        ))),
        _ => Failure::Final(SendError::NotSent(format!("the broker refused the event ({reason})"))),
    }
}

/// rskafka reports an error it would have retried inside `RetryFailed` (the producer's client never
/// retries); this is the error itself, when it is one of rskafka's.
fn unwrap_retry(error: &KafkaError) -> Option<&KafkaError> {
    match error {
        KafkaError::RetryFailed(rskafka::BackoffError::DeadlineExceded { source, .. }) => {
            source.downcast_ref::<KafkaError>()
        }
        other => Some(other),
    }
}

/// Whether a `Poisoned` error means the request was never written. Poisoned by a failed write, the request's
/// frame did not get out whole, and a broker ignores a partial frame: nothing written. Poisoned by a failed
/// read, the lost answer may have been this request's (maybe written) or an earlier one's (not sent); rskafka
/// does not say which, so it counts as "maybe" (the producer checks idle connections before sending on them,
/// which catches the common case of a broker that died while nobody was sending).
fn written_nothing(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::Request(RequestError::Poisoned(cause)) if matches!(**cause, RequestError::WriteMessageError(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rskafka::client::error::RequestContext;

    fn server_error(protocol_error: ProtocolError) -> KafkaError {
        KafkaError::ServerError {
            protocol_error,
            error_message: None,
            request: RequestContext::Topic("t".into()),
            response: None,
            is_virtual: false,
        }
    }

    fn retried(error: KafkaError) -> KafkaError {
        KafkaError::RetryFailed(rskafka::BackoffError::DeadlineExceded {
            deadline: std::time::Duration::ZERO,
            source: Box::new(error),
        })
    }

    #[test]
    fn a_broken_connection_after_sending_may_have_written() {
        let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof");
        let error = retried(KafkaError::Request(RequestError::IO(io)));
        assert!(matches!(after_sending(&error), Failure::Lost(_)));
        assert!(matches!(after_sending(&KafkaError::Timeout), Failure::Lost(_)));
    }

    #[test]
    fn broker_codes_say_whether_the_batch_was_appended() {
        assert!(matches!(
            after_sending(&server_error(ProtocolError::RequestTimedOut)),
            Failure::Final(SendError::Unconfirmed(_))
        ));
        assert!(matches!(
            after_sending(&retried(server_error(ProtocolError::NotLeaderOrFollower))),
            Failure::Refused(_)
        ));
        assert!(matches!(
            after_sending(&server_error(ProtocolError::MessageTooLarge)),
            Failure::Final(SendError::TooLarge(_))
        ));
        assert!(matches!(
            after_sending(&retried(server_error(ProtocolError::UnknownTopicOrPartition))),
            Failure::UnknownTopic
        ));
        assert!(matches!(
            after_sending(&server_error(ProtocolError::InvalidRecord)),
            Failure::Final(SendError::NotSent(_))
        ));
        let denied = after_sending(&server_error(ProtocolError::TopicAuthorizationFailed)).reason();
        assert!(
            denied.starts_with("not sent") && denied.contains("TOPIC_AUTHORIZATION_FAILED"),
            "{denied}"
        );
    }

    #[test]
    fn nothing_is_sent_before_the_produce_request() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            before_sending(retried(KafkaError::Request(RequestError::IO(io)))),
            Failure::Unreachable(_)
        ));
        assert!(matches!(
            before_sending(server_error(ProtocolError::LeaderNotAvailable)),
            Failure::Refused(_)
        ));
        assert!(matches!(
            before_sending(server_error(ProtocolError::UnknownTopicOrPartition)),
            Failure::UnknownTopic
        ));
    }

    #[test]
    fn messages_say_whether_to_send_again() {
        let not_sent = SendError::NotSent("Kafka is unreachable".into()).to_string();
        assert!(not_sent.contains("nothing was written"), "{not_sent}");
        let unconfirmed = SendError::Unconfirmed("no acknowledgement within 5s".into()).to_string();
        assert!(unconfirmed.contains("may have been written"), "{unconfirmed}");
    }
}
