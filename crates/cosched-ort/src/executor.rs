//! The executor: per-processor queues in front of one worker thread per processor slot.
//!
//! The scheduler side mirrors `cosched-sim` exactly: one queue per processor (FIFO or least
//! slack first, as the policy asks), requests placed by [`Policy::decide`] on an
//! [`Observation`] built from the same fields (queue length, in-flight inferences, backlog from
//! the expected ends of running inferences plus queued work, the online latency estimate,
//! modelled energy, smoothed utilisation, recent load), and a slot that frees up takes the head
//! of its processor's queue plus the same-model requests behind it, up to `max_batch`.
//!
//! Each slot's worker thread owns one `ort::Session` per model (`Session::run` takes `&mut
//! self`) and receives work through a bounded channel. Completions update the estimator, are
//! fed to [`Policy::observe`], and are delivered exactly once to the submitter.

use crate::ep;
use crate::error::{ExecError, InferenceError, SubmitError};
use crate::runtime;
use cosched_core::{
    DeviceProfile, LatencyEstimator, ModelId, Observation, Outcome, Policy, PolicyQueue, ProcessorId, ProcessorView,
    ProfileFit, Queued, RequestId, RequestView, RunningEstimate, StreamId,
};
use crossbeam_channel::{Receiver, Sender};
use ndarray::{ArrayD, Axis};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering as AtomicOrdering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Time constant of the smoothed utilisation and arrival-rate features, ms (as in the simulator).
const SMOOTHING_MS: f64 = 1000.0;

/// The inputs of one inference, in the order of the model's inputs. Each has batch size 1 where
/// the model has a batch dimension.
pub type Inputs = Vec<ArrayD<f32>>;

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
        }
    }
}

/// The result of one accepted request, delivered exactly once.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The request.
    pub request: RequestId,
    /// Its model.
    pub model: ModelId,
    /// Its stream.
    pub stream: StreamId,
    /// Its deadline relative to arrival, ms.
    pub slo_ms: f64,
    /// The outputs in the model's output order, or why there are none.
    pub result: Result<Vec<ArrayD<f32>>, InferenceError>,
    /// The processor that ran it last; `None` if it never started.
    pub processor: Option<ProcessorId>,
    /// Arrival, ms since the executor started.
    pub arrival_ms: f64,
    /// Start of the (last) inference, ms since the executor started.
    pub start_ms: Option<f64>,
    /// Completion, ms since the executor started.
    pub end_ms: f64,
    /// Inferences tried (2 after a failover).
    pub attempts: u32,
    /// Size of the batch it ran in.
    pub batch: u32,
    /// Modelled energy attributed to it, J.
    pub energy_j: f64,
}

impl Completion {
    /// Arrival to completion, ms.
    pub fn latency_ms(&self) -> f64 {
        self.end_ms - self.arrival_ms
    }
}

/// How long [`Ticket::wait`] spins before sleeping.
pub const TICKET_SPIN: Duration = Duration::from_micros(100);

/// Receives the completion of one request.
#[derive(Debug)]
pub struct Ticket {
    id: RequestId,
    rx: Receiver<Completion>,
}

impl Ticket {
    /// The request's id.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Wait for the completion (polling for up to [`TICKET_SPIN`] first, see [`recv_spin`],
    /// which saves a thread wake-up on short inferences).
    pub fn wait(self) -> Completion {
        // The executor always answers (see `Req::drop`), so the channel never closes empty.
        recv_spin(&self.rx, TICKET_SPIN).expect("the executor answers every accepted request")
    }

    /// Wait at most `timeout`; `Err(self)` if it has not completed by then.
    pub fn wait_timeout(self, timeout: Duration) -> Result<Completion, Ticket> {
        match self.rx.recv_timeout(timeout) {
            Ok(c) => Ok(c),
            Err(_) => Err(self),
        }
    }

    /// The completion if it is there.
    pub fn try_take(&self) -> Option<Completion> {
        self.rx.try_recv().ok()
    }
}

/// How a completion reaches the submitter.
pub enum Reply {
    /// A channel (what [`Ticket`] reads).
    Channel(Sender<Completion>),
    /// A callback, run on a worker thread (keep it short).
    Callback(Box<dyn FnOnce(Completion) + Send>),
}

impl Reply {
    fn deliver(self, c: Completion) {
        match self {
            Reply::Channel(tx) => {
                let _ = tx.try_send(c);
            }
            Reply::Callback(f) => {
                if std::panic::catch_unwind(AssertUnwindSafe(|| f(c))).is_err() {
                    tracing::error!("a completion callback panicked");
                }
            }
        }
    }
}

/// An accepted request.
struct Req {
    id: u64,
    model: ModelId,
    stream: StreamId,
    arrival_ms: f64,
    slo_ms: f64,
    est_ms: f64,
    inputs: Arc<Inputs>,
    reply: Option<Reply>,
    attempts: u32,
    tried: u64,
    epoch: Instant,
}

impl Req {
    fn completion(
        &self,
        result: Result<Vec<ArrayD<f32>>, InferenceError>,
        run: Option<(ProcessorId, f64, u32, f64)>,
    ) -> Completion {
        Completion {
            request: RequestId(self.id),
            model: self.model,
            stream: self.stream,
            slo_ms: self.slo_ms,
            result,
            processor: run.map(|r| r.0),
            arrival_ms: self.arrival_ms,
            start_ms: run.map(|r| r.1),
            end_ms: ms_since(self.epoch),
            attempts: self.attempts,
            batch: run.map_or(0, |r| r.2),
            energy_j: run.map_or(0.0, |r| r.3),
        }
    }
}

impl Drop for Req {
    fn drop(&mut self) {
        // Last line of defence: a request is never lost silently, whatever path dropped it.
        if let Some(reply) = self.reply.take() {
            let c = self.completion(Err(InferenceError::Cancelled), None);
            reply.deliver(c);
        }
    }
}

fn ms_since(epoch: Instant) -> f64 {
    epoch.elapsed().as_secs_f64() * 1000.0
}

impl Queued for Req {
    fn seq(&self) -> u64 {
        self.id
    }
    fn model(&self) -> ModelId {
        self.model
    }
    fn slack_key(&self) -> f64 {
        self.arrival_ms + self.slo_ms - self.est_ms
    }
}

