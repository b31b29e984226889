//! Online fine-tuning (as COSREL schedules online): a deployed policy keeps learning from the
//! completions it is told about, with a guard that returns to the pretrained weights when the
//! rolling objective gets worse than theirs.
//!
//! What learns: the output heads only (value and advantage), by a semi-gradient step on the
//! Huber loss between the Q-value of a decision and the same target training used: its
//! request's own measured cost plus `gamma` times the Q-value of the decision that followed
//! (SARSA-style TD(0), with the value the live network gave that next decision). A target of
//! the request's cost alone, as an earlier version had, is on another scale than the trained
//! Q-values (which sum discounted costs) and dragged every policy to the same myopic behaviour.
//! The trunk stays as trained, so fine-tuning adapts *which processor* a situation favours (a
//! processor that is slower than its profile says, a model whose energy is higher) without
//! forgetting the features.
//!
//! The guard compares the rolling mean per-request cost of the last `window` completions with
//! that of the pretrained weights, measured over the first `window` completions and refreshed
//! whenever the guard falls back. Load changes move both, so the margin must be wide enough not
//! to fire on a load swing; `margin` 0.15 means "15 % worse".

use crate::plain::PlainMlp;
use crate::policy::DrlPolicy;
use cosched_core::{Action, ObjectiveWeights, Observation, Outcome, Policy, QueueOrder};
use std::collections::VecDeque;

/// Settings of [`FineTuned`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FineTuneConfig {
    /// Step size of the head update.
    pub learning_rate: f32,
    /// Completions in the rolling objective.
    pub window: usize,
    /// Fall back when the rolling cost exceeds the pretrained reference by this fraction.
    pub margin: f64,
    /// Objective weights of the per-request cost.
    pub weights: ObjectiveWeights,
    /// Discount per placement; must be the one the policy was trained with (training's
    /// default is 0.99).
    pub gamma: f32,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        FineTuneConfig {
            // A normalised step (see `FineTuned::learn`). With examples/finetune_recovery.rs
            // (jetson-agx-orin, GPU 30 % slower than profiled, camera-pipeline, 300 s) every
            // rate tried (0.001-0.05) ended worse than the pretrained weights, 0.001 the least
            // (1.5-4 % with the policies trained with the congestion-priced prior); the online
            // latency estimator, not the heads, is what adapts there.
            learning_rate: 0.001,
            window: 2000,
            margin: 0.15,
            weights: ObjectiveWeights::BALANCED,
            gamma: 0.99,
        }
    }
}

/// A decision waiting for its outcome and for the next decision: the last hidden layer, the
/// chosen action, and once known the request's cost and the next decision's Q-value.
struct Pending {
    request: u64,
    hidden: Vec<f32>,
    prior: f32,
    action: usize,
    cost: Option<f64>,
    next_q: Option<f32>,
}

/// A [`DrlPolicy`] that keeps learning online, with a fallback guard.
pub struct FineTuned {
    live: DrlPolicy,
    pretrained: PlainMlp,
    cfg: FineTuneConfig,
    pending: VecDeque<Pending>,
    /// Hidden-feature buffers of answered decisions, reused so that deciding does not allocate
    /// once the pending queue has reached its working size.
    spare: Vec<Vec<f32>>,
    costs: VecDeque<f64>,
    cost_sum: f64,
    reference: Option<f64>,
    fallbacks: u64,
    updates: u64,
    name: String,
}

/// Decisions remembered while waiting for their outcomes; older ones are dropped (their
/// outcome then teaches nothing), which bounds memory under any overload.
const MAX_PENDING: usize = 4096;

impl FineTuned {
    /// Fine-tune `policy` online.
    pub fn new(policy: DrlPolicy, cfg: FineTuneConfig) -> FineTuned {
        let name = format!("{}+finetune", policy.name());
        FineTuned {
            pretrained: policy.network().clone(),
            live: policy,
            cfg,
            pending: VecDeque::with_capacity(MAX_PENDING),
            spare: Vec::new(),
            costs: VecDeque::with_capacity(cfg.window.max(1)),
            cost_sum: 0.0,
            reference: None,
            fallbacks: 0,
            updates: 0,
            name,
        }
    }

