//! The event loop.

use cosched_core::arrivals::{seeded_rng, StreamArrivals};
use cosched_core::{
    Action, DeviceProfile, LatencyEstimator, MetricsRecorder, ModelId, ObjectiveWeights, Observation, Outcome, Policy,
    PolicyQueue, ProcessorId, ProcessorView, QueueOrder, Queued, RequestId, RequestView, ResolvedArrival,
    ResolvedWorkload, RunInfo, RunReport, RunningEstimate, StreamId,
};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use thiserror::Error;

/// Time constant of the smoothed utilisation and arrival-rate features, ms.
const SMOOTHING_MS: f64 = 1000.0;

/// Settings of one simulated run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random stream of the run.
    pub seed: u64,
    /// Objective weights of the report (and of the environment's reward).
    pub weights: ObjectiveWeights,
    /// DVFS level per processor (index into its `dvfs_mhz`); empty = highest frequency everywhere.
    pub dvfs_levels: Vec<usize>,
    /// Weight of a new observation in the online latency estimator.
    pub estimator_alpha: f64,
    /// How long after the arrival window the run goes on to let queues drain, ms. `None`:
    /// twice the largest deadline, at least one second.
    pub drain_ms: Option<f64>,
    /// The board as it really is, when it differs from the profile the scheduler believes
    /// (same processors and models, other numbers): service times and energy come from it,
    /// estimates and observations from the profile. Used to test robustness and fine-tuning.
    pub true_device: Option<Arc<DeviceProfile>>,
}

impl SimConfig {
    /// Defaults with this seed.
    pub fn with_seed(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            weights: ObjectiveWeights::BALANCED,
            dvfs_levels: Vec::new(),
            estimator_alpha: LatencyEstimator::DEFAULT_ALPHA,
            drain_ms: None,
            true_device: None,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::with_seed(0)
    }
}

/// A simulator setting that does not fit the device.
#[derive(Debug, Error, PartialEq)]
pub enum SimError {
    /// The true device has another shape than the profile.
    #[error("true device \"{0}\" does not have the same processors and models as the profile")]
    TrueDeviceMismatch(String),
}

#[derive(Debug, Clone, Copy)]
struct Request {
    id: u64,
    model: ModelId,
    stream: StreamId,
    arrival_ms: f64,
    slo_ms: f64,
    // Estimated service time when queued, so queued work can be tracked in O(1).
    est_ms: f64,
}

