//! ConsumerProtocol bytes (placeholder).
