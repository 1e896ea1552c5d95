//! simscore-core: the pure part of simscore.
//!
//! Nothing in this crate knows about HTTP, SQL or async runtimes: the service, the workers and the
//! CLI all call into it. `formats` reads and writes `.npy`/`.npz`; `measures` is the similarity
//! catalogue; `linalg` holds the faer helpers the measures share.

pub mod analysis;
pub mod array;
pub mod formats;
pub mod linalg;
pub mod measures;
pub mod optim;
pub mod plots;
pub mod process;
pub mod progress;
#[cfg(test)]
mod test_data;
