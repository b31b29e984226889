//! Online fine-tuning (as COSREL schedules online): a deployed policy keeps learning from the
//! completions it is told about, with a guard that returns to the pretrained state when the
//! objective gets worse than the pretrained policy's.
//!
//! Two things can learn; the first is on by default:
//!
//! - **Energy calibration** ([`FineTuneConfig::energy_rate`]): for each processor, the ratio of
//!   the energy a completion was measured to draw to what the profile says that same run should
//!   draw (the profile's power for the time it really ran, shared by its batch), smoothed over
//!   about a hundred completions. The observation's energy estimates are multiplied by it
//!   before the policy decides, so the prior and the network weigh the board's real power.
//!   Latency needs no such step: the observation's latency estimates are already online (EMA)
//!   estimates of measured service times, and with `examples/finetune_recovery.rs`
//!   (jetson-agx-orin whose GPU is 30 % slower than profiled, camera-pipeline, 300 s) the
//!   pretrained policy is already at or better than the best baseline on that board (1.857 vs
//!   1.857, 1.826 vs 1.839, 1.954 vs 2.003 at loads 0.5 / 0.8 / 0.95). With a power error the
//!   calibration learns the board's factor exactly (1.300 for a GPU drawing 30 % more; 1.000 on
//!   a board that matches its profile, where it changes no decision). Whether deciding with the
//!   true power helps depends on the policy: over 12 measured cases (jetson-agx-orin GPU x1.3
//!   and x0.6, jetson-xavier-nx DLA x2 on camera-pipeline and mixed-slo, loads 0.5-0.95) the
//!   fine-tuned objective ranged from 3.6 % better to 1.3 % worse than the pretrained policy's,
//!   0.4 % better on average: the network's corrections were learned against the profile's
//!   power figures, and told the truth from the start it sometimes does worse (up to 12 %, DLA
//!   x2, mixed-slo at 0.95), which is what the guard is for.
//! - **Head updates** ([`FineTuneConfig::learning_rate`], off by default): the output heads
//!   (value and advantage) take a semi-gradient step on the Huber loss between the Q-value of a
//!   decision and the target training used: its request's own measured cost plus `gamma` times
//!   the Q-value of the decision that followed (SARSA-style TD(0)). The trunk stays as trained.
//!   Off by default because in every case measured with that example (GPU 30 % slower or 30 %
//!   more power-hungry, loads 0.5-0.95, rates 0.0003-0.05) it ended worse than the pretrained
//!   heads (0.4-0.7 % at 0.001): the trained heads are already the estimate this one-sample
//!   update chases, and its noise costs more than the board's error does.
//!
//! The guard: nothing learns during the first `window` completions, whose mean cost per
//! request is the pretrained reference; each later full window is judged once against it, and
//! one worse by more than `margin` (5 %) sends the policy back to the pretrained weights and an
//! uncalibrated (1.0) energy scale, measures the reference again, and pauses learning for 2^n
//! windows after the n-th fallback. A fallback that a load swing causes therefore costs only a
//! pause, and learning that keeps hurting is tried ever more rarely.

use crate::plain::PlainMlp;
use crate::policy::DrlPolicy;
use cosched_core::{Action, ObjectiveWeights, Observation, Outcome, Policy, QueueOrder};
use std::collections::VecDeque;

