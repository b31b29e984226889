//! The event loop: arrivals and completions in virtual time around the shared
//! [`Dispatcher`], which queues, batches and observes exactly as the real executor does.

mod config;
mod world;

pub use config::{SimConfig, SimError};

use cosched_core::arrivals::{seeded_rng, StreamArrivals};
use cosched_core::{
    Action, Claim, DeviceProfile, Dispatcher, LatencyEstimator, MetricsRecorder, ModelId, Observation, Outcome,
    Pending, Policy, ProcessorId, ProcessorView, QueueOrder, RequestId, ResolvedArrival, ResolvedWorkload, RunInfo,
    RunReport, StreamId,
};
use std::sync::Arc;
use world::{EventKind, World};

/// A simulated run in progress.
///
/// Drive it with [`Simulator::next_decision`] and [`Simulator::dispatch`] (what [`simulate`]
/// and [`SimEnv`](crate::SimEnv) do), then call [`Simulator::finish`].
#[derive(Debug, Clone)]
pub struct Simulator {
    dispatch: Dispatcher<Pending>,
    world: World,
    workload: ResolvedWorkload,
    config: SimConfig,
    now_ms: f64,
    end_ms: f64,
    streams: Vec<StreamArrivals>,
    metrics: MetricsRecorder,
    pending: Option<Pending>,
    outcomes: Vec<Outcome>,
    next_id: u64,
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
        let drain_ms = config
            .drain_ms
            .unwrap_or_else(|| (2.0 * workload.max_slo_ms()).max(1000.0));
        let dispatch = Dispatcher::new(
            device,
            truth.clone(),
            order,
            config.estimator_alpha,
            workload.saturation_rps,
        )
        .with_dvfs_levels(&config.dvfs_levels);
        let mut sim = Simulator {
            dispatch,
            world: World::new(truth, seeded_rng(config.seed, 0xffff_0001)),
            metrics: MetricsRecorder::new(n_proc, workload.streams.len()),
            workload: workload.clone(),
            config: config.clone(),
            now_ms: 0.0,
            end_ms: workload.duration_ms + drain_ms,
            streams: Vec::new(),
            pending: None,
            outcomes: Vec::new(),
            next_id: 0,
            decisions: 0,
            done: false,
        };
        for (i, s) in workload.streams.iter().enumerate() {
            let mut arrivals = StreamArrivals::new(&s.arrival, config.seed, i);
            if let ResolvedArrival::Closed { concurrency } = &s.arrival {
                let model = s.model.expect("closed streams have a model");
                for _ in 0..*concurrency {
                    sim.world.push_event(
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

    /// Queue a stream's next arrival, if it has one in the arrival window.
    fn push_arrival(&mut self, stream: usize, next: Option<(f64, Option<ModelId>)>) {
        if let Some((t, model)) = next {
            let model = model
                .or(self.workload.streams[stream].model)
                .expect("stream has a model");
            self.world.push_event(
                t,
                EventKind::Arrival {
                    stream: stream as u16,
                    model,
                },
            );
        }
    }

    /// Advance virtual time to the next point where a request needs a placement, and return the
    /// observation for it; `None` when the run is over.
    ///
    /// Calling it again before [`Simulator::dispatch`] returns the same observation.
    pub fn next_decision(&mut self) -> Option<&Observation> {
        loop {
            if let Some(req) = self.pending {
                return Some(self.dispatch.observe(&req, self.now_ms, 0));
            }
            if self.done {
                return None;
            }
            let Some(ev) = self.world.events.peek().copied() else {
                self.finalize();
                return None;
            };
            if ev.time_ms > self.end_ms {
                self.finalize();
                return None;
            }
            self.world.events.pop();
            self.now_ms = ev.time_ms;
            match ev.kind {
                EventKind::Arrival { stream, model } => self.on_arrival(stream as usize, model),
                EventKind::Wake { processor } => {
                    self.dispatch
                        .try_start(processor as usize, self.now_ms, &mut self.world);
                }
                EventKind::Completion {
                    processor,
                    slot,
                    version,
                } => {
                    let (p, slot) = (processor as usize, slot as usize);
                    // A completion rescheduled by a change in contention leaves its old event behind.
                    if self.world.slots[p][slot].version == version {
                        self.on_completion(p, slot);
                    }
                }
            }
        }
    }

    fn on_arrival(&mut self, stream: usize, model: ModelId) {
        let next = self.streams[stream].next_after(self.now_ms, self.workload.duration_ms);
        self.push_arrival(stream, next);
        self.dispatch.note_arrival(self.now_ms);
        let slo_ms = self.workload.slo_ms(stream, model);
        self.metrics.arrival(stream, self.dispatch.reference_energy_j(model));
        self.pending = Some(Pending::new(
            self.next_id,
            model,
            StreamId(stream as u16),
            self.now_ms,
            slo_ms,
        ));
        self.next_id += 1;
    }

    /// Take queued requests in `order` from now on (a policy may change its order mid-run, see
    /// [`Dispatcher::set_queue_order`]).
    pub fn set_queue_order(&mut self, order: QueueOrder) {
        self.dispatch.set_queue_order(order);
    }

    /// Place the request of the last [`Simulator::next_decision`]. An invalid action is
    /// replaced by the earliest-finish valid processor and counted in the report. Does nothing
    /// when no request is waiting.
    pub fn dispatch(&mut self, action: Action) {
        let Some(req) = self.pending.take() else { return };
        self.decisions += 1;
        let placement = self
            .dispatch
            .resolve(action)
            .expect("validated workloads only hold models some processor runs");
        if placement.replaced {
            self.metrics.invalid_action();
        }
        self.dispatch.place(&placement, req, self.now_ms, &mut self.world);
    }

    fn on_completion(&mut self, p: usize, slot: usize) {
        let now = self.now_ms;
        let s = &mut self.world.slots[p][slot];
        let mut batch = std::mem::take(&mut s.batch);
        let service_ms = now - s.start_ms;
        let b = batch.len() as u32;
        let done = self.dispatch.finish_slot(p, slot, now, service_ms, b, true);
        let model = batch[0].model;
        self.dispatch.learn(model, p, service_ms, b);
        let reference_energy_j = self.dispatch.reference_energy_j(model);
        for r in &batch {
            // Of a hedged request's two copies only the first to finish answers.
            if r.hedged && matches!(self.dispatch.claim(r.id, p), Claim::Lost) {
                continue;
            }
            self.metrics.batch_member(b);
            let latency_ms = now - r.arrival_ms;
            let violated = self.metrics.completion(r.stream.index(), p, latency_ms, r.slo_ms);
            self.outcomes
                .push(done.outcome(r, latency_ms, reference_energy_j, violated));
            if self.streams[r.stream.index()].is_closed() && now < self.workload.duration_ms {
                self.world.push_event(
                    now,
                    EventKind::Arrival {
                        stream: r.stream.0,
                        model: r.model,
                    },
                );
            }
        }
        // Keep the allocation for the slot's next batch.
        batch.clear();
        self.world.slots[p][slot].batch = batch;
        self.dispatch.try_start(p, now, &mut self.world);
        // Re-rate the others only if no queued request kept this processor busy.
        if done.now_idle && self.dispatch.lane(p).active() == 0 {
            self.world.rerate_others(p, self.dispatch.busy_processors(), now);
        }
    }

    fn finalize(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        // Stop at the last event if everything drained, else at the end of the drain window.
        let end = if self.world.events.is_empty() {
            self.now_ms.max(self.workload.duration_ms)
        } else {
            self.end_ms
        };
        self.now_ms = end;
        self.dispatch.settle_all(end);
        // Copies still waiting for their delay never ran: their originals answer for them.
        drop(self.dispatch.drain_deferred());
        for p in 0..self.world.slots.len() {
            let mut left = self.dispatch.drain(p);
            for s in &self.world.slots[p] {
                left.extend_from_slice(&s.batch);
            }
            left.sort_by_key(|r| r.id);
            for r in left {
                if r.hedged && !self.dispatch.abandon(r.id) {
                    continue; // its other copy answers for it
                }
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
                    energy_j: self.dispatch.energy_j(p, r.est_ms),
                    service_ms: 0.0,
                    batch: 0,
                    expected_service_ms: 0.0,
                    reference_energy_j: self.dispatch.reference_energy_j(r.model),
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
        self.dispatch.device()
    }

    /// The online latency estimator (what the policy's estimates come from).
    pub fn estimator(&self) -> &LatencyEstimator {
        self.dispatch.estimator()
    }

    /// The report of the run, named after `policy`. Finishes the run first if it is not over.
    pub fn finish(mut self, policy: &str) -> RunReport {
        // Requests left without a decision are placed by earliest finish, so that every arrival
        // is accounted for even if the driver stopped early.
        while self.next_decision().is_some() {
            let p = self
                .dispatch
                .observation()
                .argmin_valid(ProcessorView::est_finish_ms)
                .unwrap_or(ProcessorId(0));
            self.dispatch(Action::to(p));
        }
        self.metrics.hedges(self.dispatch.hedge_counts());
        let lanes = self.dispatch.lanes();
        let info = RunInfo {
            policy,
            device: self.dispatch.device(),
            workload: &self.workload.name,
            stream_names: self.workload.streams.iter().map(|s| s.name.clone()).collect(),
            seed: self.config.seed,
            mode: "sim",
            energy_source: "modelled".to_string(),
            load: self.workload.load,
            run_ms: self.now_ms,
            energy_j: lanes.iter().map(|l| l.energy_j()).collect(),
            busy_slot_ms: lanes.iter().map(|l| l.busy_slot_ms()).collect(),
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
        sim.set_queue_order(policy.queue_order());
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
