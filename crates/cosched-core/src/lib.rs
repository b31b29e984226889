//! # cosched-core
//!
//! The scheduler core shared by the simulator (`cosched-sim`) and the real ONNX Runtime
//! executor: device profiles and workloads (parsing and validation), the [`Dispatcher`] (the
//! scheduler state machine both worlds drive), the online latency estimator, the observation a
//! policy sees, the [`Policy`] trait, baseline policies, the objective and run metrics, and the
//! generator of scenario workloads.
//!
//! Nothing here does I/O beyond reading the files it parses and writing workload files, and
//! nothing depends on burn or ort.

#![warn(missing_docs)]

pub mod action_space;
pub mod action_stats;
pub mod arrivals;
pub mod baselines;
pub mod batching;
pub mod device;
pub mod dispatch;
pub mod error;
pub mod estimator;
pub mod hedging;
pub mod ids;
pub mod metrics;
pub mod objective;
pub mod observation;
pub mod ordering;
pub mod policy;
pub mod profile_fit;
pub mod queue;
pub mod remote;
pub mod scenario;
pub mod stall;
pub mod tail;
mod text_file;
pub mod workload;
mod workload_write;
mod wrapper;

pub use action_space::{ActionSpace, Alternative, BatchRule, HedgeRule};
pub use action_stats::{ActionStats, HedgeCounts};
pub use baselines::{baseline, BASELINE_NAMES, BATCHING_BASELINE_NAMES};
pub use device::{
    DeviceProfile, ExecutionProviderKind, Interference, ModelOnProcessor, ModelProfile, Processor, ProcessorKind,
    BUILTIN_DEVICES,
};
pub use dispatch::{Claim, Dispatcher, Finished, Host, Pending, Placement, Start};
pub use error::{ConfigError, FileProblem, WriteError};
pub use estimator::{LatencyEstimator, RunningEstimate};
pub use ids::{Millis, ModelId, ProcessorId, RequestId, StreamId};
pub use metrics::{LatencySummary, MetricsRecorder, ProcessorReport, RunInfo, RunReport, StreamReport};
pub use objective::ObjectiveWeights;
pub use observation::{Observation, ProcessorView, RequestView, OBSERVATION_VERSION};
pub use policy::{Action, BatchPlan, HedgePlan, Outcome, Policy, PolicySwitch, QueueOrder};
pub use profile_fit::{FitEntry, ProfileFit};
pub use queue::{PolicyQueue, Queued};
pub use remote::{RemoteProtocol, RemoteSpec};
pub use stall::Stall;
pub use tail::LatencyTail;
pub use workload::{
    saturation_rps, Arrival, ResolvedArrival, ResolvedStream, ResolvedWorkload, Slo, Stream, Workload, MAX_TRACE_BYTES,
};