/// Settings of [`FineTuned`].
///
/// ```
/// use cosched_rl::FineTuneConfig;
/// // Calibrate energy online (the default) and also let the output heads learn.
/// let cfg = FineTuneConfig { learning_rate: 0.001, ..FineTuneConfig::default() };
/// assert!(cfg.energy_rate > 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FineTuneConfig {
    /// Step size of the head update (a normalised step: the fraction of the TD error
    /// corrected); 0 leaves the network as trained.
    pub learning_rate: f32,
    /// Step of the per-processor energy calibration per completion; 0 keeps the profile's
    /// energy figures.
    pub energy_rate: f64,
    /// Completions per window: the first measures the pretrained policy's mean cost per
    /// request (nothing learns during it), and each later one is judged against it.
    pub window: usize,
    /// Fall back when a window's mean cost exceeds the pretrained reference by more than this
    /// fraction.
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
            // Off: see the module docs for what head updates did in every case measured.
            learning_rate: 0.0,
            // A time constant of about a hundred completions per processor: the ratio is
            // exact per completion in the simulator, and a sensor's noise averages out.
            energy_rate: 0.01,
            window: 2000,
            // Tighter than a load swing needs: a fallback that a swing causes only pauses
            // learning (see the module docs), while a loose margin lets harm through (a calibration
            // that cost 8 % went unnoticed at 15 %).
            margin: 0.05,
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
    /// The chosen processor's power per slot as the profile gives it (its energy estimate
    /// over its latency estimate, before calibration), J per ms.
    profiled_j_per_ms: f64,
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
    completions: u64,
    /// Nothing learns before this completion: after the n-th fallback, for 2^n windows, so
    /// that learning that keeps hurting is tried ever more rarely.
    paused_until: u64,
    /// Mean cost per request of the pretrained state, measured over a window while nothing
    /// learns (at the start and after each fallback); `None` while being measured.
    reference: Option<f64>,
    costs: Window,
    fallbacks: u64,
    updates: u64,
    name: String,
    /// Measured over estimated energy per processor, learned from completions (1.0 = the
    /// profile is right); the observation's energy estimates are multiplied by it.
    energy_scale: Vec<f64>,
    /// The calibrated copy of the last observation, reused so that deciding does not allocate.
    calibrated: Option<Observation>,
    /// The forward's buffers, for the hidden layer of a network whose heads are zero.
    scratch: Vec<f32>,
    out: Vec<f32>,
}

/// Decisions remembered while waiting for their outcomes; older ones are dropped (their
/// outcome then teaches nothing), which bounds memory under any overload.
const MAX_PENDING: usize = 4096;

impl FineTuned {
    /// Fine-tune `policy` online.
    pub fn new(policy: DrlPolicy, cfg: FineTuneConfig) -> FineTuned {
        let name = format!("{}+finetune", policy.name());
        FineTuned {
            scratch: vec![0.0; policy.network().scratch_len()],
            out: vec![0.0; policy.network().actions()],
            pretrained: policy.network().clone(),
            live: policy,
            cfg,
            pending: VecDeque::with_capacity(MAX_PENDING),
            spare: Vec::new(),
            completions: 0,
            paused_until: 0,
            reference: None,
            costs: Window::new(cfg.window),
            fallbacks: 0,
            updates: 0,
            name,
            energy_scale: Vec::new(),
            calibrated: None,
        }
    }

    /// Measured over profiled energy of each processor as learned so far (1.0 where nothing
    /// was measured yet), indexed by processor; empty before the first decision.
    pub fn energy_scale(&self) -> &[f64] {
        &self.energy_scale
    }

