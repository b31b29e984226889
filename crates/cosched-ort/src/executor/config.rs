//! How an executor is set up: its configuration and the modes and hooks callers choose.

use super::clock::ManualClock;
#[cfg(doc)]
use super::Executor;
#[cfg(doc)]
use crate::error::{InferenceError, SubmitError};
#[cfg(doc)]
use cosched_core::Observation;
use cosched_core::{LatencyEstimator, Policy};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What to do when the queue the policy chose is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backpressure {
    /// Refuse the request with [`SubmitError::Overloaded`].
    #[default]
    Reject,
    /// Block the submitter until the queue has room (and decide again then).
    Block,
}

/// How [`Executor::shutdown`] treats requests that are queued but not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Run everything that was accepted.
    Drain,
    /// Complete queued requests with [`InferenceError::Cancelled`]; running ones finish.
    Cancel,
}

/// A fault to inject into the next inference of a processor (tests of failover).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The worker panics inside the inference.
    Panic = 1,
    /// The inference returns an error.
    Error = 2,
}

/// Settings of an [`Executor`].
pub struct ExecutorConfig {
    /// The policy that places every request.
    pub policy: Box<dyn Policy>,
    /// Seed passed to [`Policy::reset`].
    pub seed: u64,
    /// Only load these models (names from the profile); `None`: every model of the profile.
    pub models: Option<Vec<String>>,
    /// Requests waiting per processor before [`Backpressure`] applies.
    pub queue_capacity: usize,
    /// What a full queue does to a submitter.
    pub backpressure: Backpressure,
    /// Saturation throughput of the workload, requests/s (the denominator of
    /// [`Observation::recent_load`]; 0 leaves it at 0).
    pub saturation_rps: f64,
    /// Deadline of requests submitted with [`Executor::submit`], as a multiple of the model's
    /// fastest profiled latency.
    pub default_slo_factor: f64,
    /// Weight of a new observation in the online latency estimator.
    pub estimator_alpha: f64,
    /// The libonnxruntime to load; `None`: `ORT_DYLIB_PATH`, then `third_party/onnxruntime/`.
    pub ort_library: Option<PathBuf>,
    /// Intra-op threads of processors whose profile gives no `threads`.
    pub default_threads: usize,
    /// Let ONNX Runtime's intra-op threads spin while waiting for work (faster on a dedicated
    /// core, wasteful when processors share cores).
    pub intra_op_spinning: bool,
    /// How long a freed worker polls for its next job before sleeping (lower dispatch latency
    /// at a little CPU cost; it yields the CPU between polls); zero never polls.
    pub worker_spin: Duration,
    /// ONNX graph optimisation level 0..=3 (3: all).
    pub optimization_level: u8,
    /// Measured/profile service-time ratio (either way) past which the executor warns, once,
    /// that the device profile does not fit this machine (see [`Executor::profile_fit`]).
    pub profile_tolerance: f64,
    /// Read time from this clock instead of the wall clock (lockstep runs and tests; every
    /// latency in completions and reports is then in its time).
    pub manual_clock: Option<Arc<ManualClock>>,
}

impl ExecutorConfig {
    /// Defaults with this policy.
    pub fn new(policy: Box<dyn Policy>) -> ExecutorConfig {
        ExecutorConfig {
            policy,
            seed: 0,
            models: None,
            queue_capacity: 256,
            backpressure: Backpressure::Reject,
            saturation_rps: 0.0,
            default_slo_factor: 10.0,
            estimator_alpha: LatencyEstimator::DEFAULT_ALPHA,
            ort_library: None,
            default_threads: 1,
            intra_op_spinning: false,
            worker_spin: Duration::from_micros(200),
            optimization_level: 3,
            profile_tolerance: 1.3,
            manual_clock: None,
        }
    }
}