    /// Times the guard went back to the pretrained weights.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks
    }

    /// Head updates applied.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The weights in use now.
    pub fn network(&self) -> &PlainMlp {
        self.live.network()
    }

    fn record_cost(&mut self, cost: f64) {
        self.costs.push_back(cost);
        self.cost_sum += cost;
        if self.costs.len() > self.cfg.window.max(1) {
            self.cost_sum -= self.costs.pop_front().unwrap_or(0.0);
        }
    }
}

impl FineTuned {
    /// One TD(0) step on the heads for a decision whose cost and successor are both known.
    fn learn(&mut self, p: Pending) {
        if let (Some(cost), Some(next_q)) = (p.cost, p.next_q) {
            let target = -cost as f32 + self.cfg.gamma * next_q;
            let lr = self.cfg.learning_rate;
            let net = self.live.network_mut();
            let q = net.head_q(&p.hidden, p.action) + p.prior;
            let err = (q - target).clamp(-1.0, 1.0);
            // Normalised (NLMS) step: `lr` is the fraction of the error corrected, whatever the
            // scale of the hidden features (a raw step moved Q by lr * |h|^2, far too much).
            let norm = 1.0 + p.hidden.iter().map(|h| h * h).sum::<f32>();
            net.head_step(&p.hidden, p.action, -lr * err / norm);
            self.updates += 1;
        }
        self.spare.push(p.hidden);
    }
}

impl Policy for FineTuned {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        let action = self.live.decide(obs);
        let a = action.processor.index();
        let q_now = self.live.last_q_values()[a];
        // This decision is the successor of the previous one.
        if let Some(prev) = self.pending.back_mut() {
            prev.next_q = Some(q_now);
            if prev.cost.is_some() {
                let prev = self.pending.pop_back().expect("just seen");
                self.learn(prev);
            }
        }
        if self.pending.len() == MAX_PENDING {
            if let Some(old) = self.pending.pop_front() {
                self.spare.push(old.hidden);
            }
        }
        // The forward of `decide` already computed the hidden layer: copy it, don't recompute.
        let mut hidden = self.spare.pop().unwrap_or_default();
        hidden.clear();
        hidden.extend_from_slice(self.live.last_hidden());
        self.pending.push_back(Pending {
            request: obs.request.id.0,
            prior: self.live.last_prior()[a],
            hidden,
            action: a,
            cost: None,
            next_q: None,
        });
        action
    }

    fn observe(&mut self, o: &Outcome) {
        let Some(i) = self.pending.iter().position(|p| p.request == o.request.0) else {
            return;
        };
        let cost = self
            .cfg
            .weights
            .request_cost(o.latency_ms, o.slo_ms, o.violated, o.energy_j, o.reference_energy_j)
            .min(12.0);
        self.pending[i].cost = Some(cost);
        if self.pending[i].next_q.is_some() {
            let p = self.pending.remove(i).expect("position is in range");
            self.learn(p);
        }

        self.record_cost(cost);
        if self.costs.len() < self.cfg.window.max(1) {
            return;
        }
        let rolling = self.cost_sum / self.costs.len() as f64;
        match self.reference {
            // The first full window runs (mostly) on the pretrained weights: their reference.
            None => self.reference = Some(rolling),
            Some(r) if rolling > r * (1.0 + self.cfg.margin) => {
                tracing::warn!(
                    rolling,
                    reference = r,
                    "fine-tuning made things worse: back to the pretrained weights"
                );
                *self.live.network_mut() = self.pretrained.clone();
                self.fallbacks += 1;
                self.reference = None;
                self.costs.clear();
                self.cost_sum = 0.0;
            }
            Some(_) => {}
        }
    }

    fn queue_order(&self) -> QueueOrder {
        QueueOrder::LeastSlackFirst
    }
}
