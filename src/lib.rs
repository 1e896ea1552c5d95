//! simscore: representational-similarity scoring as a service.
//!
//! `api` (axum handlers) and `store` (SQL) sit at the edges; `jobs` holds the job-runner interface,
//! the worker pool and the job kinds, which call the pure numerics of the `simscore-core` crate.

pub mod api;
pub mod app;
pub mod auth;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod domain;
pub mod jobs;
pub mod metrics;
pub mod store;
pub mod telemetry;
pub mod version;
