//! Consumer HTTP API (placeholder).
