//! The deployed policy: a [`Policy`] that decides with the plain forward, without allocating.

use crate::plain::PlainMlp;
use cosched_core::{Action, Observation, Policy, ProcessorId, QueueOrder};

/// A trained DRL policy, ready to place requests.
///
/// `decide` encodes the observation into a buffer allocated once, runs the plain forward,
/// adds the earliest-finish prior and takes the best valid processor: an invalid processor is
/// never chosen. Processors take requests least-slack first, the queue order it was trained
/// under.
#[derive(Debug, Clone)]
pub struct DrlPolicy {
    name: String,
    net: PlainMlp,
    n_models: usize,
    x: Vec<f32>,
    scratch: Vec<f32>,
    q: Vec<f32>,
}

impl DrlPolicy {
    /// A policy named `name` (e.g. `drl:balanced`) over these weights, for a device with
    /// `n_models` models.
    pub fn new(name: impl Into<String>, net: PlainMlp, n_models: usize) -> DrlPolicy {
        DrlPolicy {
            name: name.into(),
            x: vec![0.0; net.inputs()],
            scratch: vec![0.0; net.scratch_len()],
            q: vec![0.0; net.actions()],
            net,
            n_models,
        }
    }

    /// The network.
    pub fn network(&self) -> &PlainMlp {
        &self.net
    }

    /// The weights, to adjust them online ([`crate::finetune`]).
    pub fn network_mut(&mut self) -> &mut PlainMlp {
        &mut self.net
    }

    /// The observation vector of the last decision.
    pub fn last_input(&self) -> &[f32] {
        &self.x
    }

    /// Q-values of the last decision, one per processor (invalid ones included).
    pub fn last_q_values(&self) -> &[f32] {
        &self.q
    }
}

impl Policy for DrlPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        obs.encode(&mut self.x);
        let a = self
            .net
            .greedy(&self.x, self.n_models, &mut self.scratch, &mut self.q)
            .or_else(|| obs.argmin_valid(|v| v.est_finish_ms()).map(|p| p.index()))
            .unwrap_or(0);
        Action {
            processor: ProcessorId(a as u16),
        }
    }

    fn queue_order(&self) -> QueueOrder {
        QueueOrder::LeastSlackFirst
    }
}
