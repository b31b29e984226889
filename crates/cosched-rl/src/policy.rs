//! The deployed policy: a [`Policy`] that decides with the plain forward, without allocating.

use crate::features::{candidates, MAX_PROCESSORS, NOT_CANDIDATE};
use crate::options::{Held, Rule, RULE_MARGIN};
use crate::plain::PlainMlp;
use cosched_core::{Action, ActionSpace, Observation, Policy, ProcessorId, QueueOrder};

/// A trained DRL policy, ready to place requests.
///
/// `decide` encodes the observation into a buffer allocated once, runs the plain forward,
/// adds the network's prior ([`crate::features::PriorForm`]) and takes the best of the candidate
/// processors (the trust region and the prior's own choice, see [`candidates`]): an invalid
/// processor is never chosen. Processors take requests least-slack first, the queue order it was trained
/// under.
#[derive(Debug, Clone)]
pub struct DrlPolicy {
    name: String,
    net: PlainMlp,
    n_models: usize,
    x: Vec<f32>,
    scratch: Vec<f32>,
    q: Vec<f32>,
    prior: Vec<f32>,
    action_space: Option<ActionSpace>,
    held: Held,
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
            prior: vec![0.0; net.actions()],
            net,
            n_models,
            action_space: None,
            held: Held::default(),
        }
    }

    /// The same policy, stating the action space its file declares.
    pub fn with_action_space(mut self, space: ActionSpace) -> DrlPolicy {
        self.action_space = Some(space);
        self
    }

    /// The policy's untrained prior, named `name`: the same network without what it learned
    /// ([`PlainMlp::without_learning`]), the same action space. A policy file that kept its
    /// prior ([`PlainMlp::has_zero_heads`]) decides as this does.
    pub fn prior_policy(&self, name: impl Into<String>) -> DrlPolicy {
        let policy = DrlPolicy::new(name, self.net.without_learning(), self.n_models);
        match &self.action_space {
            Some(space) => policy.with_action_space(space.clone()),
            None => policy,
        }
    }

    /// The action space its policy file declares (`None` for a policy not read from a file).
    pub fn action_space(&self) -> Option<&ActionSpace> {
        self.action_space.as_ref()
    }

    /// Number of models of the device the policy was built for (the one-hot block of its input).
    pub fn n_models(&self) -> usize {
        self.n_models
    }

    /// The network.
    pub fn network(&self) -> &PlainMlp {
        &self.net
    }

    /// The weights, to adjust them online ([`crate::finetune`]).
    pub fn network_mut(&mut self) -> &mut PlainMlp {
        &mut self.net
    }

    /// The last hidden layer of the last decision (what the output heads read). Not computed
    /// where the heads are zero ([`PlainMlp::residual`]): compute it with
    /// [`PlainMlp::forward`] on [`DrlPolicy::last_input`] there.
    pub fn last_hidden(&self) -> &[f32] {
        self.net.last_hidden(&self.scratch)
    }

    /// The observation vector of the last decision.
    pub fn last_input(&self) -> &[f32] {
        &self.x
    }

    /// Q-values of the last decision, one per processor (invalid ones included).
    pub fn last_q_values(&self) -> &[f32] {
        &self.q
    }

    /// The prior's values at the last decision, one per processor ([`NOT_CANDIDATE`] for the
    /// processors it could not choose).
    pub fn last_prior(&self) -> &[f32] {
        &self.prior
    }
}

impl Policy for DrlPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        if !self.net.options.is_empty() {
            let p = follow_rule(
                &self.net,
                &mut self.held,
                obs,
                &mut self.x,
                &mut self.scratch,
                &mut self.q,
                &mut self.prior,
            );
            return Action::to(ProcessorId(p.unwrap_or(0) as u16));
        }
        obs.encode(&mut self.x);
        let a = choose(&self.net, obs, &self.x, &mut self.scratch, &mut self.q, &mut self.prior).unwrap_or(0);
        Action::to(ProcessorId(a as u16))
    }

    fn queue_order(&self) -> QueueOrder {
        QueueOrder::LeastSlackFirst
    }

    fn reset(&mut self, _seed: u64) {
        self.held = Held::default();
    }
}

