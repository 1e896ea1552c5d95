//! The job-runner interface every job kind implements, and the registry that erases kinds to one
//! table the API (validation) and the workers (execution) share.
//!
//! A kind is a type: `Spec` is its JSON input (serde, `deny_unknown_fields`, utoipa schema),
//! `validate` checks it against the metadata of the datasets it names before anything is queued,
//! and `run` executes it on a blocking thread with a [`JobContext`] that reports progress, observes
//! cancellation, loads inputs, writes artifacts and hands out a seeded RNG.

pub mod context;
pub mod kinds;
pub mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Dataset;
use simscore_core::array::Array;
use simscore_core::formats::ArrayInfo;

pub use context::JobContext;

/// Points at one array of an uploaded dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrayRef {
    /// Dataset id, as returned by `POST /v1/datasets`.
    pub dataset: String,
    /// Array name inside an `.npz` (e.g. `X`). May be omitted when the dataset holds one array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array: Option<String>,
}

/// The datasets a spec names, with their metadata, as seen by `validate`.
pub struct Inputs {
    pub datasets: HashMap<String, Dataset>,
}

impl Inputs {
    /// The array `r` points at, or a message saying what is wrong with the reference.
    pub fn array(&self, r: &ArrayRef) -> Result<&ArrayInfo, String> {
        let ds = self
            .datasets
            .get(&r.dataset)
            .ok_or_else(|| format!("dataset {} does not exist", r.dataset))?;
        pick_array(&ds.arrays, r.array.as_deref(), &ds.id).map(|i| &ds.arrays[i])
    }
}

/// Which array of a file a reference means: the named one, or the only one.
pub fn pick_array(
    arrays: &[ArrayInfo],
    name: Option<&str>,
    dataset: &str,
) -> Result<usize, String> {
    let names = || {
        arrays
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(name) => arrays.iter().position(|a| a.name == name).ok_or_else(|| {
            format!(
                "dataset {dataset} has no array named {name:?} (it has: {})",
                names()
            )
        }),
        None if arrays.len() == 1 => Ok(0),
        None => Err(format!(
            "dataset {dataset} holds several arrays ({}); say which one with \"array\"",
            names()
        )),
    }
}

/// Takes the array a reference points at out of a loaded file.
pub fn select_array(mut arrays: Vec<(String, Array)>, r: &ArrayRef) -> Result<Array, String> {
    let infos: Vec<ArrayInfo> = arrays
        .iter()
        .map(|(name, a)| ArrayInfo {
            name: name.clone(),
            shape: a.shape.clone(),
            dtype: a.dtype,
        })
        .collect();
    let i = pick_array(&infos, r.array.as_deref(), &r.dataset)?;
    Ok(arrays.swap_remove(i).1)
}

/// Why a job did not succeed. The worker decides from this whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Bad input, a numerical failure the same input would repeat: fail now.
    #[error("{0}")]
    Fatal(String),
    /// A database, blob store or I/O hiccup: run the job again (up to `max_attempts`).
    #[error("{0}")]
    Retryable(String),
    /// The run observed a cancellation request (or lost its lease) and stopped.
    #[error("cancelled")]
    Cancelled,
}

impl From<simscore_core::progress::Cancelled> for JobError {
    fn from(_: simscore_core::progress::Cancelled) -> Self {
        JobError::Cancelled
    }
}

/// One kind of job.
pub trait JobKind: Send + Sync + 'static {
    /// The `kind` clients submit.
    const KIND: &'static str;
    /// One line for the API docs and `GET /v1/jobs` kinds listing.
    const SUMMARY: &'static str;
    type Spec: Serialize + DeserializeOwned + Send + 'static;

    /// Datasets the spec reads (their ids), so that the API can check they exist and belong to the
    /// caller and pass their metadata to `validate`.
    fn datasets(spec: &Self::Spec) -> Vec<String>;
    /// Checks the spec against its inputs' shapes and dtypes. An `Err` is shown to the client.
    fn validate(spec: &Self::Spec, inputs: &Inputs) -> Result<(), String>;
    /// The seed this run uses (recorded for reproducibility).
    fn seed(spec: &Self::Spec) -> u64;
    /// The floating-point precision the run computes in (recorded for reproducibility).
    fn dtype(_spec: &Self::Spec) -> &'static str {
        "float64"
    }
    /// Runs the job. Called on a blocking thread; report progress through `ctx` regularly.
    fn run(spec: Self::Spec, ctx: &JobContext) -> Result<serde_json::Value, JobError>;
}

/// A job kind with its types erased, as the registry holds it.
pub trait ErasedKind: Send + Sync {
    fn summary(&self) -> &'static str;
    /// Parses the spec (rejecting unknown fields) and returns it normalized with defaults filled
    /// in, together with the datasets it reads.
    fn parse(&self, spec: &serde_json::Value) -> Result<(serde_json::Value, Vec<String>), String>;
    fn validate(&self, spec: &serde_json::Value, inputs: &Inputs) -> Result<(), String>;
    fn seed(&self, spec: &serde_json::Value) -> u64;
    fn dtype(&self, spec: &serde_json::Value) -> &'static str;
    fn run(&self, spec: serde_json::Value, ctx: &JobContext)
    -> Result<serde_json::Value, JobError>;
}

struct Erased<K>(std::marker::PhantomData<K>);

impl<K: JobKind> Erased<K> {
    fn decode(spec: &serde_json::Value) -> Result<K::Spec, String> {
        serde_json::from_value(spec.clone()).map_err(|e| format!("invalid {} spec: {e}", K::KIND))
    }
}

impl<K: JobKind> ErasedKind for Erased<K> {
    fn summary(&self) -> &'static str {
        K::SUMMARY
    }
    fn parse(&self, spec: &serde_json::Value) -> Result<(serde_json::Value, Vec<String>), String> {
        let typed = Self::decode(spec)?;
        let datasets = K::datasets(&typed);
        let normalized = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
        Ok((normalized, datasets))
    }
    fn validate(&self, spec: &serde_json::Value, inputs: &Inputs) -> Result<(), String> {
        K::validate(&Self::decode(spec)?, inputs)
    }
    fn seed(&self, spec: &serde_json::Value) -> u64 {
        Self::decode(spec).map(|s| K::seed(&s)).unwrap_or_default()
    }
    fn dtype(&self, spec: &serde_json::Value) -> &'static str {
        Self::decode(spec)
            .map(|s| K::dtype(&s))
            .unwrap_or("float64")
    }
    fn run(
        &self,
        spec: serde_json::Value,
        ctx: &JobContext,
    ) -> Result<serde_json::Value, JobError> {
        let typed = Self::decode(&spec).map_err(JobError::Fatal)?;
        K::run(typed, ctx)
    }
}

/// Every job kind this build knows, by name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn ErasedKind>>,
}

impl Registry {
    /// The registry with every shipped kind.
    pub fn standard() -> Registry {
        let mut r = Registry::default();
        r.register::<kinds::score::Score>();
        r.register::<kinds::optimize::Optimize>();
        r.register::<kinds::allowable_range::AllowableRange>();
        r
    }

    pub fn register<K: JobKind>(&mut self) {
        self.kinds
            .insert(K::KIND, Arc::new(Erased::<K>(std::marker::PhantomData)));
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn ErasedKind>> {
        self.kinds.get(kind)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }
}
