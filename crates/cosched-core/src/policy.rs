//! The `Policy` trait: one interface for heuristics, learned policies, the simulator and the
//! real executor.

use crate::ids::{ModelId, ProcessorId, RequestId, StreamId};
use crate::observation::Observation;

/// A decision for one request: the processor whose queue receives it, and optionally how it is
/// batched there and a second processor that runs a hedged copy.
///
/// The optional parts grow with the seeds' decisions; a policy that leaves them `None` places
/// exactly as before they existed. Build one with [`Action::to`] and the `with_` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    /// Where the request goes.
    pub processor: ProcessorId,
    /// How the batch that starts this request is formed; `None`: greedily, whatever
    /// same-model requests are queued right behind it, up to the processor's `max_batch`.
    pub batch: Option<BatchPlan>,
    /// Also send a copy elsewhere; the first to finish answers, the other is cancelled if it
    /// has not started and discarded if it has. `None`, or the action's own processor: no copy.
    pub hedge: Option<HedgePlan>,
}

impl Action {
    /// Place on `processor`, batched greedily, no hedge.
    pub const fn to(processor: ProcessorId) -> Action {
        Action {
            processor,
            batch: None,
            hedge: None,
        }
    }

    /// The same, batched as `plan` says.
    pub const fn with_batch(mut self, plan: BatchPlan) -> Action {
        self.batch = Some(plan);
        self
    }

    /// The same, with a hedged copy as `plan` says.
    pub const fn with_hedge(mut self, plan: HedgePlan) -> Action {
        self.hedge = Some(plan);
        self
    }
}

/// A hedged copy (MDInference; Dean and Barroso's backup requests): where it goes, and how
/// long after the placement it is queued there unless the original has answered by then (0: at
/// once). A delay near the original's usual latency sends copies only for the slow tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HedgePlan {
    /// The processor of the copy.
    pub processor: ProcessorId,
    /// Delay before the copy is queued, µs.
    pub after_us: u32,
}

/// How the batch that starts a request is formed (Kum et al.'s batch size under a real-time
/// condition, Triton's dynamic batcher): at most `size` requests of its model, and while fewer
/// are queued, a free slot may wait for more until `max_wait_us` after the request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPlan {
    /// Largest batch, at least 1 (capped by the processor's `max_batch`).
    pub size: u16,
    /// How long after its arrival the request may wait for the batch to fill, µs.
    pub max_wait_us: u32,
}

/// What happened to a request placed earlier: fed back to [`Policy::observe`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// The request.
    pub request: RequestId,
    /// Its model.
    pub model: ModelId,
    /// Its stream.
    pub stream: StreamId,
    /// Where it ran.
    pub processor: ProcessorId,
    /// Arrival to completion, ms.
    pub latency_ms: f64,
    /// Its deadline relative to arrival, ms.
    pub slo_ms: f64,
    /// Energy attributed to it, J.
    pub energy_j: f64,
    /// How long the inference (its whole batch) ran, ms; 0 if it never ran.
    pub service_ms: f64,
    /// Requests in that batch (1 without batching; 0 if it never ran).
    pub batch: u32,
    /// What the device profile predicts for that run of the batch: its mean latency times the
    /// batch factor, over the frequency, times the profile's memory interference with the
    /// processors busy when it ran; 0 if it never ran. `service_ms` over this is how far the
    /// board is from its profile, free of the load the run happened to put on it.
    pub expected_service_ms: f64,
    /// Reference energy of its model, J.
    pub reference_energy_j: f64,
    /// Whether it missed its deadline (or failed).
    pub violated: bool,
}

/// In which order a processor takes requests from its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueOrder {
    /// First come, first served.
    #[default]
    Fifo,
    /// Least slack first (Band's LST): the request whose deadline minus expected latency is
    /// earliest goes first.
    LeastSlackFirst,
}

/// A scheduling policy: places each arriving request on a processor.
///
/// The simulator and the real executor call [`Policy::decide`] once per request, in arrival
/// order, with an observation built the same way in both. Decisions must be fast (they sit on
/// the dispatch path) and must pick a processor the observation marks valid; a runtime that
/// receives an invalid action places the request on the valid processor with the earliest
/// estimated finish instead and counts it in the report.
///
/// A custom policy:
///
/// ```
/// use cosched_core::{Action, Observation, Policy};
///
/// /// Sends everything to the processor with the shortest queue.
/// struct ShortestQueue;
///
/// impl Policy for ShortestQueue {
///     fn name(&self) -> &str {
///         "shortest-queue"
///     }
///     fn decide(&mut self, obs: &Observation) -> Action {
///         let p = obs.argmin_valid(|v| f64::from(v.queue_len)).expect("a runtime never asks with no valid processor");
///         Action::to(p)
///     }
/// }
/// ```
pub trait Policy: Send {
    /// Name used in reports.
    fn name(&self) -> &str;

    /// Place one request. `obs` has at least one valid processor.
    fn decide(&mut self, obs: &Observation) -> Action;

    /// Learn from the outcome of an earlier decision (latency, energy, violation). Outcomes
    /// arrive in completion order, which is not decision order.
    fn observe(&mut self, _outcome: &Outcome) {}

    /// Queue discipline this policy wants on every processor.
    fn queue_order(&self) -> QueueOrder {
        QueueOrder::Fifo
    }

    /// Start a new run; randomised policies reseed from `seed` so runs are reproducible.
    fn reset(&mut self, _seed: u64) {}

    /// Changes of the policy actually deciding, for policies that choose between others (the
    /// run-time guard); empty for every other policy. The run report lists them.
    fn switches(&self) -> &[PolicySwitch] {
        &[]
    }
}

/// The run-time guard moved the live decisions from one policy to another.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PolicySwitch {
    /// When, seconds since the start of the run.
    pub at_s: f64,
    /// The policy deciding until then.
    pub from: String,
    /// The policy deciding from then on.
    pub to: String,
    /// Each candidate's score on the replays of the recent past, from its objective's ratio to
    /// the best candidate's at the recent load and at the heavier loads (lower is better; the
    /// guard's configuration says how the loads combine).
    pub predicted: Vec<(String, f64)>,
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        (**self).decide(obs)
    }
    fn observe(&mut self, outcome: &Outcome) {
        (**self).observe(outcome)
    }
    fn queue_order(&self) -> QueueOrder {
        (**self).queue_order()
    }
    fn reset(&mut self, seed: u64) {
        (**self).reset(seed)
    }
    fn switches(&self) -> &[PolicySwitch] {
        (**self).switches()
    }
}
