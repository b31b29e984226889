//! The state the submitters and workers share: the dispatcher and the workers' side of each
//! processor behind one lock, and what never changes after start-up.

use super::clock::Clock;
use super::config::Backpressure;
use super::model::ModelInfo;
use super::request::Req;
use super::stats::ExecStats;
use super::timer::Timer;
use crate::backend::Backend;
use cosched_core::{DeviceProfile, Dispatcher, Policy, ProfileFit};
use crossbeam_channel::Sender;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(super) struct ProcState {
    pub(super) usable: bool,
    /// Down for now (a remote server that cannot be reached): out of the policy's actions
    /// until a probe finds it ready again.
    pub(super) offline: bool,
    /// A worker of this processor is probing it.
    pub(super) probing: bool,
    /// One channel per slot, to its worker.
    pub(super) senders: Vec<Sender<Job>>,
    pub(super) completed: u64,
    pub(super) failed: u64,
}

pub(super) enum Job {
    Run(Vec<Req>),
    Stop,
}

pub(super) struct State {
    pub(super) policy: Box<dyn Policy>,
    /// Queues, slots and observation: the state machine the simulator drives too.
    pub(super) dispatch: Dispatcher<Req>,
    /// What the dispatcher does not keep: workers' channels, availability, counters.
    pub(super) procs: Vec<ProcState>,
    pub(super) next_id: u64,
    pub(super) closing: bool,
    pub(super) stats: ExecStats,
    pub(super) fit: ProfileFit,
    pub(super) fit_warned: bool,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) changed: Condvar,
    pub(super) epoch: Instant,
    /// What every time the scheduler sees is read from (the wall clock since `epoch`, unless
    /// the configuration set a manual one).
    pub(super) clock: Clock,
    pub(super) device: Arc<DeviceProfile>,
    pub(super) models: Vec<Option<ModelInfo>>,
    pub(super) best_latency_ms: Vec<f64>,
    pub(super) queue_capacity: usize,
    pub(super) backpressure: Backpressure,
    pub(super) default_slo_factor: f64,
    pub(super) worker_spin: Duration,
    pub(super) profile_tolerance: f64,
    pub(super) faults: Vec<AtomicU8>,
    pub(super) handles: Mutex<Vec<JoinHandle<()>>>,
    /// Wake-ups for batches held open.
    pub(super) timer: Timer,
    pub(super) backend: Arc<dyn Backend>,
}

pub(super) fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
