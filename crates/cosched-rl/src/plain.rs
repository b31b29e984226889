//! The deployed forward pass: the Q-network's weights in plain `f32` arrays, evaluated without
//! allocating. burn's own forward at batch 1 costs several microseconds of dispatch per layer;
//! this one is a few dot products (a test proves both agree within 1e-5).

use crate::features::{is_candidate, PriorForm};
use crate::options::Rule;
use cosched_core::ObjectiveWeights;

/// A dueling MLP: two ReLU hidden layers, a value head and an advantage head;
/// `q = value + advantage - mean(advantage)` (the residual over the prior, see [`crate`]).
///
/// Weights are stored `[inputs][outputs]` row-major, as burn's `Linear` stores them.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainMlp {
    pub(crate) inputs: usize,
    pub(crate) hidden: usize,
    pub(crate) actions: usize,
    pub(crate) w1: Vec<f32>,
    pub(crate) b1: Vec<f32>,
    pub(crate) w2: Vec<f32>,
    pub(crate) b2: Vec<f32>,
    pub(crate) wv: Vec<f32>,
    pub(crate) bv: Vec<f32>,
    pub(crate) wa: Vec<f32>,
    pub(crate) ba: Vec<f32>,
    /// Weight of the energy term of the prior ([`crate::features::prior_values`]); not a
    /// trained weight: it comes from the objective (energy weight over latency weight).
    pub(crate) prior_energy: f32,
    /// Weight of the deadline-miss term of the prior (violation weight over latency weight).
    pub(crate) prior_violation: f32,
    /// The rule the network's output is added to.
    pub(crate) prior_form: PriorForm,
    /// Empty: the network's outputs are processors. Otherwise they are these rules
    /// ([`crate::options`]), one output each, and the chosen rule places the request.
    pub(crate) options: Vec<Rule>,
    /// Both output heads are all zeros (an untrained network, or a policy file that kept its
    /// prior): the output is then exactly zero whatever the input, and
    /// [`PlainMlp::residual`] skips the hidden layers.
    pub(crate) zero_heads: bool,
}

/// `out = relu?(x W + b)` for `W` stored `[x.len()][out.len()]`.
#[inline]
fn dense(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32], relu: bool) {
    out.copy_from_slice(b);
    let n = out.len();
    for (i, &xi) in x.iter().enumerate() {
        if xi == 0.0 {
            // Many features are zero (one-hot, unavailable processors): skip their rows.
            continue;
        }
        let row = &w[i * n..(i + 1) * n];
        for (o, &wij) in out.iter_mut().zip(row) {
            *o += xi * wij;
        }
    }
    if relu {
        for o in out.iter_mut() {
            *o = o.max(0.0);
        }
    }
}

impl PlainMlp {
    /// Length of the input (observation) vector.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Number of actions (processors).
    pub fn actions(&self) -> usize {
        self.actions
    }

    /// Scratch space [`PlainMlp::forward`] needs.
    pub fn scratch_len(&self) -> usize {
        2 * self.hidden
    }

    /// The network's output (the residual, without the prior) for one input. No allocation.
    pub fn forward(&self, x: &[f32], scratch: &mut [f32], out: &mut [f32]) {
        let (h1, h2) = scratch.split_at_mut(self.hidden);
        dense(x, &self.w1, &self.b1, h1, true);
        dense(h1, &self.w2, &self.b2, &mut h2[..self.hidden], true);
        let mut v = [0.0f32];
        dense(&h2[..self.hidden], &self.wv, &self.bv, &mut v, false);
        dense(&h2[..self.hidden], &self.wa, &self.ba, out, false);
        let mean = out.iter().sum::<f32>() / out.len() as f32;
        for o in out.iter_mut() {
            *o += v[0] - mean;
        }
    }

