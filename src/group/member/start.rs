//! The start of a generation: where each owned partition starts reading.
//!
//! A partition starts at the group's **committed offset** (OffsetFetch). Where the group never committed
//! one, the reset policy (`AUTO_OFFSET_RESET`) chooses, and that choice is committed at once, before any
//! event is read: if this member dies right after, the next owner starts from the same point, not from a
//! later "latest" that would skip the events produced in between.
//!
//! These look-ups belong to the generation: the member is already in it (its heartbeat runs), so a
//! coordinator that moved or a broker that was slow to answer is retried with backoff, in the same
//! generation. Only the coordinator's verdict (here, or from the heartbeat) ends it.

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use super::{Ended, Member};
use crate::consume::DataPath;
use crate::group::backoff::Backoff;
use crate::group::commits;
use crate::group::heartbeat::Heartbeat;
use crate::group::link::Coordinator;

impl<C: Coordinator, D: DataPath> Member<C, D> {
    /// The starting offset of each of `partitions`, retried until it is known or the generation ends.
    pub(super) async fn starting_points(
        &mut self,
        generation: i32,
        partitions: &[i32],
        heartbeat: &mut Heartbeat,
        shutdown: &CancellationToken,
    ) -> Result<BTreeMap<i32, i64>, Ended> {
        let mut backoff = Backoff::default();
        loop {
            let attempt = tokio::select! {
                attempt = commits::starting_points(&mut self.coordinator, &self.data, &self.me, generation, partitions) => attempt,
                verdict = heartbeat.ended() => return Err(Ended::Over(verdict)),
                () = shutdown.cancelled() => return Err(Ended::Shutdown),
            };
            let error = match attempt {
                Ok(starts) => return Ok(starts),
                Err(error) if error.ends_generation() => return Err(Ended::Over(error)),
                Err(error) => error,
            };
            self.publish(|s| s.last_error = Some(error.to_string()));
            let pause = backoff.failed("trying again in the same generation, with backoff", &error);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                verdict = heartbeat.ended() => return Err(Ended::Over(verdict)),
                () = shutdown.cancelled() => return Err(Ended::Shutdown),
            }
        }
    }
}
