//! The simulated board: the event queue in virtual time, and the true service times of the
//! batches the dispatcher starts, slowed down by memory interference.

use cosched_core::{DeviceProfile, Host, ModelId, Pending, Start};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub(super) struct Slot {
    pub(super) batch: Vec<Pending>,
    pub(super) start_ms: f64,
    // Contention is applied as a rate: the running inference has `work_left_ms` of isolated
    // service time left as of `since_ms`, and progresses at 1 / `slowdown` while the set of busy
    // processors stays as it is. Whenever that set changes, the remaining work is re-rated and
    // the completion rescheduled; `version` tells the stale completion event from the new one.
    work_left_ms: f64,
    since_ms: f64,
    slowdown: f64,
    pub(super) version: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum EventKind {
    Arrival {
        stream: u16,
        model: ModelId,
    },
    Completion {
        processor: u16,
        slot: u32,
        version: u32,
    },
    /// A batch held open on this processor may have to start now.
    Wake {
        processor: u16,
    },
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Event {
    pub(super) time_ms: f64,
    seq: u64,
    pub(super) kind: EventKind,
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

/// The board as it really is, and virtual time's events.
#[derive(Debug, Clone)]
pub(super) struct World {
    truth: Arc<DeviceProfile>,
    pub(super) events: BinaryHeap<Event>,
    seq: u64,
    pub(super) slots: Vec<Vec<Slot>>,
    service: Vec<Option<Service>>,
    rng_service: ChaCha8Rng,
}

impl World {
    pub(super) fn new(truth: Arc<DeviceProfile>, rng_service: ChaCha8Rng) -> World {
        // The profile's mean counts stalls in; what an inference that does not stall takes is
        // that mean over the stall's mean factor.
        let stall_mean: Vec<f64> = truth
            .processors
            .iter()
            .map(|p| p.stall.map_or(1.0, |s| s.mean_factor()))
            .collect();
        let service = truth
            .models
            .iter()
            .flat_map(|m| {
                m.on.iter().zip(&stall_mean).map(|(o, &stall_mean)| {
                    o.as_ref().map(|o| Service {
                        mean_ms: o.mean_ms / stall_mean,
                        sigma: (1.0 + o.cv * o.cv).ln().sqrt(),
                        batch_alpha: o.batch_alpha,
                    })
                })
            })
            .collect();
        World {
            slots: truth
                .processors
                .iter()
                .map(|p| (0..p.slots).map(|_| Slot::default()).collect())
                .collect(),
            truth,
            events: BinaryHeap::new(),
            seq: 0,
            service,
            rng_service,
        }
    }

    pub(super) fn push_event(&mut self, time_ms: f64, kind: EventKind) {
        self.seq += 1;
        self.events.push(Event {
            time_ms,
            seq: self.seq,
            kind,
        });
    }

    /// Processor `changed` just became busy or idle, leaving `busy_processors` busy: every
    /// inference running elsewhere now shares memory with one more or one fewer processor, so
    /// its remaining work runs at the new rate from now on and its completion moves.
    pub(super) fn rerate_others(&mut self, changed: usize, busy_processors: u32, now: f64) {
        if self.truth.interference.slowdown_per_busy == 0.0 {
            return;
        }
        for q in 0..self.slots.len() {
            if q == changed || self.slots[q].iter().all(|s| s.batch.is_empty()) {
                continue;
            }
            let slowdown = self.truth.interference.slowdown(busy_processors - 1);
            for slot in 0..self.slots[q].len() {
                let s = &mut self.slots[q][slot];
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
}

impl Host<Pending> for World {
    fn wake_at(&mut self, processor: usize, at_ms: f64) {
        self.push_event(
            at_ms,
            EventKind::Wake {
                processor: processor as u16,
            },
        );
    }

    fn batch_buffer(&mut self, processor: usize, slot: usize) -> Vec<Pending> {
        std::mem::take(&mut self.slots[processor][slot].batch)
    }

    fn start(&mut self, start: Start, batch: Vec<Pending>) -> Result<(), Vec<Pending>> {
        let (p, now) = (start.processor, start.now_ms);
        let n_proc = self.slots.len();
        let svc =
            self.service[batch[0].model.index() * n_proc + p].expect("dispatch only to processors that run the model");
        let slowdown = self.truth.interference.slowdown(start.others_busy);
        let b = batch.len() as u32;
        let batch_factor = svc.batch_alpha + (1.0 - svc.batch_alpha) * f64::from(b);
        let mean = svc.mean_ms * batch_factor / start.freq_scale;
        let work = if svc.sigma > 0.0 {
            let z: f64 = StandardNormal.sample(&mut self.rng_service);
            mean * (svc.sigma * z - svc.sigma * svc.sigma / 2.0).exp()
        } else {
            mean
        };
        // Drawn only where the board stalls, so boards without stalls keep their service times.
        let work = match self.truth.processors[p].stall {
            Some(stall) if self.rng_service.random::<f64>() < stall.probability => work * stall.factor,
            _ => work,
        };
        let s = &mut self.slots[p][start.slot];
        let version = s.version.wrapping_add(1);
        *s = Slot {
            batch,
            start_ms: now,
            work_left_ms: work,
            since_ms: now,
            slowdown,
            version,
        };
        self.push_event(
            now + work * slowdown,
            EventKind::Completion {
                processor: p as u16,
                slot: start.slot as u32,
                version,
            },
        );
        if start.newly_busy {
            self.rerate_others(p, start.busy_processors, now);
        }
        Ok(())
    }
}
