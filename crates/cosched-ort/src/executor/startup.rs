//! Starting an executor: probing the models, masking processors whose execution provider
//! cannot be used, starting the workers.

use super::config::{ExecutorConfig, ShutdownMode};
use super::model::ModelInfo;
use super::shared::{lock, Job, ProcState, SessionSpec, Shared, SlotState, State};
use super::stats::{ExecStats, ProcessorStatus};
use super::worker::worker_main;
use super::Executor;
use crate::ep;
use crate::error::ExecError;
use crate::runtime;
use cosched_core::{DeviceProfile, LatencyEstimator, ModelId, Observation, PolicyQueue, ProfileFit};
use crossbeam_channel::Receiver;
use std::path::Path;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

impl SessionSpec {
    pub(super) fn build(
        &self,
        p: &cosched_core::Processor,
        model: &ModelInfo,
    ) -> Result<ort::session::Session, String> {
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

pub(super) fn ep_error_prefix(msg: &str) -> bool {
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
}
