//! Consumer groups, implemented on the client side with Kafka's classic group protocol.
//!
//! (Work in progress: the module map is filled in as the pieces land.)

pub mod assign;
pub mod client;
pub mod coordinator;
pub mod error;
pub mod leader;
pub mod member;
pub mod protocol;
