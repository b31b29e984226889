//! A workload on the wall clock: the simulator's arrival processes (same seeds, so the same
//! arrival times as `cosched-bench sim` with the same `--seed`), real inferences through an
//! [`Executor`], and the run report of mode `real`.

use crate::executor::{Completion, Executor, Inputs, Reply, ShutdownMode};
use crate::SubmitError;
use cosched_core::arrivals::StreamArrivals;
use cosched_core::{
    DeviceProfile, FitEntry, MetricsRecorder, ModelId, ObjectiveWeights, ResolvedArrival, ResolvedWorkload, RunInfo,
    RunReport, StreamId,
};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Settings of a real run.
#[derive(Debug, Clone)]
pub struct DriveConfig {
    /// Seed of the arrivals and of the random inputs.
    pub seed: u64,
    /// Objective weights of the report.
    pub weights: ObjectiveWeights,
    /// How long after the arrival window requests may still complete, ms; `None`: twice the
    /// largest deadline, at least one second (as the simulator).
    pub drain_ms: Option<f64>,
}

impl Default for DriveConfig {
    fn default() -> Self {
        DriveConfig {
            seed: 1,
            weights: ObjectiveWeights::BALANCED,
            drain_ms: None,
        }
    }
}

/// A real run, finished: counts and the processors' usage, ready to become a report.
pub struct RealRun {
    metrics: MetricsRecorder,
    /// Length of the run, ms.
    pub run_ms: f64,
    /// Modelled energy per processor, J.
    pub energy_j: Vec<f64>,
    /// Busy slot-time per processor, ms.
    pub busy_slot_ms: Vec<f64>,
    /// Requests refused because a queue was full.
    pub rejected: u64,
    /// Requests that failed (after failover) or were cancelled at the end.
    pub failed: u64,
    /// Requests moved to another processor after a failure.
    pub failovers: u64,
    /// Measured service times of this run against the profile.
    pub profile_fit: Vec<FitEntry>,
    invalid_actions: u64,
}

/// Energy measured by a sensor over the run, to replace the modelled figure.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredEnergy {
    /// Joules over the run.
    pub joules: f64,
    /// `measured:<sensor>`.
    pub source: String,
}

impl RealRun {
    /// The run report (mode `real`). Energy is modelled from the profile's power figures unless
    /// `measured` is given; then the board total is the measurement and the per-processor split
    /// follows the modelled shares.
    pub fn report(
        mut self,
        policy: &str,
        device: &DeviceProfile,
        workload: &ResolvedWorkload,
        config: &DriveConfig,
        measured: Option<MeasuredEnergy>,
    ) -> RunReport {
        let (energy_j, source) = match measured {
            Some(m) => {
                let modelled: f64 = self.energy_j.iter().sum();
                let scale = if modelled > 0.0 { m.joules / modelled } else { 0.0 };
                (self.energy_j.iter().map(|e| e * scale).collect(), m.source)
            }
            None => (self.energy_j.clone(), "modelled".to_string()),
        };
        for _ in 0..self.invalid_actions {
            self.metrics.invalid_action();
        }
        let mut report = self.metrics.finish(RunInfo {
            policy,
            device,
            workload: &workload.name,
            stream_names: workload.streams.iter().map(|s| s.name.clone()).collect(),
            seed: config.seed,
            mode: "real",
            energy_source: source,
            load: workload.load,
            run_ms: self.run_ms,
            energy_j,
            busy_slot_ms: self.busy_slot_ms.clone(),
            weights: config.weights,
        });
        report.profile_fit = self.profile_fit;
        report
    }
}

#[derive(Clone, Copy)]
struct Arrival {
    t_ms: f64,
    seq: u64,
    stream: usize,
    model: ModelId,
}

