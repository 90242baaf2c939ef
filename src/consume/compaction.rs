//! Whether the topic is **compacted**: its `cleanup.policy` includes `compact` (DescribeConfigs), asked once,
//! when a fetch loop first meets offsets without a record.
//!
//! On a compacted topic, Kafka's log cleaner removes every record that a later one with the same key
//! replaced, so a fetch often starts at an offset that holds nothing any more: the records go on further
//! up. Those offsets are stepped over at once. On any other topic a gap is not the cleaner's: it is a batch
//! not readable yet (Tansu can show a later batch before an earlier one), and the fetch loop waits for it a
//! while before stepping over (see `fetch_loop::gaps`). Where the policy cannot be read (a broker without
//! DescribeConfigs, an ACL that refuses it), the topic counts as not compacted, since waiting loses nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::cluster::admin::{topics, Admin};
use crate::security::Security;

/// The topic's cleanup policy, learnt once and shared by the fetch loops of all its partitions.
pub struct Compaction {
    topic: String,
    /// A tokio mutex, held across the request: the fetch loops of several partitions may meet gaps at once,
    /// and one asks while the others wait for its answer.
    admin: tokio::sync::Mutex<Admin>,
    known: OnceLock<bool>,
    /// Whether "cannot read the policy" was logged already (it is said once, not at every gap).
    told: AtomicBool,
}

impl Compaction {
    pub fn new(bootstrap_servers: Vec<String>, security: Arc<Security>, topic: String) -> Self {
        Self {
            topic,
            admin: tokio::sync::Mutex::new(Admin::new(bootstrap_servers, security)),
            known: OnceLock::new(),
            told: AtomicBool::new(false),
        }
    }

    /// Whether the topic is compacted: asked the first time, remembered once a broker answered.
    pub async fn is_compacted(&self) -> bool {
        if let Some(&compacted) = self.known.get() {
            return compacted;
        }
        let mut admin = self.admin.lock().await;
        if let Some(&compacted) = self.known.get() {
            return compacted;
        }
        match ask(&mut admin, &self.topic).await {
            Ok(policy) => {
                let compacted = compacts(&policy);
                tracing::info!(topic = %self.topic, policy, "the topic's cleanup.policy");
                *self.known.get_or_init(|| compacted)
            }
            Err(reason) => {
                if !self.told.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        topic = %self.topic,
                        "cannot read the topic's cleanup.policy ({reason}); offsets without a record are waited for"
                    );
                }
                false
            }
        }
    }
}

/// The policy, from the first broker that answers.
async fn ask(admin: &mut Admin, topic: &str) -> Result<String, String> {
    let mut failures = Vec::new();
    for address in admin.metadata_candidates() {
        match topics::cleanup_policy(admin, &address, topic).await {
            Ok(policy) => return Ok(policy),
            Err(e) => failures.push(format!("{address}: {e}")),
        }
    }
    Err(failures.join("; "))
}

/// Whether a `cleanup.policy` value (`delete`, `compact`, or both as `compact,delete`) compacts.
fn compacts(policy: &str) -> bool {
    policy.split(',').any(|part| part.trim() == "compact")
}

#[cfg(test)]
mod tests {
    use super::compacts;

    #[test]
    fn a_policy_compacts_when_it_names_compact() {
        assert!(compacts("compact"));
        assert!(compacts("compact,delete"));
        assert!(compacts("delete, compact"));
        assert!(!compacts("delete"));
        assert!(!compacts(""));
    }
}
