//! Double DQN's side of a run: epsilon-greedy acting among the candidates, each placement
//! rewarded by its own request's cost, one-step targets from a replay buffer, a target network
//! synchronised every `target_sync` updates.

use super::acting::{Actor, EpisodeReturn};
use super::config::{TrainConfig, MAX_REQUEST_COST};
use super::learner::Learner;
use super::replay::{Pending, Replay};
use crate::features::is_candidate;
use crate::plain::PlainMlp;
use cosched_core::{Action, ProcessorId};
use cosched_sim::SimEnv;
use rand::Rng;
use std::collections::HashMap;

/// The replay buffer and the target network.
pub(super) struct Dqn {
    replay: Replay,
    target: PlainMlp,
}

impl Dqn {
    pub fn new(cfg: &TrainConfig, inputs: usize, outputs: usize, target: PlainMlp) -> Dqn {
        Dqn {
            replay: Replay::new(inputs, outputs, cfg.replay_capacity),
            target,
        }
    }

    /// Values targets with the learner's latest weights (a run that resumes starts so).
    pub fn sync_target(&mut self, learner: &Learner, cfg: &TrainConfig, actor: &Actor) {
        self.target = learner.plain(cfg, actor.form);
    }

    /// Plays one episode in `env`, learning as it goes; `progress_frac` (the share of training
    /// done when it started) sets the exploration.
    pub fn episode(
        &mut self,
        env: &mut SimEnv,
        progress_frac: f64,
        actor: &mut Actor,
        learner: &mut Learner,
        cfg: &TrainConfig,
    ) -> EpisodeReturn {
        let n_proc = cfg.device.processors.len();
        let mut pending: Vec<Pending> = Vec::new();
        let mut by_request: HashMap<u64, usize> = HashMap::new();
        let mut ret = EpisodeReturn::default();
        let eps = cfg.epsilon.0 + (cfg.epsilon.1 - cfg.epsilon.0) * (progress_frac * 2.0).min(1.0);
        while let Some(obs) = env.observation() {
            obs.encode(&mut actor.x);
            let rid = obs.request.id.0;
            // As deployed (unclipped prior), so the data covers the deployed behaviour; the
            // prior is stored with the transition either way.
            let greedy = crate::policy::choose(
                &actor.acting,
                obs,
                &actor.x,
                &mut actor.scratch,
                &mut actor.q,
                &mut actor.prior,
            )
            .expect("the simulator only asks with a valid processor");
            let action = if actor.rng.random::<f64>() < eps {
                // Explore among the candidates only: the others are never deployed.
                let prior = &actor.prior;
                let n = prior.iter().filter(|&&p| is_candidate(p)).count();
                let k = actor.rng.random_range(0..n);
                (0..n_proc)
                    .filter(|&a| is_candidate(prior[a]))
                    .nth(k)
                    .expect("k < number of candidates")
            } else {
                greedy
            };
            by_request.insert(rid, pending.len());
            pending.push(Pending {
                obs: actor.x.clone(),
                prior: actor.prior.clone(),
                action: action as u16,
                reward: None,
            });
            actor.outcomes.clear();
            let st = env.step_with_outcomes(Action::to(ProcessorId(action as u16)), &mut actor.outcomes);
            for o in &actor.outcomes {
                let cost = cfg.weights.outcome_cost(o).min(MAX_REQUEST_COST);
                ret.sum -= cost;
                if let Some(&i) = by_request.get(&o.request.0) {
                    pending[i].reward = Some(-cost as f32);
                }
            }
            actor.step += 1;
            if actor.step.is_multiple_of(cfg.train_every) && self.replay.ring.len() >= cfg.batch.max(1000) {
                learner.dqn_update(&self.replay, &self.target, &actor.acting, cfg, &mut actor.rng);
                actor.follow(learner, cfg);
                if learner.updates.is_multiple_of(cfg.target_sync) {
                    self.sync_target(learner, cfg, actor);
                }
            }
            if st.done || actor.step >= cfg.steps {
                break;
            }
        }
        // Every placement's own cost is known at the end (unfinished requests are charged when
        // the episode ends); one that is not (cut short by the step budget) is dropped.
        ret.placements = pending.len();
        for i in 0..pending.len() {
            let Some(r) = pending[i].reward else { continue };
            self.replay.push(&pending[i], r, pending.get(i + 1));
        }
        ret
    }
}