#[derive(Default, Clone, Copy)]
struct SlotState {
    busy: bool,
    /// The worker is down (panicked, being replaced, or gone).
    down: bool,
    running: RunningEstimate,
}

struct ProcState {
    usable: bool,
    queue: PolicyQueue<Req>,
    slots: Vec<SlotState>,
    free: Vec<usize>,
    senders: Vec<Sender<Job>>,
    active: u32,
    queued_work_ms: f64,
    last_ms: f64,
    energy_j: f64,
    busy_slot_ms: f64,
    util_ema: f64,
    completed: u64,
    failed: u64,
}

/// One model as loaded.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Name from the profile.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Input names and shapes (-1 for a dynamic dimension).
    pub inputs: Vec<(String, Vec<i64>)>,
    /// Output names.
    pub outputs: Vec<String>,
    /// Every input has a dynamic first dimension, so requests can be batched.
    pub batchable: bool,
}

impl ModelInfo {
    /// Random inputs of batch 1 (dynamic dimensions set to 1), uniform in [0, 1).
    pub fn random_inputs(&self, rng: &mut impl rand::Rng) -> Inputs {
        self.inputs_of_batch(1, rng)
    }

    /// Random inputs of batch `b` (first dynamic dimension `b`, others 1).
    pub fn inputs_of_batch(&self, b: usize, rng: &mut impl rand::Rng) -> Inputs {
        self.inputs
            .iter()
            .map(|(_, shape)| {
                let dims: Vec<usize> = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        if d > 0 {
                            d as usize
                        } else if i == 0 {
                            b
                        } else {
                            1
                        }
                    })
                    .collect();
                ArrayD::from_shape_simple_fn(dims, || rng.random::<f32>())
            })
            .collect()
    }
}

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
}

enum Job {
    Run(Vec<Req>),
    Stop,
}

struct State {
    policy: Box<dyn Policy>,
    estimator: LatencyEstimator,
    obs: Observation,
    procs: Vec<ProcState>,
    next_id: u64,
    arrival_rate_ema: f64,
    last_arrival_ms: f64,
    closing: bool,
    stats: ExecStats,
    fit: ProfileFit,
    fit_warned: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    epoch: Instant,
    device: Arc<DeviceProfile>,
    models: Vec<Option<ModelInfo>>,
    reference_energy_j: Vec<f64>,
    best_latency_ms: Vec<f64>,
    queue_capacity: usize,
    backpressure: Backpressure,
    saturation_rps: f64,
    default_slo_factor: f64,
    worker_spin: Duration,
    profile_tolerance: f64,
    faults: Vec<AtomicU8>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    session_spec: SessionSpec,
}

#[derive(Clone)]
struct SessionSpec {
    env: ort::environment::Environment,
    default_threads: usize,
    intra_op_spinning: bool,
    optimization_level: u8,
}