    /// The network's output, as [`PlainMlp::forward`] gives it, without computing the hidden
    /// layers where the heads are zero: the output is then exactly zero. Where it skips them,
    /// `scratch` keeps what it held. Most shipped policies keep their prior, and this halves
    /// what a decision and a guard's replay of it cost.
    #[inline]
    pub fn residual(&self, x: &[f32], scratch: &mut [f32], out: &mut [f32]) {
        if self.zero_heads {
            out.fill(0.0);
        } else {
            self.forward(x, scratch, out);
        }
    }

    /// Whether both output heads are all zeros (see [`PlainMlp::residual`]).
    pub fn has_zero_heads(&self) -> bool {
        self.zero_heads
    }

    /// The same network with both output heads zeroed: what an untrained network with this
    /// prior does, exactly the prior (its rule, its weights, its rules to choose among).
    pub fn without_learning(&self) -> PlainMlp {
        let mut net = self.clone();
        for w in [&mut net.wv, &mut net.bv, &mut net.wa, &mut net.ba] {
            w.fill(0.0);
        }
        net.zero_heads = true;
        net
    }

    /// Whether these head weights and biases are all zeros.
    pub(crate) fn heads_are_zero(wv: &[f32], bv: &[f32], wa: &[f32], ba: &[f32]) -> bool {
        [wv, bv, wa, ba].iter().all(|s| s.iter().all(|&w| w == 0.0))
    }

    /// The candidate action with the highest Q-value, residual from `x` plus `prior` (one per
    /// action, as stored with a transition, [`crate::features::NOT_CANDIDATE`] for actions that
    /// were not candidates); first on ties; `None` if there is no candidate. `q` receives the
    /// Q-values.
    pub fn greedy_with_prior(&self, x: &[f32], prior: &[f32], scratch: &mut [f32], q: &mut [f32]) -> Option<usize> {
        self.forward(x, scratch, q);
        let mut best: Option<(f32, usize)> = None;
        for (a, qa) in q.iter_mut().enumerate() {
            *qa += prior[a];
            if is_candidate(prior[a]) && best.is_none_or(|(b, _)| *qa > b) {
                best = Some((*qa, a));
            }
        }
        best.map(|(_, a)| a)
    }

    /// The last hidden layer (what the heads read) of the latest [`PlainMlp::forward`] that
    /// used `scratch`.
    pub fn last_hidden<'s>(&self, scratch: &'s [f32]) -> &'s [f32] {
        &scratch[self.hidden..2 * self.hidden]
    }

    /// The residual Q-value of `action` from hidden features `h` (heads only). No allocation.
    pub fn head_q(&self, h: &[f32], action: usize) -> f32 {
        let a_n = self.actions;
        // Same summation order as `dense`, so the figure equals the forward's.
        let dot = |b: usize| -> f32 {
            h.iter()
                .enumerate()
                .fold(self.ba[b], |acc, (i, &hi)| acc + hi * self.wa[i * a_n + b])
        };
        let v = h.iter().zip(&self.wv).fold(self.bv[0], |acc, (hi, w)| acc + hi * w);
        let mean = (0..a_n).map(dot).sum::<f32>() / a_n as f32;
        v + dot(action) - mean
    }

    /// Move the heads by `step` times the gradient of [`PlainMlp::head_q`] for `action`
    /// (a negative `step` descends).
    pub fn head_step(&mut self, h: &[f32], action: usize, step: f32) {
        self.zero_heads = false;
        let a_n = self.actions;
        let share = 1.0 / a_n as f32;
        for (i, &hi) in h.iter().enumerate() {
            self.wv[i] += step * hi;
            for b in 0..a_n {
                let d = if b == action { 1.0 - share } else { -share };
                self.wa[i * a_n + b] += step * hi * d;
            }
        }
        self.bv[0] += step;
        for b in 0..a_n {
            self.ba[b] += step * if b == action { 1.0 - share } else { -share };
        }
    }

    /// Set the prior's weights from the objective: its energy and violation weights relative
    /// to its latency weight, so the prior ranks processors as the objective's own terms do
    /// (see [`crate::features::prior_values`]).
    pub fn set_prior_weights(&mut self, w: &ObjectiveWeights) {
        let rel = |x: f64| (x / w.latency.max(1e-9)).clamp(0.0, 100.0) as f32;
        self.prior_energy = rel(w.energy);
        self.prior_violation = rel(w.violation);
    }

    /// The prior's (energy, violation) weights.
    pub fn prior_weights(&self) -> (f32, f32) {
        (self.prior_energy, self.prior_violation)
    }

    /// Set the rule the network's output is added to.
    pub fn set_prior_form(&mut self, form: PriorForm) {
        self.prior_form = form;
    }

    /// The rule the network's output is added to.
    pub fn prior_form(&self) -> PriorForm {
        self.prior_form
    }

    /// Make the outputs choose among `rules` rather than processors (one output per rule:
    /// the network must have as many outputs as rules).
    pub fn set_options(&mut self, rules: Vec<Rule>) {
        assert_eq!(rules.len(), self.actions, "one output per rule");
        self.options = rules;
    }

    /// The rules the outputs choose among; empty when they choose processors.
    pub fn options(&self) -> &[Rule] {
        &self.options
    }

    /// All weights, for checksums in tests.
    pub fn parameter_count(&self) -> usize {
        self.w1.len()
            + self.b1.len()
            + self.w2.len()
            + self.b2.len()
            + self.wv.len()
            + self.bv.len()
            + self.wa.len()
            + self.ba.len()
    }
}

