//! The job kinds: thin adapters from a spec to `simscore-core` and back.

pub mod allowable_range;
pub mod optimize;
pub mod score;

use simscore_core::optim::FloatType;

use crate::jobs::{JobContext, JobError};

/// What a run produced: the result JSON and the files to store as artifacts.
pub struct Outcome {
    pub result: serde_json::Value,
    pub artifacts: Vec<(String, &'static str, Vec<u8>)>,
}

impl Outcome {
    /// Stores the artifacts and returns the result, as a job's `run` ends.
    fn store(self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        for (name, content_type, bytes) in self.artifacts {
            ctx.write_artifact(&name, content_type, bytes)?;
        }
        Ok(self.result)
    }
}

/// The seed and the device of a core run belong to the job and the worker, not to its settings.
fn check_settings_leave_seed_and_device(seed: u64, device: &str) -> Result<(), String> {
    if seed != 0 {
        return Err("set the seed as the job's top-level \"seed\", not in \"settings\"".into());
    }
    if device != "cpu" {
        return Err("the device is chosen by the worker (`simscore worker --device cuda:0`); leave settings.device out".into());
    }
    Ok(())
}

/// The reproducibility record's name of a run precision.
fn dtype_name(dtype: FloatType) -> &'static str {
    match dtype {
        FloatType::F32 => "float32",
        FloatType::F64 => "float64",
    }
}
