//! Per-tool history readers.