impl Queued for Request {
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

#[derive(Debug, Default)]
struct Slot {
    batch: Vec<Request>,
    start_ms: f64,
    running: RunningEstimate,
    // Contention is applied as a rate: the running inference has `work_left_ms` of isolated
    // service time left as of `since_ms`, and progresses at 1 / `slowdown` while the set of busy
    // processors stays as it is. Whenever that set changes, the remaining work is re-rated and
    // the completion rescheduled; `version` tells the stale completion event from the new one.
    work_left_ms: f64,
    since_ms: f64,
    slowdown: f64,
    version: u32,
    /// What the believed profile predicts for this run ([`Outcome::expected_service_ms`]).
    expected_ms: f64,
}

#[derive(Debug)]
struct ProcState {
    queue: PolicyQueue<Request>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    active: u32,
    queued_work_ms: f64,
    freq_scale: f64,
    // Energy and busy time integrated up to `last_ms`.
    last_ms: f64,
    energy_j: f64,
    busy_slot_ms: f64,
    util_ema: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum EventKind {
    Arrival { stream: u16, model: ModelId },
    Completion { processor: u16, slot: u32, version: u32 },
}

#[derive(Debug, Clone, Copy)]
struct Event {
    time_ms: f64,
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on (time, insertion order): ties resolve the same way every run.
        other.time_ms.total_cmp(&self.time_ms).then(other.seq.cmp(&self.seq))
    }
}

/// Per (model, processor) constants of the true device, flattened.
#[derive(Debug, Clone, Copy)]
struct Service {
    mean_ms: f64,
    sigma: f64,
    batch_alpha: f64,
}

/// A simulated run in progress.
///
/// Drive it with [`Simulator::next_decision`] and [`Simulator::dispatch`] (what [`simulate`]
/// and [`SimEnv`](crate::SimEnv) do), then call [`Simulator::finish`].
#[derive(Debug)]
pub struct Simulator {
    device: Arc<DeviceProfile>,
    truth: Arc<DeviceProfile>,
    workload: ResolvedWorkload,
    config: SimConfig,
    now_ms: f64,
    end_ms: f64,
    events: BinaryHeap<Event>,
    seq: u64,
    procs: Vec<ProcState>,
    streams: Vec<StreamArrivals>,
    service: Vec<Option<Service>>,
    reference_energy_j: Vec<f64>,
    estimator: LatencyEstimator,
    metrics: MetricsRecorder,
    obs: Observation,
    pending: Option<Request>,
    outcomes: Vec<Outcome>,
    rng_service: ChaCha8Rng,
    next_id: u64,
    busy_processors: u32,
    arrival_rate_ema: f64,
    last_arrival_ms: f64,
    decisions: u64,
    done: bool,
}

impl Simulator {
    /// A run of `workload` on `device` with queues ordered as `order`.
    pub fn new(
        device: &DeviceProfile,
        workload: &ResolvedWorkload,
        order: QueueOrder,
        config: &SimConfig,
    ) -> Result<Simulator, SimError> {
        let device = Arc::new(device.clone());
        let truth = match &config.true_device {
            Some(t) => {
                let same = t.processors.len() == device.processors.len()
                    && t.models.len() == device.models.len()
                    && t.models.iter().zip(&device.models).all(|(a, b)| {
                        a.name == b.name && a.on.iter().zip(&b.on).all(|(x, y)| x.is_some() == y.is_some())
                    });
                if !same {
                    return Err(SimError::TrueDeviceMismatch(t.name.clone()));
                }
                t.clone()
            }
            None => device.clone(),
        };
        let n_proc = device.processors.len();
        let procs = device
            .processors
            .iter()
            .enumerate()
            .map(|(i, p)| ProcState {
                queue: PolicyQueue::new(order),
                slots: (0..p.slots).map(|_| Slot::default()).collect(),
                free: (0..p.slots as usize).rev().collect(),
                active: 0,
                queued_work_ms: 0.0,
                freq_scale: p.freq_scale(config.dvfs_levels.get(i).copied().unwrap_or(usize::MAX)),
                last_ms: 0.0,
                energy_j: 0.0,
                busy_slot_ms: 0.0,
                util_ema: 0.0,
            })
            .collect();
        let service = truth
            .models
            .iter()
            .flat_map(|m| {
                m.on.iter().map(|o| {
                    o.as_ref().map(|o| Service {
                        mean_ms: o.mean_ms,
                        sigma: (1.0 + o.cv * o.cv).ln().sqrt(),
                        batch_alpha: o.batch_alpha,
                    })
                })
            })
            .collect();
        let reference_energy_j = (0..device.models.len())
            .map(|m| device.reference_energy_j(ModelId(m as u16)))
            .collect();
        let drain_ms = config
            .drain_ms
            .unwrap_or_else(|| (2.0 * workload.max_slo_ms()).max(1000.0));
        let mut sim = Simulator {
            estimator: LatencyEstimator::new(&device, config.estimator_alpha),
            metrics: MetricsRecorder::new(n_proc, workload.streams.len()),
            obs: Observation::empty(n_proc, device.models.len()),
            device,
            truth,
            workload: workload.clone(),
            config: config.clone(),
            now_ms: 0.0,
            end_ms: workload.duration_ms + drain_ms,
            events: BinaryHeap::new(),
            seq: 0,
            procs,
            streams: Vec::new(),
            service,
            reference_energy_j,
            pending: None,
            outcomes: Vec::new(),
            rng_service: seeded_rng(config.seed, 0xffff_0001),
            next_id: 0,
            busy_processors: 0,
            arrival_rate_ema: 0.0,
            last_arrival_ms: 0.0,
            decisions: 0,
            done: false,
        };
        for (i, s) in workload.streams.iter().enumerate() {
            let mut arrivals = StreamArrivals::new(&s.arrival, config.seed, i);
            if let ResolvedArrival::Closed { concurrency } = &s.arrival {
                let model = s.model.expect("closed streams have a model");
                for _ in 0..*concurrency {
                    sim.push_event(
                        0.0,
                        EventKind::Arrival {
                            stream: i as u16,
                            model,
                        },
                    );
                }
            }
            let first = arrivals.first(workload.duration_ms);
            sim.streams.push(arrivals);
            sim.push_arrival(i, first);
        }
        Ok(sim)
    }

    fn push_event(&mut self, time_ms: f64, kind: EventKind) {
        self.seq += 1;
        self.events.push(Event {
            time_ms,
            seq: self.seq,
            kind,
        });
    }

