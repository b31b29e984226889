//! The state the submitters and workers share: the scheduling mirror behind one lock, and
//! what never changes after start-up.

use super::config::Backpressure;
use super::model::ModelInfo;
use super::request::Req;
use super::stats::ExecStats;
use crate::backend::Backend;
use cosched_core::{DeviceProfile, LatencyEstimator, Observation, Policy, PolicyQueue, ProfileFit, RunningEstimate};
use crossbeam_channel::Sender;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Default, Clone, Copy)]
pub(super) struct SlotState {
    pub(super) busy: bool,
    /// The worker is down (panicked, being replaced, or gone).
    pub(super) down: bool,
    pub(super) running: RunningEstimate,
}

pub(super) struct ProcState {
    pub(super) usable: bool,
    /// Down for now (a remote server that cannot be reached): out of the policy's actions
    /// until a probe finds it ready again.
    pub(super) offline: bool,
    /// A worker of this processor is probing it.
    pub(super) probing: bool,
    pub(super) queue: PolicyQueue<Req>,
    pub(super) slots: Vec<SlotState>,
    pub(super) free: Vec<usize>,
    pub(super) senders: Vec<Sender<Job>>,
    pub(super) active: u32,
    pub(super) queued_work_ms: f64,
    pub(super) last_ms: f64,
    pub(super) energy_j: f64,
    pub(super) busy_slot_ms: f64,
    pub(super) util_ema: f64,
    pub(super) completed: u64,
    pub(super) failed: u64,
}

pub(super) enum Job {
    Run(Vec<Req>),
    Stop,
}

pub(super) struct State {
    pub(super) policy: Box<dyn Policy>,
    pub(super) estimator: LatencyEstimator,
    pub(super) obs: Observation,
    pub(super) procs: Vec<ProcState>,
    pub(super) next_id: u64,
    pub(super) arrival_rate_ema: f64,
    pub(super) last_arrival_ms: f64,
    pub(super) closing: bool,
    pub(super) stats: ExecStats,
    pub(super) fit: ProfileFit,
    pub(super) fit_warned: bool,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) changed: Condvar,
    pub(super) epoch: Instant,
    pub(super) device: Arc<DeviceProfile>,
    pub(super) models: Vec<Option<ModelInfo>>,
    pub(super) reference_energy_j: Vec<f64>,
    pub(super) best_latency_ms: Vec<f64>,
    pub(super) queue_capacity: usize,
    pub(super) backpressure: Backpressure,
    pub(super) saturation_rps: f64,
    pub(super) default_slo_factor: f64,
    pub(super) worker_spin: Duration,
    pub(super) profile_tolerance: f64,
    pub(super) faults: Vec<AtomicU8>,
    pub(super) handles: Mutex<Vec<JoinHandle<()>>>,
    pub(super) backend: Arc<dyn Backend>,
}

pub(super) fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn ms_since(epoch: Instant) -> f64 {
    epoch.elapsed().as_secs_f64() * 1000.0
}
