//! Quick calibration: re-measure a device profile's batch-1 latencies on this machine, through
//! the executor itself, in seconds.
//!
//! A full `profile` run (batches, concurrency search, interference) takes minutes; a shipped
//! profile measured on another host can be 2x off on this one. Calibration keeps everything the
//! profile says about the board (processors, slots, power, batching, interference) and replaces
//! only what differs from host to host: each model's mean latency and its spread. It measures
//! through the same executor, sessions and threads a real run uses, so the figures include the
//! executor's own per-inference cost, and it runs one inference at a time, because the profile's
//! latencies are isolated ones (the simulator adds the interference of concurrent work).

use crate::error::ExecError;
use crate::executor::{Executor, ExecutorConfig};
use crate::profile::mean_cv;
use cosched_core::{DeviceProfile, ModelId, Observation, Policy, ProcessorId};
use rand::SeedableRng;
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How hard to measure.
#[derive(Debug, Clone)]
pub struct CalibrateConfig {
    /// Untimed runs of each model on each processor (session warm-up).
    pub warmup: usize,
    /// Timed runs of each model on each processor.
    pub iters: usize,
    /// Stop timing a pair after this long once it has 3 timed runs (keeps heavy models quick).
    pub max_per_pair: Duration,
    /// Only these models (profile names); `None`: every model with a file in the models folder.
    pub models: Option<Vec<String>>,
    /// The libonnxruntime to load (see [`ExecutorConfig::ort_library`]).
    pub ort_library: Option<std::path::PathBuf>,
    /// Words for the profile's sources: where this was measured (e.g. the host's name).
    pub host: String,
}

impl Default for CalibrateConfig {
    fn default() -> Self {
        CalibrateConfig {
            warmup: 2,
            iters: 12,
            max_per_pair: Duration::from_millis(600),
            models: None,
            ort_library: None,
            host: "this machine".to_string(),
        }
    }
}

/// One re-measured (model, processor) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibratedPair {
    /// Model name.
    pub model: String,
    /// Processor id.
    pub processor: String,
    /// What the profile said, ms.
    pub profile_ms: f64,
    /// What this machine does, ms (mean of the timed runs).
    pub measured_ms: f64,
    /// Coefficient of variation of the timed runs.
    pub cv: f64,
    /// Timed runs.
    pub runs: usize,
    /// Copied from an identical processor measured instead (same kind, EP, threads, slots and
    /// profiled latencies), not measured on this one.
    pub copied_from: Option<String>,
}

/// The outcome of a calibration.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The calibrated copy of the profile: same name, processors and models (so a pretrained
    /// policy of the device still loads), new latencies and sources.
    pub profile: DeviceProfile,
    /// Every pair re-measured (or copied from an identical processor).
    pub pairs: Vec<CalibratedPair>,
    /// Processors left as they were, with the reason (their execution provider is unavailable).
    pub skipped: Vec<(String, String)>,
}

/// Sends every request to the processor in `target`: the executor's own scheduling is what
/// calibration must not measure.
struct Pinned {
    target: Arc<AtomicU16>,
}

impl Policy for Pinned {
    fn name(&self) -> &str {
        "calibration"
    }
    fn decide(&mut self, _obs: &Observation) -> cosched_core::Action {
        cosched_core::Action::to(ProcessorId(self.target.load(Ordering::Relaxed)))
    }
}

/// Timed runs of one pair: mean ms, coefficient of variation, count.
#[derive(Debug, Clone, Copy)]
struct PairStats {
    mean: f64,
    cv: f64,
    runs: usize,
}

/// Per model, per processor.
type Measured = Vec<Vec<Option<PairStats>>>;

/// Processors that are the same silicon as an earlier one: measuring one of them is enough.
fn twin_of(device: &DeviceProfile, p: usize) -> Option<usize> {
    let a = &device.processors[p];
    (0..p).find(|&q| {
        let b = &device.processors[q];
        a.kind == b.kind
            && a.ep == b.ep
            && a.threads == b.threads
            && a.slots == b.slots
            && device.models.iter().all(|m| match (&m.on[p], &m.on[q]) {
                (Some(x), Some(y)) => x.mean_ms == y.mean_ms,
                (None, None) => true,
                _ => false,
            })
    })
}