    /// Queue a stream's next arrival, if it has one in the arrival window.
    fn push_arrival(&mut self, stream: usize, next: Option<(f64, Option<ModelId>)>) {
        if let Some((t, model)) = next {
            let model = model
                .or(self.workload.streams[stream].model)
                .expect("stream has a model");
            self.push_event(
                t,
                EventKind::Arrival {
                    stream: stream as u16,
                    model,
                },
            );
        }
    }

    /// Integrate energy and busy time of processor `p` up to now.
    #[inline]
    fn settle(&mut self, p: usize) {
        let now = self.now_ms;
        let proc_ = &self.truth.processors[p];
        let st = &mut self.procs[p];
        let dt = now - st.last_ms;
        if dt > 0.0 {
            st.energy_j += proc_.power_w(st.active, st.freq_scale) * dt / 1000.0;
            st.busy_slot_ms += f64::from(st.active) * dt;
            let frac = f64::from(st.active) / f64::from(proc_.slots);
            let decay = (-dt / SMOOTHING_MS).exp();
            st.util_ema = st.util_ema * decay + frac * (1.0 - decay);
            st.last_ms = now;
        }
    }

    /// Advance virtual time to the next point where a request needs a placement, and return the
    /// observation for it; `None` when the run is over.
    ///
    /// Calling it again before [`Simulator::dispatch`] returns the same observation.
    pub fn next_decision(&mut self) -> Option<&Observation> {
        loop {
            if let Some(req) = self.pending {
                self.build_observation(req);
                return Some(&self.obs);
            }
            if self.done {
                return None;
            }
            let Some(ev) = self.events.peek().copied() else {
                self.finalize();
                return None;
            };
            if ev.time_ms > self.end_ms {
                self.finalize();
                return None;
            }
            self.events.pop();
            self.now_ms = ev.time_ms;
            match ev.kind {
                EventKind::Arrival { stream, model } => self.on_arrival(stream as usize, model),
                EventKind::Completion {
                    processor,
                    slot,
                    version,
                } => {
                    let (p, slot) = (processor as usize, slot as usize);
                    // A completion rescheduled by a change in contention leaves its old event behind.
                    if self.procs[p].slots[slot].version == version {
                        self.on_completion(p, slot);
                    }
                }
            }
        }
    }

    fn on_arrival(&mut self, stream: usize, model: ModelId) {
        let next = self.streams[stream].next_after(self.now_ms, self.workload.duration_ms);
        self.push_arrival(stream, next);
        let dt = self.now_ms - self.last_arrival_ms;
        let decay = (-dt / SMOOTHING_MS).exp();
        self.arrival_rate_ema = self.arrival_rate_ema * decay + 1.0 / SMOOTHING_MS;
        self.last_arrival_ms = self.now_ms;
        let slo_ms = self.workload.slo_ms(stream, model);
        self.metrics.arrival(stream, self.reference_energy_j[model.index()]);
        self.pending = Some(Request {
            id: self.next_id,
            model,
            stream: StreamId(stream as u16),
            arrival_ms: self.now_ms,
            slo_ms,
            est_ms: 0.0,
        });
        self.next_id += 1;
    }

    fn build_observation(&mut self, req: Request) {
        let now = self.now_ms;
        let obs = &mut self.obs;
        obs.now_ms = now;
        obs.request = RequestView {
            id: RequestId(req.id),
            model: req.model,
            stream: req.stream,
            arrival_ms: req.arrival_ms,
            slo_ms: req.slo_ms,
            reference_energy_j: self.reference_energy_j[req.model.index()],
        };
        let sat_per_ms = self.workload.saturation_rps / 1000.0;
        obs.recent_load = if sat_per_ms > 0.0 {
            self.arrival_rate_ema * (-(now - self.last_arrival_ms) / SMOOTHING_MS).exp() / sat_per_ms
        } else {
            0.0
        };
        for (p, (st, view)) in self.procs.iter().zip(obs.processors.iter_mut()).enumerate() {
            let proc_ = &self.device.processors[p];
            let pid = ProcessorId(p as u16);
            let est = self.estimator.estimate(req.model, pid);
            let queue_len = st.queue.len() as u32;
            let backlog_ms = if st.active < proc_.slots && queue_len == 0 {
                0.0
            } else {
                let running: f64 = st
                    .slots
                    .iter()
                    .filter(|s| !s.batch.is_empty())
                    .map(|s| s.running.remaining_ms(now))
                    .sum();
                (running + st.queued_work_ms) / f64::from(proc_.slots)
            };
            let decay = (-(now - st.last_ms) / SMOOTHING_MS).exp();
            let utilization = st.util_ema * decay + f64::from(st.active) / f64::from(proc_.slots) * (1.0 - decay);
            *view = match est {
                Some(est) => {
                    let lat = est / st.freq_scale;
                    ProcessorView {
                        available: true,
                        queue_len,
                        in_flight: st.active,
                        slots: proc_.slots,
                        backlog_ms,
                        est_latency_ms: lat,
                        latency_cv: self.device.on(req.model, pid).map_or(0.0, |o| o.cv),
                        est_energy_j: proc_.energy_per_inference_j(lat, st.freq_scale),
                        utilization,
                        freq_scale: st.freq_scale,
                    }
                }
                None => ProcessorView {
                    available: false,
                    queue_len,
                    in_flight: st.active,
                    slots: proc_.slots,
                    backlog_ms,
                    utilization,
                    freq_scale: st.freq_scale,
                    ..ProcessorView::default()
                },
            };
        }
    }