/// The real executor. See the module docs.
pub struct Executor {
    shared: Arc<Shared>,
    status: Vec<ProcessorStatus>,
    shut_down: bool,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SessionSpec {
    fn build(&self, p: &cosched_core::Processor, model: &ModelInfo) -> Result<ort::session::Session, String> {
        use ort::session::builder::GraphOptimizationLevel;
        let choice = ep::choose(p)?;
        let threads = p.threads.map_or(self.default_threads, |t| t as usize).max(1);
        let level = match self.optimization_level {
            0 => GraphOptimizationLevel::Disable,
            1 => GraphOptimizationLevel::Level1,
            2 => GraphOptimizationLevel::Level2,
            _ => GraphOptimizationLevel::All,
        };
        let e = |e: ort::Error<ort::session::builder::SessionBuilder>| e.to_string();
        let mut b = ort::session::Session::builder(&self.env)
            .map_err(|e| e.to_string())?
            .with_intra_threads(threads)
            .map_err(e)?
            .with_inter_threads(1)
            .map_err(e)?
            .with_intra_op_spinning(self.intra_op_spinning)
            .map_err(e)?
            .with_optimization_level(level)
            .map_err(e)?;
        if let Some(d) = choice.dispatch {
            b = b
                .with_execution_providers([d])
                .map_err(|e| format!("{} failed to register: {e}", choice.name))?;
        }
        b.commit_from_file(&model.path).map_err(|e| e.to_string())
    }
}

fn ep_error_prefix(msg: &str) -> bool {
    msg.contains("ExecutionProvider")
        || msg.contains("cosched-ort was built without")
        || msg.contains("remote processors")
}

impl Executor {
    /// Start an executor for `device`, loading `<models_dir>/<model>.onnx` for every model of the
    /// profile (or of `config.models`) on every processor that runs it, one worker thread per
    /// processor slot.
    ///
    /// A processor whose execution provider cannot be used is masked out of the policy's actions
    /// and reported in [`Executor::processor_status`]; if none is left, this fails. A missing or
    /// unreadable model file fails.
    pub fn new(device: &DeviceProfile, models_dir: &Path, mut config: ExecutorConfig) -> Result<Executor, ExecError> {
        if config.queue_capacity == 0 {
            return Err(ExecError::Config("queue_capacity must be at least 1".into()));
        }
        if device.processors.len() > 64 {
            return Err(ExecError::Config("at most 64 processors".into()));
        }
        let env = runtime::environment(config.ort_library.as_deref())?;
        let device = Arc::new(device.clone());
        let wanted: Vec<bool> = match &config.models {
            None => vec![true; device.models.len()],
            Some(names) => {
                let mut w = vec![false; device.models.len()];
                for n in names {
                    let id = device.model_id(n).ok_or_else(|| ExecError::UnknownModel(n.clone()))?;
                    w[id.index()] = true;
                }
                w
            }
        };
        let spec = SessionSpec {
            env,
            default_threads: config.default_threads,
            intra_op_spinning: config.intra_op_spinning,
            optimization_level: config.optimization_level,
        };
        // Probe every model once on the first processor that can build a session for it, to
        // read its inputs and to fail early on a bad file.
        let mut status: Vec<ProcessorStatus> = device
            .processors
            .iter()
            .map(|p| {
                let r = ep::choose(p);
                ProcessorStatus {
                    id: p.id.clone(),
                    requested_ep: ep::ep_name(p.ep).to_string(),
                    active_ep: r.as_ref().ok().map(|c| c.name.to_string()),
                    error: r.err(),
                }
            })
            .collect();
        let mut models: Vec<Option<ModelInfo>> = vec![None; device.models.len()];
        for (m, mp) in device.models.iter().enumerate() {
            if !wanted[m] {
                continue;
            }
            let path = models_dir.join(format!("{}.onnx", mp.name));
            if !path.is_file() {
                return Err(ExecError::ModelNotFound {
                    model: mp.name.clone(),
                    path,
                });
            }
            let mut info = ModelInfo {
                name: mp.name.clone(),
                path: path.clone(),
                inputs: Vec::new(),
                outputs: Vec::new(),
                batchable: false,
            };
            let mut probed = false;
            for (pi, p) in device.processors.iter().enumerate() {
                if mp.on[pi].is_none() || status[pi].error.is_some() {
                    continue;
                }
                match spec.build(p, &info) {
                    Ok(s) => {
                        let mut inputs = Vec::new();
                        for i in s.inputs() {
                            match i.dtype() {
                                ort::value::ValueType::Tensor { ty, shape, .. }
                                    if *ty == ort::value::TensorElementType::Float32 =>
                                {
                                    inputs.push((i.name().to_string(), shape.to_vec()))
                                }
                                other => {
                                    return Err(ExecError::Model {
                                        model: mp.name.clone(),
                                        path: path.clone(),
                                        processor: p.id.clone(),
                                        ep: ep::ep_name(p.ep).into(),
                                        message: format!(
                                            "input \"{}\" is {other:?}; only f32 tensors are supported",
                                            i.name()
                                        ),
                                    })
                                }
                            }
                        }
                        info.batchable = !inputs.is_empty() && inputs.iter().all(|(_, s)| s.first() == Some(&-1));
                        info.inputs = inputs;
                        info.outputs = s.outputs().iter().map(|o| o.name().to_string()).collect();
                        probed = true;
                        break;
                    }
                    Err(msg) if ep_error_prefix(&msg) && p.ep != cosched_core::ExecutionProviderKind::Cpu => {
                        status[pi].active_ep = None;
                        status[pi].error = Some(msg);
                    }
                    Err(msg) => {
                        return Err(ExecError::Model {
                            model: mp.name.clone(),
                            path,
                            processor: p.id.clone(),
                            ep: ep::ep_name(p.ep).into(),
                            message: msg,
                        })
                    }
                }
            }
            if probed {
                models[m] = Some(info);
            }
        }
        for (s, p) in status.iter().zip(&device.processors) {
            if let Some(e) = &s.error {
                tracing::warn!("processor \"{}\" (ep {}) is masked out: {e}", p.id, s.requested_ep);
            }
        }
        if status.iter().all(|s| s.error.is_some()) {
            let reasons: Vec<String> = status
                .iter()
                .map(|s| format!("{}: {}", s.id, s.error.as_deref().unwrap_or("")))
                .collect();
            return Err(ExecError::NoUsableProcessor(reasons.join("; ")));
        }
        config.policy.reset(config.seed);
        let order = config.policy.queue_order();
        let n_proc = device.processors.len();
        let mut receivers: Vec<Vec<Receiver<Job>>> = Vec::with_capacity(n_proc);
        let procs = device
            .processors
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (senders, rxs): (Vec<_>, Vec<_>) = (0..p.slots).map(|_| crossbeam_channel::bounded(1)).unzip();
                receivers.push(rxs);
                ProcState {
                    usable: status[i].error.is_none(),
                    queue: PolicyQueue::new(order),
                    slots: vec![
                        SlotState {
                            down: true,
                            ..SlotState::default()
                        };
                        p.slots as usize
                    ],
                    free: Vec::new(),
                    senders,
                    active: 0,
                    queued_work_ms: 0.0,
                    last_ms: 0.0,
                    energy_j: 0.0,
                    busy_slot_ms: 0.0,
                    util_ema: 0.0,
                    completed: 0,
                    failed: 0,
                }
            })
            .collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                estimator: LatencyEstimator::new(&device, config.estimator_alpha),
                obs: Observation::empty(n_proc, device.models.len()),
                policy: config.policy,
                procs,
                next_id: 0,
                arrival_rate_ema: 0.0,
                last_arrival_ms: 0.0,
                closing: false,
                stats: ExecStats::default(),
                fit: ProfileFit::new(&device),
                fit_warned: false,
            }),
            changed: Condvar::new(),
            epoch: Instant::now(),
            reference_energy_j: (0..device.models.len())
                .map(|m| device.reference_energy_j(ModelId(m as u16)))
                .collect(),
            best_latency_ms: (0..device.models.len())
                .map(|m| device.best_latency_ms(ModelId(m as u16)))
                .collect(),
            device: device.clone(),
            models,
            queue_capacity: config.queue_capacity,
            backpressure: config.backpressure,
            saturation_rps: config.saturation_rps,
            default_slo_factor: config.default_slo_factor,
            worker_spin: config.worker_spin,
            profile_tolerance: config.profile_tolerance,
            faults: (0..n_proc).map(|_| AtomicU8::new(0)).collect(),
            handles: Mutex::new(Vec::new()),
            session_spec: spec,
        });
        // Start the workers; each builds its sessions, then reports ready or failed.
        let (ready_tx, ready_rx) = crossbeam_channel::unbounded::<(usize, usize, Result<(), String>)>();
        let mut expected = 0;
        for (p, rxs) in receivers.into_iter().enumerate() {
            if status[p].error.is_some() {
                continue;
            }
            for (slot, rx) in rxs.into_iter().enumerate() {
                expected += 1;
                let shared2 = shared.clone();
                let ready = ready_tx.clone();
                let h = std::thread::Builder::new()
                    .name(format!("cosched-{}-{slot}", device.processors[p].id))
                    .spawn(move || worker_main(shared2, p, slot, rx, Some(ready)))
                    .map_err(|e| ExecError::Thread(e.to_string()))?;
                shared.handles.lock().unwrap_or_else(|e| e.into_inner()).push(h);
            }
        }
        drop(ready_tx);
        let mut first_error = None;
        for _ in 0..expected {
            match ready_rx.recv() {
                Ok((p, _slot, Err(msg))) => {
                    status[p].active_ep = None;
                    status[p].error.get_or_insert(msg.clone());
                    first_error.get_or_insert((p, msg));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let mut exec = Executor {
            shared,
            status,
            shut_down: false,
        };
        if let Some((p, msg)) = first_error {
            // A session that probed fine failed in a worker: treat like the probe (a bad model
            // is fatal; an EP problem masks the processor).
            let proc_ = exec.shared.device.processors[p].clone();
            if !ep_error_prefix(&msg) || proc_.ep == cosched_core::ExecutionProviderKind::Cpu {
                exec.shutdown(ShutdownMode::Cancel);
                return Err(ExecError::Model {
                    model: String::from("(one of the models)"),
                    path: models_dir.to_path_buf(),
                    processor: proc_.id.clone(),
                    ep: ep::ep_name(proc_.ep).into(),
                    message: msg,
                });
            }
            let mut st = lock(&exec.shared.state);
            st.procs[p].usable = false;
        }
        if exec.status.iter().all(|s| s.error.is_some()) {
            exec.shutdown(ShutdownMode::Cancel);
            let reasons: Vec<String> = exec
                .status
                .iter()
                .map(|s| format!("{}: {}", s.id, s.error.as_deref().unwrap_or("")))
                .collect();
            return Err(ExecError::NoUsableProcessor(reasons.join("; ")));
        }
        Ok(exec)
    }

    /// The device profile.
    pub fn device(&self) -> &DeviceProfile {
        &self.shared.device
    }

    /// What each processor runs on, or why it is masked out.
    pub fn processor_status(&self) -> &[ProcessorStatus] {
        &self.status
    }

    /// The loaded model `model`, if it is loaded.
    pub fn model(&self, model: ModelId) -> Option<&ModelInfo> {
        self.shared.models.get(model.index()).and_then(|m| m.as_ref())
    }

    /// ms since the executor started (the time base of [`Completion`]).
    pub fn now_ms(&self) -> f64 {
        ms_since(self.shared.epoch)
    }

    /// The instant the executor's time base counts from.
    pub fn epoch(&self) -> Instant {
        self.shared.epoch
    }

    /// Submit one inference of `model` (stream 0, deadline `default_slo_factor` times the model's
    /// fastest profiled latency) and get a [`Ticket`] for its completion.
    pub fn submit(&self, model: ModelId, inputs: Inputs) -> Result<Ticket, SubmitError> {
        let slo = self.default_slo_ms(model);
        self.submit_to(model, StreamId(0), slo, inputs)
    }

    /// Submit with an explicit stream and deadline.
    pub fn submit_to(
        &self,
        model: ModelId,
        stream: StreamId,
        slo_ms: f64,
        inputs: Inputs,
    ) -> Result<Ticket, SubmitError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let id = self.submit_with_reply(model, stream, slo_ms, inputs, Reply::Channel(tx))?;
        Ok(Ticket { id, rx })
    }

    /// Submit and have `reply` receive the completion (exactly once) instead of a ticket. If
    /// this returns an error, `reply` is dropped without being called.
    pub fn submit_with_reply(
        &self,
        model: ModelId,
        stream: StreamId,
        slo_ms: f64,
        inputs: Inputs,
        reply: Reply,
    ) -> Result<RequestId, SubmitError> {
        self.submit_shared(model, stream, slo_ms, Arc::new(inputs), reply)
    }

    /// [`Executor::submit_with_reply`] with inputs shared between requests: a caller that sends
    /// the same tensors again and again (a benchmark, a replayed frame) submits without copying
    /// them. Copying a 600 KB image per request was measurable against a plain onnxruntime loop:
    /// the worker then reads tensors another core has just written instead of cache-warm ones.
    pub fn submit_shared(
        &self,
        model: ModelId,
        stream: StreamId,
        slo_ms: f64,
        inputs: Arc<Inputs>,
        reply: Reply,
    ) -> Result<RequestId, SubmitError> {
        submit(&self.shared, model, stream, slo_ms, inputs, reply)
    }

    /// A handle that submits from another thread, e.g. from a completion callback, so that a
    /// closed loop resubmits on the worker that just finished instead of waking a driver thread
    /// first (two thread hand-offs per request, idle worker time on a loaded 2-core host).
    /// Crate-private: a callback may also run while the executor's lock is held (a request
    /// dropped on an error path), and submitting from there would deadlock; the driver only
    /// resubmits from successful completions, which are always delivered outside the lock.
    pub(crate) fn submitter(&self) -> Submitter {
        Submitter {
            shared: self.shared.clone(),
        }
    }

    /// Deadline of [`Executor::submit`] for `model`, ms.
    pub fn default_slo_ms(&self, model: ModelId) -> f64 {
        self.shared
            .best_latency_ms
            .get(model.index())
            .map_or(1000.0, |l| l * self.shared.default_slo_factor)
    }

    /// Measured service times against the profile so far (every model and processor with at
    /// least [`ProfileFit::MIN_SAMPLES`] inferences is in its entries).
    pub fn profile_fit(&self) -> ProfileFit {
        lock(&self.shared.state).fit.clone()
    }

    /// Changes of the policy deciding so far (the run-time guard's; empty for other policies).
    pub fn policy_switches(&self) -> Vec<cosched_core::PolicySwitch> {
        lock(&self.shared.state).policy.switches().to_vec()
    }

    /// Counters so far.
    pub fn stats(&self) -> ExecStats {
        lock(&self.shared.state).stats.clone()
    }

    /// Energy and busy time per processor up to now.
    pub fn usage(&self) -> UsageSnapshot {
        let sh = &*self.shared;
        let mut st = lock(&sh.state);
        let now = ms_since(sh.epoch);
        for p in 0..st.procs.len() {
            settle(sh, &mut st.procs[p], p, now);
        }
        UsageSnapshot {
            now_ms: now,
            energy_j: st.procs.iter().map(|p| p.energy_j).collect(),
            busy_slot_ms: st.procs.iter().map(|p| p.busy_slot_ms).collect(),
            completed: st.procs.iter().map(|p| p.completed).collect(),
        }
    }

    /// The online latency estimate of `model` on `processor` (batch 1), ms.
    pub fn estimate_ms(&self, model: ModelId, processor: ProcessorId) -> Option<f64> {
        lock(&self.shared.state).estimator.estimate(model, processor)
    }

    /// Make the next inference on `processor` fail (test hook for failover).
    #[doc(hidden)]
    pub fn inject_fault(&self, processor: ProcessorId, fault: Fault) {
        self.shared.faults[processor.index()].store(fault as u8, AtomicOrdering::SeqCst);
    }

    /// Stop accepting requests, drain or cancel the queued ones, wait for the running ones and
    /// stop the workers. Every accepted request has its completion when this returns.
    pub fn shutdown(&mut self, mode: ShutdownMode) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        let sh = &*self.shared;
        let mut st = lock(&sh.state);
        st.closing = true;
        sh.changed.notify_all();
        let mut replies = Vec::new();
        if mode == ShutdownMode::Cancel {
            for p in 0..st.procs.len() {
                let reqs = st.procs[p].queue.drain_all();
                st.procs[p].queued_work_ms = 0.0;
                for r in reqs {
                    fail_request(sh, &mut st, r, p, InferenceError::Cancelled, &mut replies);
                }
            }
        }
        // Queued requests on a processor with no live worker can never run: fail them.
        for p in 0..st.procs.len() {
            if st.procs[p].slots.iter().all(|s| s.down) && !st.procs[p].queue.is_empty() {
                let reqs = st.procs[p].queue.drain_all();
                for r in reqs {
                    let e = InferenceError::Failed {
                        processor: sh.device.processors[p].id.clone(),
                        message: "no worker left on this processor".into(),
                    };
                    fail_request(sh, &mut st, r, p, e, &mut replies);
                }
            }
        }
        drop(st);
        for (reply, c) in replies {
            reply.deliver(c);
        }
        let mut st = lock(&sh.state);
        while st.stats.outstanding > 0 {
            let (g, _) = sh
                .changed
                .wait_timeout(st, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner());
            st = g;
        }
        for p in &st.procs {
            for s in &p.senders {
                let _ = s.try_send(Job::Stop);
            }
        }
        drop(st);
        loop {
            let h = sh.handles.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match h {
                Some(h) => {
                    let _ = h.join();
                }
                None => break,
            }
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.shutdown(ShutdownMode::Cancel);
    }
}

