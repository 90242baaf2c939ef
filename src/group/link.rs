//! A member's link to its **group coordinator**: the one broker that keeps this group's state.
//!
//! Every group has exactly one coordinator, chosen by hashing the group id onto a partition of Kafka's
//! internal `__consumer_offsets` topic: the broker leading that partition coordinates the group. Any broker
//! answers FindCoordinator with its address. The coordinator can move (a broker stops, leadership changes),
//! so the link forgets its connection on such errors and finds the coordinator again on next use. The last
//! known address is kept, so a shutting-down member can still say LeaveGroup after its connection broke.

use std::time::Duration;

use super::client::{find_coordinator, GroupClient};
use super::error::GroupError;

/// The connection to a group's coordinator, found and opened on first use.
pub struct CoordinatorLink {
    bootstrap_servers: Vec<String>,
    group: String,
    connection: Option<GroupClient>,
    /// Where the coordinator was last found, even when the connection is gone.
    last_address: Option<String>,
}

impl CoordinatorLink {
    pub fn new(bootstrap_servers: Vec<String>, group: String) -> Self {
        Self {
            bootstrap_servers,
            group,
            connection: None,
            last_address: None,
        }
    }

    /// The connection to the coordinator, finding and connecting to it when there is none.
    pub async fn get(&mut self) -> Result<&mut GroupClient, GroupError> {
        if self.connection.is_none() {
            let address = find_coordinator(&self.bootstrap_servers, &self.group).await?;
            let client = GroupClient::connect(&address, &self.group).await?;
            tracing::info!(coordinator = %address, "found the group coordinator");
            self.last_address = Some(address);
            self.connection = Some(client);
        }
        self.connection.as_mut().ok_or_else(|| GroupError::Rediscover {
            context: "coordinator",
            reason: "not connected".into(),
        })
    }

    /// Drops the connection (the coordinator moved, or a request was cut off mid-way and the connection
    /// is no longer usable); the next [`get`](Self::get) finds the coordinator again.
    pub fn forget(&mut self) {
        self.connection = None;
    }

    /// A connection for the final LeaveGroup: the current one, or a new one to the last known address,
    /// opened within `timeout` (shutdown must not wait on a broker that is gone).
    pub async fn for_leaving(&mut self, timeout: Duration) -> Result<GroupClient, GroupError> {
        if let Some(connection) = self.connection.take() {
            return Ok(connection);
        }
        let address = self.last_address.clone().ok_or_else(|| GroupError::Rediscover {
            context: "LeaveGroup",
            reason: "coordinator unknown".into(),
        })?;
        let connect = GroupClient::connect(&address, &self.group);
        tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| GroupError::Rediscover {
                context: "LeaveGroup",
                reason: "connect timed out".into(),
            })?
    }
}