    /// Start from a known calibration (one per processor, e.g. [`FineTuned::energy_scale`] of
    /// an earlier run) instead of 1.0; with [`FineTuneConfig::energy_rate`] 0 it stays fixed.
    /// A fallback of the guard still resets it to 1.0; a length other than the device's
    /// processor count is replaced by 1.0 at the first decision.
    pub fn with_energy_scale(mut self, scale: Vec<f64>) -> FineTuned {
        self.energy_scale = scale;
        self
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

    /// The pretrained reference cost per request and the mean of the window being filled
    /// (`None` until measured, and the window's until it has a completion).
    pub fn costs(&self) -> (Option<f64>, Option<f64>) {
        (self.reference, self.costs.mean())
    }

    /// Whether the weights and the energy calibration learn now: once the pretrained
    /// reference is measured, and not while paused after a fallback.
    fn learning(&self) -> bool {
        self.reference.is_some() && self.completions >= self.paused_until
    }

    /// Records a completion's cost and, once per full window, either takes the window as the
    /// pretrained reference or judges it against that reference.
    fn guard(&mut self, cost: f64) {
        self.completions += 1;
        self.costs.push(cost);
        if !self.costs.is_full() {
            return;
        }
        // Judged once per window, not over a window rolling at every completion: a test
        // repeated at every completion would fire on noise sooner or later.
        let Some(mean) = self.costs.mean() else { return };
        self.costs.clear();
        match self.reference {
            None => self.reference = Some(mean),
            Some(r) if self.learning() && mean > r * (1.0 + self.cfg.margin) => {
                tracing::warn!(
                    window = mean,
                    reference = r,
                    "fine-tuning made things worse than the pretrained policy: back to it"
                );
                *self.live.network_mut() = self.pretrained.clone();
                self.energy_scale.iter_mut().for_each(|k| *k = 1.0);
                self.fallbacks += 1;
                let pause = (self.cfg.window as u64).saturating_mul(1 << self.fallbacks.min(20));
                self.paused_until = self.completions + pause;
                // Measured again, on the pretrained state, as the load may have moved.
                self.reference = None;
            }
            Some(_) => {}
        }
    }
}

/// The costs of the current window: judged once it holds `cap`, then started afresh. Only
/// their sum is kept.
#[derive(Debug, Clone)]
struct Window {
    cap: usize,
    n: usize,
    sum: f64,
}

impl Window {
    fn new(cap: usize) -> Window {
        // At least two completions: a window of one is a single request's noise.
        Window {
            cap: cap.max(2),
            n: 0,
            sum: 0.0,
        }
    }

    fn push(&mut self, c: f64) {
        self.n += 1;
        self.sum += c;
    }

    fn is_full(&self) -> bool {
        self.n >= self.cap
    }

    fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    fn clear(&mut self) {
        self.n = 0;
        self.sum = 0.0;
    }
}

impl FineTuned {
    /// One TD(0) step on the heads for a decision whose cost and successor are both known.
    fn learn(&mut self, p: Pending) {
        if let (Some(cost), Some(next_q), true) = (p.cost, p.next_q, self.cfg.learning_rate > 0.0 && self.learning()) {
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
        if self.energy_scale.len() != obs.processors.len() {
            self.energy_scale = vec![1.0; obs.processors.len()];
        }
        // Decide on a copy whose energy estimates are calibrated; the copy's buffers are
        // reused, so after the first decision this allocates nothing.
        // Destructured whole, so that a field added to `Observation` cannot be left stale here.
        let mut calibrated = self.calibrated.take().unwrap_or_else(|| obs.clone());
        let Observation {
            now_ms,
            request,
            processors,
            recent_load,
            n_models,
        } = obs;
        (calibrated.now_ms, calibrated.request) = (*now_ms, *request);
        (calibrated.recent_load, calibrated.n_models) = (*recent_load, *n_models);
        calibrated.processors.clone_from(processors);
        for (v, k) in calibrated.processors.iter_mut().zip(&self.energy_scale) {
            v.est_energy_j *= k;
        }
        let action = self.live.decide(&calibrated);
        self.calibrated = Some(calibrated);
        // A policy whose outputs are rules (`crate::options`) has no per-processor value to
        // correct online: it decides on the calibrated estimates and learns nothing here.
        if !self.live.network().options().is_empty() {
            return action;
        }
        let a = action.processor.index();
        let profiled_j_per_ms = obs
            .processors
            .get(a)
            .filter(|v| v.est_latency_ms > 0.0)
            .map_or(0.0, |v| v.est_energy_j / v.est_latency_ms);
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
        // Head learning reads the hidden layer of each decision. The forward of `decide`
        // computed it, unless the heads were zero (it then skips the hidden layers).
        let mut hidden = self.spare.pop().unwrap_or_default();
        hidden.clear();
        if self.cfg.learning_rate > 0.0 {
            let net = self.live.network();
            if net.has_zero_heads() {
                net.forward(self.live.last_input(), &mut self.scratch, &mut self.out);
                hidden.extend_from_slice(net.last_hidden(&self.scratch));
            } else {
                hidden.extend_from_slice(self.live.last_hidden());
            }
        }
        self.pending.push_back(Pending {
            request: obs.request.id.0,
            prior: self.live.last_prior()[a],
            hidden,
            action: a,
            profiled_j_per_ms,
            cost: None,
            next_q: None,
        });
        action
    }

    fn observe(&mut self, o: &Outcome) {
        let Some(i) = self.pending.iter().position(|p| p.request == o.request.0) else {
            return;
        };
        let cost = self.cfg.weights.outcome_cost(o).min(crate::train::MAX_REQUEST_COST);
        self.pending[i].cost = Some(cost);
        // What the profile says this inference cost, from how long it really ran and how many
        // shared its batch: the ratio is then the power error alone, not the latency
        // estimate's error (the estimator tracks that) nor batching's saving.
        let profiled_j = self.pending[i].profiled_j_per_ms * o.service_ms / f64::from(o.batch.max(1));
        let learning = self.learning();
        if let Some(k) = self.energy_scale.get_mut(o.processor.index()) {
            if profiled_j > 0.0 && o.batch > 0 && o.energy_j.is_finite() && learning {
                *k += self.cfg.energy_rate * ((o.energy_j / profiled_j).clamp(0.25, 4.0) - *k);
            }
        }
        if self.pending[i].next_q.is_some() {
            let p = self.pending.remove(i).expect("position is in range");
            self.learn(p);
        }
        self.guard(cost);
    }

    fn queue_order(&self) -> QueueOrder {
        QueueOrder::LeastSlackFirst
    }
}

#[cfg(test)]
mod tests {
    use super::{FineTuneConfig, FineTuned};
    use crate::net::QNet;
    use crate::policy::DrlPolicy;
    use burn::prelude::*;
    use cosched_core::{DeviceProfile, Observation, Workload};
    use cosched_sim::{simulate, SimConfig};

    /// Head learning from a policy whose heads are zero (its decisions skip the hidden layers)
    /// learns exactly what it learns where every decision runs the whole forward.
    #[test]
    fn head_learning_from_zero_heads_reads_the_same_hidden_layer() {
        let device = DeviceProfile::builtin("jetson-orin-nano").unwrap();
        let (n_proc, n_models) = (device.processors.len(), device.models.len());
        let mut plain = QNet::seeded(
            &Device::flex(),
            9,
            Observation::feature_len(n_proc, n_models),
            16,
            n_proc,
        )
        .to_plain();
        plain.set_prior_weights(&cosched_core::ObjectiveWeights::BALANCED);
        assert!(plain.has_zero_heads());
        let mut full = plain.clone();
        full.zero_heads = false;
        let mut w = Workload::builtin("camera-pipeline").unwrap();
        w.duration_s = 10.0;
        let w = w.resolve(&device, Some(0.9), "camera-pipeline").unwrap();
        let cfg = FineTuneConfig {
            learning_rate: 0.001,
            margin: f64::INFINITY,
            window: 200,
            ..FineTuneConfig::default()
        };
        let run = |net| {
            let mut ft = FineTuned::new(DrlPolicy::new("drl", net, n_models), cfg);
            let r = simulate(&device, &w, &mut ft, &SimConfig::with_seed(4));
            (r.objective, ft.updates(), ft.network().clone())
        };
        let (skipping, reference) = (run(plain), run(full));
        assert!(skipping.1 > 100, "{} updates", skipping.1);
        assert_eq!(skipping.0, reference.0);
        assert_eq!(skipping.1, reference.1);
        assert_eq!(skipping.2.wa, reference.2.wa);
        assert_eq!(skipping.2.wv, reference.2.wv);
    }
}
