//! Online fine-tuning (as COSREL schedules online): a deployed policy keeps learning from the
//! completions it is told about, with a guard that returns to the pretrained weights when the
//! rolling objective gets worse than theirs.
//!
//! What learns: the output heads only (value and advantage), by a semi-gradient step on the
//! Huber loss between the Q-value of a decision and its request's own measured cost (no
//! bootstrap: online targets must not chase a moving network). The trunk stays as trained, so
//! fine-tuning adapts *which processor* a situation favours (a processor that is slower than
//! its profile says, a model whose energy is higher) without forgetting the features.
//!
//! The guard compares the rolling mean per-request cost of the last `window` completions with
//! that of the pretrained weights, measured over the first `window` completions and refreshed
//! whenever the guard falls back. Load changes move both, so the margin must be wide enough not
//! to fire on a load swing; `margin` 0.15 means "15 % worse".

use crate::features::prior;
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
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        FineTuneConfig {
            // Chosen with examples/finetune_recovery.rs (jetson-agx-orin, GPU 30 % slower than
            // profiled, camera-pipeline): 0.01 with a 500-request window made the guard fire
            // about a hundred times per run; this setting never fired and recovered most of the
            // loss at high load.
            learning_rate: 0.0005,
            window: 2000,
            margin: 0.15,
            weights: ObjectiveWeights::BALANCED,
        }
    }
}

/// A decision waiting for its outcome: the last hidden layer and the chosen action.
struct Pending {
    request: u64,
    hidden: Vec<f32>,
    prior: f32,
    action: usize,
}

/// A [`DrlPolicy`] that keeps learning online, with a fallback guard.
pub struct FineTuned {
    live: DrlPolicy,
    pretrained: PlainMlp,
    cfg: FineTuneConfig,
    n_models: usize,
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
    pub fn new(policy: DrlPolicy, n_models: usize, cfg: FineTuneConfig) -> FineTuned {
        let name = format!("{}+finetune", policy.name());
        FineTuned {
            pretrained: policy.network().clone(),
            live: policy,
            cfg,
            n_models,
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

impl Policy for FineTuned {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        let action = self.live.decide(obs);
        if self.pending.len() == MAX_PENDING {
            if let Some(old) = self.pending.pop_front() {
                self.spare.push(old.hidden);
            }
        }
        let x = self.live.last_input();
        let net = self.live.network();
        // The forward of `decide` already computed the hidden layer: copy it, don't recompute.
        let mut hidden = self.spare.pop().unwrap_or_default();
        hidden.clear();
        hidden.extend_from_slice(self.live.last_hidden());
        self.pending.push_back(Pending {
            request: obs.request.id.0,
            prior: prior(x, self.n_models, action.processor.index(), net.prior_energy()),
            hidden,
            action: action.processor.index(),
        });
        action
    }

    fn observe(&mut self, o: &Outcome) {
        let Some(i) = self.pending.iter().position(|p| p.request == o.request.0) else {
            return;
        };
        let p = self.pending.remove(i).expect("position is in range");
        let cost = self
            .cfg
            .weights
            .request_cost(o.latency_ms, o.slo_ms, o.violated, o.energy_j, o.reference_energy_j)
            .min(12.0);
        // Semi-gradient Huber step on the heads towards the request's own cost.
        let lr = self.cfg.learning_rate;
        let net = self.live.network_mut();
        let q = net.head_q(&p.hidden, p.action) + p.prior;
        let err = (q - (-cost as f32)).clamp(-1.0, 1.0);
        net.head_step(&p.hidden, p.action, -lr * err);
        self.spare.push(p.hidden);
        self.updates += 1;

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