impl PartialEq for Arrival {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Arrival {}
impl PartialOrd for Arrival {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Arrival {
    fn cmp(&self, o: &Self) -> Ordering {
        o.t_ms.total_cmp(&self.t_ms).then(o.seq.cmp(&self.seq))
    }
}

/// The arrival schedule of a workload, generated lazily by the same per-stream generators as
/// the simulator's.
struct Arrivals<'w> {
    w: &'w ResolvedWorkload,
    streams: Vec<StreamArrivals>,
    heap: BinaryHeap<Arrival>,
    seq: u64,
}

impl<'w> Arrivals<'w> {
    fn new(w: &'w ResolvedWorkload, seed: u64) -> Arrivals<'w> {
        let mut a = Arrivals {
            w,
            streams: Vec::new(),
            heap: BinaryHeap::new(),
            seq: 0,
        };
        for (i, s) in w.streams.iter().enumerate() {
            let mut gen = StreamArrivals::new(&s.arrival, seed, i);
            if let ResolvedArrival::Closed { concurrency } = &s.arrival {
                let model = s.model.expect("closed streams have a model");
                for _ in 0..*concurrency {
                    a.push(0.0, i, model);
                }
            }
            let first = gen.first(w.duration_ms);
            a.streams.push(gen);
            a.push_next(i, first);
        }
        a
    }

    fn push(&mut self, t_ms: f64, stream: usize, model: ModelId) {
        self.seq += 1;
        self.heap.push(Arrival {
            t_ms,
            seq: self.seq,
            stream,
            model,
        });
    }

    fn push_next(&mut self, stream: usize, next: Option<(f64, Option<ModelId>)>) {
        if let Some((t, model)) = next {
            let model = model.or(self.w.streams[stream].model).expect("stream has a model");
            self.push(t, stream, model);
        }
    }

    /// The next arrival, after scheduling the one behind it in its stream.
    fn pop(&mut self) -> Option<Arrival> {
        let a = self.heap.pop()?;
        let next = self.streams[a.stream].next_after(a.t_ms, self.w.duration_ms);
        self.push_next(a.stream, next);
        Some(a)
    }

    fn peek_ms(&self) -> Option<f64> {
        self.heap.peek().map(|a| a.t_ms)
    }
}

/// Sleep until `deadline`, finishing with a short spin for sub-millisecond accuracy.
fn sleep_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > Duration::from_micros(300) {
            std::thread::sleep(left - Duration::from_micros(200));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Run `workload` on `exec` in real time and count what happens to every arrival.
///
/// `inputs[m]` is the input used for every request of model `m` (see
/// [`ModelInfo::random_inputs`](crate::ModelInfo::random_inputs)). Every arrival is counted
/// exactly once: completed (in time or late), or unfinished (refused by a full queue, failed,
/// or still queued at the end of the drain window, then cancelled). `progress` gets the fraction
/// of the arrival window done.
pub fn drive(
    exec: &mut Executor,
    workload: &ResolvedWorkload,
    inputs: &[Option<Inputs>],
    config: &DriveConfig,
    progress: &mut dyn FnMut(f64),
) -> RealRun {
    let device = exec.device().clone();
    let n_proc = device.processors.len();
    let mut metrics = MetricsRecorder::new(n_proc, workload.streams.len());
    let reference: Vec<f64> = (0..device.models.len())
        .map(|m| device.reference_energy_j(ModelId(m as u16)))
        .collect();
    let drain_ms = config
        .drain_ms
        .unwrap_or_else(|| (2.0 * workload.max_slo_ms()).max(1000.0));
    let (tx, rx) = crossbeam_channel::unbounded::<Completion>();
    let mut arrivals = Arrivals::new(workload, config.seed);
    let base_stats = exec.stats();
    let base_usage = exec.usage();
    let base_fit = exec.profile_fit();
    let start = Instant::now();
    let t0_ms = exec.now_ms();
    let since = |i: Instant| (i - start).as_secs_f64() * 1000.0;
    let closed: Vec<bool> = workload
        .streams
        .iter()
        .map(|s| matches!(s.arrival, ResolvedArrival::Closed { .. }))
        .collect();
    let mut rejected_at: Vec<(usize, f64, f64)> = Vec::new();
    let mut outstanding = 0u64;
    let mut failed = 0u64;
    let mut last_progress = 0.0;
    let record = |c: Completion, metrics: &mut MetricsRecorder, failed: &mut u64| -> (usize, ModelId) {
        let stream = c.stream.index();
        let latency = c.end_ms - c.arrival_ms;
        match (&c.result, c.processor) {
            (Ok(_), Some(p)) => {
                metrics.completion(stream, p.index(), latency, c.slo_ms);
            }
            _ => {
                *failed += 1;
                metrics.unfinished(stream, latency, c.slo_ms);
            }
        }
        (stream, c.model)
    };
    let end_arrivals = workload.duration_ms;
    loop {
        let now = since(Instant::now());
        // Completions first: they may schedule closed-loop arrivals.
        while let Ok(c) = rx.try_recv() {
            outstanding -= 1;
            let (stream, model) = record(c, &mut metrics, &mut failed);
            let t = since(Instant::now());
            if closed[stream] && t < end_arrivals {
                arrivals.push(t, stream, model);
            }
        }
        let next = arrivals.peek_ms();
        match next {
            Some(t) if t <= now => {
                let a = arrivals.pop().expect("peeked");
                let slo = workload.slo_ms(a.stream, a.model);
                metrics.arrival(a.stream, reference[a.model.index()]);
                let input = inputs[a.model.index()]
                    .clone()
                    .expect("inputs for every model of the workload");
                let tx2 = tx.clone();
                let refused = match exec.submit_with_reply(
                    a.model,
                    StreamId(a.stream as u16),
                    slo,
                    input,
                    Reply::Callback(Box::new(move |c| {
                        let _ = tx2.send(c);
                    })),
                ) {
                    Ok(_) => {
                        outstanding += 1;
                        false
                    }
                    Err(e) => {
                        if !matches!(e, SubmitError::Overloaded { .. }) {
                            tracing::error!("submit failed: {e}");
                        }
                        rejected_at.push((a.stream, since(Instant::now()), slo));
                        true
                    }
                };
                if refused && closed[a.stream] {
                    // A refused closed-loop request would stall its stream: it comes back soon.
                    let t = since(Instant::now()) + 1.0;
                    if t < end_arrivals {
                        arrivals.push(t, a.stream, a.model);
                    }
                }
                let f = (now / end_arrivals).clamp(0.0, 1.0);
                if f - last_progress >= 0.01 {
                    last_progress = f;
                    progress(f);
                }
            }
            Some(t) => {
                let wait = Duration::from_secs_f64(((t - now) / 1000.0).max(0.0));
                if wait > Duration::from_millis(1) {
                    // Wake for a completion (closed loops need it) or shortly before the arrival.
                    if let Ok(c) = rx.recv_timeout(wait - Duration::from_micros(500)) {
                        outstanding -= 1;
                        let (stream, model) = record(c, &mut metrics, &mut failed);
                        let t = since(Instant::now());
                        if closed[stream] && t < end_arrivals {
                            arrivals.push(t, stream, model);
                        }
                    }
                } else {
                    sleep_until(start + Duration::from_secs_f64(t / 1000.0));
                }
            }
            None if outstanding > 0 && now < end_arrivals => {
                // Only closed loops are left, and each of their completions schedules the next
                // request: wait for one until the arrival window closes.
                let left = Duration::from_secs_f64(((end_arrivals - now) / 1000.0).max(0.0));
                if let Ok(c) = rx.recv_timeout(left) {
                    outstanding -= 1;
                    let (stream, model) = record(c, &mut metrics, &mut failed);
                    let t = since(Instant::now());
                    if closed[stream] && t < end_arrivals {
                        arrivals.push(t, stream, model);
                    }
                }
            }
            None => break,
        }
        if now >= end_arrivals && arrivals.peek_ms().is_none() {
            break;
        }
    }
    progress(1.0);
    // Drain window: wait for what is outstanding, then cancel the rest.
    let drain_end = start + Duration::from_secs_f64((end_arrivals.max(since(Instant::now())) + drain_ms) / 1000.0);
    while outstanding > 0 {
        let now = Instant::now();
        if now >= drain_end {
            break;
        }
        if let Ok(c) = rx.recv_timeout(drain_end - now) {
            outstanding -= 1;
            record(c, &mut metrics, &mut failed);
        }
    }
    let run_ms = since(Instant::now());
    let usage = exec.usage();
    let stats = exec.stats();
    let profile_fit = exec.profile_fit().since(&base_fit).entries(&device);
    exec.shutdown(ShutdownMode::Cancel);
    // Cancelled requests are answered by the shutdown.
    while outstanding > 0 {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(c) => {
                outstanding -= 1;
                let stream = c.stream.index();
                failed += 1;
                metrics.unfinished(stream, run_ms - (c.arrival_ms - t0_ms), c.slo_ms);
            }
            Err(_) => {
                tracing::error!("{outstanding} requests never answered (a bug)");
                break;
            }
        }
    }
    for (stream, at, slo) in &rejected_at {
        metrics.unfinished(*stream, run_ms - at, *slo);
    }
    let energy_j = usage
        .energy_j
        .iter()
        .zip(&base_usage.energy_j)
        .map(|(a, b)| a - b)
        .collect();
    let busy_slot_ms = usage
        .busy_slot_ms
        .iter()
        .zip(&base_usage.busy_slot_ms)
        .map(|(a, b)| a - b)
        .collect();
    RealRun {
        metrics,
        run_ms,
        energy_j,
        busy_slot_ms,
        rejected: rejected_at.len() as u64,
        failed,
        failovers: stats.failovers - base_stats.failovers,
        profile_fit,
        invalid_actions: stats.invalid_actions - base_stats.invalid_actions,
    }
}