/// The greedy decision for `obs`, whose encoding is `x`: the prior into `prior` (with
/// [`NOT_CANDIDATE`] for processors outside the candidate set of [`candidates`]), Q-values
/// (residual + prior) into `q` for every processor, and the candidate with the best Q-value,
/// or `None` if no processor is valid. Shared by [`DrlPolicy`] and training's acting, so both
/// act alike.
///
/// The prior and the candidates come from the observation itself, not from `x`: the vector
/// clips the estimated finish at 10 deadlines, so under overload every processor would tie
/// there. With the unclipped figures an untrained policy is exactly its prior (with
/// least-slack-first queues) at every load.
pub(crate) fn choose(
    net: &PlainMlp,
    obs: &Observation,
    x: &[f32],
    scratch: &mut [f32],
    q: &mut [f32],
    prior: &mut [f32],
) -> Option<usize> {
    net.residual(x, scratch, q);
    let (energy_w, violation_w) = net.prior_weights();
    let form = net.prior_form();
    // Compared in f64: see `crate::features::prior_value`. On the stack: deciding allocates nothing.
    let mut exact = [0.0f64; MAX_PROCESSORS];
    let n = obs.processors.len().min(MAX_PROCESSORS);
    for (a, e) in exact.iter_mut().enumerate().take(n) {
        *e = form.value(obs, a, energy_w, violation_w);
    }
    let set = candidates(obs, &exact[..n]);
    let mut choice: Option<(f64, usize)> = None;
    for a in 0..n {
        if set & (1 << a) == 0 {
            prior[a] = NOT_CANDIDATE;
            q[a] += NOT_CANDIDATE;
            continue;
        }
        prior[a] = exact[a] as f32;
        let qa = f64::from(q[a]) + exact[a];
        q[a] = qa as f32;
        if choice.is_none_or(|(b, _)| qa > b) {
            choice = Some((qa, a));
        }
    }
    choice.map(|(_, a)| a)
}

/// Where a policy over rules ([`crate::options`]) places `obs`: by the rule it holds, or, once
/// the hold is over, by the rule the network picks now (encoding `obs` into `x` only then, so
/// that held decisions skip the forward pass). Shared by [`DrlPolicy`] and training's acting.
/// `None` if no processor is valid.
pub(crate) fn follow_rule(
    net: &PlainMlp,
    held: &mut Held,
    obs: &Observation,
    x: &mut [f32],
    scratch: &mut [f32],
    q: &mut [f32],
    prior: &mut [f32],
) -> Option<usize> {
    let rule = held.next(|| {
        obs.encode(x);
        pick_rule(net, x, scratch, q, prior)
    });
    let (energy_w, violation_w) = net.prior_weights();
    net.options[rule].place(obs, net.prior_form(), energy_w, violation_w)
}

/// The rule (an index into the network's rules) the network picks for the encoded observation
/// `x`. Its outputs are each rule's predicted gain over the prior rule (a fraction of the
/// prior's cost); a rule takes the decision from the prior only if its gain is above
/// [`RULE_MARGIN`], and the best such rule does. `prior` gets zeros, `q` the outputs.
fn pick_rule(net: &PlainMlp, x: &[f32], scratch: &mut [f32], q: &mut [f32], prior: &mut [f32]) -> usize {
    net.residual(x, scratch, q);
    let mut best = (RULE_MARGIN, 0);
    for (o, rule) in net.options.iter().enumerate() {
        prior[o] = 0.0;
        if *rule != Rule::Prior && q[o] > best.0 {
            best = (q[o], o);
        }
    }
    best.1
}
