//! Waiting between retries: exponential backoff with jitter, and one warning per change of error.
//!
//! A member that retries a failing step every second forever floods the broker and the log. The Java
//! client waits `retry.backoff.ms` (100 ms) after the first failure and doubles the wait after each
//! further one, up to `retry.backoff.max.ms` (1 s there; 5 s here, as a lab broker is often simply down),
//! with ±20 % of **jitter** so that the members of a group that failed together do not all retry in the
//! same instant. Success resets the wait.
//!
//! The log says `warn` when the error changes (the broker became unreachable, then the coordinator was
//! loading, ...), not on every retry, and `info` once it works again.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The first pause after a failure.
const FIRST: Duration = Duration::from_millis(100);
/// The longest pause.
const CAP: Duration = Duration::from_secs(5);

/// The pauses of one kind of retry, and the error last warned about.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
    warned: Option<String>,
}

impl Backoff {
    /// Records a failure: warns if it differs from the previous one, and returns how long to wait. `then`
    /// says what happens next, e.g. "joining again".
    pub fn failed(&mut self, then: &str, error: &impl std::fmt::Display) -> Duration {
        let text = error.to_string();
        if self.warned.as_deref() != Some(text.as_str()) {
            tracing::warn!("{text}; {then}");
            self.warned = Some(text);
        }
        let pause = pause_after(self.failures);
        self.failures = self.failures.saturating_add(1);
        pause
    }

    /// Records a success of `what`: the next failure waits the first pause again.
    pub fn succeeded(&mut self, what: &str) {
        if self.warned.take().is_some() {
            tracing::info!("{what} works again");
        }
        self.failures = 0;
    }
}

/// The pause after `failures` earlier failures in a row: 100 ms, 200 ms, 400 ms, ... up to 5 s, ±20 %.
pub fn pause_after(failures: u32) -> Duration {
    let exponential = FIRST.saturating_mul(2u32.saturating_pow(failures.min(16)));
    let base = exponential.min(CAP);
    base.mul_f64(0.8 + 0.4 * random_fraction())
}

/// A number in `[0, 1)`, different on every call. `RandomState` is seeded randomly per instance by the
/// standard library, which is all the randomness jitter needs (no crate for it).
fn random_fraction() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_with_jitter() {
        let within = |pause: Duration, base_ms: u64| {
            let base = Duration::from_millis(base_ms);
            pause >= base.mul_f64(0.8) && pause <= base.mul_f64(1.2)
        };
        assert!(within(pause_after(0), 100));
        assert!(within(pause_after(1), 200));
        assert!(within(pause_after(3), 800));
        assert!(within(pause_after(10), 5000));
        assert!(within(pause_after(u32::MAX), 5000));
        let pauses: std::collections::BTreeSet<_> = (0..20).map(|_| pause_after(2)).collect();
        assert!(pauses.len() > 1, "jitter varies the pause");
    }

    #[test]
    fn success_resets_the_pause() {
        let mut backoff = Backoff::default();
        for _ in 0..5 {
            backoff.failed("x", &"down");
        }
        backoff.succeeded("x");
        assert!(backoff.failed("x", &"down") <= Duration::from_millis(120));
    }
}