/// See [`Executor::submitter`].
#[derive(Clone)]
pub(crate) struct Submitter {
    shared: Arc<Shared>,
}

impl Submitter {
    /// [`Executor::submit_shared`].
    pub(crate) fn submit_shared(
        &self,
        model: ModelId,
        stream: StreamId,
        slo_ms: f64,
        inputs: Arc<Inputs>,
        reply: Reply,
    ) -> Result<RequestId, SubmitError> {
        submit(&self.shared, model, stream, slo_ms, inputs, reply)
    }
}

fn submit(
    sh: &Shared,
    model: ModelId,
    stream: StreamId,
    slo_ms: f64,
    inputs: Arc<Inputs>,
    reply: Reply,
) -> Result<RequestId, SubmitError> {
    let info = sh.models.get(model.index()).and_then(|m| m.as_ref()).ok_or_else(|| {
        SubmitError::UnknownModel(
            sh.device
                .models
                .get(model.index())
                .map_or_else(|| format!("#{}", model.0), |m| format!("\"{}\"", m.name)),
        )
    })?;
    check_inputs(info, &inputs)?;
    let mut st = lock(&sh.state);
    if st.closing {
        return Err(SubmitError::ShuttingDown);
    }
    let now = ms_since(sh.epoch);
    let dt = now - st.last_arrival_ms;
    let decay = (-dt / SMOOTHING_MS).exp();
    st.arrival_rate_ema = st.arrival_rate_ema * decay + 1.0 / SMOOTHING_MS;
    st.last_arrival_ms = now;
    let id = st.next_id;
    st.next_id += 1;
    let mut req = Req {
        id,
        model,
        stream,
        arrival_ms: now,
        slo_ms,
        est_ms: 0.0,
        inputs,
        reply: Some(reply),
        attempts: 0,
        tried: 0,
        epoch: sh.epoch,
    };
    loop {
        let now = ms_since(sh.epoch);
        let st_ref = &mut *st;
        build_observation(sh, st_ref, &req, now, 0);
        if st_ref.obs.valid().next().is_none() {
            // Disarm the reply: an error return means no completion.
            req.reply = None;
            return Err(SubmitError::UnknownModel(format!("\"{}\"", info.name)));
        }
        let action = st_ref.policy.decide(&st_ref.obs);
        let p = if st_ref.obs.is_valid(action.processor) {
            action.processor
        } else {
            st_ref.stats.invalid_actions += 1;
            st_ref
                .obs
                .argmin_valid(ProcessorView::est_finish_ms)
                .expect("checked above")
        };
        if st_ref.procs[p.index()].queue.len() >= sh.queue_capacity {
            if sh.backpressure == Backpressure::Block {
                st = sh.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                if st.closing {
                    req.reply = None;
                    return Err(SubmitError::ShuttingDown);
                }
                continue;
            }
            st_ref.stats.rejected += 1;
            req.reply = None;
            return Err(SubmitError::Overloaded {
                processor: sh.device.processors[p.index()].id.clone(),
                capacity: sh.queue_capacity,
            });
        }
        req.est_ms = st_ref.obs.processors[p.index()].est_latency_ms;
        st_ref.stats.accepted += 1;
        st_ref.stats.outstanding += 1;
        enqueue(sh, st_ref, p.index(), req);
        return Ok(RequestId(id));
    }
}

