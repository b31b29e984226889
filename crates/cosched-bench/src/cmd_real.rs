//! `run` and `profile`: the real ONNX Runtime executor on this machine.

use crate::inputs::{BadInput, Inputs};
use crate::progress;
use anyhow::Context;
use clap::Args;
use cosched::FineTuneConfig;
use cosched_core::{ModelId, ObjectiveWeights, Policy, RunReport};
use cosched_ort::calibrate;
use cosched_ort::driver::{drive, DriveConfig, MeasuredEnergy};
use cosched_ort::profile::{self, ProfileConfig};
use cosched_ort::{ExecError, Executor, ExecutorConfig};
use rand::SeedableRng;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `cosched-bench run`.
#[derive(Args)]
pub struct RunArgs {
    /// Device profile: a path or a name in devices/ (host-cpu for this machine).
    #[arg(long, default_value = "host-cpu")]
    device: String,
    /// Folder of <model>.onnx files (scripts/make-test-models.py writes models/).
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Workload: a path or a built-in name.
    #[arg(long, default_value = "multi-stream")]
    workload: String,
    /// Policy: a baseline name, drl / drl:balanced|latency|energy (pretrained for the device), or a
    /// policy directory.
    #[arg(long, default_value = "least-slack")]
    policy: String,
    /// Scale open-loop arrival rates to this fraction of the profile's saturation throughput.
    #[arg(long, allow_negative_numbers = true)]
    load: Option<f64>,
    /// Override the workload's arrival window, seconds.
    #[arg(long, allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Seed of arrivals (the simulator's with the same seed) and random inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Objective weights: balanced, latency, energy, or `latency,violation,energy`.
    #[arg(long, default_value = "balanced")]
    objective: String,
    /// Requests waiting per processor before new ones are refused (and counted as violations).
    #[arg(long, default_value_t = 1024)]
    queue_capacity: usize,
    /// Keep learning online from the completions (each processor's power, from the energy
    /// they report; the executor models each completion's energy from the profile's power and
    /// its measured run time, as per-completion sensor energy is not wired yet, so here it
    /// learns 1.0), falling back to the pretrained state if a window of 2000 completions is
    /// 5% worse than the first (measured before anything learns).
    #[arg(long)]
    fine_tune: bool,
    /// First re-measure the workload's models on the profile's processors (a few seconds), then
    /// run, and take --load, against that calibrated profile; it is also written to
    /// `<cache>/cosched/<device>.calibrated.toml` (cache: COSCHED_CACHE_DIR, XDG_CACHE_HOME or
    /// ~/.cache) for `--device PATH` and `sim --device PATH` to reuse.
    #[arg(long)]
    calibrate: bool,
    /// Warn when measured service times differ from the profile's by more than this factor.
    #[arg(long, default_value_t = 1.3)]
    profile_tolerance: f64,
    /// Let every processor run batches of up to this many requests (models whose graph has a
    /// fixed batch dimension still run one at a time); default: the profile's `max_batch`.
    #[arg(long)]
    max_batch: Option<u32>,
    /// Compare every completion's outputs with its model's outputs for the same input run
    /// alone (batch 1), and say how many differ.
    #[arg(long)]
    check_outputs: bool,
    /// Run the workload a second time with the same policy at batch 1 (`batch1:<policy>`) and
    /// print both, outputs checked in both (implies --check-outputs).
    #[arg(long)]
    vs_batch1: bool,
    /// Write the report as JSON to this file (`-` for stdout); with --vs-batch1, both reports
    /// as a list.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Arguments of `cosched-bench profile`.
#[derive(Args)]
pub struct ProfileArgs {
    /// Folder of <model>.onnx files; every one is profiled.
    #[arg(long)]
    models: PathBuf,
    /// Quick calibration (seconds): re-measure the batch-1 latencies of an existing profile
    /// (--device) on this machine and write a copy with them to --out, keeping everything else
    /// (processors, slots, power, batching, interference). --providers, --cpu-workers and the
    /// concurrency search do not apply.
    #[arg(long)]
    quick: bool,
    /// With --quick: the profile to calibrate (a path or a built-in name; default host-cpu).
    #[arg(long)]
    device: Option<String>,
    /// Only these models (file stems), comma-separated.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Execution providers to profile, comma-separated: cpu, cuda, tensorrt, tensorrt-dla,
    /// nnapi, qnn, xnnpack, openvino.
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    providers: Vec<String>,
    /// Where to write the profile (e.g. devices/NAME.toml); NAME becomes the profile's name.
    #[arg(long)]
    out: PathBuf,
    /// Timed batch-1 runs per model and processor.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Untimed warm-up runs.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Intra-op threads of the CPU processor.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Split the CPU into this many identical single-slot workers (cpu-a, cpu-b, ...), as a
    /// CPU-only host runs them; their mutual slowdown becomes the profile's [interference].
    #[arg(long, default_value_t = 1)]
    cpu_workers: usize,
    /// Largest number of concurrent inferences tried (default: the number of cores, at least
    /// --cpu-workers).
    #[arg(long)]
    max_concurrency: Option<usize>,
    /// p99 growth factor that ends the concurrency search.
    #[arg(long, default_value_t = 1.5)]
    p99_factor: f64,
    /// Camera frame rate of the batching table printed at the end (Kum et al.'s real-time
    /// condition: a batch of b frames done within b frame intervals).
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
}

fn exec_error(e: ExecError) -> anyhow::Error {
    match e {
        ExecError::Thread(_) | ExecError::Environment(_) => anyhow::anyhow!(e),
        other => BadInput(other.to_string()).into(),
    }
}

fn host_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if host.is_empty() {
        format!("{cpu}, {cores} cores")
    } else {
        format!("{host} ({cpu}, {cores} cores)")
    }
}

