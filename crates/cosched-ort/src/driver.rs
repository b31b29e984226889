//! A workload on the wall clock: the simulator's arrival processes (same seeds, so the same
//! arrival times as `cosched-bench sim` with the same `--seed`), real inferences through an
//! [`Executor`], and the run report of mode `real`.

use crate::executor::{Completion, Executor, Inputs, Reply, ShutdownMode, Submitter};
use crate::output_check::{OutputCheck, OutputSummary};
use crate::SubmitError;
use cosched_core::arrivals::StreamArrivals;
use cosched_core::{
    DeviceProfile, FitEntry, HedgeCounts, MetricsRecorder, ModelId, ObjectiveWeights, ResolvedArrival,
    ResolvedWorkload, RunInfo, RunReport, StreamId,
};
use crossbeam_channel::Sender;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
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
    /// Compare every completion's outputs with its model's run alone (batch 1) before the run.
    pub check_outputs: bool,
}

impl Default for DriveConfig {
    fn default() -> Self {
        DriveConfig {
            seed: 1,
            weights: ObjectiveWeights::BALANCED,
            drain_ms: None,
            check_outputs: false,
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
    /// Changes of the policy deciding (the run-time guard's).
    pub policy_switches: Vec<cosched_core::PolicySwitch>,
    invalid_actions: u64,
    hedges: HedgeCounts,
    /// With [`DriveConfig::check_outputs`]: how the outputs compared with batch-1 runs.
    pub outputs: Option<OutputSummary>,
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
        self.metrics.hedges(self.hedges);
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
        report.policy_switches = self.policy_switches;
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

/// What the completion callbacks tell the driver, in the order it happened.
enum Event {
    /// A request finished or failed; `resubmitted`: its closed loop's next request was counted
    /// here and is being submitted from the callback (a `Refused` follows if that fails).
    Done { c: Completion, resubmitted: bool },
    /// A closed loop's resubmission was refused.
    Refused(Refusal),
}

/// A request the executor did not accept.
struct Refusal {
    stream: usize,
    model: ModelId,
    /// When, ms since the start of the run.
    t_ms: f64,
    slo_ms: f64,
    error: SubmitError,
}

/// A closed-loop stream that resubmits from its own completion callback, on the worker that
/// just finished: going through the driver thread first costs two thread hand-offs per request,
/// during which the worker idles (about 8 % of a 2-core host's throughput at concurrency 2).
struct ClosedLoop {
    submitter: Submitter,
    tx: Sender<Event>,
    stream: usize,
    model: ModelId,
    slo_ms: f64,
    inputs: Arc<Inputs>,
    start: Instant,
    window_end: Instant,
}

impl ClosedLoop {
    fn reply(self: &Arc<Self>) -> Reply {
        let me = self.clone();
        Reply::Callback(Box::new(move |c| me.completed(c)))
    }

    fn completed(self: Arc<Self>, c: Completion) {
        // Only successful completions resubmit here: they are delivered outside the executor's
        // lock (see `Executor::submitter`); a failed request comes back through the driver.
        let again = c.result.is_ok() && Instant::now() < self.window_end;
        // Sent before the resubmission, so the driver counts the new arrival before the new
        // request can complete.
        let _ = self.tx.send(Event::Done { c, resubmitted: again });
        if !again {
            return;
        }
        let stream = StreamId(self.stream as u16);
        if let Err(error) =
            self.submitter
                .submit_shared(self.model, stream, self.slo_ms, self.inputs.clone(), self.reply())
        {
            let _ = self.tx.send(Event::Refused(Refusal {
                stream: self.stream,
                model: self.model,
                t_ms: (Instant::now() - self.start).as_secs_f64() * 1000.0,
                slo_ms: self.slo_ms,
                error,
            }));
        }
    }
}

/// A refused request counts as unfinished; a refused closed-loop request would stall its
/// stream, so it comes back 1 ms later (inside the window). A full queue or a shutdown is
/// expected; anything else is logged.
fn refused(r: Refusal, closed: bool, end_ms: f64, rejected_at: &mut Vec<(usize, f64, f64)>, arrivals: &mut Arrivals) {
    if !matches!(r.error, SubmitError::Overloaded { .. } | SubmitError::ShuttingDown) {
        tracing::error!("submit failed: {}", r.error);
    }
    rejected_at.push((r.stream, r.t_ms, r.slo_ms));
    if closed && r.t_ms + 1.0 < end_ms {
        arrivals.push(r.t_ms + 1.0, r.stream, r.model);
    }
}

/// How often the driver looks at completion events while it waits for the next arrival. Events
/// only update counts (closed loops resubmit on the worker), so they can wait this long; the
/// end of the run does not (the drain receives them as they come).
const EVENT_POLL: Duration = Duration::from_millis(5);

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
    let (tx, rx) = crossbeam_channel::unbounded::<Event>();
    let mut arrivals = Arrivals::new(workload, config.seed);
    // One copy per model, shared by all its requests (as an application replaying a frame).
    let shared_inputs: Vec<Option<Arc<Inputs>>> = inputs.iter().map(|i| i.clone().map(Arc::new)).collect();
    let mut check = if config.check_outputs {
        match OutputCheck::reference(exec, inputs) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!("the reference run for the output check failed: {e}; outputs are not checked");
                None
            }
        }
    } else {
        None
    };
    let base_stats = exec.stats();
    let base_usage = exec.usage();
    let base_fit = exec.profile_fit();
    let start = Instant::now();
    let t0_ms = exec.now_ms();
    let since = |i: Instant| (i - start).as_secs_f64() * 1000.0;
    let end_arrivals = workload.duration_ms;
    let window_end = start + Duration::from_secs_f64(end_arrivals / 1000.0);
    // Closed streams resubmit from their completion callbacks (see `ClosedLoop`).
    let loops: Vec<Option<Arc<ClosedLoop>>> = workload
        .streams
        .iter()
        .enumerate()
        .map(|(i, s)| match (&s.arrival, s.model) {
            (ResolvedArrival::Closed { .. }, Some(model)) => Some(Arc::new(ClosedLoop {
                submitter: exec.submitter(),
                tx: tx.clone(),
                stream: i,
                model,
                slo_ms: workload.slo_ms(i, model),
                inputs: shared_inputs[model.index()]
                    .clone()
                    .expect("inputs for every model of the workload"),
                start,
                window_end,
            })),
            _ => None,
        })
        .collect();
    let mut rejected_at: Vec<(usize, f64, f64)> = Vec::new();
    let mut outstanding = 0u64;
    let mut failed = 0u64;
    let mut last_progress = 0.0;
    let mut record = |c: Completion, metrics: &mut MetricsRecorder| -> (usize, ModelId, bool) {
        let stream = c.stream.index();
        let latency = c.end_ms - c.arrival_ms;
        let ok = match (&c.result, c.processor) {
            (Ok(outputs), Some(p)) => {
                metrics.completion(stream, p.index(), latency, c.slo_ms);
                metrics.batch_member(c.batch);
                if let Some(check) = check.as_mut() {
                    check.check(c.model, outputs);
                }
                true
            }
            _ => {
                failed += 1;
                metrics.unfinished(stream, latency, c.slo_ms);
                false
            }
        };
        (stream, c.model, ok)
    };
    // Every event keeps the counts exact: a resubmission is counted as an arrival with the
    // completion that made it, before the request itself can complete.
    let mut handle = |e: Event,
                      metrics: &mut MetricsRecorder,
                      arrivals: &mut Arrivals,
                      outstanding: &mut u64,
                      rejected_at: &mut Vec<(usize, f64, f64)>| match e {
        Event::Done { c, resubmitted } => {
            *outstanding -= 1;
            let (stream, model, ok) = record(c, metrics);
            if resubmitted {
                metrics.arrival(stream, reference[model.index()]);
                *outstanding += 1;
            } else if loops[stream].is_some() && !ok {
                // A failed closed-loop request: the driver sends the next one.
                let t = since(Instant::now());
                if t < end_arrivals {
                    arrivals.push(t, stream, model);
                }
            }
        }
        Event::Refused(r) => {
            *outstanding -= 1;
            let closed = loops[r.stream].is_some();
            refused(r, closed, end_arrivals, rejected_at, arrivals);
        }
    };
    loop {
        let now = since(Instant::now());
        while let Ok(e) = rx.try_recv() {
            handle(e, &mut metrics, &mut arrivals, &mut outstanding, &mut rejected_at);
        }
        match arrivals.peek_ms() {
            Some(t) if t <= now => {
                let a = arrivals.pop().expect("peeked");
                let slo = workload.slo_ms(a.stream, a.model);
                metrics.arrival(a.stream, reference[a.model.index()]);
                let input = shared_inputs[a.model.index()]
                    .clone()
                    .expect("inputs for every model of the workload");
                let reply = match &loops[a.stream] {
                    Some(l) => l.reply(),
                    None => {
                        let tx2 = tx.clone();
                        Reply::Callback(Box::new(move |c| {
                            let _ = tx2.send(Event::Done { c, resubmitted: false });
                        }))
                    }
                };
                match exec.submit_shared(a.model, StreamId(a.stream as u16), slo, input, reply) {
                    Ok(_) => outstanding += 1,
                    Err(error) => {
                        let r = Refusal {
                            stream: a.stream,
                            model: a.model,
                            t_ms: since(Instant::now()),
                            slo_ms: slo,
                            error,
                        };
                        refused(
                            r,
                            loops[a.stream].is_some(),
                            end_arrivals,
                            &mut rejected_at,
                            &mut arrivals,
                        );
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
                    // Sleep, not a blocking receive: events are bookkeeping, and being woken
                    // by every completion put this thread on a core an inference was using.
                    std::thread::sleep((wait - Duration::from_micros(500)).min(EVENT_POLL));
                } else {
                    sleep_until(start + Duration::from_secs_f64(t / 1000.0));
                }
            }
            None if now < end_arrivals => {
                // Only closed loops are left (they resubmit themselves, and a failed or refused
                // request comes back through the heap at the next poll), or nothing is: the run
                // still lasts the whole window, as in the simulator.
                let left = Duration::from_secs_f64(((end_arrivals - now) / 1000.0).max(0.0));
                std::thread::sleep(left.min(EVENT_POLL));
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
        if let Ok(e) = rx.recv_timeout(drain_end - now) {
            handle(e, &mut metrics, &mut arrivals, &mut outstanding, &mut rejected_at);
        }
    }
    let run_ms = since(Instant::now());
    let usage = exec.usage();
    let stats = exec.stats();
    let profile_fit = exec.profile_fit().since(&base_fit).entries(&device);
    let policy_switches = exec.policy_switches();
    exec.shutdown(ShutdownMode::Cancel);
    // Cancelled requests are answered by the shutdown.
    while outstanding > 0 {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Event::Done { c, resubmitted }) => {
                outstanding -= 1;
                let stream = c.stream.index();
                match (&c.result, c.processor) {
                    // Finished between the end of the drain window and the cancellation.
                    (Ok(outputs), Some(p)) => {
                        metrics.completion(stream, p.index(), c.end_ms - c.arrival_ms, c.slo_ms);
                        metrics.batch_member(c.batch);
                        if let Some(check) = check.as_mut() {
                            check.check(c.model, outputs);
                        }
                    }
                    _ => {
                        failed += 1;
                        metrics.unfinished(stream, run_ms - (c.arrival_ms - t0_ms), c.slo_ms);
                    }
                }
                if resubmitted {
                    metrics.arrival(stream, reference[c.model.index()]);
                    outstanding += 1;
                }
            }
            Ok(Event::Refused(r)) => {
                outstanding -= 1;
                rejected_at.push((r.stream, r.t_ms, r.slo_ms));
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
        policy_switches,
        invalid_actions: stats.invalid_actions - base_stats.invalid_actions,
        hedges: stats.hedges.since(&base_stats.hedges),
        outputs: check.map(|c| c.summary()),
    }
}
