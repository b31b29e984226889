//! Starting an executor: probing the models, masking processors whose execution provider
//! cannot be used, starting the workers.

use super::clock::Clock;
use super::config::{ExecutorConfig, ShutdownMode};
use super::model::ModelInfo;
use super::shared::{lock, Job, ProcState, Shared, State};
use super::stats::{ExecStats, ProcessorStatus};
use super::timer::{timer_main, Timer};
use super::worker::{worker_main, ReadyReport};
use super::Executor;
use crate::backend::{ep_name, Backend, OrtBackend, RemoteBackend, RoutedBackend};
use crate::error::{BackendError, ExecError};
use cosched_core::{DeviceProfile, Dispatcher, ExecutionProviderKind, ModelId, Processor, ProfileFit};
use crossbeam_channel::Receiver;
use std::path::Path;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Limits checked before anything is loaded.
fn check_limits(device: &DeviceProfile, config: &ExecutorConfig) -> Result<(), ExecError> {
    if config.queue_capacity == 0 {
        return Err(ExecError::Config("queue_capacity must be at least 1".into()));
    }
    if device.processors.len() > 64 {
        return Err(ExecError::Config("at most 64 processors".into()));
    }
    Ok(())
}

/// Whether a session failure on `p` masks the processor out (its execution provider failed)
/// rather than failing the start (the model is bad). The CPU's provider is always there, so a
/// failure on it is the model's.
fn masks(e: &BackendError, p: &Processor) -> bool {
    e.is_provider() && p.ep != ExecutionProviderKind::Cpu
}

impl Executor {
    /// Start an executor for `device`, loading `<models_dir>/<model>.onnx` for every model of the
    /// profile (or of `config.models`) on every processor that runs it, one worker thread per
    /// processor slot.
    ///
    /// A processor whose execution provider cannot be used is masked out of the policy's actions
    /// and reported in [`Executor::processor_status`]; if none is left, this fails. A missing or
    /// unreadable model file fails.
    pub fn new(device: &DeviceProfile, models_dir: &Path, config: ExecutorConfig) -> Result<Executor, ExecError> {
        check_limits(device, &config)?;
        let backend = RoutedBackend::new(OrtBackend::new(&config)?, RemoteBackend::new());
        Executor::with_backend(device, models_dir, config, Arc::new(backend))
    }

