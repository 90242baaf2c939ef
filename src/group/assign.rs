//! Assignors (placeholder).
