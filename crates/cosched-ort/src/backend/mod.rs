//! The seam between the executor and what runs inferences.
//!
//! The executor places, batches, fails over and accounts; a [`Backend`] only describes models,
//! opens sessions and runs batches. [`OrtBackend`] runs them in-process on ONNX Runtime; a remote
//! server (KServe v2) or a test double plugs in through [`Executor::with_backend`].
//!
//! Sessions are opened inside each worker thread and used by that thread alone, so a session
//! needs no lock: the dispatch path pays one virtual call per batch.
//!
//! [`Executor::with_backend`]: crate::Executor::with_backend

mod ort;
mod remote;
mod routed;

pub use self::ort::ep_name;
pub(crate) use self::ort::run_staged;
pub use self::ort::BatchStages;
pub use self::ort::OrtBackend;
pub(crate) use self::ort::SessionOptions;
pub use self::remote::RemoteBackend;
pub use self::routed::RoutedBackend;

use crate::error::{BackendError, ProviderError};
use crate::executor::{Inputs, ModelInfo, Req};
use cosched_core::{ModelId, Processor};
use ndarray::ArrayD;
use std::path::{Path, PathBuf};

/// What runs inferences for an executor: one value shared by every worker.
pub trait Backend: Send + Sync {
    /// The engine that serves `processor` (what [`ProcessorStatus::active_ep`] reports, e.g.
    /// `CPUExecutionProvider`), or why this backend cannot serve it; the processor is then
    /// masked out of the policy's actions.
    ///
    /// [`ProcessorStatus::active_ep`]: crate::ProcessorStatus::active_ep
    fn provider(&self, processor: &Processor) -> Result<String, ProviderError>;

    /// Where the model named `model` is, given the models folder the executor was started
    /// with: by default `<models_dir>/<model>.onnx`, which must be a file.
    fn locate(&self, models_dir: &Path, model: &str) -> Result<PathBuf, BackendError> {
        let path = models_dir.join(format!("{model}.onnx"));
        if path.is_file() {
            Ok(path)
        } else {
            Err(BackendError::ModelNotFound { path })
        }
    }

    /// The inputs and outputs of the model `name` at `path`, read by opening it on `processor`
    /// (which also fails early on a bad model).
    fn probe(&self, processor: &Processor, name: &str, path: &Path) -> Result<ModelInfo, BackendError>;

    /// A session of `model` on `processor`, for one worker thread.
    fn open(&self, processor: &Processor, model: &ModelInfo) -> Result<Box<dyn BackendSession>, BackendError>;

    /// Whether `processor` can take work now. The executor asks at start-up and, after a
    /// failure that [takes the processor down](BackendError::takes_processor_down), every
    /// probe interval until this is Ok (a remote server that restarted comes back). In-process
    /// engines are always ready.
    fn ready(&self, _processor: &Processor) -> Result<(), BackendError> {
        Ok(())
    }
}

/// One model opened on one processor, used by one worker thread at a time.
pub trait BackendSession: Send {
    /// Run `batch` (same model, each request's inputs of batch size 1 where the model is
    /// batchable): one list of outputs per request, in the batch's order, each in the model's
    /// output order.
    fn run(&mut self, batch: Batch<'_>) -> Result<Vec<Vec<ArrayD<f32>>>, BackendError>;
}

/// The requests of one batch, as a backend sees them: their inputs, nothing else.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    reqs: &'a [Req],
}

impl<'a> Batch<'a> {
    pub(crate) fn new(reqs: &'a [Req]) -> Batch<'a> {
        debug_assert!(!reqs.is_empty(), "the executor never runs an empty batch");
        Batch { reqs }
    }

    /// Requests in the batch (at least one).
    pub fn len(&self) -> usize {
        self.reqs.len()
    }

    /// Never true: the executor runs no empty batch.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// The model every request of the batch is for.
    pub fn model(&self) -> ModelId {
        self.reqs[0].head.model
    }

    /// The inputs of request `i`.
    pub fn inputs(&self, i: usize) -> &'a Inputs {
        &self.reqs[i].inputs
    }

    /// The inputs of every request, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a Inputs> + 'a {
        self.reqs.iter().map(|r| &*r.inputs)
    }
}