#[cfg(test)]
mod tests {
    use crate::net::QNet;
    use crate::plain::PlainMlp;
    use burn::prelude::*;

    /// A network of 6 inputs, 8 hidden units and 3 outputs, its heads zero or not.
    fn net(zero_heads: bool) -> PlainMlp {
        let mut p = QNet::seeded(&Device::flex(), 3, 6, 8, 3).to_plain();
        assert!(p.has_zero_heads(), "a fresh network's heads start at zero");
        if !zero_heads {
            p.head_step(&[0.5; 8], 1, 0.1);
        }
        p
    }

    #[test]
    fn the_residual_is_the_forward_and_skips_only_where_the_heads_are_zero() {
        for zero in [true, false] {
            let p = net(zero);
            assert_eq!(p.has_zero_heads(), zero);
            for x in [[0.0f32; 6], [0.3, -1.0, 2.0, 0.0, 5.0, 1.0]] {
                let (mut s1, mut s2) = (vec![7.0; p.scratch_len()], vec![7.0; p.scratch_len()]);
                let (mut full, mut res) = ([1.0f32; 3], [1.0f32; 3]);
                p.forward(&x, &mut s1, &mut full);
                p.residual(&x, &mut s2, &mut res);
                assert_eq!(full, res, "zero heads: {zero}, x {x:?}");
                // Skipped exactly where the output cannot depend on the hidden layers.
                assert_eq!(s2 == vec![7.0; p.scratch_len()], zero);
            }
        }
    }

    #[test]
    fn without_learning_outputs_zero_and_keeps_the_prior_and_the_hidden_layers() {
        let mut trained = net(false);
        trained.set_prior_form(crate::PriorForm::EarliestFinish);
        trained.prior_energy = 0.25;
        let prior = trained.without_learning();
        assert!(prior.has_zero_heads() && !trained.has_zero_heads());
        let x = [0.3, -1.0, 2.0, 0.0, 5.0, 1.0];
        let (mut s, mut out) = (vec![0.0; prior.scratch_len()], [1.0f32; 3]);
        prior.forward(&x, &mut s, &mut out);
        assert_eq!(out, [0.0; 3], "the full forward of the prior is zero too");
        trained.forward(&x, &mut s, &mut out);
        assert_ne!(out, [0.0; 3]);
        assert_eq!(
            (prior.prior_form(), prior.prior_weights()),
            (trained.prior_form(), trained.prior_weights())
        );
        assert_eq!((&prior.w1, &prior.w2), (&trained.w1, &trained.w2));
    }
}