    /// Place the request of the last [`Simulator::next_decision`]. An invalid action is
    /// replaced by the earliest-finish valid processor and counted in the report. Does nothing
    /// when no request is waiting.
    pub fn dispatch(&mut self, action: Action) {
        let Some(mut req) = self.pending.take() else { return };
        self.decisions += 1;
        let p = if self.obs.is_valid(action.processor) {
            action.processor
        } else {
            self.metrics.invalid_action();
            self.obs
                .argmin_valid(ProcessorView::est_finish_ms)
                .expect("validated workloads only hold models some processor runs")
        };
        req.est_ms = self.obs.processors[p.index()].est_latency_ms;
        let st = &mut self.procs[p.index()];
        st.queued_work_ms += req.est_ms;
        st.queue.push(req);
        self.try_start(p.index());
    }

    fn try_start(&mut self, p: usize) {
        let max_batch = self.device.processors[p].max_batch as usize;
        while let Some(&slot) = self.procs[p].free.last() {
            let st = &mut self.procs[p];
            let Some(first) = st.queue.pop() else { return };
            st.free.pop();
            let mut batch = std::mem::take(&mut st.slots[slot].batch);
            batch.clear();
            batch.push(first);
            while batch.len() < max_batch && st.queue.peek_model() == Some(first.model) {
                batch.push(st.queue.pop().expect("peeked"));
            }
            let queued: f64 = batch.iter().map(|r| r.est_ms).sum();
            st.queued_work_ms = (st.queued_work_ms - queued).max(0.0);
            if st.queue.is_empty() {
                st.queued_work_ms = 0.0; // drop accumulated rounding
            }
            self.start(p, slot, batch);
        }
    }

    fn start(&mut self, p: usize, slot: usize, batch: Vec<Request>) {
        self.settle(p);
        let model = batch[0].model;
        let b = batch.len() as u32;
        let n_proc = self.device.processors.len();
        let svc = self.service[model.index() * n_proc + p].expect("dispatch only to processors that run the model");
        let others_busy = self.busy_processors - u32::from(self.procs[p].active > 0);
        let slowdown = self.truth.interference.slowdown(others_busy);
        let st = &mut self.procs[p];
        let batch_factor = svc.batch_alpha + (1.0 - svc.batch_alpha) * f64::from(b);
        let mean = svc.mean_ms * batch_factor / st.freq_scale;
        let work = if svc.sigma > 0.0 {
            let z: f64 = StandardNormal.sample(&mut self.rng_service);
            mean * (svc.sigma * z - svc.sigma * svc.sigma / 2.0).exp()
        } else {
            mean
        };
        let est = self
            .estimator
            .estimate(model, ProcessorId(p as u16))
            .unwrap_or(svc.mean_ms)
            * batch_factor
            / st.freq_scale;
        let believed = self.device.on(model, ProcessorId(p as u16));
        let cv = believed.map_or(0.0, |o| o.cv);
        // From the profile the scheduler believes, not the truth: the ratio of the measured
        // service time to this is what the guard corrects its replays by.
        let expected_ms = believed.map_or(0.0, |o| o.mean_ms * o.batch_factor(b)) / st.freq_scale
            * self.device.interference.slowdown(others_busy);
        let newly_busy = st.active == 0;
        st.active += 1;
        let version = st.slots[slot].version.wrapping_add(1);
        st.slots[slot] = Slot {
            batch,
            start_ms: self.now_ms,
            running: RunningEstimate::start(self.now_ms, est, cv),
            work_left_ms: work,
            since_ms: self.now_ms,
            slowdown,
            version,
            expected_ms,
        };
        let t = self.now_ms + work * slowdown;
        self.push_event(
            t,
            EventKind::Completion {
                processor: p as u16,
                slot: slot as u32,
                version,
            },
        );
        if newly_busy {
            self.busy_processors += 1;
            self.rerate_others(p);
        }
    }

