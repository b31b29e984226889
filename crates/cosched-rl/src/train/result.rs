//! What a training run reports: progress while it runs, and the policy it keeps.

use crate::features::PriorForm;
use crate::plain::PlainMlp;
use serde::{Deserialize, Serialize};

/// Progress reported during [`train`](super::train).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainProgress {
    /// Placements so far.
    pub step: u64,
    /// Placements in total.
    pub total: u64,
    /// Episodes finished.
    pub episodes: u64,
    /// Return (sum of rewards) of the last finished episode, per request.
    pub last_return_per_request: Option<f64>,
    /// Mean over evaluation cases of objective / prior's objective, at the last evaluation.
    pub eval_ratio: Option<f64>,
    /// The best such ratio so far (the weights kept).
    pub best_ratio: f64,
}

/// One evaluation case and its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalCase {
    /// Workload name.
    pub workload: String,
    /// Load.
    pub load: f64,
    /// Objective of the trained policy.
    pub objective: f64,
    /// Objective of the prior alone (objective-greedy placement, least-slack queues).
    pub prior_objective: f64,
    /// Objective of the best of the baselines on this case.
    #[serde(default)]
    pub best_baseline_objective: f64,
}

/// The outcome of [`train`](super::train): the best network found, in burn's format and as plain weights.
#[derive(Debug, Clone)]
pub struct TrainedPolicy {
    /// Weights in burn's file format (burnpack).
    pub weights: Vec<u8>,
    /// The same weights for the deployed forward.
    pub plain: PlainMlp,
    /// The network at the end of training (kept or not), for diagnostics and tests.
    pub last: PlainMlp,
    /// Hidden width.
    pub hidden: usize,
    /// The rule the network's output is added to.
    pub prior: PriorForm,
    /// Placements trained.
    pub steps: u64,
    /// Placement at which the kept weights were evaluated (0: the untrained prior was best).
    pub best_step: u64,
    /// Evaluation of the kept weights.
    pub eval: Vec<EvalCase>,
    /// Mean objective ratio to the prior over the evaluation cases (lower is better).
    pub eval_ratio: f64,
    /// Selection score of the kept weights against the best baseline of each evaluation case:
    /// cases lost by more than 0.2 %, plus a fraction that orders ties by the cases lost at all
    /// and then by the mean shortfall (lower is better; below 1 loses no case clearly).
    pub score: f64,
    /// Seed of the run that produced the weights (see [`train_restarts`](super::train_restarts)).
    pub seed: u64,
    /// Wall-clock seconds spent.
    pub wall_s: f64,
}