fn check_inputs(info: &ModelInfo, inputs: &Inputs) -> Result<(), SubmitError> {
    let bad = |message: String| SubmitError::BadInput {
        model: info.name.clone(),
        message,
    };
    if inputs.len() != info.inputs.len() {
        return Err(bad(format!(
            "{} inputs given, the model has {}",
            inputs.len(),
            info.inputs.len()
        )));
    }
    for (a, (name, shape)) in inputs.iter().zip(&info.inputs) {
        let ok = a.ndim() == shape.len() && a.shape().iter().zip(shape).all(|(&d, &s)| s < 0 || d as i64 == s);
        if !ok {
            return Err(bad(format!(
                "input \"{name}\" has shape {:?}, the model expects {shape:?}",
                a.shape()
            )));
        }
        if info.batchable && a.shape().first() != Some(&1) {
            return Err(bad(format!(
                "input \"{name}\": submit one request per sample (batch dimension 1); the executor batches"
            )));
        }
    }
    Ok(())
}

fn settle(sh: &Shared, st: &mut ProcState, p: usize, now: f64) {
    let proc_ = &sh.device.processors[p];
    let dt = now - st.last_ms;
    if dt > 0.0 {
        st.energy_j += proc_.power_w(st.active, 1.0) * dt / 1000.0;
        st.busy_slot_ms += f64::from(st.active) * dt;
        let frac = f64::from(st.active) / f64::from(proc_.slots);
        let decay = (-dt / SMOOTHING_MS).exp();
        st.util_ema = st.util_ema * decay + frac * (1.0 - decay);
        st.last_ms = now;
    }
}