    /// Processor `changed` just became busy or idle: every inference running elsewhere now
    /// shares memory with one more or one fewer processor, so its remaining work runs at the new
    /// rate from now on and its completion moves.
    fn rerate_others(&mut self, changed: usize) {
        if self.truth.interference.slowdown_per_busy == 0.0 {
            return;
        }
        let now = self.now_ms;
        for q in 0..self.procs.len() {
            if q == changed || self.procs[q].active == 0 {
                continue;
            }
            let slowdown = self.truth.interference.slowdown(self.busy_processors - 1);
            for slot in 0..self.procs[q].slots.len() {
                let s = &mut self.procs[q].slots[slot];
                if s.batch.is_empty() || s.slowdown == slowdown {
                    continue;
                }
                s.work_left_ms = (s.work_left_ms - (now - s.since_ms) / s.slowdown).max(0.0);
                s.since_ms = now;
                s.slowdown = slowdown;
                s.version = s.version.wrapping_add(1);
                let (t, version) = (now + s.work_left_ms * slowdown, s.version);
                self.push_event(
                    t,
                    EventKind::Completion {
                        processor: q as u16,
                        slot: slot as u32,
                        version,
                    },
                );
            }
        }
    }

    fn on_completion(&mut self, p: usize, slot: usize) {
        self.settle(p);
        let now = self.now_ms;
        let proc_ = &self.truth.processors[p];
        let st = &mut self.procs[p];
        let batch = std::mem::take(&mut st.slots[slot].batch);
        let service_ms = now - st.slots[slot].start_ms;
        let expected_service_ms = st.slots[slot].expected_ms;
        st.active -= 1;
        let now_idle = st.active == 0;
        if now_idle {
            self.busy_processors -= 1;
        }
        st.free.push(slot);
        let freq = st.freq_scale;
        let b = batch.len() as u32;
        // Energy attributed to each request: the slot's share of power over the service time.
        let energy_j = proc_.energy_per_inference_j(service_ms, freq) / f64::from(b);
        let model = batch[0].model;
        let pid = ProcessorId(p as u16);
        let factor = self.device.on(model, pid).map_or(1.0, |o| o.batch_factor(b));
        self.estimator.update(model, pid, service_ms * freq / factor);
        for r in &batch {
            let latency_ms = now - r.arrival_ms;
            let violated = self.metrics.completion(r.stream.index(), p, latency_ms, r.slo_ms);
            self.outcomes.push(Outcome {
                request: RequestId(r.id),
                model: r.model,
                stream: r.stream,
                processor: pid,
                latency_ms,
                slo_ms: r.slo_ms,
                energy_j,
                service_ms,
                batch: b,
                expected_service_ms,
                reference_energy_j: self.reference_energy_j[r.model.index()],
                violated,
            });
            if self.streams[r.stream.index()].is_closed() && now < self.workload.duration_ms {
                self.push_event(
                    now,
                    EventKind::Arrival {
                        stream: r.stream.0,
                        model: r.model,
                    },
                );
            }
        }
        // Keep the allocation for the slot's next batch.
        let mut batch = batch;
        batch.clear();
        self.procs[p].slots[slot].batch = batch;
        self.try_start(p);
        // Re-rate the others only if no queued request kept this processor busy.
        if now_idle && self.procs[p].active == 0 {
            self.rerate_others(p);
        }
    }

