//! # cosched-ort
//!
//! The real executor of cosched on ONNX Runtime: the same [`Policy`](cosched_core::Policy) and
//! the same observation as the simulator, on wall-clock time, with one worker thread per
//! processor slot, each owning its own ONNX Runtime sessions, behind bounded queues.
//!
//! - [`runtime`]: finding libonnxruntime (`ORT_DYLIB_PATH`, then `third_party/onnxruntime/`)
//!   and loading it without panicking.
//! - [`Executor`]: submission, placement by the policy, batching, failover, shutdown.
//! - [`backend`]: what runs the inferences, behind a trait: ONNX Runtime in-process
//!   ([`backend::OrtBackend`]), or another engine through [`Executor::with_backend`].
//! - [`driver`]: a workload's arrivals on the wall clock and the run report of mode `real`.
//! - [`profile`]: measuring a device profile (latency, variation, batch scaling, memory,
//!   concurrency).
//!
//! ```no_run
//! use cosched_core::{baseline, DeviceProfile};
//! use cosched_ort::{Executor, ExecutorConfig};
//! use std::path::Path;
//!
//! let device = DeviceProfile::load("host-cpu").unwrap();
//! let policy = baseline("least-slack", &device, Default::default()).unwrap();
//! let config = ExecutorConfig { models: Some(vec!["squeezenet".into()]), ..ExecutorConfig::new(policy) };
//! let exec = Executor::new(&device, Path::new("models"), config).unwrap();
//! let model = device.model_id("squeezenet").unwrap();
//! let inputs = exec.model(model).unwrap().random_inputs(&mut rand::rng());
//! let done = exec.submit(model, inputs).unwrap().wait();
//! println!("{:.2} ms on {:?}", done.latency_ms(), done.processor);
//! ```

#![warn(missing_docs)]

pub mod backend;
pub mod calibrate;
pub mod driver;
mod error;
mod executor;
pub mod output_check;
pub mod profile;
pub mod runtime;

pub use backend::{ep_name, BatchStages};
pub use error::{BackendError, ExecError, InferenceError, ProviderError, SubmitError};
pub use executor::{
    Backpressure, Completion, ExecStats, Executor, ExecutorConfig, Fault, Inputs, ManualClock, ModelInfo,
    ProcessorLoad, ProcessorStatus, Reply, ShutdownMode, Ticket, UsageSnapshot,
};