/// `cosched-bench run`.
pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let mut inputs = Inputs::load(&a.device, &a.workload, a.load, a.duration)?;
    if !(a.profile_tolerance.is_finite() && a.profile_tolerance > 1.0) {
        return Err(BadInput(format!("--profile-tolerance: must be > 1, got {}", a.profile_tolerance)).into());
    }
    if !a.models.is_dir() {
        return Err(BadInput(format!(
            "--models {}: no such folder (scripts/make-test-models.py writes models/)",
            a.models.display()
        ))
        .into());
    }
    if a.calibrate {
        let names = used_models(&inputs);
        let device = calibrate_into_cache(&inputs.device, &a.models, Some(names))?;
        inputs = Inputs::with_device(device, &a.workload, a.load, a.duration)?;
    }
    if let Some(b) = a.max_batch {
        if b == 0 {
            return Err(BadInput("--max-batch: must be at least 1".into()).into());
        }
        let mut device = inputs.device.clone();
        for p in &mut device.processors {
            p.max_batch = b;
        }
        inputs = Inputs::with_device(device, &a.workload, a.load, a.duration)?;
    }
    let weights = ObjectiveWeights::parse(&a.objective).map_err(|e| BadInput(format!("--objective: {e}")))?;
    let mut names = vec![a.policy.clone()];
    if a.vs_batch1 {
        names.push(format!("{}{}", cosched::policies::BATCH1_PREFIX, a.policy));
    }
    let mut runs = Vec::with_capacity(names.len());
    for name in &names {
        runs.push(run_once(&a, &inputs, name, weights)?);
    }
    let reports: Vec<RunReport> = runs.iter().map(|r| r.report.clone()).collect();
    let json = if reports.len() == 1 {
        serde_json::to_string_pretty(&reports[0])?
    } else {
        serde_json::to_string_pretty(&reports)?
    };
    let to_stdout = a.json.as_deref() == Some(Path::new("-"));
    if let Some(path) = a.json.as_deref().filter(|_| !to_stdout) {
        std::fs::write(path, format!("{json}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if to_stdout {
        writeln!(out, "{json}")?;
        return Ok(());
    }
    write!(out, "{}", crate::table::render(&reports, &inputs))?;
    for r in &runs {
        let report = &r.report;
        writeln!(
            out,
            "real run{}: {} refused by full queues, {} failed or cancelled, {} failed over; energy {}",
            if runs.len() > 1 {
                format!(" of {}", report.policy)
            } else {
                String::new()
            },
            r.rejected,
            r.failed,
            r.failovers,
            report.energy_source
        )?;
        if let Some(o) = r.outputs {
            writeln!(
                out,
                "outputs{}: {} completions compared with batch-1 runs of the same inputs, {} differ (largest difference {:.2e})",
                if runs.len() > 1 { format!(" of {}", report.policy) } else { String::new() },
                o.checked,
                o.mismatched,
                o.max_abs_diff
            )?;
        }
    }
    if let [batched, one] = &reports[..] {
        writeln!(
            out,
            "batching: mean batch {:.2} against {:.2}; throughput {:.1} against {:.1} req/s ({:.2}x); {} and {} arrived",
            batched.actions.mean_batch,
            one.actions.mean_batch,
            batched.throughput_rps,
            one.throughput_rps,
            batched.throughput_rps / one.throughput_rps.max(1e-9),
            batched.arrived,
            one.arrived
        )?;
    }
    let first = &reports[0];
    write_profile_fit(&mut out, &first.profile_fit, a.profile_tolerance, a.calibrate)?;
    crate::table::write_switches(&mut out, &first.policy_switches)?;
    Ok(())
}

/// One real run and what the table prints beside its report.
struct RunOutcome {
    report: RunReport,
    rejected: u64,
    failed: u64,
    failovers: u64,
    outputs: Option<cosched_ort::output_check::OutputSummary>,
}

/// Run the workload once under `policy_name`.
fn run_once(a: &RunArgs, inputs: &Inputs, policy_name: &str, weights: ObjectiveWeights) -> anyhow::Result<RunOutcome> {
    let policy: Box<dyn Policy> = if a.fine_tune {
        let cfg = FineTuneConfig {
            weights,
            ..FineTuneConfig::default()
        };
        Box::new(cosched::resolve_fine_tuned(policy_name, &inputs.device, cfg).map_err(|e| BadInput(e.to_string()))?)
    } else {
        // Judged on a background thread, off the dispatch path, when guarded.
        cosched::policies::resolve_policy_on(policy_name, &inputs.device, weights, cosched::policies::Clock::Wall)
            .map_err(|e| BadInput(e.to_string()))?
    };
    let policy_name = policy.name().to_string();
    let config = ExecutorConfig {
        seed: a.seed,
        models: Some(used_models(inputs)),
        queue_capacity: a.queue_capacity.max(1),
        saturation_rps: inputs.workload.saturation_rps,
        profile_tolerance: a.profile_tolerance,
        ..ExecutorConfig::new(policy)
    };
    let mut exec = Executor::new(&inputs.device, &a.models, config).map_err(exec_error)?;
    for s in exec.processor_status() {
        match (&s.active_ep, &s.error) {
            (Some(ep), _) => eprintln!("processor {}: {} (requested {})", s.id, ep, s.requested_ep),
            (None, Some(e)) => eprintln!("processor {}: masked out: {e}", s.id),
            _ => {}
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let model_inputs: Vec<Option<cosched_ort::Inputs>> = (0..inputs.device.models.len())
        .map(|m| exec.model(ModelId(m as u16)).map(|i| i.random_inputs(&mut rng)))
        .collect();
    let drive_config = DriveConfig {
        seed: a.seed,
        weights,
        drain_ms: None,
        check_outputs: a.check_outputs || a.vs_batch1,
    };
    let meter = cosched_telemetry::EnergyMeter::auto(Path::new("/")).start();
    let bar = progress::bar(1, "running");
    let real = drive(&mut exec, &inputs.workload, &model_inputs, &drive_config, &mut |f| {
        bar.set_fraction(f)
    });
    bar.finish();
    let reading = meter.stop();
    let measured = reading.source.is_measured().then(|| MeasuredEnergy {
        joules: reading.joules,
        source: reading.source.to_string(),
    });
    let (rejected, failed, failovers, outputs) = (real.rejected, real.failed, real.failovers, real.outputs);
    let report = real.report(&policy_name, &inputs.device, &inputs.workload, &drive_config, measured);
    Ok(RunOutcome {
        report,
        rejected,
        failed,
        failovers,
        outputs,
    })
}

/// The models a workload uses (only those are loaded and calibrated).
fn used_models(inputs: &Inputs) -> Vec<String> {
    let mut used = vec![false; inputs.device.models.len()];
    for s in &inputs.workload.streams {
        match (s.model, &s.arrival) {
            (Some(m), _) => used[m.index()] = true,
            (None, cosched_core::ResolvedArrival::Trace { events, .. }) => {
                for (_, m) in events.iter() {
                    used[m.index()] = true;
                }
            }
            _ => {}
        }
    }
    used.iter()
        .enumerate()
        .filter(|(_, u)| **u)
        .map(|(m, _)| inputs.device.models[m].name.clone())
        .collect()
}

/// `measured/profile` per model and processor, and a clear line when the profile is off.
fn write_profile_fit(
    out: &mut impl Write,
    fit: &[cosched_core::FitEntry],
    tolerance: f64,
    calibrated: bool,
) -> std::io::Result<()> {
    if fit.is_empty() {
        return Ok(());
    }
    let pairs: Vec<String> = fit
        .iter()
        .map(|e| format!("{}@{} {:.2}x", e.model, e.processor, e.ratio))
        .collect();
    writeln!(out, "measured/profile service time: {}", pairs.join(", "))?;
    let off = fit.iter().filter(|e| e.mismatched(tolerance)).count();
    if off > 0 {
        let hint = if calibrated {
            "the machine changed speed since calibration (other load?)"
        } else {
            "rerun with --calibrate, or calibrate once with `cosched-bench profile --quick`"
        };
        writeln!(
            out,
            "warning: {off} of {} model/processor pairs are more than {tolerance}x off the profile: loads and decisions assume the profile's speed; {hint}",
            fit.len()
        )?;
    }
    Ok(())
}

/// Where `run --calibrate` keeps calibrated profiles.
fn cache_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("COSCHED_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("cosched")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("cosched")))
        .unwrap_or_else(|| std::env::temp_dir().join("cosched"))
}

/// Calibrate `device` on this machine, print what changed, and return the calibrated profile.
fn calibrate_device(
    device: &cosched_core::DeviceProfile,
    models: &Path,
    only: Option<Vec<String>>,
) -> anyhow::Result<cosched_ort::calibrate::Calibration> {
    let config = calibrate::CalibrateConfig {
        models: only,
        host: host_name(),
        ..calibrate::CalibrateConfig::default()
    };
    let bar = progress::bar(1, "calibrating");
    let cal = calibrate::calibrate(device, models, &config, &mut |f| bar.set_fraction(f)).map_err(exec_error)?;
    bar.finish();
    for (p, why) in &cal.skipped {
        eprintln!("calibration: processor {p} kept as profiled: {why}");
    }
    for c in &cal.pairs {
        eprintln!(
            "calibration: {:<14} {:<8} profile {:>8.3} ms  measured {:>8.3} ms  ({:.2}x, cv {:.3}, {} runs{})",
            c.model,
            c.processor,
            c.profile_ms,
            c.measured_ms,
            c.measured_ms / c.profile_ms,
            c.cv,
            c.runs,
            c.copied_from.as_ref().map_or(String::new(), |q| format!(", as {q}"))
        );
    }
    Ok(cal)
}

fn calibrate_into_cache(
    device: &cosched_core::DeviceProfile,
    models: &Path,
    only: Option<Vec<String>>,
) -> anyhow::Result<cosched_core::DeviceProfile> {
    let cal = calibrate_device(device, models, only)?;
    let dir = cache_dir();
    let path = dir.join(format!("{}.calibrated.toml", device.name));
    let written = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, cal.profile.to_toml_string()));
    match written {
        Ok(()) => eprintln!(
            "calibrated profile written to {} (reuse it with --device {})",
            path.display(),
            path.display()
        ),
        // The run can go on with the calibration in memory; only the reuse is lost.
        Err(e) => eprintln!(
            "warning: cannot cache the calibrated profile at {}: {e}",
            path.display()
        ),
    }
    Ok(cal.profile)
}

/// `cosched-bench profile --quick`.
fn profile_quick(a: &ProfileArgs) -> anyhow::Result<()> {
    let name = a.device.as_deref().unwrap_or("host-cpu");
    let device = cosched_core::DeviceProfile::load(name).map_err(BadInput::from)?;
    if !a.models.is_dir() {
        return Err(BadInput(format!("--models {}: no such folder", a.models.display())).into());
    }
    let only = (!a.only.is_empty()).then(|| a.only.clone());
    if let Some(o) = only.iter().flatten().find(|o| device.model_id(o).is_none()) {
        return Err(BadInput(format!("--only: model \"{o}\" is not in profile \"{}\"", device.name)).into());
    }
    let cal = calibrate_device(&device, &a.models, only)?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&a.out, cal.profile.to_toml_string()).with_context(|| format!("writing {}", a.out.display()))?;
    let copied = cal.pairs.iter().filter(|p| p.copied_from.is_some()).count();
    println!(
        "wrote {} (profile \"{}\" calibrated: {} model/processor pairs measured, {copied} copied to identical processors)",
        a.out.display(),
        device.name,
        cal.pairs.len() - copied
    );
    Ok(())
}

