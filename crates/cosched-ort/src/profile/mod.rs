//! Measuring a device profile on this machine: batch-1 latency (mean and coefficient of
//! variation after warm-up), batch scaling where the model has a dynamic batch dimension
//! (`batch_alpha` by least squares), memory (resident-set growth of a session), and Corun-style
//! maximum concurrency (the most inferences run at once before p99 latency grows by more than a
//! factor), and stalls, the rare runs far slower than the rest (`stall.rs`).

pub mod stall;

use crate::backend::{ep_name, run_staged, BatchStages, OrtBackend, SessionOptions};
use crate::error::ExecError;
use crate::runtime;
use cosched_core::{DeviceProfile, ExecutionProviderKind, Processor, ProcessorKind};
use ndarray::ArrayD;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to measure and how hard.
#[derive(Debug, Clone)]
pub struct ProfileConfig {
    /// Untimed runs before timing.
    pub warmup: usize,
    /// Timed batch-1 runs.
    pub iters: usize,
    /// Batch sizes timed where the model has a dynamic batch dimension.
    pub batches: Vec<usize>,
    /// Largest concurrency tried.
    pub max_concurrency: usize,
    /// p99 growth (relative to one inference at a time) that ends the concurrency search.
    pub p99_factor: f64,
    /// Intra-op threads of a CPU processor.
    pub threads: usize,
    /// Split the CPU into this many identical workers (`cpu-a`, `cpu-b`, ...), each one slot
    /// with `threads` intra-op threads: the CPU is measured once, and the slowdown of
    /// `cpu_workers` concurrent inferences over one becomes the profile's `[interference]`.
    pub cpu_workers: usize,
    /// Modelled idle and busy power of each processor, W (no sensor is read here).
    pub idle_power_w: f64,
    /// See `idle_power_w`.
    pub busy_power_w: f64,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            warmup: 3,
            iters: 20,
            batches: vec![2, 4, 8, 16],
            max_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            p99_factor: 1.5,
            threads: 1,
            cpu_workers: 1,
            idle_power_w: 0.5,
            busy_power_w: 8.0,
        }
    }
}

/// One model measured on one processor.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Model name (file stem).
    pub model: String,
    /// Processor id.
    pub processor: String,
    /// Mean batch-1 latency, ms (stalls included).
    pub mean_ms: f64,
    /// Coefficient of variation of the batch-1 latency.
    pub cv: f64,
    /// 99th percentile of batch-1 latency, ms.
    pub p99_ms: f64,
    /// Every timed batch-1 run, ms, in the order run: where the processor's stalls are found.
    pub batch1_ms: Vec<f64>,
    /// `latency(b) = mean * (alpha + (1 - alpha) * b)`, when batches were timed.
    pub batch_alpha: Option<f64>,
    /// Mean latency per batch size timed, ms.
    pub batch_ms: Vec<(usize, f64)>,
    /// Mean time per stage of a batch of `b` separate requests joined (batch 1 first, then the
    /// batches timed), as the executor runs them: see [`kum_table`].
    pub batch_stages: Vec<(usize, BatchStages)>,
    /// Resident memory added by the session and one inference, MB.
    pub memory_mb: f64,
    /// Inferences that can run at once before p99 grows by more than the factor.
    pub max_concurrency: usize,
    /// p99 at each concurrency tried, ms.
    pub concurrency_p99_ms: Vec<(usize, f64)>,
    /// Mean latency at each concurrency tried, ms (its growth over concurrency 1 measures the
    /// interference between concurrent inferences).
    pub concurrency_mean_ms: Vec<(usize, f64)>,
}

fn rss_mb() -> f64 {
    // Resident pages from /proc/self/statm (Linux); 0 elsewhere.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map_or(0.0, |pages| pages * 4096.0 / 1e6)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Mean and coefficient of variation (sample standard deviation over the mean).
pub(crate) fn mean_cv(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, if mean > 0.0 { var.sqrt() / mean } else { 0.0 })
}

