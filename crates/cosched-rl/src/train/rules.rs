//! The rules method's side of a run: the acting policy follows its rules as deployed, and at
//! every `every`-th placement the simulator is copied once per rule, each copy follows its rule
//! for `horizon` placements, and the network learns each rule's gain over the prior
//! ([`crate::rollout`]).

use super::acting::{Actor, EpisodeReturn};
use super::config::{TrainConfig, MAX_REQUEST_COST};
use super::learner::Learner;
use crate::options::Held;
use crate::rollout::{RolloutScratch, RolloutSpec, Samples};
use cosched_core::{Action, ProcessorId};
use cosched_sim::SimEnv;

/// The sampled decisions with their rule gains, and the rollouts' buffers.
pub(super) struct Rules {
    samples: Samples,
    spec: RolloutSpec,
    every: u64,
    scratch: RolloutScratch,
    costs: Vec<f64>,
}

impl Rules {
    pub fn new(cfg: &TrainConfig, inputs: usize, outputs: usize, every: u64, horizon: usize) -> Rules {
        Rules {
            samples: Samples::new(inputs, outputs, cfg.replay_capacity),
            spec: RolloutSpec {
                horizon,
                drain: 4 * horizon,
                gamma: f64::from(cfg.gamma),
                max_cost: MAX_REQUEST_COST,
            },
            every: every.max(1),
            scratch: RolloutScratch::default(),
            costs: Vec::with_capacity(outputs),
        }
    }

    /// Plays one episode in `env` (named `name`, at `load`, for the trace log), learning as it
    /// goes.
    pub fn episode(
        &mut self,
        env: &mut SimEnv,
        name: &str,
        load: f64,
        actor: &mut Actor,
        learner: &mut Learner,
        cfg: &TrainConfig,
    ) -> EpisodeReturn {
        let mut ret = EpisodeReturn::default();
        let mut held = Held::default();
        while let Some(obs) = env.observation() {
            obs.encode(&mut actor.x);
            // Rules are followed as the deployed policy follows them, held (no exploration:
            // the rollouts try every rule at each sampled decision).
            let placed = crate::policy::follow_rule(
                &actor.acting,
                &mut held,
                obs,
                &mut actor.x,
                &mut actor.scratch,
                &mut actor.q,
                &mut actor.prior,
            )
            .expect("the simulator only asks with a valid processor");
            if actor.step.is_multiple_of(self.every) {
                crate::rollout::rule_costs(
                    env,
                    &actor.acting,
                    &self.spec,
                    &cfg.weights,
                    &mut self.scratch,
                    &mut self.costs,
                );
                tracing::trace!(costs = ?self.costs, workload = %name, load, "rule rollouts");
                self.samples.push_relative(&actor.x, &self.costs);
                if self.samples.ring.len() >= cfg.batch {
                    learner.rollout_update(&self.samples, cfg, &mut actor.rng);
                    actor.follow(learner, cfg);
                }
            }
            actor.outcomes.clear();
            let st = env.step_with_outcomes(Action::to(ProcessorId(placed as u16)), &mut actor.outcomes);
            for o in &actor.outcomes {
                ret.sum -= cfg.weights.outcome_cost(o).min(MAX_REQUEST_COST);
            }
            actor.step += 1;
            ret.placements += 1;
            if st.done || actor.step >= cfg.steps {
                break;
            }
        }
        ret
    }
}
