//! Consumed events buffer (placeholder).
