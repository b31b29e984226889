//! The network being trained and its optimiser: the gradient steps of both methods (Double DQN
//! on replayed transitions, and rule gains measured by rollouts), and the deployed form of the
//! weights.

use super::config::{TrainConfig, TrainMethod};
use super::replay::Replay;
use crate::error::RlError;
use crate::features::PriorForm;
use crate::net::QNet;
use crate::options::RULES;
use crate::plain::PlainMlp;
use crate::rollout::Samples;
use burn::nn::loss::{HuberLoss, HuberLossConfig, Reduction};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The online network, its optimiser and the minibatch buffers (reused between updates).
pub(super) struct Learner {
    /// The network being trained.
    pub net: QNet,
    /// Where burn computes the updates.
    pub bdev: Device,
    /// Gradient updates so far.
    pub updates: u64,
    optim: ModuleOptimizer,
    huber: HuberLoss,
    bx: Vec<f32>,
    ba: Vec<i64>,
    by: Vec<f32>,
}

impl Learner {
    /// A freshly seeded network of `inputs` features and `outputs` heads on `cfg.backend`.
    pub fn new(cfg: &TrainConfig, inputs: usize, outputs: usize) -> Result<Learner, RlError> {
        let bdev = cfg.backend.device()?.autodiff();
        Ok(Learner {
            net: QNet::seeded(&bdev, cfg.seed, inputs, cfg.hidden, outputs),
            bdev,
            updates: 0,
            optim: AdamConfig::new().init(),
            huber: HuberLossConfig::new(1.0).init(),
            bx: vec![0.0; cfg.batch * inputs],
            ba: vec![0; cfg.batch],
            by: vec![0.0; cfg.batch],
        })
    }

    /// The deployed form of the network.
    pub fn plain(&self, cfg: &TrainConfig, form: PriorForm) -> PlainMlp {
        plain_of(&self.net, cfg, form)
    }

    /// One Double-DQN update on a minibatch: the online network picks the next action, the
    /// target network values it; invalid actions are excluded from both.
    pub fn dqn_update(
        &mut self,
        replay: &Replay,
        target: &PlainMlp,
        online: &PlainMlp,
        cfg: &TrainConfig,
        rng: &mut ChaCha8Rng,
    ) {
        let n = replay.inputs;
        let k = replay.actions;
        let actions = online.actions();
        let mut scratch = vec![0.0f32; online.scratch_len()];
        let mut q = vec![0.0f32; actions];
        let mut qt = vec![0.0f32; actions];
        for b in 0..cfg.batch {
            let i = rng.random_range(0..replay.ring.len());
            let s = &replay.obs[i * n..(i + 1) * n];
            self.bx[b * n..(b + 1) * n].copy_from_slice(s);
            let a = replay.action[i] as usize;
            self.ba[b] = a as i64;
            let mut y = replay.reward[i];
            if !replay.done[i] {
                let s2 = &replay.next_obs[i * n..(i + 1) * n];
                let p2 = &replay.next_prior[i * k..(i + 1) * k];
                if let Some(a2) = online.greedy_with_prior(s2, p2, &mut scratch, &mut q) {
                    target.forward(s2, &mut scratch, &mut qt);
                    y += cfg.gamma * (qt[a2] + p2[a2]);
                }
            }
            // The network learns the residual over the prior.
            self.by[b] = y - replay.prior[i * k + a];
        }
        self.fit(cfg, n);
    }

    /// One update on rollout targets: each row is a sampled decision and one of its rules, and
    /// the network's output for that rule is fitted to the rule's gain over the prior.
    pub fn rollout_update(&mut self, samples: &Samples, cfg: &TrainConfig, rng: &mut ChaCha8Rng) {
        let (n, k) = (samples.inputs, samples.actions);
        for b in 0..cfg.batch {
            let i = rng.random_range(0..samples.ring.len());
            let a = rng.random_range(0..k);
            self.bx[b * n..(b + 1) * n].copy_from_slice(&samples.obs[i * n..(i + 1) * n]);
            self.ba[b] = a as i64;
            self.by[b] = samples.target[i * k + a];
        }
        self.fit(cfg, n);
    }

    /// One gradient step fitting the network's output for action `ba[b]` of input row `b` of
    /// `bx` (`n` features a row) to `by[b]`.
    fn fit(&mut self, cfg: &TrainConfig, n: usize) {
        let bdev = &self.bdev;
        let x = Tensor::<2>::from_data(TensorData::new(self.bx.clone(), [cfg.batch, n]), bdev);
        let a = Tensor::<2, Int>::from_data(TensorData::new(self.ba.clone(), [cfg.batch, 1]), bdev);
        let y = Tensor::<2>::from_data(TensorData::new(self.by.clone(), [cfg.batch, 1]), bdev);
        let pred = self.net.forward(x).gather(1, a);
        let loss = self.huber.forward(pred, y, Reduction::Mean);
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        self.net = self.optim.step(cfg.learning_rate, self.net.clone(), grads);
        self.updates += 1;
    }
}

/// The deployed form of `net`, with the prior weighted as the objective.
pub(super) fn plain_of(net: &QNet, cfg: &TrainConfig, form: PriorForm) -> PlainMlp {
    let mut p = net.to_plain();
    p.set_prior_weights(&cfg.weights);
    p.set_prior_form(form);
    if let TrainMethod::Rules { .. } = cfg.method {
        p.set_options(RULES.to_vec());
    }
    p
}
