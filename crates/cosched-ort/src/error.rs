//! Errors of the executor. Every `Display` is one line that says what to do about it.

use std::path::PathBuf;
use thiserror::Error;

/// Setting up an [`Executor`](crate::Executor) failed.
#[derive(Debug, Error)]
pub enum ExecError {
    /// No libonnxruntime was found, or it could not be loaded.
    #[error("ONNX Runtime library: {message}; fix: run scripts/fetch-onnxruntime.sh (Linux x86-64) or set ORT_DYLIB_PATH to a libonnxruntime.so of version >= 1.{min_minor} (see docs/onnxruntime.md for Jetson and Android)")]
    Library {
        /// What went wrong, with the paths that were tried.
        message: String,
        /// Smallest ONNX Runtime minor version the `ort` crate accepts.
        min_minor: u32,
    },
    /// ONNX Runtime itself failed to start.
    #[error("ONNX Runtime environment: {0}")]
    Environment(String),
    /// A model file is missing.
    #[error("model \"{model}\": {path}: no such file (models are looked up as <models dir>/<name>.onnx; scripts/make-test-models.py writes the test models)")]
    ModelNotFound {
        /// Model name.
        model: String,
        /// The path looked at.
        path: PathBuf,
    },
    /// A model file could not be turned into a session (corrupt file, unsupported operator, ...).
    #[error("model \"{model}\" ({path}) on processor \"{processor}\" (ep {ep}): {message}")]
    Model {
        /// Model name.
        model: String,
        /// The file.
        path: PathBuf,
        /// Processor id.
        processor: String,
        /// Execution provider.
        ep: String,
        /// ONNX Runtime's message.
        message: String,
    },
    /// A model named in the configuration is not in the device profile.
    #[error("model \"{0}\" is not in the device profile")]
    UnknownModel(String),
    /// No processor can run anything: every execution provider failed.
    #[error("no processor is usable: {0}")]
    NoUsableProcessor(String),
    /// A configuration value is out of range.
    #[error("executor configuration: {0}")]
    Config(String),
    /// A worker thread could not be started.
    #[error("cannot start a worker thread: {0}")]
    Thread(String),
    /// Calibration found nothing to measure.
    #[error(
        "{0}: none of the profile's models has a .onnx file here (scripts/make-test-models.py writes the test models)"
    )]
    NoModels(PathBuf),
    /// An inference failed while calibrating.
    #[error("calibrating model \"{model}\" on processor \"{processor}\": {message}")]
    Calibration {
        /// Model name.
        model: String,
        /// Processor id.
        processor: String,
        /// What failed.
        message: String,
    },
}

/// A request was not accepted; the caller still owns the problem (no completion will come).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SubmitError {
    /// The queue of the processor the policy chose is full (non-blocking submission).
    #[error("overloaded: the queue of processor \"{processor}\" is full ({capacity} requests)")]
    Overloaded {
        /// The processor whose queue is full.
        processor: String,
        /// Its queue capacity.
        capacity: usize,
    },
    /// The model is not loaded in this executor or no usable processor runs it.
    #[error("model {0}: not loaded in this executor, or no usable processor runs it")]
    UnknownModel(String),
    /// The inputs do not match the model's inputs.
    #[error("model \"{model}\": {message}")]
    BadInput {
        /// Model name.
        model: String,
        /// What is wrong.
        message: String,
    },
    /// Every processor that runs the model is down for now (remote servers that cannot be
    /// reached); try again later.
    #[error("model \"{0}\": every processor that runs it is down for now (its remote servers cannot be reached)")]
    Unavailable(String),
    /// The executor is shutting down.
    #[error("the executor is shutting down")]
    ShuttingDown,
}

