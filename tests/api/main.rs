//! Integration tests against the real router, real databases (SQLite file; Postgres when
//! `SIMSCORE_TEST_POSTGRES_URL` is set) and the real binary. One test binary, as zero2prod does.

mod helpers;
mod jobs;
mod lifecycle;
mod openapi;
mod optimize;
mod ui;
mod validation;