/// `alpha` of `latency(b) = l1 * (alpha + (1 - alpha) * b)` by least squares over `(b, ms)`
/// points, clamped to [0, 1].
pub fn fit_batch_alpha(l1: f64, points: &[(usize, f64)]) -> f64 {
    // l(b)/l1 - 1 = (1 - alpha) (b - 1): a line through the origin.
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for &(b, ms) in points {
        let x = b as f64 - 1.0;
        sxy += x * (ms / l1 - 1.0);
        sxx += x * x;
    }
    if sxx == 0.0 {
        return 0.0;
    }
    (1.0 - sxy / sxx).clamp(0.0, 1.0)
}

fn processor_for(ep: ExecutionProviderKind, id: &str, threads: usize, config: &ProfileConfig) -> Processor {
    Processor {
        id: id.to_string(),
        kind: match ep {
            ExecutionProviderKind::Cpu | ExecutionProviderKind::Xnnpack | ExecutionProviderKind::Openvino => {
                ProcessorKind::Cpu
            }
            ExecutionProviderKind::Cuda | ExecutionProviderKind::Tensorrt => ProcessorKind::Gpu,
            ExecutionProviderKind::TensorrtDla => ProcessorKind::Dla,
            ExecutionProviderKind::Nnapi | ExecutionProviderKind::Qnn => ProcessorKind::Npu,
            ExecutionProviderKind::Remote => ProcessorKind::Remote,
        },
        ep,
        slots: 1,
        max_batch: 1,
        threads: Some(threads as u32),
        idle_power_w: config.idle_power_w,
        busy_power_w: config.busy_power_w,
        dvfs_mhz: Vec::new(),
        source: String::new(),
        remote: None,
        stall: None,
    }
}

/// Parse a `--providers` entry (`cpu`, `cuda`, `tensorrt`, `tensorrt-dla`, ...).
pub fn parse_provider(name: &str) -> Option<ExecutionProviderKind> {
    [
        ExecutionProviderKind::Cpu,
        ExecutionProviderKind::Cuda,
        ExecutionProviderKind::Tensorrt,
        ExecutionProviderKind::TensorrtDla,
        ExecutionProviderKind::Nnapi,
        ExecutionProviderKind::Qnn,
        ExecutionProviderKind::Xnnpack,
        ExecutionProviderKind::Openvino,
    ]
    .into_iter()
    .find(|k| ep_name(*k) == name)
}

fn time_run(s: &mut ort::session::Session, inputs: &[ArrayD<f32>]) -> Result<f64, String> {
    use ort::session::SessionInputValue;
    let values: Vec<SessionInputValue<'_>> = inputs
        .iter()
        .map(|a| ort::value::TensorRef::from_array_view(a).map(Into::into))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let out = s.run(values.as_slice()).map_err(|e| e.to_string())?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    drop(out);
    Ok(ms)
}

/// Models to profile: every `*.onnx` in `dir`, sorted by name.
pub fn models_in(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p.clone())))
        .collect();
    v.sort();
    Ok(v)
}

