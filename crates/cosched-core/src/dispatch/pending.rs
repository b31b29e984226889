//! What the scheduler knows of an accepted request, in either world.

use crate::ids::{ModelId, RequestId, StreamId};
use crate::observation::RequestView;

/// An accepted request as the dispatcher sees it: the simulator queues these bare, the
/// executor wraps one with the request's tensors and its reply ([`Queued`](crate::Queued)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pending {
    /// Unique, increasing in arrival order: breaks ties so that queue order is deterministic.
    pub id: u64,
    /// Its model (consecutive same-model requests can be batched).
    pub model: ModelId,
    /// Its stream.
    pub stream: StreamId,
    /// Arrival time, ms.
    pub arrival_ms: f64,
    /// Deadline relative to arrival, ms.
    pub slo_ms: f64,
    /// Estimated service time on the processor it was queued on, ms (0 until placed); keeps a
    /// processor's queued work in O(1).
    pub est_ms: f64,
    /// Largest batch it may start in (0: the processor's `max_batch`), from its
    /// [`BatchPlan`](crate::BatchPlan).
    pub batch_limit: u16,
    /// Until when a free slot may wait for its batch to fill, ms (not past its arrival: no wait).
    pub hold_until_ms: f64,
    /// It is one of two copies of a hedged request (same id on two processors).
    pub hedged: bool,
}

impl Pending {
    /// A request arriving at `arrival_ms`, not placed yet.
    pub fn new(id: u64, model: ModelId, stream: StreamId, arrival_ms: f64, slo_ms: f64) -> Pending {
        Pending {
            id,
            model,
            stream,
            arrival_ms,
            slo_ms,
            est_ms: 0.0,
            batch_limit: 0,
            hold_until_ms: f64::NEG_INFINITY,
            hedged: false,
        }
    }

    /// Least-slack key: deadline minus the estimated service time, ms.
    pub fn slack_key(&self) -> f64 {
        self.arrival_ms + self.slo_ms - self.est_ms
    }

    /// The request part of the policy's observation.
    pub fn view(&self, reference_energy_j: f64) -> RequestView {
        RequestView {
            id: RequestId(self.id),
            model: self.model,
            stream: self.stream,
            arrival_ms: self.arrival_ms,
            slo_ms: self.slo_ms,
            reference_energy_j,
        }
    }
}
