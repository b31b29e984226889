//! The scheduler state machine both worlds share: per-processor queues and slots, batch
//! formation, the policy's observation, the fix for invalid actions, and turning a finished
//! batch into [`Outcome`]s and estimator updates.
//!
//! The simulator (`cosched-sim`) and the real executor (`cosched-ort`) are adapters around a
//! [`Dispatcher`]: they own time (virtual, or the wall clock) and pass it in, they decide which
//! processors are out of service, and they run the batches the dispatcher starts through the
//! [`Host`] trait. Everything a policy can see or influence is computed here once, so that a
//! policy trained in the simulator meets the same state machine on the board.
//!
//! A request's life: [`Dispatcher::note_arrival`], [`Dispatcher::observe`] (the policy decides
//! on the returned observation), [`Dispatcher::resolve`] (an invalid action is replaced by the
//! earliest-finish processor), [`Dispatcher::place`] (queued, and started at once if a slot is
//! free), then [`Dispatcher::finish_slot`] when its batch ends, [`Dispatcher::learn`] when it
//! ran, and [`Finished::outcome`] for each request of the batch.

mod finish;
mod hedge;
mod host;
mod lane;
mod observe;
mod pending;
mod start;

pub use finish::Finished;
pub use hedge::Claim;
pub use host::{Host, Start};
pub use lane::{Lane, SlotState};
pub use pending::Pending;

#[cfg(doc)]
use crate::Outcome;

use crate::action_stats::HedgeCounts;
use crate::device::DeviceProfile;
use crate::estimator::LatencyEstimator;
use crate::ids::{ModelId, ProcessorId};
use crate::observation::Observation;
use crate::policy::{Action, BatchPlan, HedgePlan, QueueOrder};
use crate::queue::{PolicyQueue, Queued};
use hedge::Hedge;
use std::collections::HashMap;
use std::sync::Arc;

/// An [`Action`] made valid by [`Dispatcher::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Where the request goes.
    pub processor: ProcessorId,
    /// How its batch is formed.
    pub batch: Option<BatchPlan>,
    /// Its hedged copy (on a valid processor other than `processor`).
    pub hedge: Option<HedgePlan>,
    /// The action's processor was invalid and was replaced (count it).
    pub replaced: bool,
}

impl Placement {
    /// On `processor` only, as its request was batched so far (failover).
    pub fn on(processor: ProcessorId) -> Placement {
        Placement {
            processor,
            batch: None,
            hedge: None,
            replaced: false,
        }
    }
}

/// Time constant of the smoothed utilisation and arrival-rate features, ms.
pub const SMOOTHING_MS: f64 = 1000.0;

/// The shared scheduler state machine (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Dispatcher<R> {
    device: Arc<DeviceProfile>,
    power: Arc<DeviceProfile>,
    lanes: Vec<Lane<R>>,
    estimator: LatencyEstimator,
    obs: Observation,
    batchable: Vec<bool>,
    reference_energy_j: Vec<f64>,
    saturation_rps: f64,
    arrival_rate_ema: f64,
    last_arrival_ms: f64,
    busy_processors: u32,
    hedges: HashMap<u64, Hedge>,
    hedge_counts: HedgeCounts,
    /// Hedged copies waiting for their delay: (due ms, processor, copy).
    deferred: Vec<(f64, usize, R)>,
}

impl<R: Queued> Dispatcher<R> {
    /// A dispatcher over `device` (the profile the scheduler believes), queues in `order`, every
    /// slot up, every model batchable, every processor at its highest frequency.
    ///
    /// `power` is the profile whose power model charges energy: the believed one in real runs
    /// (where sensors, when there are any, report energy on their own), the true board in a
    /// simulation of a board that differs from its profile. `saturation_rps` scales the
    /// observation's recent load (0: reported as 0).
    pub fn new(
        device: Arc<DeviceProfile>,
        power: Arc<DeviceProfile>,
        order: QueueOrder,
        estimator_alpha: f64,
        saturation_rps: f64,
    ) -> Dispatcher<R> {
        let lanes = device
            .processors
            .iter()
            .map(|p| Lane {
                queue: PolicyQueue::new(order),
                slots: vec![SlotState::default(); p.slots as usize],
                free: (0..p.slots as usize).rev().collect(),
                active: 0,
                queued_work_ms: 0.0,
                freq_scale: 1.0,
                last_ms: 0.0,
                energy_j: 0.0,
                busy_slot_ms: 0.0,
                util_ema: 0.0,
                queued_per_model: vec![0; device.models.len()],
                wake_ms: f64::NEG_INFINITY,
            })
            .collect();
        let n_models = device.models.len();
        Dispatcher {
            estimator: LatencyEstimator::new(&device, estimator_alpha),
            obs: Observation::empty(device.processors.len(), n_models),
            batchable: vec![true; n_models],
            reference_energy_j: (0..n_models)
                .map(|m| device.reference_energy_j(ModelId(m as u16)))
                .collect(),
            lanes,
            device,
            power,
            saturation_rps,
            arrival_rate_ema: 0.0,
            last_arrival_ms: 0.0,
            busy_processors: 0,
            hedges: HashMap::new(),
            hedge_counts: HedgeCounts::default(),
            deferred: Vec::new(),
        }
    }

