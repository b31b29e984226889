//! A policy's placements with another queue order: the run-time guard replays the guarded
//! policy with first-come-first-served queues too, since which order suits a workload (least
//! slack first lets a stream of tight deadlines starve a closed loop of loose ones) is as much a
//! choice as where to place.

use crate::observation::Observation;
use crate::policy::{Action, Policy, QueueOrder};
use crate::PolicySwitch;

/// `inner`'s placements, with queues in `order` (see the [module docs](self)).
pub struct InQueueOrder {
    inner: Box<dyn Policy>,
    order: QueueOrder,
    name: String,
}

impl InQueueOrder {
    /// `inner` with queues in `order`, reported as `name`.
    pub fn new(inner: Box<dyn Policy>, order: QueueOrder, name: String) -> InQueueOrder {
        InQueueOrder { inner, order, name }
    }
}

impl Policy for InQueueOrder {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        self.inner.decide(obs)
    }

    fn observe(&mut self, outcome: &crate::Outcome) {
        self.inner.observe(outcome);
    }

    fn queue_order(&self) -> QueueOrder {
        self.order
    }

    fn reset(&mut self, seed: u64) {
        self.inner.reset(seed);
    }

    fn switches(&self) -> &[PolicySwitch] {
        self.inner.switches()
    }
}
