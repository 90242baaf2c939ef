//! The workshop's setup for one test: a cluster, a topic of 2 partitions and a producer sending to it,
//! with consumers of that topic started on demand.

use super::{Cluster, Flavor, Service};

/// A cluster, a topic of 2 partitions (`first-topic`, or `first-topic-N` on a shared cluster) and a
/// producer whose `KAFKA_TOPIC` it is.
pub struct Lab {
    pub cluster: Cluster,
    pub topic: String,
    pub producer: Service,
}

impl Lab {
    /// The lab on the shared cluster of `flavor` (a fresh Tansu broker, or this binary's Kafka cluster).
    pub async fn start(flavor: Flavor) -> Self {
        Self::start_on(Cluster::of(flavor, false).await).await
    }

    /// The lab on a given cluster (e.g. one of the test's own, for tests that stop brokers).
    pub async fn start_on(cluster: Cluster) -> Self {
        let topic = cluster.name("first-topic");
        cluster.create_topic(&topic, 2).await;
        let producer = Service::producer(&cluster.bootstrap(), &[("KAFKA_TOPIC", &topic)]).await;
        Self {
            cluster,
            topic,
            producer,
        }
    }

    /// A group name of this test's own.
    pub fn group(&self, base: &str) -> String {
        self.cluster.name(base)
    }

    /// A consumer of the lab's topic in `group`, with quick rebalances.
    pub async fn consumer(&self, group: &str) -> Service {
        self.consumer_with(group, &[]).await
    }

    /// A consumer of the lab's topic in `group` speaking the consumer protocol (KIP-848): the broker's session
    /// timeout and heartbeat interval apply (see [`super::kafka`]), so none are set.
    pub async fn consumer_protocol_member(&self, group: &str, extra: &[(&str, &str)]) -> Service {
        let mut env = vec![("KAFKA_TOPIC", self.topic.as_str()), ("GROUP_PROTOCOL", "consumer")];
        env.extend_from_slice(extra);
        Service::consumer(&self.cluster.bootstrap(), group, &env).await
    }

    /// [`consumer`](Self::consumer) with more environment variables.
    pub async fn consumer_with(&self, group: &str, extra: &[(&str, &str)]) -> Service {
        let mut env = self.cluster.fast_group().to_vec();
        env.push(("KAFKA_TOPIC", &self.topic));
        env.extend_from_slice(extra);
        Service::consumer(&self.cluster.bootstrap(), group, &env).await
    }
}
