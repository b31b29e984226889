//! What an executor reports about itself: processors at start-up, counters, usage.

#[cfg(doc)]
use crate::error::SubmitError;
use cosched_core::HedgeCounts;

/// What happened to a processor at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorStatus {
    /// Processor id.
    pub id: String,
    /// The EP the profile asks for.
    pub requested_ep: String,
    /// The ONNX Runtime provider that runs it (e.g. `CUDAExecutionProvider`), `None` when masked.
    pub active_ep: Option<String>,
    /// Why it is masked out of the policy's actions, if it is.
    pub error: Option<String>,
}

/// Counters of an executor's life so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecStats {
    /// Requests accepted.
    pub accepted: u64,
    /// Requests refused with [`SubmitError::Overloaded`].
    pub rejected: u64,
    /// Completions with outputs.
    pub completed: u64,
    /// Completions with an error.
    pub failed: u64,
    /// Requests moved to another processor after a failure.
    pub failovers: u64,
    /// Workers replaced after a panic.
    pub worker_restarts: u64,
    /// Policy decisions corrected because they named an unusable processor.
    pub invalid_actions: u64,
    /// Requests accepted and not yet completed.
    pub outstanding: u64,
    /// Times a processor went down (a remote server unreachable or timing out).
    pub processor_downs: u64,
    /// Times a processor that was down came back.
    pub processor_recoveries: u64,
    /// Hedged copies: sent, answered by the copy, run for nothing, cancelled.
    pub hedges: HedgeCounts,
}

/// Energy and busy time per processor, integrated up to now (modelled from the profile's power).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageSnapshot {
    /// ms since the executor started.
    pub now_ms: f64,
    /// Modelled energy per processor, J.
    pub energy_j: Vec<f64>,
    /// Busy slot-time per processor, ms.
    pub busy_slot_ms: Vec<f64>,
    /// Completions per processor.
    pub completed: Vec<u64>,
    /// Whether each processor takes work now (false while a remote server is down, and for a
    /// processor masked out at start-up).
    pub online: Vec<bool>,
}

/// What one processor holds right now (see [`Executor::processor_load`]).
///
/// [`Executor::processor_load`]: super::Executor::processor_load
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessorLoad {
    /// Requests waiting in its queue.
    pub queued: usize,
    /// Slots running an inference (a batch counts once).
    pub running: u32,
}
