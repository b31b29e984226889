//! Training the agent in the simulator: randomised workloads, loads and boards (`episode`),
//! the two ways experience becomes targets (`dqn`, `rules`) for one learner (`learner`),
//! periodic evaluation on a validation family and the weights kept (`selection`), checkpoints
//! (`resume`), and several seeds (`restarts`).

mod acting;
mod config;
mod dqn;
mod episode;
mod learner;
mod replay;
mod restarts;
mod result;
mod resume;
mod rules;
mod selection;

pub(crate) use config::MAX_REQUEST_COST;
pub use config::{TrainBackend, TrainConfig, TrainMethod, HELD_OUT_WORKLOADS, PERTURB, SELECTION_FAMILY, TRAIN_FAMILY};
pub use episode::{perturbed, random_workload};
pub use restarts::train_restarts;
pub use result::{EvalCase, TrainProgress, TrainedPolicy};

use crate::checkpoint::{load_checkpoint, save_checkpoint, Checkpoint};
use crate::error::RlError;
use crate::net::QNet;
use acting::Actor;
use cosched_core::Observation;
use dqn::Dqn;
use learner::{plain_of, Learner};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use resume::Counters;
use rules::Rules;
use selection::Selection;

/// The learning side of a run, by method.
// One per run: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Method {
    Dqn(Dqn),
    Rules(Rules),
}

/// Train a policy. `progress` is called after every episode.
pub fn train(cfg: &TrainConfig, progress: &mut dyn FnMut(&TrainProgress)) -> Result<TrainedPolicy, RlError> {
    let started = std::time::Instant::now();
    let device = &cfg.device;
    if cfg.workloads.is_empty() {
        return Err(RlError::Config("no training workloads".into()));
    }
    if cfg.steps == 0 || cfg.batch == 0 || cfg.hidden == 0 {
        return Err(RlError::Config("steps, batch and hidden must be positive".into()));
    }
    let n_proc = device.processors.len();
    if n_proc > crate::MAX_PROCESSORS {
        return Err(RlError::Config(format!(
            "device \"{}\" has {n_proc} processors; a DRL policy places on at most {}",
            device.name,
            crate::MAX_PROCESSORS
        )));
    }
    let form = *cfg
        .prior_forms
        .first()
        .ok_or_else(|| RlError::Config("no prior form to learn corrections to".into()))?;
    let inputs = Observation::feature_len(n_proc, device.models.len());
    let n_out = cfg.method.outputs(n_proc);
    let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut learner = Learner::new(cfg, inputs, n_out)?;
    // The untrained network (its heads start at zero) is the prior, and the first weights kept.
    let mut selection = Selection::new(cfg, form, |f| learner.plain(cfg, f), learner.net.to_bytes()?)?;
    let mut actor = Actor::new(learner.plain(cfg, form), form, rng, inputs, n_out);
    let mut method = match cfg.method {
        TrainMethod::Dqn => Method::Dqn(Dqn::new(cfg, inputs, n_out, actor.acting.clone())),
        TrainMethod::Rules { every, horizon } => Method::Rules(Rules::new(cfg, inputs, n_out, every, horizon)),
    };
    let mut at = Counters {
        episodes: 0,
        next_eval: cfg.eval_every,
    };
    if let Some(dir) = &cfg.resume_from {
        let ck = load_checkpoint(dir)?;
        resume::check_fits(dir, &ck.state, cfg, selection.len())?;
        let bdev = learner.bdev.clone();
        let load = |bytes: &[u8]| {
            QNet::from_bytes(&bdev, inputs, cfg.hidden, n_out, bytes).map_err(|e| RlError::Checkpoint {
                dir: dir.display().to_string(),
                problem: format!("weights: {e:?}"),
            })
        };
        learner.net = load(&ck.online)?;
        // Kept at placement 0: the untrained winner, whose form was chosen above.
        let best_form = if ck.state.best_step == 0 {
            selection.kept.plain.prior_form()
        } else {
            form
        };
        let best_plain = plain_of(&load(&ck.best)?, cfg, best_form);
        let s = ck.state;
        selection.restore(best_plain, ck.best, s.best_step, s.best_ratio, s.best_objectives);
        selection.last_ratio = s.last_ratio;
        learner.updates = s.updates;
        at = Counters {
            episodes: s.episodes,
            next_eval: s.next_eval,
        };
        actor.step = s.step;
        actor.acting = learner.plain(cfg, form);
        if let Method::Dqn(dqn) = &mut method {
            dqn.sync_target(&learner, cfg, &actor);
        }
        actor.rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ s.step.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        tracing::info!(step = s.step, best_step = s.best_step, best_ratio = s.best_ratio, dir = %dir.display(), "resumed");
    }

    while actor.step < cfg.steps {
        let progress_frac = actor.step as f64 / cfg.steps as f64;
        let mut ep = episode::draw(cfg, progress_frac, &mut actor.rng)?;
        let ret = match &mut method {
            Method::Dqn(dqn) => dqn.episode(&mut ep.env, progress_frac, &mut actor, &mut learner, cfg),
            Method::Rules(rules) => rules.episode(&mut ep.env, &ep.name, ep.load, &mut actor, &mut learner, cfg),
        };
        at.episodes += 1;
        if actor.step >= at.next_eval || actor.step >= cfg.steps {
            at.next_eval += cfg.eval_every;
            let candidate = learner.plain(cfg, form);
            selection.consider(cfg, actor.step, candidate, || Ok(learner.net.to_bytes()?))?;
            if let Some(dir) = &cfg.checkpoint_dir {
                let ck = Checkpoint {
                    state: resume::state(
                        cfg,
                        actor.step,
                        at,
                        learner.updates,
                        &selection.kept,
                        selection.last_ratio,
                    ),
                    online: learner.net.to_bytes()?,
                    best: selection.kept.weights.clone(),
                };
                save_checkpoint(dir, &ck)?;
            }
        }
        progress(&TrainProgress {
            step: actor.step,
            total: cfg.steps,
            episodes: at.episodes,
            last_return_per_request: (ret.placements > 0).then(|| ret.sum / ret.placements as f64),
            eval_ratio: selection.last_ratio,
            best_ratio: selection.kept.ratio,
        });
    }

    let eval = selection.report();
    let kept = selection.kept;
    Ok(TrainedPolicy {
        weights: kept.weights,
        prior: kept.plain.prior_form(),
        plain: kept.plain,
        last: learner.plain(cfg, form),
        hidden: cfg.hidden,
        steps: actor.step,
        best_step: kept.step,
        eval,
        eval_ratio: kept.ratio,
        score: kept.score,
        seed: cfg.seed,
        wall_s: started.elapsed().as_secs_f64(),
    })
}