    /// [`Executor::new`] on another [`Backend`] than ONNX Runtime: `backend` finds, describes,
    /// opens and runs the models; the executor's settings in `config` that are ONNX Runtime's
    /// (`ort_library`, threads, spinning, optimisation) are then the backend's business.
    pub fn with_backend(
        device: &DeviceProfile,
        models_dir: &Path,
        mut config: ExecutorConfig,
        backend: Arc<dyn Backend>,
    ) -> Result<Executor, ExecError> {
        check_limits(device, &config)?;
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
        // Probe every model once on the first processor that can build a session for it, to
        // read its inputs and to fail early on a bad file.
        let mut status: Vec<ProcessorStatus> = device
            .processors
            .iter()
            .map(|p| {
                let r = backend.provider(p);
                ProcessorStatus {
                    id: p.id.clone(),
                    requested_ep: ep_name(p.ep).to_string(),
                    error: r.as_ref().err().map(ToString::to_string),
                    active_ep: r.ok(),
                }
            })
            .collect();
        let mut models: Vec<Option<ModelInfo>> = vec![None; device.models.len()];
        for (m, mp) in device.models.iter().enumerate() {
            if !wanted[m] {
                continue;
            }
            let path = backend.locate(models_dir, &mp.name).map_err(|e| match e {
                BackendError::ModelNotFound { path } => ExecError::ModelNotFound {
                    model: mp.name.clone(),
                    path,
                },
                other => ExecError::Model {
                    model: mp.name.clone(),
                    path: models_dir.to_path_buf(),
                    processor: String::from("(none)"),
                    ep: String::from("(none)"),
                    message: other.to_string(),
                },
            })?;
            for (pi, p) in device.processors.iter().enumerate() {
                if mp.on[pi].is_none() || status[pi].error.is_some() {
                    continue;
                }
                match backend.probe(p, &mp.name, &path) {
                    Ok(info) => {
                        models[m] = Some(info);
                        break;
                    }
                    Err(e) if masks(&e, p) => {
                        status[pi].active_ep = None;
                        status[pi].error = Some(e.to_string());
                    }
                    Err(e) => {
                        return Err(ExecError::Model {
                            model: mp.name.clone(),
                            path,
                            processor: p.id.clone(),
                            ep: ep_name(p.ep).into(),
                            message: e.to_string(),
                        })
                    }
                }
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
        // A server that is not ready yet is not a configuration error: its processor starts
        // down and comes up when a probe finds it ready.
        let offline: Vec<bool> = device
            .processors
            .iter()
            .zip(&status)
            .map(|(p, s)| {
                s.error.is_none()
                    && match backend.ready(p) {
                        Ok(()) => false,
                        Err(e) => {
                            tracing::warn!("processor \"{}\" starts down: {e}", p.id);
                            true
                        }
                    }
            })
            .collect();
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
                    offline: offline[i],
                    probing: false,
                    senders,
                    completed: 0,
                    failed: 0,
                }
            })
            .collect();
        let epoch = Instant::now();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                // Slots come up as their workers report ready.
                dispatch: Dispatcher::new(
                    device.clone(),
                    device.clone(),
                    order,
                    config.estimator_alpha,
                    config.saturation_rps,
                )
                .with_batchable(models.iter().map(|m| m.as_ref().is_some_and(|m| m.batchable)).collect())
                .with_slots_down(),
                policy: config.policy,
                procs,
                next_id: 0,
                closing: false,
                stats: ExecStats::default(),
                fit: ProfileFit::new(&device),
                fit_warned: false,
            }),
            changed: Condvar::new(),
            epoch,
            clock: match config.manual_clock.take() {
                Some(c) => Clock::Manual(c),
                None => Clock::Wall(epoch),
            },
            best_latency_ms: (0..device.models.len())
                .map(|m| device.best_latency_ms(ModelId(m as u16)))
                .collect(),
            device: device.clone(),
            models,
            queue_capacity: config.queue_capacity,
            backpressure: config.backpressure,
            default_slo_factor: config.default_slo_factor,
            worker_spin: config.worker_spin,
            profile_tolerance: config.profile_tolerance,
            faults: (0..n_proc).map(|_| AtomicU8::new(0)).collect(),
            handles: Mutex::new(Vec::new()),
            timer: Timer::default(),
            backend,
        });
        // Start the workers; each builds its sessions, then reports ready or failed.
        let (ready_tx, ready_rx) = crossbeam_channel::unbounded::<ReadyReport>();
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
                Ok((p, _slot, Err(e))) => {
                    status[p].active_ep = None;
                    status[p].error.get_or_insert(e.to_string());
                    first_error.get_or_insert((p, e));
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
        let sh = exec.shared.clone();
        match std::thread::Builder::new()
            .name("cosched-timer".into())
            .spawn(move || timer_main(&sh))
        {
            Ok(h) => exec.shared.handles.lock().unwrap_or_else(|e| e.into_inner()).push(h),
            Err(e) => {
                exec.shutdown(ShutdownMode::Cancel);
                return Err(ExecError::Thread(e.to_string()));
            }
        }
        if let Some((p, e)) = first_error {
            // A session that probed fine failed in a worker: treat like the probe (a bad model
            // is fatal; an EP problem masks the processor).
            let proc_ = exec.shared.device.processors[p].clone();
            if !masks(&e.error, &proc_) {
                exec.shutdown(ShutdownMode::Cancel);
                return Err(ExecError::Model {
                    model: String::from("(one of the models)"),
                    path: models_dir.to_path_buf(),
                    processor: proc_.id.clone(),
                    ep: ep_name(proc_.ep).into(),
                    message: e.to_string(),
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
}
