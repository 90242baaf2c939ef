//! TLS, mutual TLS and SASL against a real Apache Kafka broker (`support::secure`): the producer and
//! consumers connect with each protocol and mechanism, produce, consume in a group, commit and hand over; and
//! each mistake a user meets is refused with a clear message in the log, in `/status` and in the producer's
//! 503, with nothing produced.
//!
//! Needs the `tls` feature (`make test` runs it so); openssl makes the certificates.

#[cfg(feature = "tls")]
mod support;

#[cfg(feature = "tls")]
#[path = "security/common.rs"]
mod common;
#[cfg(feature = "tls")]
#[path = "security/refusals.rs"]
mod refusals;
#[cfg(feature = "tls")]
#[path = "security/round_trips.rs"]
mod round_trips;

/// Without the `tls` feature there is nothing to test here; say so instead of passing silently.
#[cfg(not(feature = "tls"))]
#[test]
fn needs_the_tls_feature() {
    panic!("tests/security.rs tests TLS and SASL: run it with `cargo test --features tls` (make test does)");
}