/// Why an accepted request did not produce outputs. Delivered in its [`Completion`](crate::Completion).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum InferenceError {
    /// ONNX Runtime failed on every processor tried.
    #[error("inference failed on processor \"{processor}\": {message}")]
    Failed {
        /// The last processor tried.
        processor: String,
        /// ONNX Runtime's message (or the panic message).
        message: String,
    },
    /// The executor shut down before the request ran.
    #[error("cancelled: the executor shut down before the request ran")]
    Cancelled,
    /// Outputs of a type other than f32 are not supported.
    #[error("unsupported output: {0}")]
    Unsupported(String),
}

/// Why a processor's execution provider cannot be used here. The processor is masked out of the
/// policy's actions (on the CPU, whose provider is always there, a session failure is fatal).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ProviderError {
    /// This build of cosched-ort does not have the provider's feature.
    #[error("cosched-ort was built without the `{feature}` feature (rebuild with --features cosched-ort/{feature})")]
    NotBuilt {
        /// The cargo feature of cosched-ort.
        feature: &'static str,
    },
    /// The loaded libonnxruntime was built without the provider.
    #[error("{provider} is not in this libonnxruntime (built without it; feature `{feature}` of cosched-ort is on, the library must be an ONNX Runtime build with this EP)")]
    NotInLibrary {
        /// ONNX Runtime's name of the provider.
        provider: String,
        /// The cargo feature of cosched-ort.
        feature: &'static str,
    },
    /// The providers of libonnxruntime could not be listed.
    #[error("cannot list the providers of libonnxruntime: {0}")]
    Listing(String),
    /// Remote processors are not served by this backend.
    #[error("remote processors are served by a KServe v2 client (RemoteBackend), not by ONNX Runtime")]
    Remote,
    /// The KServe v2 client was asked to serve a processor that is not remote.
    #[error("not a remote processor (no endpoint in the profile)")]
    NotRemote,
    /// The provider is there but refused to register on a session.
    #[error("{provider} failed to register: {message}")]
    Registration {
        /// ONNX Runtime's name of the provider.
        provider: String,
        /// ONNX Runtime's message.
        message: String,
    },
    /// The provider failed while a session was built on it.
    #[error("{0}")]
    Session(String),
}

/// A [`Backend`](crate::backend::Backend) could not open or run a model.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BackendError {
    /// The processor's execution provider failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The backend found no model where it looks.
    #[error("{}: no such file", path.display())]
    ModelNotFound {
        /// The path looked at.
        path: PathBuf,
    },
    /// The model cannot become a session (corrupt file, unsupported operator, ...).
    #[error("{0}")]
    Model(String),
    /// An input is not an f32 tensor.
    #[error("input \"{name}\" is {ty}; only f32 tensors are supported")]
    UnsupportedInput {
        /// The input's name.
        name: String,
        /// Its type, as the backend describes it.
        ty: String,
    },
    /// An inference failed.
    #[error("{0}")]
    Run(String),
    /// A remote server could not be reached, timed out or said it cannot serve now: the
    /// processor is taken down until the server is ready again.
    #[error("server {endpoint}: {message}")]
    Unreachable {
        /// The server's URL.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// A remote server answered an inference with an error (or with a response that is not
    /// valid KServe v2).
    #[error("server {endpoint} answered HTTP {status}: {message}")]
    Server {
        /// The server's URL.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The server's error message.
        message: String,
    },
    /// A batched output does not have one row per request.
    #[error("batched output has shape {shape:?}, expected a first dimension of {batch}")]
    BatchShape {
        /// The output's shape.
        shape: Vec<usize>,
        /// Requests in the batch.
        batch: usize,
    },
}

impl BackendError {
    /// The execution provider failed, not the model: the processor is masked out instead of the
    /// executor failing to start.
    pub fn is_provider(&self) -> bool {
        matches!(self, BackendError::Provider(_))
    }

    /// The processor cannot take work until [`Backend::ready`](crate::backend::Backend::ready)
    /// says so again: its queue moves to other processors meanwhile.
    pub fn takes_processor_down(&self) -> bool {
        matches!(self, BackendError::Unreachable { .. })
    }
}
