//! What a running job sees of the service: its inputs, a seeded RNG, progress reporting,
//! cancellation, logs and artifacts. Lives on a blocking thread and calls back into the async store
//! through the runtime handle.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::runtime::Handle;

use super::{ArrayRef, JobError};
use crate::blobs::BlobStore;
use crate::domain::{Artifact, Lease};
use crate::store::Store;
use simscore_core::array::Array;

/// Progress is written to the database at most this often (plus the final value).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// A loaded input file: its arrays by name.
type LoadedFile = Arc<Vec<(String, Array)>>;

/// What the worker lends every job it runs.
pub(crate) struct Services {
    pub rt: Handle,
    pub store: Store,
    pub blobs: BlobStore,
    pub device: String,
}

pub struct JobContext {
    rt: Handle,
    store: Store,
    blobs: BlobStore,
    lease: Lease,
    seed: u64,
    device: String,
    /// (dataset id → sha256) of every input, from the queue.
    inputs: HashMap<String, String>,
    /// Set by a cancellation request or a lost lease (heartbeat task or progress write).
    stop: Arc<AtomicBool>,
    last_progress: Mutex<Option<Instant>>,
    loaded: Mutex<HashMap<String, LoadedFile>>,
}

impl JobContext {
    pub(crate) fn new(
        services: Services,
        lease: Lease,
        seed: u64,
        inputs: HashMap<String, String>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let Services {
            rt,
            store,
            blobs,
            device,
        } = services;
        JobContext {
            rt,
            store,
            blobs,
            lease,
            seed,
            device,
            inputs,
            stop,
            last_progress: Mutex::new(None),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    pub fn job_id(&self) -> &str {
        &self.lease.job_id
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A fresh RNG seeded from the job's seed and `stream`, so independent parts of a job (say,
    /// permutations and bootstrap) draw reproducible, independent numbers.
    pub fn rng(&self, stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream);
        rng
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// Whether the job should stop (cancellation requested or lease lost).
    pub fn cancelled(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Fails with `Cancelled` when the job should stop.
    pub fn checkpoint(&self) -> Result<(), JobError> {
        if self.cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Reports progress (0..=1) with a message; throttled. Also learns of cancellation.
    pub fn progress(&self, fraction: f64, message: &str) {
        {
            let mut last = self.last_progress.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < PROGRESS_INTERVAL) && fraction < 1.0 {
                return;
            }
            *last = Some(Instant::now());
        }
        let fraction = fraction.clamp(0.0, 1.0);
        match self
            .rt
            .block_on(self.store.set_progress(&self.lease, fraction, message))
        {
            Ok(Some(false)) => {}
            Ok(Some(true)) | Ok(None) => self.stop.store(true, Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(job = %self.lease.job_id, error = %e, "could not record progress")
            }
        }
    }

    /// Appends a line to the job's event stream.
    pub fn log(&self, message: &str) {
        if let Err(e) = self.rt.block_on(self.store.log(&self.lease, message)) {
            tracing::warn!(job = %self.lease.job_id, error = %e, "could not record a log line");
        }
    }

    /// All arrays of an input dataset (loaded once per job).
    pub fn dataset(&self, dataset_id: &str) -> Result<LoadedFile, JobError> {
        if let Some(arrays) = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(dataset_id)
        {
            return Ok(arrays.clone());
        }
        let sha = self.inputs.get(dataset_id).ok_or_else(|| {
            JobError::Fatal(format!("dataset {dataset_id} is not an input of this job"))
        })?;
        let bytes = self
            .rt
            .block_on(self.blobs.get(sha))
            .map_err(|e| JobError::Retryable(format!("reading dataset {dataset_id}: {e:#}")))?;
        let arrays = simscore_core::formats::load_bytes(&bytes, "X")
            .map_err(|e| JobError::Fatal(format!("dataset {dataset_id}: {e}")))?;
        let arrays = Arc::new(arrays);
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dataset_id.to_string(), arrays.clone());
        Ok(arrays)
    }

    /// The array a reference points at.
    pub fn array(&self, r: &ArrayRef) -> Result<Array, JobError> {
        let arrays = self.dataset(&r.dataset)?;
        super::select_array(arrays.as_ref().clone(), r).map_err(JobError::Fatal)
    }

    /// Stores an artifact of the job (replacing one of the same name from an earlier attempt).
    pub fn write_artifact(
        &self,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), JobError> {
        let size = bytes.len() as i64;
        let sha = self
            .rt
            .block_on(self.blobs.put_bytes(Bytes::from(bytes)))
            .map_err(|e| JobError::Retryable(format!("writing artifact {name}: {e:#}")))?;
        let artifact = Artifact {
            name: name.to_string(),
            content_type: content_type.to_string(),
            sha256: sha,
            size_bytes: size,
            url: String::new(),
        };
        match self
            .rt
            .block_on(self.store.put_artifact(&self.lease, &artifact))
        {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.stop.store(true, Ordering::Relaxed);
                Err(JobError::Cancelled)
            }
            Err(e) => Err(JobError::Retryable(format!(
                "recording artifact {name}: {e}"
            ))),
        }
    }
}

impl simscore_core::progress::Progress for JobContext {
    fn report(&self, fraction: f64, message: &str) {
        self.progress(fraction, message);
    }
    fn cancelled(&self) -> bool {
        JobContext::cancelled(self)
    }
}