/// `cosched-bench profile`.
pub fn profile(a: ProfileArgs) -> anyhow::Result<()> {
    if a.quick {
        return profile_quick(&a);
    }
    if a.device.is_some() {
        return Err(
            BadInput("--device: only with --quick (a full profile measures this machine from scratch)".into()).into(),
        );
    }
    let mut providers = Vec::new();
    for p in &a.providers {
        providers.push(profile::parse_provider(p.trim()).ok_or_else(|| {
            BadInput(format!(
                "--providers: unknown provider \"{p}\" (cpu, cuda, tensorrt, tensorrt-dla, nnapi, qnn, xnnpack, openvino)"
            ))
        })?);
    }
    let name = a
        .out
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            BadInput(format!(
                "--out {}: needs a file name like devices/NAME.toml",
                a.out.display()
            ))
        })?
        .to_string();
    let mut models =
        profile::models_in(&a.models).map_err(|e| BadInput(format!("--models {}: {e}", a.models.display())))?;
    if !a.only.is_empty() {
        for o in &a.only {
            if !models.iter().any(|(n, _)| n == o) {
                return Err(BadInput(format!("--only: no {o}.onnx in {}", a.models.display())).into());
            }
        }
        models.retain(|(n, _)| a.only.contains(n));
    }
    if models.is_empty() {
        return Err(BadInput(format!("--models {}: no .onnx files", a.models.display())).into());
    }
    if !(a.p99_factor.is_finite() && a.p99_factor > 1.0) {
        return Err(BadInput(format!("--p99-factor: must be > 1, got {}", a.p99_factor)).into());
    }
    if !(a.fps.is_finite() && a.fps > 0.0) {
        return Err(BadInput(format!("--fps: must be a positive frame rate, got {}", a.fps)).into());
    }
    let config = ProfileConfig {
        warmup: a.warmup,
        iters: a.iters.max(2),
        threads: a.threads.max(1),
        cpu_workers: a.cpu_workers.max(1),
        max_concurrency: a
            .max_concurrency
            .unwrap_or(ProfileConfig::default().max_concurrency)
            .max(a.cpu_workers)
            .max(1),
        p99_factor: a.p99_factor,
        ..ProfileConfig::default()
    };
    cosched_ort::runtime::environment(None).map_err(exec_error)?;
    let procs = profile::processors(&providers, &config);
    let steps = (models.len() * procs.len()) as u64 * (2 + config.max_concurrency as u64);
    let bar = progress::bar(steps, "profiling");
    let mut measured = Vec::new();
    for p in &procs {
        for (name, path) in &models {
            match profile::measure(name, path, p, &config, &mut || bar.inc(1)) {
                Ok(m) => measured.push(m),
                Err(e) => {
                    bar.finish();
                    eprintln!("skipping {name} on {}: {e}", p.id);
                }
            }
        }
    }
    bar.finish();
    if measured.is_empty() {
        return Err(BadInput("nothing could be measured (see the messages above)".into()).into());
    }
    let text = profile::render(&name, &host_name(), &procs, &measured, &config).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&a.out, &text).with_context(|| format!("writing {}", a.out.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<16} {:<10} {:>10} {:>7} {:>8} {:>6} {:>9}",
        "model", "processor", "mean ms", "cv", "alpha", "conc", "mem MB"
    )?;
    for m in &measured {
        writeln!(
            out,
            "{:<16} {:<10} {:>10.3} {:>7.3} {:>8} {:>6} {:>9.1}",
            m.model,
            m.processor,
            m.mean_ms,
            m.cv,
            m.batch_alpha.map_or("-".to_string(), |a| format!("{a:.3}")),
            m.max_concurrency,
            m.memory_mb
        )?;
    }
    for p in procs.iter().filter(|p| measured.iter().any(|m| m.processor == p.id)) {
        writeln!(out, "{}: {}", p.id, profile::stall_fit(&measured, &p.id).describe())?;
    }
    writeln!(out)?;
    for m in measured.iter().filter(|m| m.batch_stages.len() > 1) {
        writeln!(out, "{}", profile::kum_table(m, a.fps))?;
    }
    writeln!(out, "wrote {}", a.out.display())?;
    Ok(())
}