/// Re-measure `device`'s latencies on this machine with the models in `models_dir`.
/// `progress` gets the fraction of pairs done.
///
/// Models without a file, or left out by `config.models`, are scaled by the median
/// measured/profile ratio of their processor (and their source says so), so that the whole
/// profile moves with the host.
pub fn calibrate(
    device: &DeviceProfile,
    models_dir: &Path,
    config: &CalibrateConfig,
    progress: &mut dyn FnMut(f64),
) -> Result<Calibration, ExecError> {
    let target = Arc::new(AtomicU16::new(0));
    let wanted: Vec<String> = device
        .models
        .iter()
        .map(|m| m.name.clone())
        .filter(|n| config.models.as_ref().is_none_or(|only| only.contains(n)))
        .filter(|n| models_dir.join(format!("{n}.onnx")).is_file())
        .collect();
    if wanted.is_empty() {
        return Err(ExecError::NoModels(models_dir.to_path_buf()));
    }
    let exec = Executor::new(
        device,
        models_dir,
        ExecutorConfig {
            models: Some(wanted),
            ort_library: config.ort_library.clone(),
            queue_capacity: 4,
            ..ExecutorConfig::new(Box::new(Pinned { target: target.clone() }))
        },
    )?;
    let n_proc = device.processors.len();
    // A remote processor whose server is down at start is measured as nothing: the pinned
    // policy's requests would run elsewhere.
    let online = exec.usage().online;
    let usable: Vec<bool> = exec
        .processor_status()
        .iter()
        .zip(&online)
        .map(|(s, &up)| s.error.is_none() && up)
        .collect();
    let skipped: Vec<(String, String)> = exec
        .processor_status()
        .iter()
        .zip(&online)
        .filter_map(|(s, &up)| match (&s.error, up) {
            (Some(e), _) => Some((s.id.clone(), e.clone())),
            (None, false) => Some((s.id.clone(), "down (its server is not ready)".to_string())),
            (None, true) => None,
        })
        .collect();
    let pairs_to_measure: Vec<(usize, usize)> = (0..n_proc)
        .filter(|&p| usable[p] && twin_of(device, p).is_none_or(|q| !usable[q]))
        .flat_map(|p| (0..device.models.len()).map(move |m| (m, p)))
        .filter(|&(m, p)| device.models[m].on[p].is_some() && exec.model(ModelId(m as u16)).is_some())
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut measured: Measured = vec![vec![None; n_proc]; device.models.len()];
    for (k, &(m, p)) in pairs_to_measure.iter().enumerate() {
        let model = ModelId(m as u16);
        let info = exec.model(model).expect("filtered on loaded models");
        let inputs = info.random_inputs(&mut rng);
        target.store(p as u16, Ordering::Relaxed);
        let started = Instant::now();
        let mut times = Vec::with_capacity(config.iters);
        for i in 0..config.warmup + config.iters.max(1) {
            let failed = |message: String| ExecError::Calibration {
                model: info.name.clone(),
                processor: device.processors[p].id.clone(),
                message,
            };
            let c = exec
                .submit(model, inputs.clone())
                .map_err(|e| failed(e.to_string()))?
                .wait();
            if let Err(e) = &c.result {
                return Err(failed(e.to_string()));
            }
            if c.processor != Some(ProcessorId(p as u16)) || c.attempts != 1 {
                return Err(failed(format!(
                    "the request ran on {} after {} attempts (the processor failed or went down during calibration)",
                    c.processor
                        .map_or("no processor".to_string(), |q| device.processors[q.index()].id.clone()),
                    c.attempts
                )));
            }
            if i >= config.warmup {
                times.push(c.end_ms - c.start_ms.unwrap_or(c.arrival_ms));
                if times.len() >= 3 && started.elapsed() >= config.max_per_pair {
                    break;
                }
            }
        }
        let (mean, cv) = mean_cv(&times);
        measured[m][p] = Some(PairStats {
            mean,
            cv,
            runs: times.len(),
        });
        progress((k + 1) as f64 / pairs_to_measure.len() as f64);
    }
    drop(exec);
    Ok(apply(device, &measured, config, skipped))
}

/// The calibrated profile from the measured pairs.
fn apply(
    device: &DeviceProfile,
    measured: &Measured,
    config: &CalibrateConfig,
    skipped: Vec<(String, String)>,
) -> Calibration {
    let n_proc = device.processors.len();
    let mut profile = device.clone();
    let mut pairs = Vec::new();
    // Twins take the measurement of the processor they copy.
    let source_of = |p: usize| -> usize {
        match twin_of(device, p) {
            Some(q) if measured.iter().any(|row| row[q].is_some()) => q,
            _ => p,
        }
    };
    let mut median_ratio = vec![None; n_proc];
    for (p, ratio) in median_ratio.iter_mut().enumerate() {
        let q = source_of(p);
        let mut ratios: Vec<f64> = device
            .models
            .iter()
            .zip(measured)
            .filter_map(|(mp, row)| Some(row[q]?.mean / mp.on[q].as_ref()?.mean_ms))
            .collect();
        ratios.sort_by(f64::total_cmp);
        if !ratios.is_empty() {
            *ratio = Some(ratios[ratios.len() / 2]);
        }
    }
    for (m, mp) in profile.models.iter_mut().enumerate() {
        for (p, on) in mp.on.iter_mut().enumerate() {
            let Some(on) = on.as_mut() else { continue };
            let q = source_of(p);
            match measured[m][q] {
                Some(PairStats { mean, cv, runs }) => {
                    let copied_from = (q != p).then(|| device.processors[q].id.clone());
                    on.source = format!(
                        "calibrated on {}: batch-1 mean {mean:.3} ms, cv {cv:.3} over {runs} runs through the executor, one at a time{}; the profile said {:.3} ms",
                        config.host,
                        copied_from.as_ref().map_or(String::new(), |q| format!(" (measured on the identical {q})")),
                        on.mean_ms
                    );
                    pairs.push(CalibratedPair {
                        model: mp.name.clone(),
                        processor: device.processors[p].id.clone(),
                        profile_ms: on.mean_ms,
                        measured_ms: mean,
                        cv,
                        runs,
                        copied_from,
                    });
                    on.mean_ms = mean.max(1e-3);
                    on.cv = cv.min(10.0);
                }
                None => {
                    if let Some(r) = median_ratio[p] {
                        on.source = format!(
                            "not measured in calibration on {}: the profile's {:.3} ms scaled by {r:.3}, the median measured/profile ratio of this processor",
                            config.host, on.mean_ms
                        );
                        on.mean_ms = (on.mean_ms * r).max(1e-3);
                    }
                }
            }
        }
    }
    profile.description = format!("{} (calibrated on {})", device.description, config.host);
    profile.source = format!(
        "{} Calibrated on {} by a quick re-measurement of batch-1 latencies through the executor ({} warm-up and up to {} timed runs per model and processor); everything else is the original profile's.",
        device.source,
        config.host,
        config.warmup,
        config.iters
    );
    Calibration {
        profile,
        pairs,
        skipped,
    }
}