/// The simulator's `build_observation`, on the real queues. `exclude` is a bit set of processors
/// to mark unavailable (those a failing request already tried).
fn build_observation(sh: &Shared, st: &mut State, req: &Req, now: f64, exclude: u64) {
    let obs = &mut st.obs;
    obs.now_ms = now;
    obs.request = RequestView {
        id: RequestId(req.id),
        model: req.model,
        stream: req.stream,
        arrival_ms: req.arrival_ms,
        slo_ms: req.slo_ms,
        reference_energy_j: sh.reference_energy_j[req.model.index()],
    };
    let sat_per_ms = sh.saturation_rps / 1000.0;
    obs.recent_load = if sat_per_ms > 0.0 {
        st.arrival_rate_ema * (-(now - st.last_arrival_ms) / SMOOTHING_MS).exp() / sat_per_ms
    } else {
        0.0
    };
    let loaded = sh.models[req.model.index()].is_some();
    for (p, (ps, view)) in st.procs.iter().zip(obs.processors.iter_mut()).enumerate() {
        let proc_ = &sh.device.processors[p];
        let pid = ProcessorId(p as u16);
        let live = ps.usable && loaded && exclude & (1 << p) == 0;
        let est = if live {
            st.estimator.estimate(req.model, pid)
        } else {
            None
        };
        let queue_len = ps.queue.len() as u32;
        let backlog_ms = if ps.active < proc_.slots && queue_len == 0 {
            0.0
        } else {
            let running: f64 = ps
                .slots
                .iter()
                .filter(|s| s.busy)
                .map(|s| s.running.remaining_ms(now))
                .sum();
            (running + ps.queued_work_ms) / f64::from(proc_.slots)
        };
        let decay = (-(now - ps.last_ms) / SMOOTHING_MS).exp();
        let utilization = ps.util_ema * decay + f64::from(ps.active) / f64::from(proc_.slots) * (1.0 - decay);
        *view = match est {
            Some(lat) => ProcessorView {
                available: true,
                queue_len,
                in_flight: ps.active,
                slots: proc_.slots,
                backlog_ms,
                est_latency_ms: lat,
                latency_cv: sh.device.on(req.model, pid).map_or(0.0, |o| o.cv),
                est_energy_j: proc_.energy_per_inference_j(lat, 1.0),
                utilization,
                freq_scale: 1.0,
            },
            None => ProcessorView {
                available: false,
                queue_len,
                in_flight: ps.active,
                slots: proc_.slots,
                backlog_ms,
                utilization,
                freq_scale: 1.0,
                ..ProcessorView::default()
            },
        };
    }
}

fn enqueue(sh: &Shared, st: &mut State, p: usize, req: Req) {
    let ps = &mut st.procs[p];
    ps.queued_work_ms += req.est_ms;
    ps.queue.push(req);
    try_start(sh, st, p);
}

/// Start queued work on every free slot of `p` (the simulator's `try_start`).
fn try_start(sh: &Shared, st: &mut State, p: usize) {
    let max_batch = sh.device.processors[p].max_batch as usize;
    let now = ms_since(sh.epoch);
    loop {
        let ps = &mut st.procs[p];
        let Some(&slot) = ps.free.last() else { return };
        let Some(first) = ps.queue.pop() else { return };
        ps.free.pop();
        let model = first.model;
        let limit = if sh.models[model.index()].as_ref().is_some_and(|m| m.batchable) {
            max_batch
        } else {
            1
        };
        let mut batch = vec![first];
        while batch.len() < limit && ps.queue.peek_model() == Some(model) {
            batch.push(ps.queue.pop().expect("peeked"));
        }
        let queued: f64 = batch.iter().map(|r| r.est_ms).sum();
        ps.queued_work_ms = (ps.queued_work_ms - queued).max(0.0);
        if ps.queue.is_empty() {
            ps.queued_work_ms = 0.0;
        }
        settle(sh, &mut st.procs[p], p, now);
        let b = batch.len() as u32;
        let pid = ProcessorId(p as u16);
        let factor = sh.device.on(model, pid).map_or(1.0, |o| o.batch_factor(b));
        let on = sh.device.on(model, pid);
        let est = st
            .estimator
            .estimate(model, pid)
            .or(on.map(|o| o.mean_ms))
            .unwrap_or(0.0)
            * factor;
        let ps = &mut st.procs[p];
        ps.active += 1;
        ps.slots[slot].busy = true;
        ps.slots[slot].running = RunningEstimate::start(now, est, on.map_or(0.0, |o| o.cv));
        if let Err(e) = ps.senders[slot].try_send(Job::Run(batch)) {
            // The worker is gone: put the work back and mark the slot down.
            let batch = match e.into_inner() {
                Job::Run(b) => b,
                Job::Stop => Vec::new(),
            };
            ps.active -= 1;
            ps.slots[slot].busy = false;
            ps.slots[slot].down = true;
            for r in batch {
                ps.queued_work_ms += r.est_ms;
                ps.queue.push(r);
            }
            tracing::error!("worker {p}/{slot} is gone; its slot is down");
        }
    }
}

/// Complete `req` with an error (no failover left) and tell the policy.
fn fail_request(
    sh: &Shared,
    st: &mut State,
    mut req: Req,
    p: usize,
    error: InferenceError,
    replies: &mut Vec<(Reply, Completion)>,
) {
    let now = ms_since(sh.epoch);
    let outcome = Outcome {
        request: RequestId(req.id),
        model: req.model,
        stream: req.stream,
        processor: ProcessorId(p as u16),
        latency_ms: now - req.arrival_ms,
        slo_ms: req.slo_ms,
        energy_j: 0.0,
        service_ms: 0.0,
        batch: 0,
        reference_energy_j: sh.reference_energy_j[req.model.index()],
        violated: true,
    };
    st.policy.observe(&outcome);
    st.stats.failed += 1;
    st.stats.outstanding -= 1;
    st.procs[p].failed += 1;
    let c = req.completion(Err(error), None);
    if let Some(r) = req.reply.take() {
        replies.push((r, c));
    }
}

