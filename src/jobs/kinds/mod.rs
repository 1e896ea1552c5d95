//! The job kinds: thin adapters from a spec to `simscore-core` and back.

pub mod allowable_range;
pub mod optimize;
pub mod score;
