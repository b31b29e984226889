//! One processor as the dispatcher keeps it: its queue, its slots, and the energy, busy time
//! and utilisation integrated over time.

use super::SMOOTHING_MS;
use crate::device::Processor;
use crate::estimator::RunningEstimate;
use crate::queue::{PolicyQueue, Queued};

/// One slot (a concurrent inference) of a processor.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SlotState {
    /// Running a batch.
    pub busy: bool,
    /// Has no worker (being started, panicked, or gone): takes no batch.
    pub down: bool,
    /// When the running batch is expected to end.
    pub running: RunningEstimate,
    /// What the believed profile predicts for the running batch
    /// ([`Outcome::expected_service_ms`](crate::Outcome::expected_service_ms)).
    pub expected_ms: f64,
}

/// One processor's scheduling state.
#[derive(Debug, Clone)]
pub struct Lane<R> {
    pub(super) queue: PolicyQueue<R>,
    pub(super) slots: Vec<SlotState>,
    pub(super) free: Vec<usize>,
    pub(super) active: u32,
    pub(super) queued_work_ms: f64,
    pub(super) freq_scale: f64,
    pub(super) last_ms: f64,
    pub(super) energy_j: f64,
    pub(super) busy_slot_ms: f64,
    pub(super) util_ema: f64,
    /// Requests waiting per model (what a held batch waits to fill up with).
    pub(super) queued_per_model: Vec<u32>,
    /// When the host was last asked to wake this processor, ms (a held batch's deadline).
    pub(super) wake_ms: f64,
}

impl<R: Queued> Lane<R> {
    /// Requests waiting.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Slots running a batch.
    pub fn active(&self) -> u32 {
        self.active
    }

    /// Energy charged up to the last settlement, J.
    pub fn energy_j(&self) -> f64 {
        self.energy_j
    }

    /// Slot-milliseconds of busy time up to the last settlement.
    pub fn busy_slot_ms(&self) -> f64 {
        self.busy_slot_ms
    }

    /// Frequency scale (1 at the highest level).
    pub fn freq_scale(&self) -> f64 {
        self.freq_scale
    }

    /// Its slots.
    pub fn slots(&self) -> &[SlotState] {
        &self.slots
    }

    /// Whether every slot is down (nothing queued here can ever run).
    pub fn all_down(&self) -> bool {
        self.slots.iter().all(|s| s.down)
    }

    /// Integrate energy (with `proc_`'s power model), busy time and utilisation up to `now`.
    #[inline]
    pub(super) fn settle(&mut self, proc_: &Processor, now: f64) {
        let dt = now - self.last_ms;
        if dt > 0.0 {
            self.energy_j += proc_.power_w(self.active, self.freq_scale) * dt / 1000.0;
            self.busy_slot_ms += f64::from(self.active) * dt;
            let frac = f64::from(self.active) / f64::from(proc_.slots);
            let decay = (-dt / SMOOTHING_MS).exp();
            self.util_ema = self.util_ema * decay + frac * (1.0 - decay);
            self.last_ms = now;
        }
    }

    /// Expected work ahead of a new request per slot, ms: 0 when a slot is free and nothing waits.
    pub(super) fn backlog_ms(&self, slots: u32, now: f64) -> f64 {
        if self.active < slots && self.queue.is_empty() {
            return 0.0;
        }
        let running: f64 = self
            .slots
            .iter()
            .filter(|s| s.busy)
            .map(|s| s.running.remaining_ms(now))
            .sum();
        (running + self.queued_work_ms) / f64::from(slots)
    }

    /// Utilisation smoothed over [`SMOOTHING_MS`], as of `now`.
    pub(super) fn utilization(&self, slots: u32, now: f64) -> f64 {
        let decay = (-(now - self.last_ms) / SMOOTHING_MS).exp();
        self.util_ema * decay + f64::from(self.active) / f64::from(slots) * (1.0 - decay)
    }

    /// Queue `req` (its `est_ms` set) behind the others.
    pub(super) fn push(&mut self, req: R) {
        self.queued_work_ms += req.pending().est_ms;
        self.queued_per_model[req.pending().model.index()] += 1;
        self.queue.push(req);
    }

    /// The next request to start, out of the queue.
    pub(super) fn pop(&mut self) -> Option<R> {
        let r = self.queue.pop()?;
        self.queued_per_model[r.pending().model.index()] -= 1;
        Some(r)
    }

    /// Take request `id` out of the queue, if it waits there.
    pub(super) fn remove(&mut self, id: u64) -> Option<R> {
        let r = self.queue.remove(id)?;
        self.queued_per_model[r.pending().model.index()] -= 1;
        self.unqueue_work(r.pending().est_ms);
        Some(r)
    }

    /// `ms` of estimated work left the queue (popped into a batch, or cancelled).
    pub(super) fn unqueue_work(&mut self, ms: f64) {
        self.queued_work_ms = (self.queued_work_ms - ms).max(0.0);
        if self.queue.is_empty() {
            self.queued_work_ms = 0.0; // drop accumulated rounding
        }
    }

    /// Take every waiting request out (in no particular order).
    pub(super) fn drain(&mut self) -> Vec<R> {
        self.queued_work_ms = 0.0;
        self.queued_per_model.iter_mut().for_each(|n| *n = 0);
        self.queue.drain_all()
    }
}
