//! DescribeConfigs of a topic: its `cleanup.policy` (`delete`, `compact` or both), which any broker answers.
//! The consumer asks it to know whether offsets without a record are normal in its topic (see
//! [`crate::consume::compaction`]).

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::DescribeConfigsRequest;
use kafka_protocol::protocol::StrBytes;

use super::{Admin, AdminError};

/// The resource type of a topic in DescribeConfigs (Kafka's `ConfigResource.Type.TOPIC`).
const TOPIC: i8 = 2;
/// The setting asked for.
const CLEANUP_POLICY: &str = "cleanup.policy";

/// The `cleanup.policy` of `topic`, as the broker at `address` reports it (`delete` when it names none, the
/// broker's default).
pub async fn cleanup_policy(admin: &mut Admin, address: &str, topic: &str) -> Result<String, AdminError> {
    let resource = DescribeConfigsResource::default()
        .with_resource_type(TOPIC)
        .with_resource_name(StrBytes::from_string(topic.to_string()))
        .with_configuration_keys(Some(vec![StrBytes::from_static_str(CLEANUP_POLICY)]));
    let response = admin
        .send(address, i16::MAX, |_| {
            DescribeConfigsRequest::default().with_resources(vec![resource])
        })
        .await?;
    let Some(result) = response.results.into_iter().next() else {
        return Err(AdminError::Refused {
            request: "DescribeConfigs",
            reason: "the answer names no topic".into(),
        });
    };
    AdminError::check("DescribeConfigs", result.error_code, result.error_message.as_deref())?;
    let policy = result
        .configs
        .into_iter()
        .find(|config| config.name.as_str() == CLEANUP_POLICY)
        .and_then(|config| config.value);
    Ok(policy.map_or_else(|| "delete".to_string(), |value| value.to_string()))
}