/// Retry `req` once on another processor that can run its model, else fail it.
fn fail_over(
    sh: &Shared,
    st: &mut State,
    mut req: Req,
    p: usize,
    message: String,
    replies: &mut Vec<(Reply, Completion)>,
) {
    req.tried |= 1 << p;
    if req.attempts < 2 {
        let now = ms_since(sh.epoch);
        build_observation(sh, st, &req, now, req.tried);
        if let Some(q) = st.obs.argmin_valid(ProcessorView::est_finish_ms) {
            tracing::warn!(
                "request {} failed on \"{}\" ({message}); retrying on \"{}\"",
                req.id,
                sh.device.processors[p].id,
                sh.device.processors[q.index()].id
            );
            req.est_ms = st.obs.processors[q.index()].est_latency_ms;
            st.stats.failovers += 1;
            enqueue(sh, st, q.index(), req);
            return;
        }
    }
    let e = InferenceError::Failed {
        processor: sh.device.processors[p].id.clone(),
        message,
    };
    fail_request(sh, st, req, p, e, replies);
}

/// A worker's start-up report: processor, slot, sessions built or why not.
type Ready = Sender<(usize, usize, Result<(), String>)>;

type RunResult = Result<Vec<Vec<ArrayD<f32>>>, String>;

/// A worker's outcome for one batch.
struct Done {
    start_ms: f64,
    end_ms: f64,
    result: RunResult,
    panicked: bool,
}

/// Bookkeeping after a batch: metrics, estimator, policy feedback, failover, next work.
fn on_done(sh: &Shared, p: usize, slot: usize, batch: Vec<Req>, done: Done) -> Vec<(Reply, Completion)> {
    let mut replies = Vec::with_capacity(batch.len());
    let mut st = lock(&sh.state);
    let st = &mut *st;
    let now = ms_since(sh.epoch);
    settle(sh, &mut st.procs[p], p, now);
    let ps = &mut st.procs[p];
    ps.active -= 1;
    ps.slots[slot].busy = false;
    if done.panicked {
        ps.slots[slot].down = true;
    } else {
        ps.free.push(slot);
    }
    let proc_ = &sh.device.processors[p];
    let b = batch.len() as u32;
    let service_ms = (done.end_ms - done.start_ms).max(0.0);
    let energy_j = proc_.energy_per_inference_j(service_ms, 1.0) / f64::from(b.max(1));
    let pid = ProcessorId(p as u16);
    match done.result {
        Ok(outputs) => {
            let model = batch[0].model;
            let factor = sh.device.on(model, pid).map_or(1.0, |o| o.batch_factor(b));
            st.estimator.update(model, pid, service_ms / factor);
            if st.fit.record(model, pid, service_ms, factor) && !st.fit_warned {
                if let Some(e) = st.fit.entry(&sh.device, model, pid) {
                    if e.mismatched(sh.profile_tolerance) {
                        st.fit_warned = true;
                        tracing::warn!(
                            "device profile \"{}\" does not fit this machine: {} on {} takes {:.2} ms, the profile says {:.2} ms ({:.2}x); loads and placement are off by as much (calibrate: cosched-bench run --calibrate); the run report lists every ratio",
                            sh.device.name,
                            e.model,
                            e.processor,
                            e.measured_ms,
                            e.profile_ms,
                            e.ratio
                        );
                    }
                }
            }
            for (mut req, out) in batch.into_iter().zip(outputs) {
                req.attempts += 1;
                let latency_ms = done.end_ms - req.arrival_ms;
                let outcome = Outcome {
                    request: RequestId(req.id),
                    model: req.model,
                    stream: req.stream,
                    processor: pid,
                    latency_ms,
                    slo_ms: req.slo_ms,
                    energy_j,
                    service_ms,
                    batch: b,
                    reference_energy_j: sh.reference_energy_j[req.model.index()],
                    violated: latency_ms > req.slo_ms,
                };
                st.policy.observe(&outcome);
                st.stats.completed += 1;
                st.stats.outstanding -= 1;
                st.procs[p].completed += 1;
                let mut c = req.completion(Ok(out), Some((pid, done.start_ms, b, energy_j)));
                c.end_ms = done.end_ms;
                if let Some(r) = req.reply.take() {
                    replies.push((r, c));
                }
            }
        }
        Err(message) => {
            for mut req in batch {
                req.attempts += 1;
                fail_over(sh, st, req, p, message.clone(), &mut replies);
            }
        }
    }
    if done.panicked {
        st.stats.worker_restarts += 1;
    }
    try_start(sh, st, p);
    sh.changed.notify_all();
    replies
}

fn build_sessions(sh: &Shared, p: usize) -> Result<Vec<Option<ort::session::Session>>, String> {
    let proc_ = &sh.device.processors[p];
    let mut sessions = Vec::with_capacity(sh.models.len());
    for (m, info) in sh.models.iter().enumerate() {
        sessions.push(match info {
            Some(info) if sh.device.models[m].on[p].is_some() => Some(
                sh.session_spec
                    .build(proc_, info)
                    .map_err(|e| format!("model \"{}\": {e}", info.name))?,
            ),
            _ => None,
        });
    }
    Ok(sessions)
}