    fn finalize(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        // Stop at the last event if everything drained, else at the end of the drain window.
        let end = if self.events.is_empty() {
            self.now_ms.max(self.workload.duration_ms)
        } else {
            self.end_ms
        };
        self.now_ms = end;
        for p in 0..self.procs.len() {
            self.settle(p);
            let mut left = self.procs[p].queue.drain_all();
            for s in &self.procs[p].slots {
                left.extend_from_slice(&s.batch);
            }
            left.sort_by_key(|r| r.id);
            let proc_ = &self.truth.processors[p];
            for r in left {
                let age_ms = end - r.arrival_ms;
                self.metrics.unfinished(r.stream.index(), age_ms, r.slo_ms);
                // Learners are charged for what they left behind, as a violation.
                self.outcomes.push(Outcome {
                    request: RequestId(r.id),
                    model: r.model,
                    stream: r.stream,
                    processor: ProcessorId(p as u16),
                    latency_ms: age_ms,
                    slo_ms: r.slo_ms,
                    energy_j: proc_.energy_per_inference_j(r.est_ms, self.procs[p].freq_scale),
                    service_ms: 0.0,
                    batch: 0,
                    expected_service_ms: 0.0,
                    reference_energy_j: self.reference_energy_j[r.model.index()],
                    violated: true,
                });
            }
        }
    }

    /// Outcomes of completions since the last call, in completion order.
    pub fn take_outcomes(&mut self) -> std::vec::Drain<'_, Outcome> {
        self.outcomes.drain(..)
    }

    /// Virtual time now, ms.
    pub fn now_ms(&self) -> f64 {
        self.now_ms
    }

    /// Fraction of the run done, in [0, 1] (by virtual time over the arrival window).
    pub fn progress(&self) -> f64 {
        if self.done {
            1.0
        } else {
            (self.now_ms / self.workload.duration_ms).clamp(0.0, 1.0)
        }
    }

    /// Whether the run is over.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The device profile the scheduler sees.
    pub fn device(&self) -> &DeviceProfile {
        &self.device
    }

    /// The online latency estimator (what the policy's estimates come from).
    pub fn estimator(&self) -> &LatencyEstimator {
        &self.estimator
    }

    /// The report of the run, named after `policy`. Finishes the run first if it is not over.
    pub fn finish(mut self, policy: &str) -> RunReport {
        // Requests left without a decision are placed by earliest finish, so that every arrival
        // is accounted for even if the driver stopped early.
        while self.next_decision().is_some() {
            let p = self
                .obs
                .argmin_valid(ProcessorView::est_finish_ms)
                .unwrap_or(ProcessorId(0));
            self.dispatch(Action { processor: p });
        }
        let info = RunInfo {
            policy,
            device: &self.device,
            workload: &self.workload.name,
            stream_names: self.workload.streams.iter().map(|s| s.name.clone()).collect(),
            seed: self.config.seed,
            mode: "sim",
            energy_source: "modelled".to_string(),
            load: self.workload.load,
            run_ms: self.now_ms,
            energy_j: self.procs.iter().map(|p| p.energy_j).collect(),
            busy_slot_ms: self.procs.iter().map(|p| p.busy_slot_ms).collect(),
            weights: self.config.weights,
        };
        self.metrics.finish(info)
    }
}

/// Run `policy` over a whole workload and report.
pub fn simulate(
    device: &DeviceProfile,
    workload: &ResolvedWorkload,
    policy: &mut dyn Policy,
    config: &SimConfig,
) -> RunReport {
    simulate_with_progress(device, workload, policy, config, &mut |_| {})
}

/// [`simulate`], calling `progress` with the fraction done (0..=1) now and then.
pub fn simulate_with_progress(
    device: &DeviceProfile,
    workload: &ResolvedWorkload,
    policy: &mut dyn Policy,
    config: &SimConfig,
    progress: &mut dyn FnMut(f64),
) -> RunReport {
    policy.reset(config.seed);
    let mut sim = Simulator::new(device, workload, policy.queue_order(), config).unwrap_or_else(|e| {
        // Only a mismatched `true_device` can fail; fall back to the profile as the truth.
        tracing::warn!("{e}; simulating with the profile as the true device");
        let mut c = config.clone();
        c.true_device = None;
        Simulator::new(device, workload, policy.queue_order(), &c).expect("no true device, nothing to mismatch")
    });
    let mut n = 0u64;
    while let Some(obs) = sim.next_decision() {
        let action = policy.decide(obs);
        sim.dispatch(action);
        for o in sim.take_outcomes() {
            policy.observe(&o);
        }
        n += 1;
        if n.is_multiple_of(65_536) {
            progress(sim.progress());
        }
    }
    for o in sim.take_outcomes() {
        policy.observe(&o);
    }
    progress(1.0);
    let mut report = sim.finish(policy.name());
    report.policy_switches = policy.switches().to_vec();
    report
}