/// Measure one model on one processor. `tick` is called after each timed unit of work.
pub fn measure(
    name: &str,
    path: &Path,
    processor: &Processor,
    config: &ProfileConfig,
    tick: &mut dyn FnMut(),
) -> Result<Measurement, ExecError> {
    // One intra-op thread unless the processor says otherwise, no spinning, full optimisation.
    let backend = OrtBackend::with_options(
        runtime::environment(None)?,
        SessionOptions {
            default_threads: 1,
            intra_op_spinning: false,
            optimization_level: 3,
        },
    );
    let err = |message: String| ExecError::Model {
        model: name.to_string(),
        path: path.to_path_buf(),
        processor: processor.id.clone(),
        ep: ep_name(processor.ep).to_string(),
        message,
    };
    let rss0 = rss_mb();
    let mut s = backend.session(processor, path).map_err(|e| err(e.to_string()))?;
    let info = OrtBackend::describe(&s, name, path).map_err(|e| err(e.to_string()))?;
    let mut rng = rand::rng();
    let x1 = info.random_inputs(&mut rng);
    time_run(&mut s, &x1).map_err(err)?;
    let memory_mb = (rss_mb() - rss0).max(0.0);
    for _ in 0..config.warmup {
        time_run(&mut s, &x1).map_err(err)?;
    }
    let mut lat = Vec::with_capacity(config.iters);
    for _ in 0..config.iters.max(2) {
        lat.push(time_run(&mut s, &x1).map_err(err)?);
    }
    tick();
    let (mean_ms, cv) = mean_cv(&lat);
    let batch1_ms = lat.clone();
    lat.sort_by(f64::total_cmp);
    let p99_ms = percentile(&lat, 0.99);
    let mut batch_ms = Vec::new();
    let mut batch_stages = Vec::new();
    let sizes: Vec<usize> = if info.batchable {
        std::iter::once(1)
            .chain(config.batches.iter().copied().filter(|&b| b > 1))
            .collect()
    } else {
        vec![1]
    };
    for b in sizes {
        let requests: Vec<_> = (0..b).map(|_| info.random_inputs(&mut rng)).collect();
        let run = |s: &mut ort::session::Session| {
            run_staged(s, b, |i| &requests[i])
                .map(|(_, t)| t)
                .map_err(|e| e.to_string())
        };
        run(&mut s).map_err(err)?;
        let n = (config.iters / 2).max(3);
        let mut t = Vec::with_capacity(n);
        for _ in 0..n {
            t.push(run(&mut s).map_err(err)?);
        }
        let mean = |f: fn(&BatchStages) -> f64| t.iter().map(f).sum::<f64>() / t.len() as f64;
        let stages = BatchStages {
            pre_ms: mean(|t| t.pre_ms),
            infer_ms: mean(|t| t.infer_ms),
            post_ms: mean(|t| t.post_ms),
        };
        if b > 1 {
            batch_ms.push((b, stages.infer_ms));
        }
        batch_stages.push((b, stages));
    }
    if info.batchable {
        tick();
    }
    let batch_alpha = (!batch_ms.is_empty()).then(|| fit_batch_alpha(mean_ms, &batch_ms));
    drop(s);
    // Concurrency: k threads, each with its own session, each running `iters` inferences.
    let mut concurrency_p99_ms = vec![(1, p99_ms)];
    let mut concurrency_mean_ms = vec![(1, mean_ms)];
    let mut max_concurrency = 1;
    for k in 2..=config.max_concurrency {
        let results: Vec<Result<Vec<f64>, String>> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..k)
                .map(|_| {
                    let backend = &backend;
                    let x = x1.clone();
                    sc.spawn(move || -> Result<Vec<f64>, String> {
                        let mut s = backend.session(processor, path).map_err(|e| e.to_string())?;
                        time_run(&mut s, &x)?;
                        (0..config.iters.max(2)).map(|_| time_run(&mut s, &x)).collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a profiling thread panicked".into())))
                .collect()
        });
        let mut all = Vec::new();
        for r in results {
            all.extend(r.map_err(err)?);
        }
        all.sort_by(f64::total_cmp);
        let p99 = percentile(&all, 0.99);
        concurrency_p99_ms.push((k, p99));
        concurrency_mean_ms.push((k, mean_cv(&all).0));
        tick();
        if p99 > config.p99_factor * p99_ms {
            break;
        }
        max_concurrency = k;
    }
    Ok(Measurement {
        model: name.to_string(),
        processor: processor.id.clone(),
        mean_ms,
        cv,
        p99_ms,
        batch1_ms,
        batch_alpha,
        batch_ms,
        batch_stages,
        memory_mb,
        max_concurrency,
        concurrency_p99_ms,
        concurrency_mean_ms,
    })
}

/// Kum et al.'s table for one measured model and processor: per batch size the stages, the
/// total, the time per frame, whether a batch of `b` frames of one camera at `fps` is done
/// within `b` frame intervals (their real-time condition), and how many such cameras a batch
/// of that size keeps up with. Stages: `pre` joins the requests' tensors (decoding and resizing
/// images are the application's, not measured here), `infer` is the session run, `post` copies
/// and splits the outputs.
pub fn kum_table(m: &Measurement, fps: f64) -> String {
    let interval = 1000.0 / fps;
    let mut t = format!(
        "{} on {} at {fps} fps (frame interval {interval:.1} ms)\n{:>6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8}\n",
        m.model, m.processor, "batch", "pre ms", "infer ms", "post ms", "total ms", "ms/frame", "real-time", "cameras"
    );
    for (b, s) in &m.batch_stages {
        let total = s.pre_ms + s.infer_ms + s.post_ms;
        let budget = *b as f64 * interval;
        let _ = writeln!(
            t,
            "{b:>6} {:>9.3} {:>9.3} {:>9.3} {total:>9.3} {:>10.3} {:>10} {:>8}",
            s.pre_ms,
            s.infer_ms,
            s.post_ms,
            total / *b as f64,
            if total <= budget { "yes" } else { "no" },
            (budget / total).floor() as u64
        );
    }
    t
}

/// Build the processors to profile from `--providers` names: ids are the provider names
/// (`cpu`, `cuda`, ...; `tensorrt-dla` becomes `dla0`).
pub fn processors(providers: &[ExecutionProviderKind], config: &ProfileConfig) -> Vec<Processor> {
    providers
        .iter()
        .map(|&ep| {
            let id = match ep {
                ExecutionProviderKind::TensorrtDla => "dla0",
                other => ep_name(other),
            };
            let threads = if ep == ExecutionProviderKind::Cpu {
                config.threads
            } else {
                1
            };
            processor_for(ep, id, threads, config)
        })
        .collect()
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn key(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        s.to_string()
    } else {
        toml_str(s)
    }
}

/// The processor ids `p` becomes in the profile: itself, or `cpu-a`, `cpu-b`, ... when the CPU is
/// split into workers.
fn processor_ids(p: &Processor, config: &ProfileConfig) -> Vec<String> {
    let workers = config.cpu_workers.max(1);
    if workers > 1 && p.ep == ExecutionProviderKind::Cpu {
        (0..workers).map(worker_id).collect()
    } else {
        vec![p.id.clone()]
    }
}

/// `cpu-a` ... `cpu-z`, then `cpu-26`, ...
fn worker_id(i: usize) -> String {
    match u8::try_from(i).ok().filter(|&i| i < 26) {
        Some(i) => format!("cpu-{}", char::from(b'a' + i)),
        None => format!("cpu-{i}"),
    }
}

/// Interference between CPU workers: the median over models of the mean latency with `workers`
/// concurrent inferences over the mean with one, as extra slowdown per other busy worker
/// (`(ratio - 1) / (workers - 1)`, at least 0), and how it was found. Models whose concurrency
/// search stopped before `workers` use the largest concurrency measured.
pub fn worker_interference(
    measured: &[Measurement],
    processors: &[Processor],
    workers: usize,
) -> Option<(f64, String)> {
    let cpu: Vec<&Processor> = processors
        .iter()
        .filter(|p| p.ep == ExecutionProviderKind::Cpu)
        .collect();
    let mut per_model: Vec<(String, f64)> = measured
        .iter()
        .filter(|m| cpu.iter().any(|p| p.id == m.processor))
        .filter_map(|m| {
            let (k, mean_k) = m
                .concurrency_mean_ms
                .iter()
                .filter(|(k, _)| *k > 1 && *k <= workers)
                .max_by_key(|(k, _)| *k)?;
            let per_busy = ((mean_k / m.mean_ms - 1.0) / (*k - 1) as f64).max(0.0);
            Some((m.model.clone(), per_busy))
        })
        .collect();
    if per_model.is_empty() {
        return None;
    }
    per_model.sort_by(|a, b| a.1.total_cmp(&b.1));
    let median = per_model[per_model.len() / 2].1;
    let list: Vec<String> = per_model.iter().map(|(m, s)| format!("{m} {s:.3}")).collect();
    Some((
        median,
        format!(
            "median over models of the extra mean latency per other busy worker with {workers} CPU workers running at once ({}); applied as a rate while other workers are busy",
            list.join(", ")
        ),
    ))
}

/// The stalls of processor `processor`, from the batch-1 runs of every model measured on it.
pub fn stall_fit(measured: &[Measurement], processor: &str) -> stall::StallFit {
    let runs: Vec<&[f64]> = measured
        .iter()
        .filter(|m| m.processor == processor)
        .map(|m| m.batch1_ms.as_slice())
        .collect();
    stall::fit(&runs)
}

/// The `latency_cv` to write for `m`: the spread of its runs that did not stall where its
/// processor has a stall (the profile format's meaning: the stall adds the tail), else of all.
fn body_cv(m: &Measurement, processor_stalls: bool) -> f64 {
    if processor_stalls {
        mean_cv(&stall::body(&m.batch1_ms)).1
    } else {
        m.cv
    }
}

/// Write a device profile (docs/design.md format, checked by parsing it back) from measurements.
///
/// A processor's `slots` is the smallest maximum concurrency over its models (what it can run
/// at once without p99 blowing up); `max_batch` is the largest batch timed if any model on it
/// has a dynamic batch dimension. Power is modelled from the configuration and says so.
pub fn render(
    name: &str,
    host: &str,
    processors: &[Processor],
    measured: &[Measurement],
    config: &ProfileConfig,
) -> Result<String, String> {
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let r4 = |x: f64| (x * 10000.0).round() / 10000.0;
    let mut t = String::new();
    let _ = writeln!(t, "name = {}", toml_str(name));
    let _ = writeln!(t, "description = {}", toml_str(&format!("measured on {host}")));
    let _ = writeln!(
        t,
        "source = {}",
        toml_str(&format!(
            "measured with cosched-bench profile on {host} (ONNX Runtime {}, {} warm-up + {} timed batch-1 runs per model and processor; batch_alpha fitted by least squares over batches {:?}; memory_mb is the resident-set growth of one session plus one inference; slots is the smallest Corun-style max concurrency over the models (largest number of concurrent inferences before p99 exceeds {}x its value at one); a processor's stall is the share of its batch-1 runs over {}x their model's median and their mean over the other runs' (written where at least {} were seen; latency_cv is then the spread of the other runs); power is modelled: idle {} W, busy {} W per processor, no sensor read)",
            // The file name only: a machine's folders do not belong in a shared profile.
            runtime::loaded_library()
                .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "?".into()),
            config.warmup,
            config.iters,
            config.batches,
            config.p99_factor,
            stall::THRESHOLD,
            stall::MIN_STALLS,
            config.idle_power_w,
            config.busy_power_w
        ))
    );
    let workers = config.cpu_workers.max(1);
    // The processors that get a stall, fitted once: their models' latency_cv is the body's.
    let mut stalling = std::collections::HashSet::new();
    for p in processors {
        let mine: Vec<&Measurement> = measured.iter().filter(|m| m.processor == p.id).collect();
        if mine.is_empty() {
            continue;
        }
        let stalls = stall_fit(measured, &p.id);
        if stalls.stall.is_some() {
            stalling.insert(p.id.as_str());
        }
        let split = workers > 1 && p.ep == ExecutionProviderKind::Cpu;
        let slots = if split {
            1
        } else {
            mine.iter().map(|m| m.max_concurrency).min().unwrap_or(1).max(1)
        };
        let max_batch = if mine.iter().any(|m| m.batch_alpha.is_some()) {
            config.batches.iter().copied().max().unwrap_or(1).max(1)
        } else {
            1
        };
        let conc: Vec<String> = mine
            .iter()
            .map(|m| format!("{} {}", m.model, m.max_concurrency))
            .collect();
        let source = if split {
            format!(
                "measured: one of {workers} identical CPU workers ({} intra-op threads each, one inference at a time); the CPU's max concurrency per model {}; {}; power modelled (no sensor)",
                p.threads.unwrap_or(1),
                conc.join(", "),
                stalls.describe()
            )
        } else {
            format!(
                "measured: max concurrency per model {}; {}; power modelled (no sensor)",
                conc.join(", "),
                stalls.describe()
            )
        };
        for id in processor_ids(p, config) {
            let _ = writeln!(t, "\n[[processor]]");
            let _ = writeln!(t, "id = {}", toml_str(&id));
            let _ = writeln!(t, "kind = {}", toml_str(p.kind.as_str()));
            let _ = writeln!(t, "ep = {}", toml_str(ep_name(p.ep)));
            let _ = writeln!(t, "slots = {slots}");
            let _ = writeln!(t, "max_batch = {max_batch}");
            if let Some(th) = p.threads {
                let _ = writeln!(t, "threads = {th}");
            }
            let _ = writeln!(t, "idle_power_w = {:?}", p.idle_power_w);
            let _ = writeln!(t, "busy_power_w = {:?}", p.busy_power_w);
            if let Some(st) = stalls.stall {
                let _ = writeln!(
                    t,
                    "stall = {{ probability = {:?}, factor = {:?} }}",
                    r4(st.probability),
                    r3(st.factor)
                );
            }
            let _ = writeln!(t, "source = {}", toml_str(&source));
        }
    }
    let mut names: Vec<&str> = measured.iter().map(|m| m.model.as_str()).collect();
    names.dedup();
    names.sort();
    names.dedup();
    for name in names {
        let mine: Vec<&Measurement> = measured.iter().filter(|m| m.model == name).collect();
        let mem = mine.iter().map(|m| m.memory_mb).fold(0.0, f64::max).ceil().max(1.0);
        let _ = writeln!(t, "\n[[model]]");
        let _ = writeln!(t, "name = {}", toml_str(name));
        let _ = writeln!(t, "memory_mb = {mem:?}");
        let ids = |m: &Measurement| {
            processors
                .iter()
                .find(|p| p.id == m.processor)
                .map_or_else(|| vec![m.processor.clone()], |p| processor_ids(p, config))
        };
        let _ = writeln!(t, "[model.latency_ms]");
        for m in &mine {
            for id in ids(m) {
                let _ = writeln!(t, "{} = {:?}", key(&id), r3(m.mean_ms).max(0.001));
            }
        }
        let _ = writeln!(t, "[model.latency_cv]");
        for m in &mine {
            let cv = body_cv(m, stalling.contains(m.processor.as_str()));
            for id in ids(m) {
                let _ = writeln!(t, "{} = {:?}", key(&id), r3(cv));
            }
        }
        if mine.iter().any(|m| m.batch_alpha.is_some()) {
            let _ = writeln!(t, "[model.batch_alpha]");
            for m in &mine {
                if let Some(a) = m.batch_alpha {
                    for id in ids(m) {
                        let _ = writeln!(t, "{} = {:?}", key(&id), r3(a));
                    }
                }
            }
        }
        let _ = writeln!(t, "[model.source]");
        for m in &mine {
            let batches: Vec<String> = m.batch_ms.iter().map(|(b, ms)| format!("b{b} {ms:.3} ms")).collect();
            let conc: Vec<String> = m
                .concurrency_p99_ms
                .iter()
                .map(|(k, ms)| format!("{k}: {ms:.3}"))
                .collect();
            let conc_mean: Vec<String> = m
                .concurrency_mean_ms
                .iter()
                .map(|(k, ms)| format!("{k}: {ms:.3}"))
                .collect();
            let text = toml_str(&format!(
                "measured on {host}: batch-1 mean {:.3} ms, cv {:.3}, p99 {:.3} ms{}; p99 ms by concurrency {}; mean ms by concurrency {}",
                m.mean_ms,
                m.cv,
                m.p99_ms,
                if batches.is_empty() {
                    String::new()
                } else {
                    format!("; {}", batches.join(", "))
                },
                conc.join(", "),
                conc_mean.join(", ")
            ));
            for id in ids(m) {
                let _ = writeln!(t, "{} = {}", key(&id), text);
            }
        }
    }
    if workers > 1 {
        if let Some((slowdown, how)) = worker_interference(measured, processors, workers) {
            let _ = writeln!(t, "\n[interference]");
            let _ = writeln!(t, "slowdown_per_busy = {:?}", r3(slowdown));
            let _ = writeln!(t, "max_slowdown = {:?}", r3(1.0 + slowdown * (workers - 1) as f64));
            let _ = writeln!(t, "source = {}", toml_str(&format!("measured on {host}: {how}")));
        }
    }
    DeviceProfile::from_toml_str(&t, name).map_err(|e| format!("the profile written does not parse back: {e}"))?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_alpha_recovers_a_linear_model() {
        let l1 = 10.0;
        let a = 0.3;
        let pts: Vec<(usize, f64)> = [2, 4, 8]
            .iter()
            .map(|&b| (b, l1 * (a + (1.0 - a) * b as f64)))
            .collect();
        assert!((fit_batch_alpha(l1, &pts) - a).abs() < 1e-9);
        assert_eq!(fit_batch_alpha(l1, &[]), 0.0);
    }

    #[test]
    fn rendered_profile_parses() {
        let cfg = ProfileConfig::default();
        let procs = processors(&[ExecutionProviderKind::Cpu], &cfg);
        let m = Measurement {
            model: "tiny".into(),
            processor: "cpu".into(),
            mean_ms: 0.05,
            cv: 0.1,
            p99_ms: 0.07,
            batch1_ms: vec![0.05; 20],
            batch_alpha: Some(0.4),
            batch_ms: vec![(2, 0.07)],
            batch_stages: vec![],
            memory_mb: 2.0,
            max_concurrency: 2,
            concurrency_p99_ms: vec![(1, 0.07), (2, 0.08)],
            concurrency_mean_ms: vec![(1, 0.05), (2, 0.06)],
        };
        let t = render("host", "a \"test\" host", &procs, &[m], &cfg).unwrap();
        let d = DeviceProfile::from_toml_str(&t, "x").unwrap();
        assert_eq!(d.processors[0].slots, 2);
        assert_eq!(d.processors[0].max_batch, 16);
        assert_eq!(d.processors[0].stall, None);
        assert!(d.processors[0].source.contains("no stall written: 0 of 20"), "{t}");
        assert!(d.source.starts_with("measured with cosched-bench profile on"));
    }

    #[test]
    fn stalled_runs_become_the_processors_stall_and_leave_the_spread() {
        let cfg = ProfileConfig::default();
        let procs = processors(&[ExecutionProviderKind::Cpu], &cfg);
        // Two models, each with a body alternating +-10 % around its latency and two runs in
        // forty at 6x: four stalls of eighty runs, pooled over the processor.
        let m = |model: &str, ms: f64| {
            let mut runs: Vec<f64> = (0..40).map(|i| ms * if i % 2 == 0 { 0.9 } else { 1.1 }).collect();
            runs[7] = ms * 6.0;
            runs[30] = ms * 6.0;
            let (mean_ms, cv) = mean_cv(&runs);
            Measurement {
                model: model.into(),
                processor: "cpu".into(),
                mean_ms,
                cv,
                p99_ms: ms * 6.0,
                batch1_ms: runs,
                batch_alpha: None,
                batch_ms: vec![],
                batch_stages: vec![],
                memory_mb: 2.0,
                max_concurrency: 1,
                concurrency_p99_ms: vec![(1, ms * 6.0)],
                concurrency_mean_ms: vec![(1, mean_ms)],
            }
        };
        let measured = [m("a", 10.0), m("b", 1.0)];
        assert!(measured[0].cv > 0.8, "the stalls dominate the raw spread");
        let t = render("host", "test host", &procs, &measured, &cfg).unwrap();
        let d = DeviceProfile::from_toml_str(&t, "x").unwrap();
        let st = d.processors[0].stall.expect("a stall is written");
        assert!((st.probability - 0.05).abs() < 1e-9, "{t}");
        // Stalls at 6 over a body whose mean is 1 (in units of the median, 1.1).
        assert!((st.factor - 6.0).abs() < 1e-3, "{t}");
        assert!(d.processors[0].source.contains("stalls measured: 4 of 80"), "{t}");
        let a = &d.models[0].on[0].as_ref().unwrap();
        // The mean keeps the stalls (the format's meaning); the spread is the body's.
        assert!((a.mean_ms - measured[0].mean_ms).abs() < 1e-3);
        assert!(a.cv < 0.11 && a.cv > 0.09, "body cv {}", a.cv);
    }

    #[test]
    fn kum_table_applies_the_real_time_condition_per_batch() {
        let stage = |pre, infer, post| BatchStages {
            pre_ms: pre,
            infer_ms: infer,
            post_ms: post,
        };
        let m = Measurement {
            model: "cls".into(),
            processor: "gpu".into(),
            mean_ms: 40.0,
            cv: 0.1,
            p99_ms: 45.0,
            batch1_ms: vec![40.0; 20],
            batch_alpha: Some(0.5),
            batch_ms: vec![(4, 100.0)],
            // Batch 1: 40 ms > one 33.3 ms interval; batch 4: 110 ms < 133.3 ms.
            batch_stages: vec![(1, stage(0.0, 39.0, 1.0)), (4, stage(5.0, 100.0, 5.0))],
            memory_mb: 2.0,
            max_concurrency: 1,
            concurrency_p99_ms: vec![(1, 45.0)],
            concurrency_mean_ms: vec![(1, 40.0)],
        };
        let t = kum_table(&m, 30.0);
        let rows: Vec<Vec<&str>> = t.lines().skip(2).map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows.len(), 2, "{t}");
        assert_eq!(
            (rows[0][0], rows[0][4], rows[0][6], rows[0][7]),
            ("1", "40.000", "no", "0"),
            "{t}"
        );
        assert_eq!(
            (rows[1][0], rows[1][4], rows[1][5], rows[1][6], rows[1][7]),
            ("4", "110.000", "27.500", "yes", "1"),
            "{t}"
        );
    }

    #[test]
    fn cpu_workers_split_the_cpu_and_measure_their_interference() {
        let cfg = ProfileConfig {
            cpu_workers: 2,
            ..ProfileConfig::default()
        };
        let procs = processors(&[ExecutionProviderKind::Cpu], &cfg);
        let m = |model: &str, one: f64, two: f64| Measurement {
            model: model.into(),
            processor: "cpu".into(),
            mean_ms: one,
            cv: 0.1,
            p99_ms: one * 1.2,
            batch1_ms: vec![one; 20],
            batch_alpha: None,
            batch_ms: vec![],
            batch_stages: vec![],
            memory_mb: 2.0,
            max_concurrency: 2,
            concurrency_p99_ms: vec![(1, one * 1.2), (2, two * 1.2)],
            concurrency_mean_ms: vec![(1, one), (2, two)],
        };
        // Slowdowns 1.1, 1.3, 1.2: the median extra per other busy worker is 0.2.
        let measured = [m("a", 10.0, 11.0), m("b", 2.0, 2.6), m("c", 5.0, 6.0)];
        let t = render("host", "test host", &procs, &measured, &cfg).unwrap();
        let d = DeviceProfile::from_toml_str(&t, "x").unwrap();
        let ids: Vec<&str> = d.processors.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["cpu-a", "cpu-b"]);
        assert!(d.processors.iter().all(|p| p.slots == 1));
        for model in &d.models {
            assert_eq!(
                model.on[0].as_ref().unwrap().mean_ms,
                model.on[1].as_ref().unwrap().mean_ms
            );
        }
        assert!((d.interference.slowdown_per_busy - 0.2).abs() < 1e-9);
        assert!((d.interference.max_slowdown - 1.2).abs() < 1e-9);
        assert!(d.interference.source.contains("median"));
    }
}