    /// Run processor `i` at DVFS level `levels[i]` (past the end, or an index past the
    /// processor's levels: its highest).
    pub fn with_dvfs_levels(mut self, levels: &[usize]) -> Self {
        for (i, (lane, p)) in self.lanes.iter_mut().zip(&self.device.processors).enumerate() {
            lane.freq_scale = p.freq_scale(levels.get(i).copied().unwrap_or(usize::MAX));
        }
        self
    }

    /// Which models may run more than one request per batch (a model whose graph has a fixed
    /// batch dimension of 1 may not).
    pub fn with_batchable(mut self, batchable: Vec<bool>) -> Self {
        assert_eq!(batchable.len(), self.batchable.len(), "one flag per model");
        self.batchable = batchable;
        self
    }

    /// Start with every slot down: the executor brings each up when its worker is ready.
    pub fn with_slots_down(mut self) -> Self {
        for lane in &mut self.lanes {
            lane.free.clear();
            for s in &mut lane.slots {
                s.down = true;
            }
        }
        self
    }

    /// Fold an arrival at `now` into the recent arrival rate.
    pub fn note_arrival(&mut self, now: f64) {
        let decay = (-(now - self.last_arrival_ms) / SMOOTHING_MS).exp();
        self.arrival_rate_ema = self.arrival_rate_ema * decay + 1.0 / SMOOTHING_MS;
        self.last_arrival_ms = now;
    }

    /// `action` made valid on the last observation: its processor if valid, else the
    /// earliest-finish valid one; its hedge only if valid and elsewhere. `None` when no
    /// processor is valid.
    pub fn resolve(&self, action: Action) -> Option<Placement> {
        let (processor, replaced) = if self.obs.is_valid(action.processor) {
            (action.processor, false)
        } else {
            let p = self
                .obs
                .argmin_valid(crate::observation::ProcessorView::est_finish_ms)?;
            (p, true)
        };
        Some(Placement {
            processor,
            batch: action.batch,
            hedge: action
                .hedge
                .filter(|h| h.processor != processor && self.obs.is_valid(h.processor)),
            replaced,
        })
    }

    /// Take queued requests in `order` from now on. The adapters pass the policy's order after
    /// every decision, since a policy may change it mid-run (the run-time guard handing the
    /// decisions to a candidate that orders its queues otherwise); nothing is done while it
    /// stays the same.
    pub fn set_queue_order(&mut self, order: QueueOrder) {
        for lane in &mut self.lanes {
            lane.queue.set_order(order);
        }
    }

    /// The last observation built.
    pub fn observation(&self) -> &Observation {
        &self.obs
    }

    /// The profile the scheduler believes.
    pub fn device(&self) -> &DeviceProfile {
        &self.device
    }

    /// The online latency estimator.
    pub fn estimator(&self) -> &LatencyEstimator {
        &self.estimator
    }

    /// Reference energy of `model`, J.
    pub fn reference_energy_j(&self, model: ModelId) -> f64 {
        self.reference_energy_j[model.index()]
    }

    /// Processors with at least one slot running.
    pub fn busy_processors(&self) -> u32 {
        self.busy_processors
    }

    /// Every processor's state, in the profile's order.
    pub fn lanes(&self) -> &[Lane<R>] {
        &self.lanes
    }

    /// Processor `p`'s state.
    pub fn lane(&self, p: usize) -> &Lane<R> {
        &self.lanes[p]
    }

    /// Integrate every processor's energy and busy time up to `now`.
    pub fn settle_all(&mut self, now: f64) {
        for (lane, proc_) in self.lanes.iter_mut().zip(&self.power.processors) {
            lane.settle(proc_, now);
        }
    }

    /// Take every request waiting on `p` out (in no particular order).
    pub fn drain(&mut self, p: usize) -> Vec<R> {
        self.lanes[p].drain()
    }

    /// Slot `slot` of `p` has a worker again: it takes work from now on.
    pub fn slot_up(&mut self, p: usize, slot: usize) {
        let lane = &mut self.lanes[p];
        if lane.slots[slot].down {
            lane.slots[slot].down = false;
            lane.free.push(slot);
        }
    }

    /// Slot `slot` of `p` lost its worker; true when no slot of `p` is left up.
    pub fn slot_down(&mut self, p: usize, slot: usize) -> bool {
        let lane = &mut self.lanes[p];
        lane.slots[slot].down = true;
        lane.free.retain(|&s| s != slot);
        lane.all_down()
    }
}
