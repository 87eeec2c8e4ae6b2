//! Strata: a migration-aware database admin dashboard (library behind the `strata` binary).
// `deny`, not `forbid`: one module, `query::sqlite_guard`, allows it to install SQLite's authorizer through the
// raw handle (sqlx has no API for it); everything else stays free of `unsafe`.
#![deny(unsafe_code)]
// The JSON API's query handler awaits through many layers (logins, engine, history): laying out its future needs more
// than the default query depth.
#![recursion_limit = "256"]

pub mod api;
pub mod backup;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod hex;
pub mod home;
pub mod maintenance;
pub mod metrics;
pub mod migrate;
pub mod query;
pub mod state;
pub mod telemetry;
pub mod viewer_login;
pub mod watch;
pub mod web;

pub use error::{Error, Result};