fn run_batch(session: &mut ort::session::Session, batch: &[Req]) -> RunResult {
    use ort::session::SessionInputValue;
    use ort::value::TensorRef;
    let n_inputs = batch[0].inputs.len();
    let e = |e: ort::Error| e.to_string();
    let outputs_owned: Vec<ArrayD<f32>> = if batch.len() == 1 {
        let values: Vec<SessionInputValue<'_>> = batch[0]
            .inputs
            .iter()
            .map(|a| TensorRef::from_array_view(a).map(Into::into))
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let out = session.run(values.as_slice()).map_err(e)?;
        out.values()
            .map(|v| v.try_extract_array::<f32>().map(|a| a.to_owned()).map_err(e))
            .collect::<Result<_, _>>()?
    } else {
        let joined: Vec<ArrayD<f32>> = (0..n_inputs)
            .map(|i| {
                let views: Vec<_> = batch.iter().map(|r| r.inputs[i].view()).collect();
                ndarray::concatenate(Axis(0), &views).map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        let values: Vec<SessionInputValue<'_>> = joined
            .iter()
            .map(|a| TensorRef::from_array_view(a).map(Into::into))
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let out = session.run(values.as_slice()).map_err(e)?;
        out.values()
            .map(|v| v.try_extract_array::<f32>().map(|a| a.to_owned()).map_err(e))
            .collect::<Result<_, _>>()?
    };
    if batch.len() == 1 {
        return Ok(vec![outputs_owned]);
    }
    let mut per_req: Vec<Vec<ArrayD<f32>>> = vec![Vec::with_capacity(outputs_owned.len()); batch.len()];
    for o in &outputs_owned {
        if o.shape().first() != Some(&batch.len()) {
            return Err(format!(
                "batched output has shape {:?}, expected a first dimension of {}",
                o.shape(),
                batch.len()
            ));
        }
        for (i, out) in per_req.iter_mut().enumerate() {
            out.push(o.slice_axis(Axis(0), (i..i + 1).into()).to_owned());
        }
    }
    Ok(per_req)
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "worker panicked".to_string()
    }
}

/// Busy-poll iterations (each a `spin_loop` hint, a few ns) before [`recv_spin`] starts
/// yielding the CPU between polls.
const SPIN_POLLS: u32 = 64;

/// Receive from `rx`, polling for up to `spin` before blocking: first [`SPIN_POLLS`] busy polls
/// (a microsecond or two), then polls separated by `yield_now` until `spin` has passed, then a
/// blocking receive (park).
///
/// Pure busy-spinning made dispatch much slower on an oversubscribed host (2 vCPUs shared with
/// builds): a spinning waiter kept its core while the very thread it waited for was runnable on
/// it, so a hand-off cost the whole spin window (waiter's 100 us + worker's 200 us: ~310 us
/// added latency at p50 in `benches/dispatch_overhead.rs`). Yielding between polls lets that
/// thread run at once (p50 back to a few us) and costs little on an idle core (`sched_yield`
/// returns immediately); the price on a loaded host is that a yield can hand the core to
/// another process for a scheduler slice (a few ms at the 1% tail there). On a host where the
/// executor's threads are not competing for cores both variants add ~5 us at p99.
pub(crate) fn recv_spin<T>(rx: &Receiver<T>, spin: Duration) -> Result<T, crossbeam_channel::RecvError> {
    if !spin.is_zero() {
        let until = Instant::now() + spin;
        let mut polls = 0u32;
        loop {
            match rx.try_recv() {
                Ok(v) => return Ok(v),
                Err(crossbeam_channel::TryRecvError::Disconnected) => return Err(crossbeam_channel::RecvError),
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
            if polls < SPIN_POLLS {
                polls += 1;
                std::hint::spin_loop();
            } else if Instant::now() >= until {
                break;
            } else {
                std::thread::yield_now();
            }
        }
    }
    rx.recv()
}

fn recv_job(rx: &Receiver<Job>, spin: Duration) -> Option<Job> {
    recv_spin(rx, spin).ok()
}

/// A worker: build the sessions, announce readiness, then run jobs until told to stop. After a
/// panic it hands its channel to a freshly spawned replacement and exits.
fn worker_main(sh: Arc<Shared>, p: usize, slot: usize, rx: Receiver<Job>, ready: Option<Ready>) {
    let sessions = build_sessions(&sh, p);
    let mut sessions = match sessions {
        Ok(s) => s,
        Err(msg) => {
            tracing::error!("worker {}/{slot}: {msg}", sh.device.processors[p].id);
            let mut replies = Vec::new();
            {
                let mut st = lock(&sh.state);
                let st = &mut *st;
                st.procs[p].slots[slot].down = true;
                if st.procs[p].slots.iter().all(|s| s.down) {
                    // Nothing will ever run here again: move its queue elsewhere.
                    st.procs[p].usable = false;
                    let reqs = st.procs[p].queue.drain_all();
                    st.procs[p].queued_work_ms = 0.0;
                    for r in reqs {
                        fail_over(&sh, st, r, p, msg.clone(), &mut replies);
                    }
                }
                sh.changed.notify_all();
            }
            for (r, c) in replies {
                r.deliver(c);
            }
            if let Some(ready) = ready {
                let _ = ready.send((p, slot, Err(msg)));
            }
            return;
        }
    };
    {
        let mut st = lock(&sh.state);
        let st = &mut *st;
        st.procs[p].slots[slot].down = false;
        st.procs[p].free.push(slot);
        try_start(&sh, st, p);
    }
    if let Some(ready) = ready {
        let _ = ready.send((p, slot, Ok(())));
    }
    let mut spin = Duration::ZERO;
    while let Some(job) = recv_job(&rx, spin) {
        let batch = match job {
            Job::Run(b) => b,
            Job::Stop => break,
        };
        let start_ms = ms_since(sh.epoch);
        let model = batch[0].model;
        let fault = sh.faults[p].swap(0, AtomicOrdering::SeqCst);
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if fault == Fault::Panic as u8 {
                panic!("injected worker panic on processor {p}");
            }
            if fault == Fault::Error as u8 {
                return Err("injected inference error".to_string());
            }
            match sessions[model.index()].as_mut() {
                Some(s) => run_batch(s, &batch),
                None => Err("no session for this model on this processor".to_string()),
            }
        }));
        let end_ms = ms_since(sh.epoch);
        let (result, panicked) = match run {
            Ok(r) => (r, false),
            Err(e) => (Err(format!("worker panicked: {}", panic_message(&*e))), true),
        };
        let replies = on_done(
            &sh,
            p,
            slot,
            batch,
            Done {
                start_ms,
                end_ms,
                result,
                panicked,
            },
        );
        for (r, c) in replies {
            r.deliver(c);
        }
        if panicked {
            // Replace this worker: a new thread with fresh sessions takes over the channel.
            drop(sessions);
            let sh2 = sh.clone();
            let name = format!("cosched-{}-{slot}", sh.device.processors[p].id);
            match std::thread::Builder::new()
                .name(name)
                .spawn(move || worker_main(sh2, p, slot, rx, None))
            {
                Ok(h) => sh.handles.lock().unwrap_or_else(|e| e.into_inner()).push(h),
                Err(e) => tracing::error!("cannot replace worker {p}/{slot}: {e}"),
            }
            return;
        }
        spin = sh.worker_spin;
    }
}
